"""Derived variables: the ``derived:`` section of a questionnaire, checked and computed.

A derived variable is computed from the answers with an expression of the
questionnaire's language (XLSForm's: ``${x}``, comparisons, ``and``/``or``/``not``,
``if()``, ``selected()``, arithmetic; :mod:`perception.questionnaire.expressions`, never
``eval``)::

    derived:
      trust_police_high:
        expression: "if(${trust_police} >= 2, 1, 0)"
        type: binary
        label: {fr: "Confiance dans la police (partiellement ou beaucoup)",
                en: "Trust in the police (somewhat or a lot)"}

It becomes a variable of the questionnaire (module ``derived`` unless it names one),
not required in a wave, with its type, labels and codes; ``read_wave`` and a labelled
design add its column when the data lack it.

**Missing in, missing out.** Before the expression is evaluated, the declared missing
codes of every source (8 refused, 9 don't know ...) and the answers of questions not
asked (their ``relevant`` is false) are blanks. A derived value is missing (``<NA>``)
when the value it is computed from is missing: an arithmetic operation, a comparison or
a function of a missing value is missing (never 0 or false); ``if(c, a, b)`` is missing
when ``c`` is, else when the branch it takes is; ``and``/``or`` follow three-valued
logic (``false and NA`` is false, ``true or NA`` is true, as in R); ``coalesce(a, b)``
is missing only when both are.

Examples
--------
>>> import pandas as pd
>>> q = pc.Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
...     {"name": "trust", "type": "ordinal", "label": "Trust",
...      "codes": {0: "No", 1: "Little", 2: "Some", 3: "A lot"},
...      "missing": {8: "Refused", 9: "Don't know"}}],
...     "derived": {"trust_high": {"expression": "if(${trust} >= 2, 1, 0)",
...                                "type": "binary", "label": "Trusts"}}})
>>> derive(pd.DataFrame({"trust": [3, 1, 9, None]}), q)["trust_high"].tolist()
[1, 0, <NA>, <NA>]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import QuestionnaireError, format_rows
from .cells import numbers, texts
from .entries import DISCLOSURE_ROLES, Context, variable_fields
from .expressions import BinOp, Call, Expr, Negate, Node, Var, sub_expression
from .fields import expression_entry
from .logic import cycles
from .problems import Problems, did_you_mean, where_variable

if TYPE_CHECKING:  # pragma: no cover
    from .model import Questionnaire, Variable

__all__ = ["DERIVED_KEYS", "DERIVED_TYPES", "derived_fields", "place_derived", "derive",
           "derived_values", "expression_kind", "value_kind"]

#: the fields of an entry of the ``derived:`` section
DERIVED_KEYS = ("expression", "type", "label", "codes", "range", "module", "sensitive", "role",
                "coarsen", "note")
#: the types a derived variable may have (its values are numbers)
DERIVED_TYPES = ("binary", "ordinal", "categorical", "integer", "numeric")
_MODULE = "derived"
_ARITHMETIC = ("+", "-", "*", "div", "mod")
_ORDER = ("<", "<=", ">", ">=")
_NUMBER_FUNCTIONS = ("number", "int", "round", "abs", "pow", "min", "max",
                     "count-selected", "string-length")
_TEXT_FUNCTIONS = ("string", "concat", "substr", "normalize-space", "selected-at")
_TRUTH_FUNCTIONS = ("not", "true", "false", "boolean", "boolean-from-string", "selected",
                    "regex", "contains", "starts-with", "ends-with")


# ------------------------------------------------------------------ building --


def derived_fields(
    p: Problems, ctx: Context, raw: Any, variables: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The checked fields of each entry of the ``derived:`` section (``name -> entry``),
    placed after ``variables``: an expression that refers to an unknown variable, a
    cycle between derived variables, or a value of the wrong kind for the declared type
    is a problem naming the derived variable, the expression and the fix."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        p.fail("top level, key 'derived'", "must be a mapping name -> {expression, type, "
               "label}", 'write derived: {trust_high: {expression: "if(${trust} >= 2, 1, 0)", '
               "type: binary, label: ...}}")
        return []
    taken = {v["name"]: v for v in variables}
    out: list[dict[str, Any]] = []
    for i, (name, entry) in enumerate(raw.items()):
        fields = _entry_fields(p, ctx, str(name), entry, len(variables) + i, taken)
        if fields is not None:
            out.append(fields)
    _check_references(p, out, taken)
    return out


def _entry_fields(p: Problems, ctx: Context, name: str, entry: Any, position: int,
                  taken: Mapping[str, Any]) -> dict[str, Any] | None:
    where = f"derived variable {name!r}"
    if not isinstance(entry, Mapping):
        p.fail(where, f"must be a mapping, got {entry!r}",
               'write {expression: "...", type: numeric, label: ...}')
        return None
    if name in taken:
        p.fail(where, "also the name of a variable of the questionnaire",
               "give the derived variable a name of its own")
        return None
    for key in entry:
        if key not in DERIVED_KEYS:
            fix = (f"use only {', '.join(DERIVED_KEYS)} (a derived variable is computed, "
                   "never asked: it has no skip logic or missing codes)")
            p.fail(f"{where}, field {key!r}", f"unknown field{did_you_mean(key, DERIVED_KEYS)}",
                   fix)
    vtype = entry.get("type", "numeric")
    if vtype not in DERIVED_TYPES:
        p.fail(f"{where}, field 'type'", f"type {vtype!r} cannot be derived",
               f"use one of {', '.join(DERIVED_TYPES)}")
        return None
    expr = expression_entry(p, entry, "expression", where, "if(${trust_police} >= 2, 1, 0)",
                            "a derived variable")
    if expr is None:
        return None
    module = str(entry.get("module", _MODULE))
    raw = {"name": name, "type": vtype, "required": False,
           **{k: entry[k] for k in ("label", "codes", "range", "sensitive", "role", "coarsen",
                                    "note") if k in entry}}
    if raw.get("role") is not None and raw["role"] not in DISCLOSURE_ROLES:
        p.fail(f"{where}, field 'role'", f"role {raw['role']!r} cannot be derived",
               f"a derived variable may only be {' or '.join(DISCLOSURE_ROLES)}; give the "
               "design role to a column of the data")
        return None
    before = len(p)
    fields = variable_fields(p, ctx, raw, module, position)
    if fields is None or len(p) > before:
        return None
    if any(isinstance(c, str) for c in fields["codes"]):
        p.fail(f"{where}, field 'codes'", "text codes: a derived variable holds numbers",
               "give it integer codes (1: ..., 2: ...)")
        return None
    fields["expression"], fields["expression_expr"] = entry["expression"], expr
    return fields


def _check_references(p: Problems, derived: list[dict[str, Any]],
                      taken: Mapping[str, Mapping[str, Any]]) -> None:
    """Unknown names, cycles between derived variables and kinds of values."""
    own = {v["name"]: v for v in derived}
    known = {**taken, **own}
    bad: set[str] = set()
    for v in derived:
        expr = v["expression_expr"]
        for ref in sorted(expr.variables):
            if ref not in known:
                bad.add(v["name"])
                p.fail(where_variable(v["name"], v["module"], "expression"),
                       f"expression {expr.text!r} refers to unknown variable {ref!r}"
                       f"{did_you_mean(ref, known)}",
                       "correct the name, or declare the variable in the questionnaire")
    graph = {v["name"]: sorted(r for r in v["expression_expr"].variables if r in own)
             for v in derived}
    for cycle in cycles(graph):
        bad.update(cycle)
        first = own[cycle[0]]
        p.fail(where_variable(first["name"], first["module"], "expression"),
               f"derived variables compute each other in a cycle: "
               f"{' -> '.join([*cycle, cycle[0]])} (expression {first['expression']!r})",
               "compute each derived variable from answers or from derived variables "
               "that do not depend on it")
    kinds = {name: _kind_of_variable(fields) for name, fields in known.items()}
    for v in derived:
        if v["name"] in bad:
            continue
        expr = v["expression_expr"]
        try:
            kind = expression_kind(expr, kinds)
        except TypeError as exc:
            p.fail(where_variable(v["name"], v["module"], "expression"),
                   f"type mismatch in {expr.text!r}: {exc}",
                   "use numbers in arithmetic and comparisons (selected() for the options "
                   "of a select_multiple, = for text)")
            continue
        if kind not in ("num", "bool"):
            p.fail(where_variable(v["name"], v["module"], "expression"),
                   f"type mismatch: {expr.text!r} gives {_KIND_WORDS[kind]}, and a {v['type']} "
                   "variable holds numbers",
                   "make the expression give numbers (e.g. if(selected(${q}, 'x'), 1, 0))")


def place_derived(variables: Sequence[Mapping[str, Any]], derived: Sequence[Mapping[str, Any]]
                  ) -> list[dict[str, Any]]:
    """The variables in questionnaire order: a derived variable of a module of questions
    after the last of its sources in that module (``age_grp`` right after ``age``), else
    after the module's last question; the others last; positions numbered anew.

    Examples
    --------
    >>> from perception.questionnaire.expressions import parse_expression
    >>> v = [{"name": "a", "module": "m"}, {"name": "c", "module": "m"},
    ...      {"name": "b", "module": "n"}]
    >>> d = [{"name": "d", "module": "m", "expression_expr": parse_expression("${a}")},
    ...      {"name": "e", "module": "derived", "expression_expr": parse_expression("${b}")}]
    >>> [x["name"] for x in place_derived(v, d)]
    ['a', 'd', 'c', 'b', 'e']
    """
    out = [dict(v) for v in variables]
    for d in derived:
        sources = d["expression_expr"].variables
        in_module = [i for i, v in enumerate(out) if v["module"] == d["module"]]
        after = [i for i in in_module if out[i]["name"] in sources] or in_module
        last = max(after, default=None)
        out.insert(len(out) if last is None else last + 1, dict(d))
    for i, v in enumerate(out):
        v["position"] = i
    return out


# ------------------------------------------------------------------- kinds --

_KIND_WORDS = {"num": "a number", "bool": "a truth value", "str": "text", "multi": "a list of selected options", "date": "a date"}


def _kind_of_variable(v: Mapping[str, Any]) -> str:
    codes = [*v.get("codes", {}), *v.get("missing", {})]
    return value_kind(v["type"], any(isinstance(c, str) for c in codes))


def value_kind(vtype: str, text_codes: bool = False) -> str:
    """What a variable of type ``vtype`` holds in an expression: ``num`` (numbers and
    integer codes), ``str``, ``multi`` (the options of a select_multiple) or ``date``.

    Examples
    --------
    >>> value_kind("ordinal"), value_kind("categorical"), value_kind("categorical", True)
    ('num', 'num', 'str')
    """
    if vtype in ("integer", "numeric", "binary", "ordinal", "categorical"):
        return "str" if text_codes else "num"
    if vtype == "select_multiple":
        return "multi"
    return "date" if vtype == "date" else "str"


def expression_kind(expr: Expr, kinds: Mapping[str, str]) -> str:
    """What an expression gives: ``num``, ``bool``, ``str``, ``multi`` or ``date``, given
    what each variable holds (``kinds``, see :func:`value_kind`).

    Raises
    ------
    TypeError
        An operation on values of the wrong kind (arithmetic or an order comparison on
        text or on the options of a select_multiple; the branches of an ``if()`` of
        different kinds), with a message naming the variable.

    Examples
    --------
    >>> from perception.questionnaire.expressions import parse_expression
    >>> expression_kind(parse_expression("${a} + ${b} >= 2"), {"a": "num", "b": "num"})
    'bool'
    >>> expression_kind(parse_expression("${commune} + 1"), {"commune": "str"})
    Traceback (most recent call last):
    TypeError: ${commune} holds text, and + needs numbers
    """
    return _kind(expr.root, kinds)


def _name_of(node: Node) -> str:
    return f"${{{node.name}}}" if isinstance(node, Var) else "a value"


def _needs_number(node: Node, kind: str, op: str) -> None:
    if kind in ("num", "bool") or (kind == "date" and op in ("+", "-", *_ORDER)):
        return
    raise TypeError(f"{_name_of(node)} holds {_KIND_WORDS[kind]}, and {op} needs numbers")


def _kind(node: Node, kinds: Mapping[str, str]) -> str:  # one branch per node type
    if isinstance(node, Var):
        return kinds.get(node.name, "num")
    if isinstance(node, Negate):
        _needs_number(node.operand, _kind(node.operand, kinds), "-")
        return "num"
    if isinstance(node, BinOp):
        left, right = _kind(node.left, kinds), _kind(node.right, kinds)
        if node.op in ("and", "or", "=", "!="):
            return "bool"
        if node.op in _ORDER:
            _needs_number(node.left, left, node.op)
            _needs_number(node.right, right, node.op)
            return "bool"
        _needs_number(node.left, left, node.op)
        _needs_number(node.right, right, node.op)
        return "num"
    if isinstance(node, Call):
        args = [_kind(a, kinds) for a in node.args]
        if node.name in ("if", "coalesce"):
            a, b = args[-2], args[-1]
            numeric = {"num", "bool"}
            if a != b and not ({a, b} <= numeric):
                raise TypeError(f"the values of {node.name}() are {_KIND_WORDS[a]} and "
                                f"{_KIND_WORDS[b]}")
            return a if a == b else "num"
        if node.name in _TRUTH_FUNCTIONS:
            return "bool"
        if node.name in _TEXT_FUNCTIONS:
            return "str"
        if node.name in ("today", "date"):
            return "date"
        if node.name in _NUMBER_FUNCTIONS and node.name not in (
                "number", "count-selected", "string-length"):
            for arg, kind in zip(node.args, args, strict=True):
                _needs_number(arg, kind, f"{node.name}()")
        return "num"
    return "str" if type(node).__name__ == "String" else "num"


# ---------------------------------------------------------------- computing --


def derive(
    data: pd.DataFrame, questionnaire: Questionnaire, names: Iterable[str] | None = None,
    *, replace: bool = False,
) -> pd.DataFrame:
    """``data`` with the derived variables of ``questionnaire`` it lacks, as new columns.

    Parameters
    ----------
    data : DataFrame
        A wave, with the questionnaire's codes (missing codes included or already
        blank); never modified.
    questionnaire : Questionnaire
        Its ``derived:`` section says what to compute.
    names : iterable of str, optional
        The derived variables to add (default: every one whose sources are columns of
        ``data``; a named one whose sources are absent is an error).
    replace : bool
        Also compute those ``data`` already has, in place of its column (a form's
        ``calculate`` columns, computed on the tablet with ODK's semantics, where a
        blank source gives 0).

    Returns
    -------
    DataFrame
        A new frame: ``data``'s columns, then each derived variable it did not have
        (codes and whole numbers as ``Int64``, other numbers as ``float64``; ``<NA>``
        where a source is missing, a missing code or not asked).

    Raises
    ------
    QuestionnaireError
        A named variable is not derived, its sources are not columns of ``data``, or a
        value is not one of its codes (the rows are named).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> derive(demo.waves, demo.questionnaire)["trust_police_high"].dtype
    Int64Dtype()
    """
    derived = [v for v in questionnaire.variable_list if v.derived]
    if names is not None:
        wanted = list(names)
        for name in wanted:
            var = questionnaire.variable(name)
            if not var.derived:
                raise QuestionnaireError(
                    f"{name!r} is not a derived variable of questionnaire "
                    f"{questionnaire.id!r}. Fix: name one of "
                    f"{', '.join(v.name for v in derived) or '(none: it has no derived: section)'}."
                )
        derived = [v for v in derived if v.name in wanted]
    out = data.copy(deep=False)
    pending = [v for v in derived if replace or v.name not in out.columns]
    added: dict[str, pd.Series] = {}
    while pending:  # dependencies first: a derived variable may use another
        ready = [v for v in pending if not (_needs(v) & {p.name for p in pending})]
        for var in ready:
            absent = sorted(_needs(var) - set(out.columns) - set(added))
            if absent:
                if names is not None:
                    raise QuestionnaireError(
                        f"derived variable {var.name!r} ({var.expression!r}) needs column(s) "
                        f"{', '.join(absent)}, which the data do not have. Fix: add them, "
                        "or leave this derived variable out."
                    )
                continue
            frame = with_columns(out, added)
            added[var.name] = derived_values(frame, questionnaire, var.name)
        if not ready:  # pragma: no cover - cycles are refused when the questionnaire is built
            break
        done = {v.name for v in ready}
        pending = [v for v in pending if v.name not in done]
    return with_columns(out, added)


def with_columns(frame: pd.DataFrame, added: dict) -> pd.DataFrame:
    """``frame`` with the ``added`` columns: those it has replaced in place, the others
    appended together (one concatenation: inserted one by one into a wide frame, pandas
    warns that it is fragmented); ``frame`` itself unchanged.

    Examples
    --------
    >>> with_columns(pd.DataFrame({"a": [1], "b": [2]}), {"b": [3], "c": [4]}).to_dict("list")
    {'a': [1], 'b': [3], 'c': [4]}
    """
    if not added:
        return frame
    replaced = {name: values for name, values in added.items() if name in frame.columns}
    out = frame.assign(**replaced) if replaced else frame
    new = {name: values for name, values in added.items() if name not in frame.columns}
    if not new:
        return out
    return pd.concat([out, pd.DataFrame(new, index=frame.index)], axis=1)


def _needs(var: Variable) -> set[str]:
    return set(var.expression_expr.variables) if var.expression_expr is not None else set()


def derived_values(data: pd.DataFrame, questionnaire: Questionnaire, name: str) -> pd.Series:
    """The values of the derived variable ``name`` over ``data`` (missing in, missing out).

    Parameters
    ----------
    data : DataFrame
        Holds the variables the expression refers to; never modified.
    questionnaire : Questionnaire
        Declares ``name`` in its ``derived:`` section.
    name : str
        The derived variable.

    Returns
    -------
    Series
        Aligned with ``data``; ``Int64`` for codes and whole numbers, ``float64`` for a
        numeric variable.

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> values = derived_values(demo.waves, demo.questionnaire, "trust_police_high")
    >>> bool(values[demo.waves["trust_police"] >= 8].isna().all())
    True
    """
    var = questionnaire.variable(name)
    expr = var.expression_expr
    if expr is None:
        raise QuestionnaireError(
            f"{name!r} is not a derived variable of questionnaire {questionnaire.id!r}. Fix: "
            "declare it in the derived: section with an expression."
        )
    absent = sorted(expr.variables - set(data.columns))
    if absent:
        raise QuestionnaireError(
            f"derived variable {name!r} ({expr.text!r}) needs column(s) {', '.join(absent)}, "
            "which the data do not have. Fix: add them, or leave this derived variable out."
        )
    sources = {ref: _answers(data, questionnaire.variable(ref)) if ref in questionnaire
               else data[ref] for ref in expr.variables}
    frame = pd.DataFrame(sources, index=data.index)
    blank = {ref: ~_answered(frame[ref]) for ref in expr.variables}
    values = expr.values(frame)
    if values.dtype == bool:
        values = values.astype("float64")
    values = pd.to_numeric(values, errors="coerce").astype("float64")
    missing = _missing(expr.root, expr, frame, blank)
    values = values.mask(missing)
    return _typed(values, var, data.index)


def _answers(data: pd.DataFrame, var: Variable) -> pd.Series:
    """A source column with its missing codes and unasked answers blank."""
    series = data[var.name]
    if var.missing:
        if var.is_numeric:
            series = numbers(series)
            series = series.mask(series.isin([float(c) for c in var.missing]))
        else:
            series = series.astype(object).mask(texts(series).isin(
                [str(c) for c in var.missing]).fillna(False).astype(bool))
    relevant = var.relevant_expr
    if relevant is not None and relevant.variables <= set(data.columns):
        asked = relevant.evaluate(data).to_numpy()
        series = series.mask(~asked)
    return series


def _answered(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.notna().to_numpy()
    text = texts(series)
    return (text.notna() & (text.fillna("") != "")).to_numpy()


def _missing(node: Node, expr: Expr, frame: pd.DataFrame,
             blank: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows where the value of ``node`` rests on a missing answer."""
    n = len(frame)
    if isinstance(node, Var):
        return blank[node.name]
    if isinstance(node, Negate):
        return _missing(node.operand, expr, frame, blank)
    if isinstance(node, BinOp):
        left = _missing(node.left, expr, frame, blank)
        right = _missing(node.right, expr, frame, blank)
        if node.op in ("and", "or"):
            decided = node.op == "or"  # the value that settles it whatever the other is
            left_settles = ~left & (_truth(node.left, expr, frame) == decided)
            right_settles = ~right & (_truth(node.right, expr, frame) == decided)
            return (left | right) & ~(left_settles | right_settles)
        return left | right
    if isinstance(node, Call):
        parts = [_missing(a, expr, frame, blank) for a in node.args]
        if node.name == "if":
            truth = _truth(node.args[0], expr, frame)
            return parts[0] | np.where(truth, parts[1], parts[2])
        if node.name == "coalesce":
            return parts[0] & parts[1]
        out = np.zeros(n, dtype=bool)
        for part in parts:
            out |= part
        return out
    return np.zeros(n, dtype=bool)


