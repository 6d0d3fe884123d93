"""Import an XLSForm (the Excel form of KoboToolbox / ODK) as a perception questionnaire.

The form is parsed by pyxform, the reference implementation of the XLSForm standard
(:mod:`~perception.questionnaire.xlsform_parse`): every form pyxform converts imports,
``.xlsx`` or ``.xls``, with every type alias, translation column form, ``bind::`` column
and legacy syntax pyxform knows; a form pyxform refuses is refused with pyxform's message
and rows. Its parsed survey is mapped onto the questionnaire
(:mod:`~perception.questionnaire.xlsform_map`), and what XLSForm does not say is inferred
(:mod:`~perception.questionnaire.inference`): missing codes, personal data, code types.

:func:`convert_xlsform` returns the YAML structure (``docs/questionnaire_format.md``) with
the import notes; :func:`questionnaire_from_xlsform` the loaded
:class:`~perception.Questionnaire`; :func:`xlsform_to_yaml` the YAML text, headed by the
notes.

Mapping
-------
======================================  ============================================
XLSForm (as pyxform reads it)            questionnaire
======================================  ============================================
``select_one L`` (and its aliases)       ``categorical`` with ``codes: L`` (``binary``
                                         when the valid codes are exactly 0 and 1)
``select_multiple L``                    ``select_multiple`` with ``codes: L``
``integer`` / ``decimal`` / ``range``    ``integer`` / ``numeric`` (``range`` with its
                                         start and end)
``date``                                 ``date``
``text``, ``barcode``, ``hidden`` ...    ``text``; ``datetime``/``time``/``rank``:
                                         ``text``, noted
``geopoint``/``geotrace``/``geoshape``,  ``text`` with ``pii: true``
pictures, recordings, files
``deviceid``, ``phonenumber``,           ``text`` with ``pii: true`` (module
``username``, ``email``, SIM ids         ``metadata``)
``start``, ``end``, ``today``            left out: the readers keep them aside as
                                         paradata
``calculate``                            a derived variable (``derived:``,
                                         ``numeric``) when the calculation is in the
                                         expression language and gives a number;
                                         else a column (``text``), noted
``begin group``                          the outermost group is the module of its
                                         questions; its ``relevant`` is joined with
                                         ``and`` to every question inside
``begin repeat``                         a repeat table (``repeats:``), ``repeat_count``
                                         its ``count``
``begin loop over L``                    one copy of the questions per choice of ``L``
``choice_filter``, choice columns        ``choice_filter``, ``choice_columns``
======================================  ============================================

- Labels keep every language (``label::French (fr)``, ``label::english``,
  ``label:French`` ...: language codes ``fr``, ``en``); a translation that is missing is
  filled from another language and noted.
- ``required``: ``yes``, ``true``, ``true()``, ``1``, ``T`` ...; an expression becomes not
  required (noted); a question whose ``relevant`` (or its group's) was dropped is not
  required.
- ``relevant``, ``constraint``, ``choice_filter`` are kept when they are in the expression
  language (docs/questionnaire_format.md, Expressions) and refer to earlier questions;
  otherwise they are dropped and noted, once per feature, with the rows.
- Choice names stay text codes when any name of the list is text (``code_type: text``);
  integer codes when every name is a whole number.
- Missing codes and personal data are inferred (see
  :mod:`~perception.questionnaire.inference`) and reported; perception's own extra
  columns, ignored by ODK tools, decide when present: ``missing`` (yes/no) in ``choices``,
  ``pii``, ``sensitive`` (yes/no) and ``role`` in ``survey``.

Examples
--------
>>> from pathlib import Path
>>> import openpyxl, tempfile
>>> path = Path(tempfile.mkdtemp()) / "form.xlsx"
>>> book = openpyxl.Workbook()
>>> survey = book.active; survey.title = "survey"
>>> survey.append(["type", "name", "label::French (fr)", "label::English (en)"])
>>> survey.append(["select_one yn", "hosted", "Accueille ?", "Hosting?"])
>>> choices = book.create_sheet("choices")
>>> choices.append(["list_name", "name", "label::French (fr)", "label::English (en)"])
>>> for row in [["yn", "yes", "Oui", "Yes"], ["yn", "no", "Non", "No"],
...             ["yn", "dk", "Ne sait pas", "Don't know"]]:
...     choices.append(row)
>>> book.save(path)
>>> q = questionnaire_from_xlsform(path)
>>> q.languages, q.valid_codes("hosted"), q.missing_codes("hosted")
(('fr', 'en'), ['yes', 'no'], ['dk'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .model import Questionnaire
from .xlsform_map import map_survey
from .xlsform_parse import PYXFORM_VERSION, parse_xlsform

__all__ = [
    "XLSFormConversion",
    "convert_xlsform",
    "questionnaire_from_xlsform",
    "xlsform_to_yaml",
    "MAX_XLSFORM_BYTES",
]

#: largest XLSForm accepted by default (bytes, file and uncompressed content)
MAX_XLSFORM_BYTES = 20_000_000


@dataclass(frozen=True)
class XLSFormConversion:
    """The result of :func:`convert_xlsform`.

    Attributes
    ----------
    data : dict
        The questionnaire as the YAML structure (``format``, ``id``, ``languages``,
        ``code_lists``, ``missing_sets``, ``modules``, ``repeats`` ...).
    notes : tuple of str
        Everything left out, simplified or inferred, once per kind with its sheet rows:
        review them.
    source : str
        The XLSForm file.
    """

    data: dict[str, Any]
    notes: tuple[str, ...] = ()
    source: str = "<xlsform>"
    built: Questionnaire | None = field(default=None, repr=False, compare=False)

    def questionnaire(self) -> Questionnaire:
        """Load the converted structure as a :class:`~perception.Questionnaire`."""
        if self.built is not None:
            return self.built
        return Questionnaire.from_dict(self.data, source=f"{self.source} (converted XLSForm)")

    def to_yaml(self) -> str:
        """The questionnaire as YAML text, headed by the notes as comments."""
        head = [
            f"# Converted from the XLSForm {Path(self.source).name} by `perception "
            f"questionnaire import` (pyxform {PYXFORM_VERSION}).",
            "# Format: docs/questionnaire_format.md. Review the notes below: the missing",
            "# codes, personal data and code types were inferred; ordinal scales are",
            "# imported as categorical; design roles are not in XLSForm.",
        ]
        if self.notes:
            head.append("#")
            head.append(f"# Notes ({len(self.notes)}):")
            for note in self.notes:
                head.extend(_comment_lines(note))
        body = yaml.dump(
            _flowed(self.data, self.data.get("languages", [])), Dumper=_Dumper,
            allow_unicode=True, sort_keys=False, width=100, default_flow_style=False,
        )
        return "\n".join(head) + "\n\n" + body


def _comment_lines(note: str) -> list[str]:
    words = note.split()
    lines, current = [], "#  -"
    for word in words:
        if len(current) + 1 + len(word) > 96 and current not in ("#  -", "#   "):
            lines.append(current)
            current = "#   "
        current += " " + word
    lines.append(current)
    return lines


class _FlowMap(dict):
    """A small mapping (labels) written on one line."""


class _Dumper(yaml.SafeDumper):
    """Safe dumper: no aliases (the loader refuses them), labels on one line."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(
    _FlowMap, lambda dumper, data: dumper.represent_mapping(
        "tag:yaml.org,2002:map", data.items(), flow_style=True)
)


