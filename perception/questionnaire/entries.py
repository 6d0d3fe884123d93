"""One variable entry of a questionnaire, checked step by step into the fields of a
:class:`~perception.questionnaire.model.Variable`.

:func:`variable_fields` runs the steps in order -- name, keys, type, flags, codes and
missing codes, range, role, skip logic and constraints, choice filter -- each a function
of its own that records its problems and returns what it checked.

Examples
--------
>>> from perception.questionnaire.problems import Problems
>>> p = Problems("q.yaml")
>>> ctx = Context(languages=("en",))
>>> fields = variable_fields(p, ctx, {"name": "ok", "type": "binary", "label": "OK?"},
...                          "main", 0)
>>> fields["codes"], p.messages
({0: {'en': 'No'}, 1: {'en': 'Yes'}}, [])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .fields import (
    expr_of,
    flag_of,
    labels_of,
    range_of,
    resolve_codes,
    text_field,
)
from .problems import Problems, did_you_mean, where_variable

__all__ = [
    "Context",
    "variable_fields",
    "VARIABLE_KEYS",
    "VARIABLE_TYPES",
    "CODED_TYPES",
    "ROLES",
    "ROLE_TYPES",
    "CODE_TYPES",
    "DISCLOSURE_ROLES",
    "Coarsening",
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
CODED_TYPES = ("categorical", "ordinal", "binary", "select_multiple")
#: the design roles a variable may play (each at most once)
ROLES: tuple[str, ...] = ("id", "wave", "stratum", "psu", "weight", "treated")
#: the disclosure roles: a column that names a person (``identifier``: dropped or hashed
#: on export, as personal data) or that describes one (``quasi_identifier``: checked for
#: k-anonymity on export, coarsened along its ``coarsen`` ladder); any number of variables
DISCLOSURE_ROLES: tuple[str, ...] = ("identifier", "quasi_identifier")
#: which types a design role may take
ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "id": ("text", "integer"),
    "wave": ("categorical", "ordinal", "integer", "binary", "text"),
    "stratum": ("text", "integer", "categorical", "ordinal"),
    "psu": ("text", "integer", "categorical"),
    "weight": ("numeric", "integer"),
    "treated": ("binary",),
    "identifier": ("text", "integer", "categorical"),
    "quasi_identifier": ("categorical", "ordinal", "binary", "integer", "numeric", "text"),
}
#: the keys of one step of a ``coarsen`` ladder (``name`` and one of the others)
COARSEN_KEYS = ("name", "bands", "map", "variable")
#: the kinds of codes a coded variable may have
CODE_TYPES = ("integer", "text")
VARIABLE_KEYS = (
    "name",
    "type",
    "module",
    "label",
    "codes",
    "code_type",
    "missing",
    "range",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "choice_filter",
    "pii",
    "sensitive",
    "unique",
    "role",
    "coarsen",
    "derived",
    "note",
)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BINARY_DEFAULT = {0: {"fr": "Non", "en": "No"}, 1: {"fr": "Oui", "en": "Yes"}}
_FLAGS = ("required", "pii", "sensitive", "unique", "derived")


@dataclass(frozen=True)
class Coarsening:
    """One step of the coarsening ladder of a quasi-identifier (``coarsen:``). Immutable.

    Exactly one of ``bands``, ``mapping`` and ``variable`` is set; each step applies to
    the original value, so a later step is coarser than an earlier one.

    Attributes
    ----------
    name : str
        The level reached, as reports name it (``"age band"``, ``"cercle"``).
    bands : tuple of float, optional
        Lower bounds of numeric bands: ``(18, 25)`` gives ``"18-24"`` and ``"25+"``.
    mapping : Mapping[code, str], optional
        Each valid code -> its coarser category (text).
    variable : str, optional
        A coarser variable the record keeps (``cercle`` for ``commune``): the value is
        blanked, the coarser variable stays.

    Examples
    --------
    >>> Coarsening(name="age band", bands=(18, 25)).bands
    (18, 25)
    """

    name: str
    bands: tuple[float, ...] | None = None
    mapping: Mapping[Any, str] | None = None
    variable: str | None = None

    def __post_init__(self) -> None:
        if self.mapping is not None:
            object.__setattr__(self, "mapping", MappingProxyType(dict(self.mapping)))

    def __hash__(self) -> int:
        return hash((self.name, self.bands, self.variable))


@dataclass(frozen=True)
class Context:
    """What every entry of one table may refer to."""

    languages: tuple[str, ...]
    defaults: Mapping[str, bool] = field(default_factory=dict)
    code_lists: Mapping[str, Any] = field(default_factory=dict)
    missing_sets: Mapping[str, Any] = field(default_factory=dict)
    choice_columns: Mapping[str, Mapping[str, Mapping[Any, Any]]] = field(default_factory=dict)
    in_repeat: bool = False


def variable_fields(
    p: Problems, ctx: Context, raw: Any, module: str, position: int
) -> dict[str, Any] | None:
    """The checked fields of one variable entry, or None when it cannot be read at all
    (its problems recorded in ``p``)."""
    if not isinstance(raw, Mapping):
        p.fail(f"module {module!r}, variable number {position + 1}",
               f"must be a mapping, got {raw!r}", "write - name: ..., type: ...")
        return None
    name = _name_of(p, raw, module, position)
    if name is None:
        return None
    before = len(p)

    def where(fld: str | None = None) -> str:
        return where_variable(name, module, fld)

    _unknown_keys(p, raw, where)
    vtype = _type_of(p, raw, where)
    if vtype is None:
        return None
    fields: dict[str, Any] = {"name": name, "type": vtype, "module": module,
                              "position": position}
    fields["labels"] = labels_of(p, ctx.languages, raw.get("label"), where("label"))
    fields.update(_flags(p, ctx, raw, where))
    codes, missing = _codes_and_missing(p, ctx, raw, vtype, where)
    fields["codes"], fields["missing"] = codes, missing
    fields["min"], fields["max"] = _range(p, raw, vtype, missing, where)
    fields["role"] = _role(p, ctx, raw, vtype, fields["pii"], where)
    fields["coarsen"] = _coarsen(p, raw, vtype, fields["role"], codes, where)
    fields.update(_logic(p, raw, where))
    fields.update(_choice_filter(p, ctx, raw, vtype, codes, where))
    if len(p) > before:
        return None
    return fields


# ------------------------------------------------------------------- the steps --


def _name_of(p: Problems, raw: Mapping[str, Any], module: str, position: int) -> str | None:
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        p.fail(f"module {module!r}, variable number {position + 1}, field 'name'",
               f"invalid or missing name {name!r}",
               "use letters, digits and underscores, starting with a letter")
        return None
    return name


def _unknown_keys(p: Problems, raw: Mapping[str, Any], where) -> None:
    for key in raw:
        if key not in VARIABLE_KEYS:
            p.fail(where(str(key)), f"unknown field{did_you_mean(key, VARIABLE_KEYS)}",
                   f"use only {', '.join(VARIABLE_KEYS)}")


def _type_of(p: Problems, raw: Mapping[str, Any], where) -> str | None:
    vtype = raw.get("type")
    if vtype not in VARIABLE_TYPES:
        p.fail(where("type"), f"unknown type {vtype!r}{did_you_mean(vtype, VARIABLE_TYPES)}",
               f"use one of {', '.join(VARIABLE_TYPES)}")
        return None
    return vtype


def _flags(p: Problems, ctx: Context, raw: Mapping[str, Any], where) -> dict[str, bool]:
    return {flag: flag_of(p, raw, flag, ctx.defaults.get(flag, False), where(flag))
            for flag in _FLAGS}


def _code_type(p: Problems, raw: Mapping[str, Any], vtype: str, where) -> str | None:
    code_type = raw.get("code_type")
    if code_type is None:
        return None
    if code_type not in CODE_TYPES:
        p.fail(where("code_type"), f"unknown code type {code_type!r}",
               "write code_type: text (codes such as '1', 'hand_pump', '-99' all kept as "
               "text) or code_type: integer")
        return None
    if vtype not in CODED_TYPES:
        p.fail(where("code_type"), f"a {vtype} variable has no codes",
               "remove code_type, or give the variable a coded type")
        return None
    return code_type


def _codes_and_missing(
    p: Problems, ctx: Context, raw: Mapping[str, Any], vtype: str, where
) -> tuple[dict[Any, dict[str, str]], dict[Any, dict[str, str]]]:
    text = _code_type(p, raw, vtype, where) == "text"
    codes = resolve_codes(p, ctx.languages, raw.get("codes"), ctx.code_lists, where("codes"),
                          "code_lists", text=text)
    missing = resolve_codes(p, ctx.languages, raw.get("missing"), ctx.missing_sets,
                            where("missing"), "missing_sets", text=text)
    if vtype == "binary" and codes is None:
        if set(ctx.languages) <= {"fr", "en"}:
            codes = {(str(k) if text else k): {lang: v[lang] for lang in ctx.languages}
                     for k, v in _BINARY_DEFAULT.items()}
        else:
            p.fail(where("codes"), "a binary variable in these languages needs codes",
                   "declare codes 0 and 1 with labels")
    if vtype in ("categorical", "ordinal", "select_multiple") and not codes and (
            "codes" not in raw):
        p.fail(where("codes"), f"a {vtype} variable needs codes",
               "declare codes: {1: {...}, 2: {...}} or the name of a code list")
    if vtype not in CODED_TYPES and codes:
        p.fail(where("codes"), f"a {vtype} variable cannot have codes",
               "use a categorical/ordinal type, or remove codes (use range and missing)")
    codes, missing = codes or {}, missing or {}
    _check_codes(p, vtype, codes, missing, where)
    return codes, missing


def _check_codes(p: Problems, vtype: str, codes: Mapping, missing: Mapping, where) -> None:
    if vtype == "binary" and codes and len(codes) != 2:
        p.fail(where("codes"),
               f"a binary variable has exactly 2 valid codes, got {len(codes)} "
               f"({', '.join(map(str, codes))})",
               "use categorical, or declare extra codes as missing codes")
    if vtype == "date" and missing:
        p.fail(where("missing"), "a date variable cannot have missing codes",
               "leave missing dates empty")
    if vtype == "select_multiple":
        for code in [*codes, *missing]:
            if isinstance(code, str) and re.search(r"\s", code):
                p.fail(where("codes"), f"select_multiple code {code!r} contains a space",
                       "codes of a select_multiple are single words or numbers")
    clash = [c for c in missing if c in codes]
    if clash:
        p.fail(where("missing"),
               f"missing code(s) {', '.join(map(str, clash))} also declared as valid code(s)",
               "use distinct codes (e.g. 98/99 for multi-digit items)")
    if vtype in ("categorical", "ordinal", "binary"):
        kinds = {type(c) for c in [*codes, *missing]}
        if len(kinds) > 1:
            p.fail(where("codes"), "codes mix numbers and text",
                   "use only numeric codes or only text codes, or write code_type: text "
                   "to keep every code as text")


def _range(p: Problems, raw: Mapping[str, Any], vtype: str, missing: Mapping, where
           ) -> tuple[Any, Any]:
    vmin, vmax = range_of(p, raw.get("range"), vtype, where("range"))
    if vtype not in ("integer", "numeric"):
        return vmin, vmax
    for code in missing:
        if not isinstance(code, int):
            p.fail(where("missing"),
                   f"missing code {code!r} of a {vtype} variable is not a number",
                   "use numeric missing codes such as 98, 99")
        elif ((vmin is None or code >= vmin) and (vmax is None or code <= vmax)
              and (vmin is not None or vmax is not None)):
            p.fail(where("missing"),
                   f"missing code {code} lies inside the valid range {vmin}–{vmax}, so it "
                   "collides with a valid answer",
                   "choose missing codes outside the range (e.g. 998/999) or narrow the range")
    return vmin, vmax


def _role(p: Problems, ctx: Context, raw: Mapping[str, Any], vtype: str, pii: bool, where
          ) -> str | None:
    role = raw.get("role")
    if role is None:
        return None
    if ctx.in_repeat:
        p.fail(where("role"), "a variable of a repeat table cannot play a design role",
               "give design roles to variables of the main table")
        return None
    known = (*ROLES, *DISCLOSURE_ROLES)
    if role not in known:
        p.fail(where("role"), f"unknown role {role!r}{did_you_mean(role, known)}",
               f"use one of {', '.join(known)}")
        return None
    if vtype not in ROLE_TYPES[role]:
        p.fail(where("role"), f"role {role!r} needs type {' or '.join(ROLE_TYPES[role])}, "
               f"not {vtype}", "change the type or the role")
    if pii and role in DISCLOSURE_ROLES:
        p.fail(where("pii"), f"a variable with role {role!r} cannot also be pii",
               "keep one: pii (always dropped or hashed) or the role")
    elif pii:
        p.fail(where("pii"),
               f"a design variable (role {role!r}) cannot be pii: it would be dropped",
               "use a pseudonymous code for design variables")
    return role


def _coarsen(p: Problems, raw: Mapping[str, Any], vtype: str, role: str | None,
             codes: Mapping, where) -> tuple[Coarsening, ...]:
    """The coarsening ladder of a quasi-identifier: each step checked against the type
    and the codes of the variable (references to other variables: logic.check_ladders)."""
    ladder = raw.get("coarsen")
    if ladder is None:
        return ()
    if role != "quasi_identifier":
        p.fail(where("coarsen"), "only a quasi-identifier has a coarsening ladder",
               "add role: quasi_identifier, or remove coarsen")
        return ()
    if not isinstance(ladder, list) or not ladder:
        p.fail(where("coarsen"), f"must be a non-empty list of steps, got {ladder!r}",
               "write coarsen: [{name: cercle, variable: cercle}] or "
               "[{name: age band, bands: [18, 25, 35, 45, 55]}]")
        return ()
    steps: list[Coarsening] = []
    for i, raw_step in enumerate(ladder):
        step = _coarsening(p, raw_step, vtype, codes, f"{where('coarsen')}, step {i + 1}")
        if step is None:
            continue
        if step.name in {s.name for s in steps}:
            p.fail(f"{where('coarsen')}, step {i + 1}", f"level {step.name!r} named twice",
                   "give each step of the ladder its own name")
        steps.append(step)
    return tuple(steps)


def _coarsening(p: Problems, raw: Any, vtype: str, codes: Mapping, where: str
                ) -> Coarsening | None:
    example = ("write {name: age band, bands: [18, 25, 35]}, {name: group, map: {1: a, "
               "2: a, 3: b}} or {name: cercle, variable: cercle}")
    if not isinstance(raw, Mapping):
        p.fail(where, f"must be a mapping, got {raw!r}", example)
        return None
    unknown = [k for k in raw if k not in COARSEN_KEYS]
    kinds = [k for k in ("bands", "map", "variable") if k in raw]
    name = raw.get("name")
    if unknown or len(kinds) != 1 or not isinstance(name, str) or not name.strip():
        problem = (f"unknown key(s) {', '.join(map(repr, unknown))}" if unknown
                   else "needs a name" if not isinstance(name, str) or not name.strip()
                   else f"needs exactly one of bands, map, variable (got {kinds or 'none'})")
        p.fail(where, problem, example)
        return None
    kind, value = kinds[0], raw[kinds[0]]
    if kind == "bands":
        return _bands_step(p, name, value, vtype, where)
    if kind == "map":
        return _map_step(p, name, value, vtype, codes, where)
    if not isinstance(value, str) or not _NAME_RE.match(value):
        p.fail(where, f"variable must be a variable name, got {value!r}",
               "name the coarser variable the record keeps, e.g. variable: cercle")
        return None
    return Coarsening(name=name, variable=value)


def _bands_step(p: Problems, name: str, value: Any, vtype: str, where: str
                ) -> Coarsening | None:
    if vtype not in ("integer", "numeric"):
        p.fail(where, f"bands apply to integer and numeric variables, not {vtype}",
               "use map: {code: coarser category} for coded variables")
        return None
    ok = (isinstance(value, list) and value
          and all(isinstance(b, int | float) and not isinstance(b, bool) for b in value))
    if not ok or any(b2 <= b1 for b1, b2 in zip(value, value[1:], strict=False)):
        p.fail(where, f"bands must be increasing lower bounds, got {value!r}",
               "write bands: [18, 25, 35, 45, 55] (18-24, 25-34, ..., 55+)")
        return None
    return Coarsening(name=name, bands=tuple(value))


def _map_step(p: Problems, name: str, value: Any, vtype: str, codes: Mapping, where: str
              ) -> Coarsening | None:
    if vtype not in ("categorical", "ordinal", "binary"):
        p.fail(where, f"map applies to coded variables, not {vtype}",
               "use bands for numbers, or variable: <coarser variable>")
        return None
    if not isinstance(value, Mapping) or not value:
        p.fail(where, f"map must be a mapping code -> coarser category, got {value!r}",
               "write map: {1: farming, 2: farming, 3: trade}")
        return None
    by_text = {str(k): v for k, v in value.items()}
    unknown = [k for k in by_text if k not in {str(c) for c in codes}]
    absent = [str(c) for c in codes if str(c) not in by_text]
    bad = [k for k, v in by_text.items() if not isinstance(v, str | int) or isinstance(v, bool)]
    if unknown or absent or bad:
        problem = (f"code(s) {', '.join(unknown)} are not codes of the variable" if unknown
                   else f"code(s) {', '.join(absent)} are not mapped" if absent
                   else f"code(s) {', '.join(bad)} map to something that is not a category")
        p.fail(where, problem, "map every valid code, and only those, to a category (text)")
        return None
    return Coarsening(name=name, mapping={c: str(by_text[str(c)]) for c in codes})


def _logic(p: Problems, raw: Mapping[str, Any], where) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("relevant", "constraint", "constraint_message", "note"):
        out[key] = text_field(p, raw, key, where(key))
    out["relevant_expr"] = expr_of(p, out["relevant"], where("relevant"))
    out["constraint_expr"] = expr_of(p, out["constraint"], where("constraint"))
    return out


def _choice_filter(
    p: Problems, ctx: Context, raw: Mapping[str, Any], vtype: str, codes: Mapping, where
) -> dict[str, Any]:
    text = text_field(p, raw, "choice_filter", where("choice_filter"))
    out: dict[str, Any] = {"choice_filter": None, "choice_filter_expr": None,
                           "choice_columns": {}}
    if text is None:
        return out
    if vtype not in ("categorical", "ordinal", "binary", "select_multiple"):
        p.fail(where("choice_filter"), f"a {vtype} variable has no choices to filter",
               "remove choice_filter")
        return out
    expr = expr_of(p, text, where("choice_filter"), choice_filter=True)
    if expr is None:
        return out
    list_name = raw.get("codes") if isinstance(raw.get("codes"), str) else None
    available = ctx.choice_columns.get(list_name or "", {})
    columns: dict[str, dict[Any, Any]] = {}
    for column in sorted(expr.choice_columns - {"name"}):
        if column not in available:
            p.fail(where("choice_filter"),
                   f"choice_filter {text!r} reads the column {column!r}, which code list "
                   f"{list_name!r} does not have{did_you_mean(column, available)}",
                   "declare it under choice_columns: {<code list>: {<column>: {<code>: "
                   "<value>}}}, or correct the filter")
            continue
        by_text = {str(k): v for k, v in available[column].items()}
        columns[column] = {code: by_text.get(str(code)) for code in codes}
    out.update(choice_filter=text, choice_filter_expr=expr, choice_columns=columns)
    return out

