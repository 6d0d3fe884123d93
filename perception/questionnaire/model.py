"""Questionnaires as data: check and query a questionnaire.

A questionnaire file (format described in ``docs/questionnaire_format.md``) declares
every variable of a survey wave: its type, question wording in each language, codes and
missing-value codes with labels, valid range, skip logic (``relevant``), constraints,
whether it is personal data (``pii``) or sensitive, and the design role it plays
(weight, stratum, PSU, wave, treatment, respondent id). A top-level ``consistency``
section holds cross-variable checks.

:meth:`Questionnaire.from_dict` checks the parsed file completely (the builder that
does it lives here, with the classes it builds) and returns an immutable
:class:`Questionnaire`. Every problem found is reported in one
:class:`~perception.errors.QuestionnaireError` naming the file, the variable, the field
and the fix. Files are read by :func:`~perception.questionnaire.loading.load_questionnaire`.

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

import datetime as _dt
import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pandas as pd

from ..errors import QuestionnaireError
from .expressions import Expr, parse_expression

if TYPE_CHECKING:  # pragma: no cover
    import pandera.pandas as pa

__all__ = [
    "Questionnaire",
    "Variable",
    "ConsistencyRule",
    "VARIABLE_TYPES",
    "ROLES",
    "FORMAT",
]

#: identifier of the file format understood by this module
FORMAT = "perception-questionnaire/1"
VariableType = Literal[
    "categorical", "ordinal", "binary", "integer", "numeric", "date", "text", "select_multiple"
]
#: the variable types a questionnaire may declare
VARIABLE_TYPES: tuple[str, ...] = (
    "categorical",
    "ordinal",
    "binary",
    "integer",
    "numeric",
    "date",
    "text",
    "select_multiple",
)
#: the design roles a variable may play (each at most once)
ROLES: tuple[str, ...] = ("id", "wave", "stratum", "psu", "weight", "treated")

CODED_TYPES = ("categorical", "ordinal", "binary", "select_multiple")
RANGE_TYPES = ("integer", "numeric", "date")

# which types a design role may take
_ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "id": ("text", "integer"),
    "wave": ("categorical", "ordinal", "integer", "binary", "text"),
    "stratum": ("text", "integer", "categorical", "ordinal"),
    "psu": ("text", "integer", "categorical"),
    "weight": ("numeric", "integer"),
    "treated": ("binary",),
}

_TOP_KEYS = (
    "format",
    "id",
    "version",
    "title",
    "description",
    "languages",
    "defaults",
    "missing_sets",
    "code_lists",
    "modules",
    "variables",
    "consistency",
    "waves",
)
VARIABLE_KEYS = (
    "name",
    "type",
    "module",
    "label",
    "codes",
    "missing",
    "range",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "pii",
    "sensitive",
    "unique",
    "role",
    "derived",
    "note",
)
_DEFAULT_KEYS = ("required", "sensitive")
_MODULE_KEYS = ("name", "label", "variables", "note")
_CONSISTENCY_KEYS = ("name", "type", "from", "to", "map", "condition", "column", "message")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT_RE = re.compile(r"^-?\d+$")
_BINARY_DEFAULT = {
    0: {"fr": "Non", "en": "No"},
    1: {"fr": "Oui", "en": "Yes"},
}

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
        Design role, one of :data:`ROLES`.
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
    derived: bool = False
    note: str | None = None
    position: int = 0
    relevant_expr: Expr | None = field(default=None, repr=False, compare=False)
    constraint_expr: Expr | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "codes", _freeze_codes(self.codes))
        object.__setattr__(self, "missing", _freeze_codes(self.missing))
        if self.relevant is not None and self.relevant_expr is None:
            object.__setattr__(self, "relevant_expr", parse_expression(self.relevant))
        if self.constraint is not None and self.constraint_expr is None:
            object.__setattr__(self, "constraint_expr", parse_expression(self.constraint))

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

    Build one with :func:`load_questionnaire` (from YAML) or
    :meth:`Questionnaire.from_dict`.

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
    #: how reports name the study's waves: code of the wave variable -> labels
    #: ("Situation de référence" / "Baseline"); top-level key ``waves:`` of the YAML
    waves: Mapping[Code, Labels] = field(default_factory=dict)
    _index: Mapping[str, Variable] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "languages", tuple(self.languages))
        object.__setattr__(self, "variable_list", tuple(self.variable_list))
        object.__setattr__(self, "consistency", tuple(self.consistency))
        object.__setattr__(self, "title", MappingProxyType(dict(self.title)))
        object.__setattr__(
            self,
            "modules",
            MappingProxyType({k: MappingProxyType(dict(v)) for k, v in self.modules.items()}),
        )
        object.__setattr__(
            self, "_index", MappingProxyType({v.name: v for v in self.variable_list})
        )
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
        return _Builder(data, source).build()

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
        Further columns: required, role, unique, derived, relevant, constraint, codes,
        missing_codes, min, max and ``label_<lang>`` for other languages.
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
                "unique": v.unique,
                "derived": v.derived,
                "relevant": v.relevant,
                "constraint": v.constraint,
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
        """Design roles -> column names, e.g. ``{"weight": "w_final", "psu": "psu_id"}``."""
        return {v.role: v.name for v in self.variable_list if v.role}

    def variable(self, name: str) -> Variable:
        """The :class:`Variable` called ``name``.

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
                f"{_did_you_mean(name, self._index)}. Fix: use one of the names in "
                "q.variables['name']."
            ) from None

    def label(self, name: str, lang: str | None = None) -> str:
        """The question wording of ``name`` in ``lang`` (default: first language)."""
        lang = self.language(lang)
        return self.variable(name).label(lang)

    def labels(
        self, name: str, lang: str | None = None, *, missing: bool = True
    ) -> dict[Code, str]:
        """Code -> label mapping of ``name`` in ``lang``, missing codes included by default.

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
        """The missing-value codes declared for ``name`` (e.g. ``[8, 9]``)."""
        return self.variable(name).missing_codes

    def valid_codes(self, name: str) -> list[Code]:
        """The valid (non-missing) codes declared for ``name``."""
        return self.variable(name).valid_codes

    def module(self, module: str) -> list[str]:
        """Names of the variables of one module, in order."""
        found = [v.name for v in self.variable_list if v.module == module]
        if not found:
            raise QuestionnaireError(
                f"questionnaire {self.id!r} has no module {module!r}"
                f"{_did_you_mean(module, self.modules)}. Fix: use one of "
                f"{', '.join(self.modules)}."
            )
        return found

    def schema(self) -> pa.DataFrameSchema:
        """The :class:`pandera.DataFrameSchema` that a wave of this questionnaire must pass.

        See :func:`perception.questionnaire.schema.build_schema`; use :func:`perception.validate` for a
        readable report.
        """
        from .schema import build_schema

        return build_schema(self)

    def language(self, lang: str | None = None) -> str:
        """``lang`` when the questionnaire has labels in it, else an error naming its
        languages; the default language for None.

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