def _flowed(data: Any, languages: Sequence[str]) -> Any:
    """Mark label mappings (language -> text) to be written on one line."""
    if isinstance(data, Mapping):
        if data and all(k in languages and isinstance(v, str) for k, v in data.items()):
            return _FlowMap(data)
        return {k: _flowed(v, languages) for k, v in data.items()}
    if isinstance(data, list):
        return [_flowed(v, languages) for v in data]
    return data


# ------------------------------------------------------------------------ public --


def convert_xlsform(
    path: str | Path, *, max_bytes: int = MAX_XLSFORM_BYTES
) -> XLSFormConversion:
    """Convert an XLSForm into the questionnaire structure, with notes to review.

    Parameters
    ----------
    path : str or Path
        The form: ``.xlsx`` or ``.xls`` (sheets ``survey``, ``choices``, ``settings``).
    max_bytes : int
        Largest form accepted (file and uncompressed content).

    Returns
    -------
    XLSFormConversion
        ``.data`` (the YAML structure), ``.notes``, ``.to_yaml()``, ``.questionnaire()``.

    Raises
    ------
    QuestionnaireError
        If the file is not a readable workbook, or pyxform refuses the form (its message,
        with the sheet rows).

    Examples
    --------
    >>> conversion = convert_xlsform("form.xlsx")          # doctest: +SKIP
    >>> conversion.notes                                    # doctest: +SKIP

    Notes
    -----
    No R equivalent in ``survey``; R users read XLSForms with ``readxl`` and build
    labels by hand.
    """
    path = Path(path)
    form = parse_xlsform(path, max_bytes)
    data, notes = map_survey(form)
    conversion = XLSFormConversion(data=data, notes=tuple(notes), source=str(path))
    # the structure loads: checked here, not at first use
    return XLSFormConversion(data, tuple(notes), str(path), conversion.questionnaire())


def xlsform_to_yaml(path: str | Path, *, max_bytes: int = MAX_XLSFORM_BYTES) -> str:
    """The YAML questionnaire text of an XLSForm, headed by the notes to review.

    Examples
    --------
    >>> text = xlsform_to_yaml("form.xlsx")                  # doctest: +SKIP
    """
    return convert_xlsform(path, max_bytes=max_bytes).to_yaml()


def questionnaire_from_xlsform(
    path: str | Path, *, max_bytes: int = MAX_XLSFORM_BYTES
) -> Questionnaire:
    """Read an XLSForm (``.xlsx`` or ``.xls``) as a ``Questionnaire``.

    Parameters
    ----------
    path : str or Path
        The form.
    max_bytes : int
        Largest form accepted.

    Returns
    -------
    Questionnaire
        Checked like a YAML questionnaire, its repeat groups as repeat tables. Review
        ``convert_xlsform(path).notes`` (or the head of ``perception questionnaire
        import``'s YAML) for what the import left out or inferred.

    Examples
    --------
    >>> q = questionnaire_from_xlsform("form.xlsx")          # doctest: +SKIP
    >>> q.variables[["name", "type", "label_fr"]]            # doctest: +SKIP

    Notes
    -----
    No R equivalent in ``survey``.
    """
    return convert_xlsform(path, max_bytes=max_bytes).questionnaire()
