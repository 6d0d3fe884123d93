"""Questionnaires as data: check and query a questionnaire.

A questionnaire file (format described in ``docs/questionnaire_format.md``) declares
every variable of a survey wave: its type, question wording in each language, codes and
missing-value codes with labels, valid range, skip logic (``relevant``), constraints,
whether it is personal data (``pii``) or sensitive, and the design role it plays
(weight, stratum, PSU, wave, treatment, respondent id). A top-level ``consistency``
section holds cross-variable checks.

:meth:`Questionnaire.from_dict` checks the parsed file completely (the steps are in
:mod:`perception.questionnaire.building`) and returns an immutable :class:`Questionnaire`.
Every problem found is reported in one :class:`~perception.errors.QuestionnaireError`
naming the file, the variable, the field and the fix. Files are read by
:func:`~perception.questionnaire.loading.load_questionnaire`. A questionnaire may hold
repeat tables (a household roster, a list of incidents): each is a questionnaire of its
own (:meth:`Questionnaire.repeat`), linked to the table it is repeated in.

Examples
--------
>>> from pathlib import Path
>>> import perception as pc
>>> root = Path(pc.__file__).resolve().parents[1]
>>> q = pc.load_questionnaire(root / "questionnaires" / "centre_mali_trust.yaml")
>>> q.roles["weight"]
'w_final'
>>> q.labels("trust_police", "en")[3]
'A lot'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pandas as pd

from ..errors import QuestionnaireError
from .building import build_parts
from .entries import (
    CODED_TYPES,
    DISCLOSURE_ROLES,
    ROLES,
    VARIABLE_KEYS,
    VARIABLE_TYPES,
    Coarsening,
)
from .expressions import Expr, parse_expression
from .list_experiments import ListExperiment
from .problems import did_you_mean
from .structure import FORMAT

if TYPE_CHECKING:  # pragma: no cover
    import pandera.pandas as pa

__all__ = [
    "Questionnaire",
    "Variable",
    "ConsistencyRule",
    "VARIABLE_TYPES",
    "VARIABLE_KEYS",
    "ROLES",
    "DISCLOSURE_ROLES",
    "Coarsening",
    "FORMAT",
]

VariableType = Literal[
    "categorical", "ordinal", "binary", "integer", "numeric", "date", "text", "select_multiple"
]
Code: TypeAlias = int | str
Labels = Mapping[str, str]


def _freeze_codes(codes: Mapping[Code, Mapping[str, str]]) -> Mapping[Code, Labels]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in codes.items()})


# ---------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Variable:
    """One variable (column) of the questionnaire. Immutable.

    Attributes
    ----------
    name, type, module : str
        Column name, one of :data:`VARIABLE_TYPES`, module (section) name.
    labels : Mapping[str, str]
        Question wording by language code.
    codes, missing : Mapping[code, Mapping[str, str]]
        Valid codes and missing-value codes, each with its label by language.
    min, max : float, Timestamp or None
        Valid range (integer, numeric, date), bounds included.
    required, pii, sensitive, unique, derived : bool
        Answer required where relevant; personal data; sensitive; unique within wave;
        computed from other variables.
    relevant, constraint, constraint_message : str or None
        Skip logic, value constraint (``.`` is the value) and its message.
    role : str or None
        Design role, one of :data:`ROLES`, or disclosure role, one of
        :data:`DISCLOSURE_ROLES` (``identifier``, ``quasi_identifier``).
    coarsen : tuple of Coarsening
        The coarsening ladder of a quasi-identifier, finest level first.
    choice_filter : str or None
        The expression that selects, for each row, the codes that may be answered
        (cascading lists); bare names in it are columns of the choices.
    choice_columns : Mapping[str, Mapping[code, value]]
        For each choices column the filter reads, its value for each code.
    position : int
        Order in the questionnaire (0-based).

    Examples
    --------
    >>> v = Variable(name="sex", type="categorical", module="demographics",
    ...              labels={"en": "Sex"}, codes={1: {"en": "Male"}, 2: {"en": "Female"}})
    >>> v.code_labels("en")
    {1: 'Male', 2: 'Female'}
    """

    name: str
    type: str
    module: str = "main"
    labels: Labels = field(default_factory=dict)
    codes: Mapping[Code, Labels] = field(default_factory=dict)
    missing: Mapping[Code, Labels] = field(default_factory=dict)
    min: Any = None
    max: Any = None
    required: bool = False
    relevant: str | None = None
    constraint: str | None = None
    constraint_message: str | None = None
    pii: bool = False
    sensitive: bool = False
    unique: bool = False
    role: str | None = None
    coarsen: tuple[Coarsening, ...] = ()
    derived: bool = False
    note: str | None = None
    choice_filter: str | None = None
    choice_columns: Mapping[str, Mapping[Code, Any]] = field(default_factory=dict)
    position: int = 0
    relevant_expr: Expr | None = field(default=None, repr=False, compare=False)
    constraint_expr: Expr | None = field(default=None, repr=False, compare=False)
    choice_filter_expr: Expr | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "coarsen", tuple(self.coarsen))
        object.__setattr__(self, "codes", _freeze_codes(self.codes))
        object.__setattr__(self, "missing", _freeze_codes(self.missing))
        object.__setattr__(self, "choice_columns", MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in self.choice_columns.items()}))
        if self.relevant is not None and self.relevant_expr is None:
            object.__setattr__(self, "relevant_expr", parse_expression(self.relevant))
        if self.constraint is not None and self.constraint_expr is None:
            object.__setattr__(self, "constraint_expr", parse_expression(self.constraint))
        if self.choice_filter is not None and self.choice_filter_expr is None:
            object.__setattr__(self, "choice_filter_expr",
                               parse_expression(self.choice_filter, choice_filter=True))

    def __hash__(self) -> int:
        return hash((self.name, self.type, self.module, self.position))

    @property
    def is_coded(self) -> bool:
        """Whether the answers are codes from a list (categorical, ordinal, binary, multiple)."""
        return self.type in CODED_TYPES

    @property
    def is_numeric(self) -> bool:
        """Whether the column holds numbers (numeric types, or integer codes)."""
        if self.type in ("integer", "numeric"):
            return True
        if self.type in ("categorical", "ordinal", "binary"):
            return all(isinstance(c, int) for c in [*self.codes, *self.missing])
        return False

    @property
    def code_type(self) -> str | None:
        """``"integer"`` when every code is a whole number, ``"text"`` when the codes are
        text (``'1'``, ``'hand_pump'``, ``'-99'``), None for a variable without codes."""
        codes = [*self.codes, *self.missing]
        if not codes:
            return None
        return "text" if any(isinstance(c, str) for c in codes) else "integer"

    @property
    def valid_codes(self) -> list[Code]:
        """The valid (non-missing) codes, in declaration order."""
        return list(self.codes)

    @property
    def missing_codes(self) -> list[Code]:
        """The declared missing-value codes, in declaration order."""
        return list(self.missing)

    def label(self, lang: str) -> str:
        """The question wording in language ``lang`` (empty string if not declared)."""
        return self.labels.get(lang, "")

    def code_labels(self, lang: str, *, missing: bool = True) -> dict[Code, str]:
        """Map each code to its label in ``lang`` (missing codes last when ``missing``)."""
        out = {code: labels.get(lang, "") for code, labels in self.codes.items()}
        if missing:
            out.update({code: labels.get(lang, "") for code, labels in self.missing.items()})
        return out


@dataclass(frozen=True)
class ConsistencyRule:
    """A cross-variable check from the ``consistency`` section. Immutable.

    ``kind="mapping"``: the value of ``source`` determines the value of ``target``
    through ``mapping`` (e.g. cercle -> region). ``kind="rule"``: ``condition`` must be
    true wherever every variable it refers to has a non-missing answer. Failures are
    reported on ``column``.
    """

    name: str
    kind: Literal["mapping", "rule"]
    column: str
    message: str | None = None
    source: str | None = None
    target: str | None = None
    mapping: Mapping[Code, Code] | None = None
    condition: str | None = None
    condition_expr: Expr | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mapping is not None:
            object.__setattr__(self, "mapping", MappingProxyType(dict(self.mapping)))
        if self.condition is not None and self.condition_expr is None:
            object.__setattr__(self, "condition_expr", parse_expression(self.condition))

    def __hash__(self) -> int:
        return hash((self.name, self.kind, self.column))

    @property
    def variables(self) -> frozenset[str]:
        """The variables the rule reads."""
        if self.kind == "mapping":
            return frozenset({self.source or "", self.target or ""})
        return self.condition_expr.variables if self.condition_expr else frozenset()


@dataclass(frozen=True)
class Questionnaire:
    """A survey questionnaire: variables, codes, skip logic, design roles. Immutable.

    Build one with ``load_questionnaire`` (from YAML) or
    ``Questionnaire.from_dict``.

    Attributes
    ----------
    id : str
        Short identifier of the instrument.
    languages : tuple of str
        Label languages; the first is the default.
    variable_list : tuple of Variable
        The variables in questionnaire order.
    consistency : tuple of ConsistencyRule
        Cross-variable checks.
    title : dict of str to str
        The title of the instrument in each language.
    version : str, optional
        Its version label.
    source : str, optional
        Where it comes from (e.g. the XLSForm it was imported from).
    modules : mapping of str to dict
        The modules (sections), each with its label in each language.
    repeats : mapping of str to Questionnaire
        The repeat tables (a household roster ...), each a questionnaire of its own
        whose ``parent`` is the repeat it is nested in (None: the main table) and whose
        ``count`` is the expression giving its number of rows (XLSForm
        ``repeat_count``), if any.
    parent : str, optional
        For a repeat table, the repeat it is nested in (None: the main table).
    count : str, optional
        For a repeat table, the expression giving its number of rows.
    list_experiments : tuple of ListExperiment
        The list experiments (``perception.questionnaire.list_experiments``).
    waves : mapping of str to dict
        How reports name the study's waves (the top-level ``waves:`` key): code of the
        wave variable -> its label in each language ("Situation de référence" /
        "Baseline").

    Examples
    --------
    >>> q = Questionnaire.from_dict({
    ...     "id": "mini", "languages": ["en"],
    ...     "variables": [
    ...         {"name": "rid", "type": "text", "label": "Id", "role": "id", "unique": True},
    ...         {"name": "age", "type": "integer", "label": "Age",
    ...          "range": {"min": 18, "max": 110}, "missing": {999: "Don't know"}},
    ...     ]})
    >>> q.names
    ['rid', 'age']
    >>> q.missing_codes("age")
    [999]
    """

    id: str
    languages: tuple[str, ...]
    variable_list: tuple[Variable, ...]
    consistency: tuple[ConsistencyRule, ...] = ()
    title: Labels = field(default_factory=dict)
    version: str | None = None
    source: str | None = None
    modules: Mapping[str, Labels] = field(default_factory=dict)
    repeats: Mapping[str, Questionnaire] = field(default_factory=dict)
    parent: str | None = None
    count: str | None = None
    list_experiments: tuple[ListExperiment, ...] = ()
    waves: Mapping[Code, Labels] = field(default_factory=dict)
    _index: Mapping[str, Variable] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "languages", tuple(self.languages))
        object.__setattr__(self, "variable_list", tuple(self.variable_list))
        object.__setattr__(self, "consistency", tuple(self.consistency))
        object.__setattr__(self, "list_experiments", tuple(self.list_experiments))
        object.__setattr__(self, "title", MappingProxyType(dict(self.title)))
        object.__setattr__(
            self,
            "modules",
            MappingProxyType({k: MappingProxyType(dict(v)) for k, v in self.modules.items()}),
        )
        object.__setattr__(
            self, "_index", MappingProxyType({v.name: v for v in self.variable_list})
        )
        object.__setattr__(self, "repeats", MappingProxyType(dict(self.repeats)))
        object.__setattr__(self, "waves", _freeze_codes(self.waves))

    def __hash__(self) -> int:
        return hash((self.id, self.version, tuple(self.names)))

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<questionnaire>"
    ) -> Questionnaire:
        """Build and check a questionnaire from the parsed YAML structure.

        Parameters
        ----------
        data : Mapping
            The content of a questionnaire file (see ``docs/questionnaire_format.md``).
        source : str
            Name used in error messages (the file path).

        Raises
        ------
        QuestionnaireError
            Listing every problem found, each naming the variable, field and fix.

        Examples
        --------
        >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
        ...     {"name": "ok", "type": "binary", "label": "OK?"}]})
        >>> q.labels("ok", "en")
        {0: 'No', 1: 'Yes'}
        """
        return _assemble(cls, build_parts(data, source))

    # ---------------------------------------------------------------- queries
    @property
    def names(self) -> list[str]:
        """Variable names in questionnaire order."""
        return [v.name for v in self.variable_list]

    @property
    def default_language(self) -> str:
        """The first declared language."""
        return self.languages[0]

    @property
    def variables(self) -> pd.DataFrame:
        """One row per variable: name, type, module, label_fr, label_en, pii, sensitive, ...

        A new DataFrame on each access (changing it does not change the questionnaire).
        Further columns: required, role, unique, derived, relevant, constraint,
        choice_filter, code_type, codes, missing_codes, min, max and ``label_<lang>`` for
        other languages.
        """
        lang = self.default_language
        rows = []
        other_langs = [x for x in self.languages if x not in ("fr", "en")]
        for v in self.variable_list:
            row: dict[str, Any] = {
                "name": v.name,
                "type": v.type,
                "module": v.module,
                "label_fr": v.labels.get("fr"),
                "label_en": v.labels.get("en"),
                "pii": v.pii,
                "sensitive": v.sensitive,
                "required": v.required,
                "role": v.role,
                "coarsen": " > ".join(step.name for step in v.coarsen) or None,
                "unique": v.unique,
                "derived": v.derived,
                "relevant": v.relevant,
                "constraint": v.constraint,
                "choice_filter": v.choice_filter,
                "code_type": v.code_type,
                "codes": "; ".join(
                    f"{c}={t}" for c, t in v.code_labels(lang, missing=False).items()
                )
                or None,
                "missing_codes": "; ".join(
                    f"{c}={labels.get(lang, '')}" for c, labels in v.missing.items()
                )
                or None,
                "min": v.min,
                "max": v.max,
            }
            for other in other_langs:
                row[f"label_{other}"] = v.labels.get(other)
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def pii(self) -> list[str]:
        """Names of the variables flagged ``pii: true`` (dropped or hashed on reading)."""
        return [v.name for v in self.variable_list if v.pii]

    @property
    def sensitive(self) -> list[str]:
        """Names of the variables flagged ``sensitive: true``."""
        return [v.name for v in self.variable_list if v.sensitive]

    @property
    def roles(self) -> dict[str, str]:
        """Design roles -> column names, e.g. ``{"weight": "w_final", "psu": "psu_id"}``
        (the disclosure roles, held by many variables, are in ``identifiers`` and
        ``quasi_identifiers``)."""
        return {v.role: v.name for v in self.variable_list
                if v.role and v.role not in DISCLOSURE_ROLES}

    @property
    def identifiers(self) -> list[str]:
        """Names of the variables with ``role: identifier`` (a household id ...): dropped
        or hashed on export, as personal data."""
        return [v.name for v in self.variable_list if v.role == "identifier"]

    @property
    def quasi_identifiers(self) -> list[str]:
        """Names of the variables with ``role: quasi_identifier``, in questionnaire order:
        the columns whose combinations an export checks for k-anonymity.

        Examples
        --------
        >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
        ...     {"name": "age", "type": "integer", "label": "Age",
        ...      "role": "quasi_identifier",
        ...      "coarsen": [{"name": "age band", "bands": [18, 35, 55]}]}]})
        >>> q.quasi_identifiers, q.variable("age").coarsen[0].bands
        (['age'], (18, 35, 55))
        """
        return [v.name for v in self.variable_list if v.role == "quasi_identifier"]

    def variable(self, name: str) -> Variable:
        """The ``Variable`` called ``name``.

        Parameters
        ----------
        name : str
            The variable.

        Returns
        -------
        Variable
            Its type, labels, codes, missing codes and flags.

        Raises
        ------
        QuestionnaireError
            If the questionnaire has no such variable (with close matches).
        """
        try:
            return self._index[name]
        except KeyError:
            raise QuestionnaireError(
                f"questionnaire {self.id!r} has no variable {name!r}"
                f"{did_you_mean(name, self._index)}. Fix: use one of the names in "
                "q.variables['name']."
            ) from None

    def label(self, name: str, lang: str | None = None) -> str:
        """The question wording of ``name`` in ``lang`` (default: first language).

        Parameters
        ----------
        name : str
            The variable.
        lang : str, optional
            A language of the questionnaire (default: its first).

        Returns
        -------
        str
            The wording; empty when the language has none.
        """
        lang = self.language(lang)
        return self.variable(name).label(lang)

    def labels(
        self, name: str, lang: str | None = None, *, missing: bool = True
    ) -> dict[Code, str]:
        """Code -> label mapping of ``name`` in ``lang``, missing codes included by default.

        Parameters
        ----------
        name : str
            The variable.
        lang : str, optional
            A language of the questionnaire (default: its first).
        missing : bool
            Include the missing-value codes (after the valid codes).

        Returns
        -------
        dict
            Each code's label.

        Examples
        --------
        >>> q = Questionnaire.from_dict({"id": "x", "languages": ["fr", "en"], "variables": [
        ...     {"name": "ok", "type": "binary", "label": {"fr": "OK ?", "en": "OK?"},
        ...      "missing": {9: {"fr": "NSP", "en": "DK"}}}]})
        >>> q.labels("ok", "fr")
        {0: 'Non', 1: 'Oui', 9: 'NSP'}
        """
        lang = self.language(lang)
        return self.variable(name).code_labels(lang, missing=missing)

    def wave_label(self, code: Any, lang: str | None = None) -> str | None:
        """How reports name wave ``code`` (the ``waves:`` key), or None if undeclared.

        Parameters
        ----------
        code : object
            A value of the wave variable (``0``, ``0.0`` and ``"0"`` name one wave).
        lang : str, optional
            A language of the questionnaire (default: its first).

        Returns
        -------
        str or None
            The wave's label in ``lang`` (else in its first language), None when the
            questionnaire does not name that wave.

        Examples
        --------
        >>> q = Questionnaire.from_dict({"id": "x", "languages": ["fr", "en"],
        ...     "waves": {0: {"fr": "Situation de référence", "en": "Baseline"}},
        ...     "variables": [{"name": "wave", "type": "integer", "role": "wave",
        ...                    "label": {"fr": "Vague", "en": "Wave"}}]})
        >>> q.wave_label(0, "en"), q.wave_label(1, "en")
        ('Baseline', None)
        """
        lang = self.language(lang)
        if isinstance(code, float) and code.is_integer():
            code = int(code)
        for key in (code, str(code)):
            labels = self.waves.get(key)
            if labels:
                return labels.get(lang) or next(iter(labels.values()), None)
        return None

    def missing_codes(self, name: str) -> list[Code]:
        """The missing-value codes declared for ``name`` (e.g. ``[8, 9]``).

        Parameters
        ----------
        name : str
            The variable.

        Returns
        -------
        list
            The codes, in declaration order.
        """
        return self.variable(name).missing_codes

    def valid_codes(self, name: str) -> list[Code]:
        """The valid (non-missing) codes declared for ``name``.

        Parameters
        ----------
        name : str
            The variable.

        Returns
        -------
        list
            The codes, in declaration order.
        """
        return self.variable(name).valid_codes

    def repeat(self, name: str) -> Questionnaire:
        """The repeat table ``name`` (a questionnaire of its own).

        Parameters
        ----------
        name : str
            The repeat (a key of ``repeats``).

        Returns
        -------
        Questionnaire
            Its variables, with ``parent`` and ``count``.

        Examples
        --------
        >>> q = Questionnaire.from_dict({"id": "hh", "languages": ["en"], "variables": [
        ...     {"name": "size", "type": "integer", "label": "Size"}], "repeats": [
        ...     {"name": "members", "count": "${size}", "variables": [
        ...         {"name": "age", "type": "integer", "label": "Age"}]}]})
        >>> q.repeat("members").names, q.repeat("members").count
        (['age'], '${size}')
        """
        try:
            return self.repeats[name]
        except KeyError:
            raise QuestionnaireError(
                f"questionnaire {self.id!r} has no repeat {name!r}"
                f"{did_you_mean(name, self.repeats)}. Fix: use one of "
                f"{', '.join(self.repeats) or '(none: it has no repeat)'}."
            ) from None

    def module(self, module: str) -> list[str]:
        """Names of the variables of one module, in order.

        Parameters
        ----------
        module : str
            The module (a key of ``modules``).

        Returns
        -------
        list of str
            The variable names.
        """
        found = [v.name for v in self.variable_list if v.module == module]
        if not found:
            raise QuestionnaireError(
                f"questionnaire {self.id!r} has no module {module!r}"
                f"{did_you_mean(module, self.modules)}. Fix: use one of "
                f"{', '.join(self.modules)}."
            )
        return found

    def schema(self) -> pa.DataFrameSchema:
        """The ``pandera.DataFrameSchema`` that a wave of this questionnaire must pass.

        Use ``perception.validate`` for a readable report.

        Returns
        -------
        pandera.DataFrameSchema
            One column per variable (see ``perception.questionnaire.schema.build_schema``).
        """
        from .schema import build_schema

        return build_schema(self)

    def language(self, lang: str | None = None) -> str:
        """``lang`` when the questionnaire has labels in it, else an error naming its
        languages; the default language for None.

        Parameters
        ----------
        lang : str, optional
            A language of the questionnaire or None.

        Returns
        -------
        str
            The language.

        Examples
        --------
        >>> q = Questionnaire.from_dict({"id": "x", "languages": ["fr", "en"], "variables": [
        ...     {"name": "ok", "type": "binary", "label": {"fr": "OK ?", "en": "OK?"}}]})
        >>> q.language(), q.language("en")
        ('fr', 'en')
        """
        if lang is None:
            return self.default_language
        if lang not in self.languages:
            raise QuestionnaireError(
                f"questionnaire {self.id!r} has no labels in language {lang!r}. Fix: use one "
                f"of {', '.join(self.languages)}."
            )
        return lang

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[Variable]:
        return iter(self.variable_list)

    def __len__(self) -> int:
        return len(self.variable_list)


# ---------------------------------------------------------------------- assembling


def _assemble(cls: type[Questionnaire], parts: Mapping[str, Any]) -> Questionnaire:
    """The immutable questionnaire of the checked parts (building.build_parts)."""
    variables = tuple(Variable(**fields) for fields in parts["variables"])
    rules = tuple(ConsistencyRule(**fields) for fields in parts["consistency"])
    repeats = {name: _assemble(cls, table) for name, table in parts["repeats"].items()}
    return cls(
        id=parts["id"],
        languages=tuple(parts["languages"]),
        variable_list=variables,
        consistency=rules,
        title=parts["title"],
        version=parts["version"],
        source=parts.get("source"),
        modules=parts["modules"],
        repeats=repeats,
        parent=parts.get("parent"),
        count=parts.get("count"),
        list_experiments=tuple(parts.get("list_experiments", ())),
        waves=parts.get("waves", {}),
    )