def _truth(node: Node, expr: Expr, frame: pd.DataFrame) -> np.ndarray:
    return sub_expression(expr, node).evaluate(frame).to_numpy()


def _typed(values: pd.Series, var: Variable, index: pd.Index) -> pd.Series:
    """Numbers of a numeric variable; whole numbers (and codes) as Int64, checked."""
    if var.type == "numeric":
        return pd.Series(values.to_numpy(), index=index, name=var.name, dtype="float64")
    known = values.notna().to_numpy()
    data = values.to_numpy()
    whole = np.zeros(len(data), dtype=bool)
    whole[known] = np.isfinite(data[known]) & (np.mod(data[known], 1) == 0)
    bad = known & ~whole
    if var.codes and not bad.any():
        allowed = [float(c) for c in var.codes if not isinstance(c, str)]
        bad = known & ~np.isin(data, allowed)
    if bad.any():
        rows = index[bad]
        seen = sorted({float(x) for x in data[bad]})[:5]
        expected = (f"one of its codes {', '.join(map(str, var.codes))}" if var.codes
                    else "a whole number")
        raise QuestionnaireError(
            f"derived variable {var.name!r} ({var.expression!r}) gives "
            f"{', '.join(f'{x:g}' for x in seen)} in rows {format_rows(rows)}, not "
            f"{expected} of a {var.type} variable. Fix: correct the expression, or declare "
            "the variable numeric."
        )
    return pd.Series(pd.array(np.where(known, data, 0).astype("int64"), dtype="Int64"),
                     index=index, name=var.name).mask(~known)