# ---------------------------------------------------------------------- loading




# ---------------------------------------------------------------------- building


def _did_you_mean(name: object, candidates) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


class _Builder:
    """Turn the parsed YAML into a Questionnaire, collecting every problem."""

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.problems: list[str] = []
        self.languages: tuple[str, ...] = ("en",)

    # -- reporting
    def fail(self, where: str, problem: str, fix: str) -> None:
        self.problems.append(f"{where}: {problem}. Fix: {fix}.")

    @staticmethod
    def var_where(name: str, module: str, fld: str | None = None) -> str:
        where = f"variable {name!r} (module {module!r})"
        return f"{where}, field {fld!r}" if fld else where

    # -- main
    def build(self) -> Questionnaire:
        data = self.data
        if not isinstance(data, Mapping):
            raise QuestionnaireError(
                f"{self.source}: a questionnaire must be a mapping, not "
                f"{type(data).__name__}. Fix: see docs/questionnaire_format.md."
            )
        for key in data:
            if key not in _TOP_KEYS:
                self.fail(
                    f"top level, key {key!r}",
                    f"unknown key{_did_you_mean(key, _TOP_KEYS)}",
                    f"use only {', '.join(_TOP_KEYS)}",
                )
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            self.fail(
                "top level, key 'format'",
                f"unsupported format {fmt!r}",
                f"write format: {FORMAT}",
            )
        qid = data.get("id")
        if not isinstance(qid, str) or not qid.strip():
            self.fail("top level, key 'id'", f"missing or not text ({qid!r})", "add id: <name>")
            qid = "questionnaire"
        langs = data.get("languages", ["en"])
        if (
            not isinstance(langs, list)
            or not langs
            or not all(isinstance(x, str) and x for x in langs)
            or len(set(langs)) != len(langs)
        ):
            self.fail(
                "top level, key 'languages'",
                f"must be a non-empty list of distinct language codes, got {langs!r}",
                "write e.g. languages: [fr, en]",
            )
            langs = ["en"]
        self.languages = tuple(langs)
        title = self.labels_of(data.get("title", {}), "top level, key 'title'", optional=True)
        defaults = self.defaults_of(data.get("defaults", {}))
        missing_sets = self.named_sets(data.get("missing_sets", {}), "missing_sets")
        code_lists = self.named_sets(data.get("code_lists", {}), "code_lists")
        modules, entries = self.modules_and_entries(data)

        variables: list[Variable] = []
        seen: dict[str, int] = {}
        for position, (module, raw) in enumerate(entries):
            var = self.variable_of(raw, module, position, defaults, code_lists, missing_sets)
            if var is None:
                continue
            if var.name in seen:
                self.fail(
                    self.var_where(var.name, module, "name"),
                    f"duplicate variable name (also variable number {seen[var.name] + 1})",
                    "give every variable a unique name",
                )
                continue
            seen[var.name] = position
            variables.append(var)
        self.check_roles(variables)
        self.check_logic(variables)
        consistency = self.consistency_of(data.get("consistency", []), variables)
        if self.problems:
            shown = self.problems[:50]
            more = len(self.problems) - len(shown)
            raise QuestionnaireError(
                f"{self.source}: invalid questionnaire ({len(self.problems)} problem"
                f"{'s' if len(self.problems) != 1 else ''}):\n  - "
                + "\n  - ".join(shown)
                + (f"\n  - ... and {more} more" if more else "")
            )
        waves = self.codes_of(data["waves"], "top level, key 'waves'") if "waves" in data else {}
        version = data.get("version")
        return Questionnaire(
            id=qid,
            languages=self.languages,
            variable_list=tuple(variables),
            consistency=tuple(consistency),
            title=title,
            version=None if version is None else str(version),
            source=self.source,
            modules=modules,
            waves=waves,
        )

    # -- pieces
    def labels_of(self, raw: Any, where: str, *, optional: bool = False) -> dict[str, str]:
        """A label: a mapping language -> text, or plain text if one language."""
        if raw is None or raw == {}:
            if not optional:
                self.fail(
                    where,
                    "no label",
                    f"add label: {{{', '.join(f'{x}: ...' for x in self.languages)}}}",
                )
            return {}
        if isinstance(raw, bool):
            self.fail(
                where,
                f"the label is the boolean {raw} (YAML reads unquoted Yes/No/On/Off/True/False "
                "as booleans)",
                f'quote it: "{"Yes" if raw else "No"}"',
            )
            return {}
        if isinstance(raw, str):
            if len(self.languages) == 1:
                return {self.languages[0]: raw}
            self.fail(
                where,
                f"plain text label {raw!r} but the questionnaire has languages "
                f"{', '.join(self.languages)}",
                f"write {{{', '.join(f'{x}: ...' for x in self.languages)}}}",
            )
            return {}
        if not isinstance(raw, Mapping):
            self.fail(
                where,
                f"a label must be text or a mapping language -> text, got {raw!r}",
                "write {fr: ..., en: ...}",
            )
            return {}
        out: dict[str, str] = {}
        for lang, text in raw.items():
            if lang not in self.languages:
                self.fail(
                    where,
                    f"label in undeclared language {lang!r}",
                    f"add it to languages or use one of {', '.join(self.languages)}",
                )
            elif isinstance(text, bool):
                self.fail(
                    where,
                    f"the {lang!r} label is the boolean {text} (YAML reads unquoted "
                    "Yes/No/On/Off/True/False as booleans)",
                    f'quote it: {lang}: "{"Yes" if text else "No"}"',
                )
            elif not isinstance(text, str) or not text.strip():
                self.fail(
                    where,
                    f"the {lang!r} label must be non-empty text, got {text!r}",
                    "write the label text",
                )
            else:
                out[lang] = text
        for lang in self.languages:
            if lang not in raw and not optional:
                self.fail(where, f"no {lang!r} label", f"add {lang}: ... to the label")
        return out

    def defaults_of(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            self.fail(
                "top level, key 'defaults'",
                f"must be a mapping, got {raw!r}",
                "write defaults: {required: true}",
            )
            return {}
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in _DEFAULT_KEYS:
                self.fail(
                    f"defaults, key {key!r}",
                    "not a field that may have a default",
                    f"use only {', '.join(_DEFAULT_KEYS)}",
                )
            elif not isinstance(value, bool):
                self.fail(
                    f"defaults, key {key!r}",
                    f"must be true or false, got {value!r}",
                    "write true or false",
                )
            else:
                out[key] = value
        return out

    def named_sets(self, raw: Any, key: str) -> dict[str, dict[Code, dict[str, str]]]:
        if not isinstance(raw, Mapping):
            self.fail(
                f"top level, key {key!r}",
                f"must be a mapping name -> codes, got {raw!r}",
                "see docs/questionnaire_format.md",
            )
            return {}
        out = {}
        for name, codes in raw.items():
            out[str(name)] = self.codes_of(codes, f"{key} {name!r}")
        return out

    def code_of(self, raw: Any, where: str) -> Code | None:
        if isinstance(raw, bool):
            self.fail(
                where,
                f"code {raw!r} is a boolean (YAML reads unquoted yes/no/on/off/true/false "
                "as booleans)",
                "use numeric codes, or quote the code",
            )
            return None
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and raw.strip():
            text = raw.strip()
            return int(text) if _INT_RE.match(text) else text
        self.fail(where, f"invalid code {raw!r}", "codes are whole numbers or short text")
        return None

    def codes_of(self, raw: Any, where: str) -> dict[Code, dict[str, str]]:
        if not isinstance(raw, Mapping) or not raw:
            self.fail(
                where,
                f"must be a non-empty mapping code -> label, got {raw!r}",
                "write e.g. {0: {fr: Non, en: 'No'}, 1: ...}",
            )
            return {}
        out: dict[Code, dict[str, str]] = {}
        for key, label in raw.items():
            code = self.code_of(key, where)
            if code is None:
                continue
            if code in out:
                self.fail(where, f"code {code!r} declared twice", "keep one entry per code")
                continue
            out[code] = self.labels_of(label, f"{where}, code {code!r}")
        return out

    def modules_and_entries(
        self, data: Mapping[str, Any]
    ) -> tuple[dict[str, dict[str, str]], list[tuple[str, Any]]]:
        modules: dict[str, dict[str, str]] = {}
        entries: list[tuple[str, Any]] = []
        raw_modules = data.get("modules", [])
        flat = data.get("variables")
        if not isinstance(raw_modules, list):
            self.fail(
                "top level, key 'modules'",
                f"must be a list, got {type(raw_modules).__name__}",
                "write modules: [- name: ..., label: ..., variables: [...]]",
            )
            raw_modules = []
        nested = False
        for i, mod in enumerate(raw_modules):
            if not isinstance(mod, Mapping) or not isinstance(mod.get("name"), str):
                self.fail(
                    f"modules, entry {i + 1}", "each module needs a name", "write - name: <module>"
                )
                continue
            name = mod["name"]
            for key in mod:
                if key not in _MODULE_KEYS:
                    self.fail(
                        f"module {name!r}, key {key!r}",
                        f"unknown key{_did_you_mean(key, _MODULE_KEYS)}",
                        f"use only {', '.join(_MODULE_KEYS)}",
                    )
            if name in modules:
                self.fail(
                    f"module {name!r}", "duplicate module name", "give every module a unique name"
                )
            modules[name] = self.labels_of(
                mod.get("label"), f"module {name!r}, field 'label'", optional=True
            )
            variables = mod.get("variables")
            if variables is not None:
                nested = True
                if not isinstance(variables, list):
                    self.fail(
                        f"module {name!r}, field 'variables'",
                        "must be a list of variables",
                        "write variables: [- name: ...]",
                    )
                    continue
                entries.extend((name, v) for v in variables)
        if flat is not None:
            if nested:
                self.fail(
                    "top level, key 'variables'",
                    "variables are listed both inside modules and at the top level",
                    "use one style: modules with variables, or a top-level variables list "
                    "whose entries name their module",
                )
            elif not isinstance(flat, list):
                self.fail(
                    "top level, key 'variables'", "must be a list", "write variables: [- name: ...]"
                )
            else:
                for v in flat:
                    module = v.get("module", "main") if isinstance(v, Mapping) else "main"
                    if module not in modules:
                        modules[str(module)] = {}
                    entries.append((str(module), v))
        if not entries:
            self.fail(
                "top level", "the questionnaire declares no variables", "add modules with variables"
            )
        return modules, entries

    def variable_of(
        self,
        raw: Any,
        module: str,
        position: int,
        defaults: Mapping[str, Any],
        code_lists: Mapping[str, Any],
        missing_sets: Mapping[str, Any],
    ) -> Variable | None:
        if not isinstance(raw, Mapping):
            self.fail(
                f"module {module!r}, variable number {position + 1}",
                f"must be a mapping, got {raw!r}",
                "write - name: ..., type: ...",
            )
            return None
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            self.fail(
                f"module {module!r}, variable number {position + 1}, field 'name'",
                f"invalid or missing name {name!r}",
                "use letters, digits and underscores, starting with a letter",
            )
            return None
        n_problems = len(self.problems)

        def where(fld: str | None = None) -> str:
            return self.var_where(name, module, fld)

        for key in raw:
            if key not in VARIABLE_KEYS:
                self.fail(
                    where(str(key)),
                    f"unknown field{_did_you_mean(key, VARIABLE_KEYS)}",
                    f"use only {', '.join(VARIABLE_KEYS)}",
                )
        vtype = raw.get("type")
        if vtype not in VARIABLE_TYPES:
            self.fail(
                where("type"),
                f"unknown type {vtype!r}{_did_you_mean(vtype, VARIABLE_TYPES)}",
                f"use one of {', '.join(VARIABLE_TYPES)}",
            )
            return None
        labels = self.labels_of(raw.get("label"), where("label"))
        flags: dict[str, bool] = {}
        for flag in ("required", "pii", "sensitive", "unique", "derived"):
            value = raw.get(flag, defaults.get(flag, False))
            if not isinstance(value, bool):
                self.fail(
                    where(flag),
                    f"must be true or false, got {value!r}",
                    f"write {flag}: true or {flag}: false",
                )
                value = False
            flags[flag] = value

        codes = self.resolve(raw.get("codes"), code_lists, where("codes"), "code_lists")
        missing = self.resolve(raw.get("missing"), missing_sets, where("missing"), "missing_sets")
        if vtype == "binary" and codes is None:
            if set(self.languages) <= {"fr", "en"}:
                codes = {
                    k: {lang: v[lang] for lang in self.languages}
                    for k, v in _BINARY_DEFAULT.items()
                }
            else:
                self.fail(
                    where("codes"),
                    "a binary variable in these languages needs codes",
                    "declare codes 0 and 1 with labels",
                )
        if vtype in ("categorical", "ordinal", "select_multiple") and not codes:
            if "codes" not in raw:
                self.fail(
                    where("codes"),
                    f"a {vtype} variable needs codes",
                    "declare codes: {1: {...}, 2: {...}} or the name of a code list",
                )
        if vtype not in CODED_TYPES and codes:
            self.fail(
                where("codes"),
                f"a {vtype} variable cannot have codes",
                "use a categorical/ordinal type, or remove codes (use range and missing)",
            )
        codes = codes or {}
        missing = missing or {}
        if vtype == "binary" and codes and len(codes) != 2:
            self.fail(
                where("codes"),
                f"a binary variable has exactly 2 valid codes, got {len(codes)} ({', '.join(map(str, codes))})",
                "use categorical, or declare extra codes as missing codes",
            )
        if vtype == "date" and missing:
            self.fail(
                where("missing"),
                "a date variable cannot have missing codes",
                "leave missing dates empty",
            )
        if vtype == "select_multiple":
            for code in [*codes, *missing]:
                if isinstance(code, str) and re.search(r"\s", code):
                    self.fail(
                        where("codes"),
                        f"select_multiple code {code!r} contains a space",
                        "codes of a select_multiple are single words or numbers",
                    )
        clash = [c for c in missing if c in codes]
        if clash:
            self.fail(
                where("missing"),
                f"missing code(s) {', '.join(map(str, clash))} also declared as valid code(s)",
                "use distinct codes (e.g. 98/99 for multi-digit items)",
            )
        if vtype in ("categorical", "ordinal", "binary"):
            kinds = {type(c) for c in [*codes, *missing]}
            if len(kinds) > 1:
                self.fail(
                    where("codes"),
                    "codes mix numbers and text",
                    "use only numeric codes or only text codes",
                )

        vmin, vmax = self.range_of(raw.get("range"), vtype, where("range"))
        if vtype in ("integer", "numeric"):
            for code in missing:
                if not isinstance(code, int):
                    self.fail(
                        where("missing"),
                        f"missing code {code!r} of a {vtype} variable is not a number",
                        "use numeric missing codes such as 98, 99",
                    )
                elif (
                    (vmin is None or code >= vmin)
                    and (vmax is None or code <= vmax)
                    and (vmin is not None or vmax is not None)
                ):
                    self.fail(
                        where("missing"),
                        f"missing code {code} lies inside the valid range {vmin}–{vmax}, so it "
                        "collides with a valid answer",
                        "choose missing codes outside the range (e.g. 998/999) or narrow the range",
                    )

        role = raw.get("role")
        if role is not None and role not in ROLES:
            self.fail(
                where("role"),
                f"unknown role {role!r}{_did_you_mean(role, ROLES)}",
                f"use one of {', '.join(ROLES)}",
            )
            role = None
        if role is not None and vtype not in _ROLE_TYPES[role]:
            self.fail(
                where("role"),
                f"role {role!r} needs type {' or '.join(_ROLE_TYPES[role])}, not {vtype}",
                "change the type or the role",
            )
        if role is not None and flags["pii"]:
            self.fail(
                where("pii"),
                f"a design variable (role {role!r}) cannot be pii: it would be dropped",
                "use a pseudonymous code for design variables",
            )

        relevant = self.text_field(raw, "relevant", where)
        constraint = self.text_field(raw, "constraint", where)
        constraint_message = self.text_field(raw, "constraint_message", where)
        note = self.text_field(raw, "note", where)
        relevant_expr = self.expr_of(relevant, where("relevant"))
        constraint_expr = self.expr_of(constraint, where("constraint"))
        if len(self.problems) > n_problems:
            return None
        return Variable(
            name=name,
            type=vtype,
            module=module,
            labels=labels,
            codes=codes,
            missing=missing,
            min=vmin,
            max=vmax,
            required=flags["required"],
            relevant=relevant,
            constraint=constraint,
            constraint_message=constraint_message,
            pii=flags["pii"],
            sensitive=flags["sensitive"],
            unique=flags["unique"],
            role=role,
            derived=flags["derived"],
            note=note,
            position=position,
            relevant_expr=relevant_expr,
            constraint_expr=constraint_expr,
        )

    def text_field(self, raw: Mapping[str, Any], key: str, where) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(where(key), f"must be non-empty text, got {value!r}", f"quote the {key} text")
            return None
        return value

    def expr_of(self, text: str | None, where: str) -> Expr | None:
        if text is None:
            return None
        try:
            return parse_expression(text)
        except QuestionnaireError as exc:
            self.problems.append(f"{where}: {exc}")
            return None

    def resolve(
        self, raw: Any, named: Mapping[str, Any], where: str, section: str
    ) -> dict[Code, dict[str, str]] | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            if raw not in named:
                self.fail(
                    where,
                    f"no {section} entry named {raw!r}{_did_you_mean(raw, named)}",
                    f"declare it under {section} or use one of {', '.join(named) or '(none)'}",
                )
                return {}
            return {k: dict(v) for k, v in named[raw].items()}
        return self.codes_of(raw, where)

    def range_of(self, raw: Any, vtype: str, where: str) -> tuple[Any, Any]:
        if raw is None:
            return None, None
        if vtype not in RANGE_TYPES:
            self.fail(
                where,
                f"a {vtype} variable cannot have a range",
                f"ranges apply to {', '.join(RANGE_TYPES)}; use codes",
            )
            return None, None
        if not isinstance(raw, Mapping) or not raw or set(raw) - {"min", "max"}:
            self.fail(
                where,
                f"must be a mapping with min and/or max, got {raw!r}",
                "write range: {min: 18, max: 110}",
            )
            return None, None
        bounds: list[Any] = []  # Timestamps for a date variable, else numbers (or None)
        for key in ("min", "max"):
            value = raw.get(key)
            if value is None:
                bounds.append(None)
            elif vtype == "date":
                if isinstance(value, (_dt.date, str)):
                    stamp = pd.to_datetime(str(value), errors="coerce")
                    if pd.isna(stamp):
                        self.fail(
                            where,
                            f"{key} {value!r} is not a date",
                            "write an ISO date such as 2024-01-31",
                        )
                        bounds.append(None)
                    else:
                        bounds.append(stamp)
                else:
                    self.fail(
                        where,
                        f"{key} {value!r} is not a date",
                        "write an ISO date such as 2024-01-31",
                    )
                    bounds.append(None)
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                self.fail(where, f"{key} {value!r} is not a number", f"write {key}: <number>")
                bounds.append(None)
            elif vtype == "integer" and not float(value).is_integer():
                self.fail(
                    where,
                    f"{key} {value!r} is not a whole number for an integer variable",
                    f"write a whole number for {key}",
                )
                bounds.append(None)
            else:
                bounds.append(value)
        vmin, vmax = bounds
        if vmin is not None and vmax is not None and vmin > vmax:
            self.fail(
                where,
                f"min {raw.get('min')} is greater than max {raw.get('max')}",
                "swap the bounds or correct them",
            )
            return None, None
        return vmin, vmax

    def check_roles(self, variables: list[Variable]) -> None:
        holders: dict[str, list[str]] = {}
        for v in variables:
            if v.role:
                holders.setdefault(v.role, []).append(v.name)
        for role, names in holders.items():
            if len(names) > 1:
                self.fail(
                    f"role {role!r}",
                    f"given to several variables ({', '.join(names)})",
                    "give each design role to one variable",
                )

    def check_logic(self, variables: list[Variable]) -> None:
        index = {v.name: v for v in variables}
        graph: dict[str, list[str]] = {}
        for v in variables:
            for fld, expr in (("relevant", v.relevant_expr), ("constraint", v.constraint_expr)):
                if expr is None:
                    continue
                for ref in sorted(expr.variables):
                    if ref not in index:
                        self.fail(
                            self.var_where(v.name, v.module, fld),
                            f"{fld} {expr.text!r} refers to unknown variable {ref!r}"
                            f"{_did_you_mean(ref, index)}",
                            "correct the name or declare the variable earlier in the questionnaire",
                        )
            if v.relevant_expr is not None:
                graph[v.name] = sorted(r for r in v.relevant_expr.variables if r in index)
        in_cycle: set[str] = set()
        for cycle in _cycles(graph):
            in_cycle.update(cycle)
            first = index[cycle[0]]
            self.fail(
                self.var_where(first.name, first.module, "relevant"),
                f"skip logic forms a cycle: {' -> '.join([*cycle, cycle[0]])}",
                "a question's relevant condition may only use answers given before it",
            )
        for v in variables:
            if v.relevant_expr is None or v.name in in_cycle:
                continue
            for ref in sorted(v.relevant_expr.variables):
                if ref in index and index[ref].position > v.position:
                    self.fail(
                        self.var_where(v.name, v.module, "relevant"),
                        f"relevant {v.relevant!r} refers to {ref!r}, which comes later in the "
                        "questionnaire",
                        f"move {ref!r} before {v.name!r} or change the condition",
                    )

    def consistency_of(self, raw: Any, variables: list[Variable]) -> list[ConsistencyRule]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.fail(
                "top level, key 'consistency'",
                "must be a list of checks",
                "write consistency: [- name: ..., type: mapping, ...]",
            )
            return []
        index = {v.name: v for v in variables}
        rules: list[ConsistencyRule] = []
        names: set[str] = set()
        for i, entry in enumerate(raw):
            where = f"consistency check number {i + 1}"
            if not isinstance(entry, Mapping):
                self.fail(
                    where,
                    f"must be a mapping, got {entry!r}",
                    "write - name: ..., type: mapping|rule",
                )
                continue
            name = entry.get("name")
            if isinstance(name, str) and name:
                where = f"consistency check {name!r}"
            else:
                self.fail(where, "no name", "add name: <short_name>")
                continue
            if name in names:
                self.fail(where, "duplicate name", "give every consistency check a unique name")
            names.add(name)
            n_problems = len(self.problems)
            for key in entry:
                if key not in _CONSISTENCY_KEYS:
                    self.fail(
                        f"{where}, key {key!r}",
                        f"unknown key{_did_you_mean(key, _CONSISTENCY_KEYS)}",
                        f"use only {', '.join(_CONSISTENCY_KEYS)}",
                    )
            kind = entry.get("type")
            message = entry.get("message")
            if message is not None and not isinstance(message, str):
                self.fail(f"{where}, key 'message'", "must be text", "quote the message")
                message = None
            if kind == "mapping":
                rule = self.mapping_rule(entry, where, index, name, message)
            elif kind == "rule":
                rule = self.condition_rule(entry, where, index, name, message)
            else:
                self.fail(
                    f"{where}, key 'type'",
                    f"unknown type {kind!r}",
                    "use type: mapping or type: rule",
                )
                continue
            if rule is not None and len(self.problems) == n_problems:
                rules.append(rule)
        return rules

    def mapping_rule(self, entry, where, index, name, message) -> ConsistencyRule | None:
        ends = {}
        for key in ("from", "to"):
            var_name = entry.get(key)
            var = index.get(var_name) if isinstance(var_name, str) else None
            if var is None:
                self.fail(
                    f"{where}, key {key!r}",
                    f"unknown variable {var_name!r}{_did_you_mean(var_name, index)}",
                    "name a variable of the questionnaire",
                )
                return None
            if var.type not in ("categorical", "ordinal", "binary"):
                self.fail(
                    f"{where}, key {key!r}",
                    f"variable {var_name!r} is {var.type}, not coded",
                    "map between categorical variables",
                )
                return None
            ends[key] = var
        raw_map = entry.get("map")
        if not isinstance(raw_map, Mapping) or not raw_map:
            self.fail(
                f"{where}, key 'map'",
                "must be a non-empty mapping code -> code",
                "write map: {11: 1, 12: 1, ...}",
            )
            return None
        mapping: dict[Code, Code] = {}
        src, dst = ends["from"], ends["to"]
        for key, value in raw_map.items():
            k = self.code_of(key, f"{where}, key 'map'")
            v = self.code_of(value, f"{where}, key 'map'")
            if k is None or v is None:
                continue
            if k not in src.codes:
                self.fail(
                    f"{where}, key 'map'",
                    f"{k!r} is not a valid code of {src.name!r}",
                    f"use codes of {src.name}: {', '.join(map(str, src.codes))}",
                )
            if v not in dst.codes:
                self.fail(
                    f"{where}, key 'map'",
                    f"{v!r} (for {k!r}) is not a valid code of {dst.name!r}",
                    f"use codes of {dst.name}: {', '.join(map(str, dst.codes))}",
                )
            mapping[k] = v
        column = entry.get("column", src.name)
        if column not in (src.name, dst.name):
            self.fail(
                f"{where}, key 'column'",
                f"{column!r} is neither 'from' nor 'to'",
                "report on the from or the to variable",
            )
            return None
        return ConsistencyRule(
            name=name,
            kind="mapping",
            column=column,
            message=message,
            source=src.name,
            target=dst.name,
            mapping=mapping,
        )

    def condition_rule(self, entry, where, index, name, message) -> ConsistencyRule | None:
        text = entry.get("condition")
        if not isinstance(text, str):
            self.fail(
                f"{where}, key 'condition'",
                "missing or not text",
                'write condition: "${a} <= ${b}"',
            )
            return None
        expr = self.expr_of(text, f"{where}, key 'condition'")
        if expr is None:
            return None
        if expr.uses_current:
            self.fail(
                f"{where}, key 'condition'",
                "'.' has no meaning in a consistency rule",
                "refer to variables as ${name}",
            )
            return None
        unknown = sorted(r for r in expr.variables if r not in index)
        if unknown:
            self.fail(
                f"{where}, key 'condition'",
                f"refers to unknown variable(s) {', '.join(unknown)}",
                "correct the names",
            )
            return None
        if not expr.variables:
            self.fail(
                f"{where}, key 'condition'", "refers to no variable", "use ${name} references"
            )
            return None
        column = entry.get("column")
        if column is None:
            column = max(expr.variables, key=lambda n: index[n].position)
        elif column not in expr.variables:
            self.fail(
                f"{where}, key 'column'",
                f"{column!r} is not used in the condition",
                "report on one of the variables of the condition",
            )
            return None
        return ConsistencyRule(
            name=name,
            kind="rule",
            column=column,
            message=message,
            condition=text,
            condition_expr=expr,
        )


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Return the distinct cycles of a directed graph (each once, by DFS)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(list(cycle))
            elif state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if state.get(node) is None:
            visit(node)
    return found
