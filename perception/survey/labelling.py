"""What a design knows of its questionnaire: the questionnaire, the label language and
what to do with declared missing codes.

A design built with ``questionnaire=`` is *labelled*: its estimators leave the declared
missing codes and the blanks of skip logic out (``missing_codes="exclude"``), refuse to
average nominal columns and label their result tables in ``lang``. The settings are
checked here, once, and carried unchanged by ``subset``, ``replicate`` and the weighting
steps (designs copy them with the rest of their state). The derived variables of the
questionnaire (its ``derived:`` section) that the data lack are added as columns when
the design is built (:func:`with_derived`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from ..errors import DesignError

if TYPE_CHECKING:
    from ..questionnaire.model import Questionnaire

MissingCodes = Literal["exclude", "keep"]
#: what a blank left by skip logic is called in each language (the ``excluded`` column)
NOT_ASKED = {"fr": "non posée", "en": "not asked"}
MISSING_CODE_OPTIONS: tuple[str, ...] = ("exclude", "keep")


@dataclass(frozen=True)
class Labelling:
    """The questionnaire settings of a design.

    Attributes
    ----------
    questionnaire : Questionnaire or None
        The questionnaire of the design's data (None: an unlabelled design).
    lang : str or None
        The language of labels in result tables (the questionnaire's first language
        when not given; None without a questionnaire).
    missing_codes : {"exclude", "keep"}
        Leave the declared missing codes out of every estimate (the default) or analyse
        them as categories.

    Examples
    --------
    >>> q = pc.demo_survey(seed=1).questionnaire
    >>> labelling(q, "en", "exclude").lang
    'en'
    >>> labelling(None, None, "exclude").questionnaire is None
    True
    """

    questionnaire: Questionnaire | None
    lang: str | None
    missing_codes: MissingCodes

    def describe(self) -> str:
        """The settings as the end of a design's repr ('' for an unlabelled design)."""
        if self.questionnaire is None:
            return "" if self.missing_codes == "exclude" else ", missing_codes='keep'"
        return (f", questionnaire={self.questionnaire.id!r}, lang={self.lang!r}, "
                f"missing_codes={self.missing_codes!r}")


def check_missing_codes(missing_codes: object) -> MissingCodes:
    """``missing_codes`` checked: "exclude" or "keep".

    Examples
    --------
    >>> check_missing_codes("keep")
    'keep'
    """
    if missing_codes not in MISSING_CODE_OPTIONS:
        raise DesignError(
            f"missing_codes must be 'exclude' (leave the questionnaire's missing codes out "
            f"of every estimate) or 'keep' (analyse them as categories); got {missing_codes!r}"
        )
    return missing_codes  # type: ignore[return-value]


def labelling(questionnaire: Questionnaire | None, lang: str | None,
              missing_codes: object) -> Labelling:
    """Check the questionnaire settings of a design and return them.

    Parameters
    ----------
    questionnaire : Questionnaire or None
        The questionnaire of the data, from ``pc.load_questionnaire``.
    lang : str, optional
        One of the questionnaire's languages (default: its first).
    missing_codes : {"exclude", "keep"}
        What estimators do with declared missing codes.

    Returns
    -------
    Labelling

    Examples
    --------
    >>> labelling(None, None, "keep").missing_codes
    'keep'
    """
    missing = check_missing_codes(missing_codes)
    if questionnaire is None:
        if lang is not None:
            raise DesignError(
                f"lang={lang!r} labels tables with a questionnaire's labels: give the "
                "questionnaire too (questionnaire=pc.load_questionnaire(path))"
            )
        return Labelling(None, None, missing)
    # imported only for a labelled design: an unlabelled one never loads the questionnaire
    from ..questionnaire.model import Questionnaire

    if not isinstance(questionnaire, Questionnaire):
        raise DesignError(
            f"questionnaire must be a Questionnaire (pc.load_questionnaire(path) or "
            f"pc.questionnaire_from_xlsform(path)), got {type(questionnaire).__name__}"
        )
    if lang is None:
        lang = questionnaire.languages[0]
    elif lang not in questionnaire.languages:
        raise DesignError(
            f"lang={lang!r} is not a language of questionnaire {questionnaire.id!r}; "
            f"use one of {', '.join(map(repr, questionnaire.languages))}"
        )
    return Labelling(questionnaire, lang, missing)


def with_derived(data: pd.DataFrame, labels: Labelling) -> pd.DataFrame:
    """``data`` with the questionnaire's derived variables it lacks (those whose sources
    it has), so that a labelled design knows them by name; ``data`` itself unchanged (a
    Dask DataFrame gets them lazily, partition by partition).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> labels = labelling(demo.questionnaire, None, "exclude")
    >>> "trust_fsi_any" in with_derived(demo.waves, labels).columns
    True
    """
    if labels.questionnaire is None or not labels.questionnaire.derived:
        return data
    if hasattr(data, "map_partitions"):
        # a Dask DataFrame: derived values are row-wise, so each partition computes its
        # own, lazily (the empty frame of its columns gives their dtypes)
        frame: Any = data
        return frame.map_partitions(labels.questionnaire.derive,
                                    meta=labels.questionnaire.derive(frame._meta))
    return labels.questionnaire.derive(data)


def code_reason(code: object, labels: dict, lang: str | None) -> str:
    """A missing code as a reason of the ``excluded`` column: the code and its label.

    Examples
    --------
    >>> code_reason(9, {"fr": "Ne sait pas", "en": "Don't know"}, "en")
    "9 Don't know"
    """
    from ..questionnaire.cells import code_text

    return f"{code_text(code)} {labels.get(lang, '')}".rstrip()


#: the settings of a design built without a questionnaire
UNLABELLED = Labelling(None, None, "exclude")


class LabelledDesign:
    """What every design (in memory or on a Dask DataFrame) says of its questionnaire
    settings."""

    #: the questionnaire settings; a class default for designs built without them
    _labelling: Labelling = UNLABELLED

    @property
    def questionnaire(self) -> Any:
        """The questionnaire of a labelled design (``questionnaire=``), else None."""
        return self._labelling.questionnaire

    @property
    def lang(self) -> str | None:
        """The language of the labels in result tables (None: an unlabelled design)."""
        return self._labelling.lang

    @property
    def missing_codes(self) -> str:
        """What estimators do with the questionnaire's missing codes: "exclude" or "keep"."""
        return self._labelling.missing_codes

    @property
    def labelling(self) -> Labelling:
        """The questionnaire, language and missing-code setting, together."""
        return self._labelling
