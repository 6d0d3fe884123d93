"""The questionnaire's expression language: XLSForm/ODK expressions, parsed safely and
evaluated with ODK's semantics, vectorised over a DataFrame.

Questionnaires state skip logic (``relevant``), value constraints (``constraint``),
cascading choice lists (``choice_filter``) and cross-variable rules as XLSForm
expressions such as ``${vict_theft} = 1 or ${vict_attack} = 1``. This module turns such
a text into an abstract syntax tree with a tokenizer and a recursive-descent parser, and
evaluates the tree over a :class:`pandas.DataFrame`, one value per row. Nothing is ever
passed to ``eval``/``exec``: only the grammar below is accepted, anything else is
rejected with an :class:`ExpressionError` (a
:class:`~perception.errors.QuestionnaireError`) naming the expression, the position and
the feature that is not supported.

Grammar (lowest precedence first, as in XPath)::

    expr     := or
    or       := and ("or" and)*
    and      := equality ("and" equality)*
    equality := relation (("=" | "!=") relation)*
    relation := additive (("<" | "<=" | ">" | ">=") additive)*
    additive := multiply (("+" | "-") multiply)*
    multiply := unary (("*" | "div" | "mod") unary)*
    unary    := "-" unary | primary
    primary  := NUMBER | STRING | "${" NAME "}" | "." | "(" expr ")"
              | FUNCTION "(" [expr ("," expr)*] ")"
              | NAME                      (a choices column, in a choice_filter only)

The semantics are ODK's (JavaRosa, the engine of ODK Collect and KoboCollect), so that a
wave collected with a form validates as the form behaved on the tablet; the full table,
with examples, is in the "Expressions" section of ``docs/questionnaire_format.md``:

- ``${q}`` is the answer to ``q`` in the same row; ``.`` is the value being constrained.
  A **blank answer** (skipped, not asked, empty) is the empty string ``''``.
- ``=`` and ``!=``: when either side is a truth value both are compared as truth
  values; else when either side is a number both are compared as numbers; else as text.
  So on a blank ``q``: ``${q} = 'yes'`` is false, ``${q} != 'yes'`` is **true**,
  ``${q} = ''`` is true, ``${q} != 1`` is true (blank is not a number: NaN).
- ``<``, ``<=``, ``>``, ``>=`` compare numbers (text that is not a number, and a blank,
  are NaN: every comparison with them is false). A date compared with a date, or with a
  text in ISO form (``'2024-01-31'``), compares as dates.
- Arithmetic (``+ - * div mod``) is on numbers; a blank gives NaN, which stays NaN
  (missing in, missing out); ``x div 0`` is ±infinity, ``0 div 0`` NaN; ``mod`` keeps the
  sign of the dividend. A date in arithmetic counts the days since 1970-01-01
  (``today() - ${dob}`` is a number of days).
- Truth values: a number is true when it is neither 0 nor NaN, a text when it is not
  empty (``'0'`` is true), a blank is false.
- A column of numbers holds numbers (``${age} = '30'`` compares 30 with 30); a column of
  text holds text.

Examples
--------
>>> import pandas as pd
>>> expr = parse_expression("${vict_theft} = 1 or ${vict_attack} = 1")
>>> sorted(expr.variables)
['vict_attack', 'vict_theft']
>>> df = pd.DataFrame({"vict_theft": [0, 1, None], "vict_attack": [1, 0, None]})
>>> expr.evaluate(df).tolist()
[True, True, False]
>>> parse_expression("${hosted} != 'yes'").evaluate(
...     pd.DataFrame({"hosted": ["yes", "no", None]})).tolist()
[False, True, True]
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from ..errors import QuestionnaireError
from .cells import cell_text

__all__ = [
    "Expr",
    "ExpressionError",
    "parse_expression",
    "sub_expression",
    "FUNCTIONS",
    "MAX_EXPRESSION_LENGTH",
]

#: longest expression text accepted (characters)
MAX_EXPRESSION_LENGTH = 2000
#: deepest nesting of parentheses, function calls and unary minus accepted
MAX_DEPTH = 40

#: the functions of the language: name -> (least, most) number of arguments (None: any)
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "not": (1, 1),
    "true": (0, 0),
    "false": (0, 0),
    "boolean": (1, 1),
    "boolean-from-string": (1, 1),
    "if": (3, 3),
    "coalesce": (2, 2),
    "selected": (2, 2),
    "count-selected": (1, 1),
    "selected-at": (2, 2),
    "regex": (2, 2),
    "string-length": (1, 1),
    "string": (1, 1),
    "number": (1, 1),
    "int": (1, 1),
    "round": (1, 2),
    "abs": (1, 1),
    "pow": (2, 2),
    "min": (1, None),
    "max": (1, None),
    "concat": (0, None),
    "contains": (2, 2),
    "starts-with": (2, 2),
    "ends-with": (2, 2),
    "substr": (2, 3),
    "normalize-space": (1, 1),
    "today": (0, 0),
    "date": (1, 1),
}

_KEYWORD_OPERATORS = {"and", "or", "div", "mod"}

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<var>\$\{(?P<varname>[^}]*)\})
  | (?P<number>\d+(?:\.\d*)?|\.\d+)
  | (?P<dot>\.)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[T ][0-9:.+\-Z]*)?\s*$")
_EPOCH = np.datetime64("1970-01-01", "D")

_FIX = (
    "write the condition with ${variable} references, numbers, 'text', "
    "= != < <= > >=, + - * div mod, and/or, parentheses and the functions of "
    "docs/questionnaire_format.md (Expressions)"
)


class ExpressionError(QuestionnaireError):
    """An expression outside the language; ``feature`` names what is not supported
    (e.g. ``"function pulldata()"``, ``"XPath path '/'"``), for grouping reports."""

    def __init__(self, message: str, feature: str) -> None:
        super().__init__(message)
        self.feature = feature


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, var, dot, op, name, end
    text: str
    pos: int


def _error(
    text: str, pos: int, problem: str, fix: str = _FIX, feature: str | None = None
) -> ExpressionError:
    caret = f"\n    {text}\n    {' ' * pos}^" if len(text) <= 200 else ""
    return ExpressionError(
        f"invalid expression {text!r}: {problem} at position {pos}.{caret}\n    Fix: {fix}.",
        feature or problem,
    )


def _feature_of_character(char: str) -> str:
    if char == "/":
        return "XPath paths (/, ../)"
    if char == "[":
        return "XPath predicates ([...])"
    if char == ":":
        return "namespaced functions (jr:..., a:b)"
    return f"the character {char!r}"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"":
                raise _error(text, pos, "unterminated text literal", "close the quote",
                             feature="an unterminated text literal")
            raise _error(text, pos, f"unexpected character {char!r}",
                         feature=_feature_of_character(char))
        kind = match.lastgroup or ""
        if kind == "varname":  # pragma: no cover - the outer group wins
            kind = "var"
        if kind == "var":
            name = match.group("varname")
            if not _VAR_NAME_RE.match(name):
                raise _error(
                    text,
                    pos,
                    f"invalid variable reference ${{{name}}}",
                    "a reference is ${name} with letters, digits and underscores",
                    feature="an invalid ${...} reference",
                )
            tokens.append(_Token("var", name, pos))
        elif kind != "ws":
            tokens.append(_Token(kind, match.group(0), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# ------------------------------------------------------------------------------ AST


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class String:
    value: str


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class ChoiceColumn:
    """A bare name in a ``choice_filter``: a column of the choice being filtered."""

    name: str


@dataclass(frozen=True)
class Current:
    """The ``.`` of a constraint: the value being checked."""


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node: TypeAlias = Number | String | Var | ChoiceColumn | Current | Negate | BinOp | Call


class _Parser:
    def __init__(self, text: str, choice_columns: bool) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.choice_columns = choice_columns

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _is(self, kind: str, *texts: str) -> bool:
        tok = self.tok
        if tok.kind != kind:
            return False
        return not texts or tok.text in texts

    def _keyword(self, *words: str) -> bool:
        tok = self.tok
        return tok.kind == "name" and tok.text in words

    def _advance(self) -> _Token:
        tok = self.tok
        self.i += 1
        return tok

    def _expect(self, text: str) -> _Token:
        if not self._is("op", text):
            raise self._unexpected(f"expected {text!r}")
        return self._advance()

    def _unexpected(self, expected: str) -> ExpressionError:
        tok = self.tok
        found = "the end of the expression" if tok.kind == "end" else repr(tok.text)
        return _error(self.text, tok.pos, f"{expected}, found {found}",
                      feature="a malformed expression")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(
                self.text,
                self.tok.pos,
                f"expression nested more than {MAX_DEPTH} levels deep",
                "simplify the expression",
                feature="deep nesting",
            )

    def parse(self) -> Node:
        node = self.parse_or()
        if self.tok.kind != "end":
            raise self._unexpected("expected an operator or the end of the expression")
        return node

    def _binary(self, sub, ops: tuple[str, ...], keyword: bool) -> Node:
        node = sub()
        while self._keyword(*ops) if keyword else self._is("op", *ops):
            op = self._advance().text
            node = BinOp(op, node, sub())
        return node

    def parse_or(self) -> Node:
        return self._binary(self.parse_and, ("or",), keyword=True)

    def parse_and(self) -> Node:
        return self._binary(self.parse_equality, ("and",), keyword=True)

    def parse_equality(self) -> Node:
        return self._binary(self.parse_relation, ("=", "!="), keyword=False)

    def parse_relation(self) -> Node:
        return self._binary(self.parse_additive, ("<", "<=", ">", ">="), keyword=False)

    def parse_additive(self) -> Node:
        return self._binary(self.parse_multiply, ("+", "-"), keyword=False)

    def parse_multiply(self) -> Node:
        node = self.parse_unary()
        while self._is("op", "*") or self._keyword("div", "mod"):
            op = self._advance().text
            node = BinOp(op, node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self._is("op", "-"):
            self._advance()
            self._enter()
            node: Node = Negate(self.parse_unary())
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self._advance()
            return Number(float(tok.text))
        if tok.kind == "string":
            self._advance()
            return String(tok.text[1:-1])
        if tok.kind == "var":
            self._advance()
            return Var(tok.text)
        if tok.kind == "dot":
            self._advance()
            return Current()
        if tok.kind == "op" and tok.text == "(":
            self._advance()
            self._enter()
            node = self.parse_or()
            self.depth -= 1
            self._expect(")")
            return node
        if tok.kind == "name":
            return self.parse_name()
        raise self._unexpected("expected a value, a ${variable}, '(' or a function")

    def parse_name(self) -> Node:
        tok = self._advance()
        name = tok.text
        is_call = self._is("op", "(")
        if name in _KEYWORD_OPERATORS:
            raise _error(self.text, tok.pos, f"operator {name!r} is missing its left operand",
                         feature="a malformed expression")
        if not is_call:
            if self.choice_columns and "-" not in name:
                return ChoiceColumn(name)
            raise _error(
                self.text,
                tok.pos,
                f"bare name {name!r}",
                f"refer to a variable as ${{{name}}} and quote text as '{name}'",
                feature="bare names (XPath node names)",
            )
        if name not in FUNCTIONS:
            raise _error(
                self.text,
                tok.pos,
                f"unknown function {name!r}",
                "use only the functions of docs/questionnaire_format.md (Expressions): "
                + ", ".join(f"{f}()" for f in FUNCTIONS),
                feature=f"function {name}()",
            )
        self._advance()  # "("
        self._enter()
        args: list[Node] = []
        if not self._is("op", ")"):
            args.append(self.parse_or())
            while self._is("op", ","):
                self._advance()
                args.append(self.parse_or())
        self.depth -= 1
        self._expect(")")
        least, most = FUNCTIONS[name]
        if len(args) < least or (most is not None and len(args) > most):
            wanted = (
                str(least) if least == most
                else f"{least} or more" if most is None
                else f"{least} to {most}"
            )
            raise _error(
                self.text,
                tok.pos,
                f"{name}() takes {wanted} argument(s), got {len(args)}",
                feature=f"function {name}() with {len(args)} arguments",
            )
        if name in ("selected", "count-selected", "selected-at") and not isinstance(
            args[0], Var | Current | ChoiceColumn
        ):
            raise _error(
                self.text,
                tok.pos,
                f"the first argument of {name}() must be a ${{variable}} or '.'",
                feature=f"function {name}() on a computed value",
            )
        if name == "regex" and isinstance(args[1], String):
            try:
                re.compile(_java_pattern(args[1].value))
            except re.error as exc:
                raise _error(self.text, tok.pos, f"invalid regular expression ({exc})",
                             "correct the pattern of regex()",
                             feature="an invalid regular expression") from None
        return Call(name, tuple(args))


def _collect(node: Node, names: set[str], choices: set[str], calls: set[str]) -> bool:
    """Add the variables, choices columns and functions of ``node``; return whether
    ``.`` is used."""
    if isinstance(node, Var):
        names.add(node.name)
        return False
    if isinstance(node, ChoiceColumn):
        choices.add(node.name)
        return False
    if isinstance(node, Current):
        return True
    if isinstance(node, Negate):
        return _collect(node.operand, names, choices, calls)
    if isinstance(node, BinOp):
        left = _collect(node.left, names, choices, calls)
        right = _collect(node.right, names, choices, calls)
        return left or right
    if isinstance(node, Call):
        calls.add(node.name)
        used = False
        for arg in node.args:
            used = _collect(arg, names, choices, calls) or used
        return used
    return False


def _java_pattern(pattern: str) -> str:
    """A regex() pattern for Python's ``re``: Java's possessive and class syntax is rare in
    forms; the pattern is used as written (fullmatch, as Java's ``matches``)."""
    return pattern


# ------------------------------------------------------------------------ evaluation
#
# Every value is a _Val: a kind ("num", "str", "bool", "date") and one element per row
# (float64 with NaN, object str, bool, datetime64[D] with NaT), plus for answers read
# from a column the rows where the answer is blank. A blank answer is the empty text
# '' of ODK; a number column's blank rows are therefore text '' where ODK would compare
# text, and NaN where it would compare numbers.


@dataclass(frozen=True)
class _Val:
    kind: str
    data: np.ndarray
    blank: np.ndarray | None = None  # rows of a column whose answer is blank


def _full(n: int, value: Any, dtype: Any) -> np.ndarray:
    out = np.empty(n, dtype=dtype)
    out[:] = value
    return out


def _column(series: pd.Series) -> _Val:
    """A column as a value: numbers, dates or text, its blank rows marked."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        data = series.to_numpy(dtype="float64", na_value=np.nan)
        return _Val("num", data, np.isnan(data))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        data = series.to_numpy().astype("datetime64[D]")
        return _Val("date", data, np.isnat(data))
    values = series.astype(object).to_numpy()
    missing = series.isna().to_numpy()
    text = np.array(["" if m else cell_text(v) for v, m in zip(values, missing, strict=True)],
                    dtype=object)
    blank = np.array([t.strip() == "" for t in text], dtype=bool)
    text[blank] = ""
    return _Val("str", text, blank)


def _number_of_text(text: str) -> float:
    try:
        stripped = text.strip()
        return float(stripped) if stripped else math.nan
    except ValueError:
        return math.nan


def _as_num(v: _Val) -> np.ndarray:
    if v.kind == "num":
        return v.data
    if v.kind == "bool":
        return v.data.astype("float64")
    if v.kind == "date":
        days = (v.data - _EPOCH).astype("float64")
        days[np.isnat(v.data)] = np.nan
        return days
    return np.array([_number_of_text(t) for t in v.data], dtype="float64")


def _number_text(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return cell_text(x)


def _as_str(v: _Val) -> np.ndarray:
    if v.kind == "str":
        return v.data
    if v.kind == "num":
        out = np.array([_number_text(x) for x in v.data], dtype=object)
    elif v.kind == "bool":
        out = np.array(["true" if b else "false" for b in v.data], dtype=object)
    else:
        out = np.array(["" if np.isnat(d) else str(d) for d in v.data], dtype=object)
    if v.blank is not None:
        out[v.blank] = ""
    return out


def _as_bool(v: _Val) -> np.ndarray:
    if v.kind == "bool":
        return v.data
    if v.kind == "num":
        return ~np.isnan(v.data) & (v.data != 0)
    if v.kind == "date":
        return ~np.isnat(v.data)
    return np.array([t != "" for t in v.data], dtype=bool)


def _date_of_text(text: str) -> np.datetime64:
    if not _ISO_DATE.match(text):
        return np.datetime64("NaT", "D")
    try:
        return np.datetime64(pd.Timestamp(text.strip()).date(), "D")
    except (ValueError, OverflowError):
        return np.datetime64("NaT", "D")


def _as_date(v: _Val) -> np.ndarray:
    if v.kind == "date":
        return v.data
    if v.kind == "num":
        out = np.full(len(v.data), np.datetime64("NaT", "D"))
        ok = np.isfinite(v.data)
        out[ok] = _EPOCH + np.floor(v.data[ok]).astype("int64")
        return out
    if v.kind == "bool":
        return np.full(len(v.data), np.datetime64("NaT", "D"))
    return np.array([_date_of_text(t) for t in v.data], dtype="datetime64[D]")


def _typed_rows(v: _Val, kind: str) -> np.ndarray:
    """Rows where ``v`` holds a value of ``kind`` (a blank answer is text, not a number)."""
    if v.kind != kind:
        return np.zeros(len(v.data), dtype=bool)
    return np.ones(len(v.data), dtype=bool) if v.blank is None else ~v.blank


_EQUAL = {"=": np.equal, "!=": np.not_equal}
_ORDER = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def _equality(op: str, a: _Val, b: _Val) -> np.ndarray:
    """JavaRosa's = and !=: truth values, else numbers (or dates), else text, row by row."""
    compare = _EQUAL[op]
    if "bool" in (a.kind, b.kind):
        return np.asarray(compare(_as_bool(a), _as_bool(b)), dtype=bool)
    by_date = _typed_rows(a, "date") | _typed_rows(b, "date")
    by_number = (_typed_rows(a, "num") | _typed_rows(b, "num")) & ~by_date
    by_text = ~(by_date | by_number)
    out = np.zeros(len(a.data), dtype=bool)
    if by_number.any():
        with np.errstate(invalid="ignore"):
            out[by_number] = compare(_as_num(a)[by_number], _as_num(b)[by_number])
    if by_date.any():
        da, db = _as_date(a)[by_date], _as_date(b)[by_date]
        known = ~np.isnat(da) & ~np.isnat(db)
        out[by_date] = np.where(known, compare(da, db), op == "!=")
    if by_text.any():
        out[by_text] = compare(_as_str(a)[by_text].astype(str), _as_str(b)[by_text].astype(str))
    return out


def _order(op: str, a: _Val, b: _Val) -> np.ndarray:
    """< <= > >=: numbers (dates as dates); NaN on either side is false."""
    if "date" in (a.kind, b.kind):
        da, db = _as_date(a), _as_date(b)
        known = ~np.isnat(da) & ~np.isnat(db)
        return np.asarray(_ORDER[op](da, db), dtype=bool) & known
    with np.errstate(invalid="ignore"):
        return np.asarray(_ORDER[op](_as_num(a), _as_num(b)), dtype=bool)


def _arith(op: str, a: _Val, b: _Val) -> np.ndarray:
    x, y = _as_num(a), _as_num(b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "div":
            return x / y
        return np.fmod(x, y)  # XPath's mod keeps the sign of the dividend


def _merge(choose: np.ndarray, a: _Val, b: _Val) -> _Val:
    """Row-wise ``a`` where ``choose`` else ``b`` (if(), coalesce())."""
    if a.kind == b.kind and a.kind != "str":
        return _Val(a.kind, np.where(choose, a.data, b.data))
    if {a.kind, b.kind} == {"num", "str"}:
        text = b if a.kind == "str" else a
        chosen_text = (~choose if a.kind == "num" else choose)
        values = text.data[chosen_text]
        if all(t == "" or not math.isnan(_number_of_text(t)) for t in values):
            return _Val("num", np.where(choose, _as_num(a), _as_num(b)))
    return _Val("str", np.where(choose, _as_str(a), _as_str(b)).astype(object))


def _tokens(v: _Val) -> list[list[str]]:
    return [t.split() for t in _as_str(v)]


def _round(x: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """JavaRosa's round(): half up, to ``digits`` decimals (negative: tens, hundreds)."""
    scale = np.power(10.0, digits)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.floor(x * scale + 0.5) / scale


def _substr(text: str, start: float, end: float | None) -> str:
    """ODK's substr(): 0-based, end excluded; a negative index counts from the end."""
    n = len(text)
    if math.isnan(start) or (end is not None and math.isnan(end)):
        return ""
    s = int(start)
    e = n if end is None else int(end)
    s = max(0, n + s) if s < 0 else min(s, n)
    e = max(0, n + e) if e < 0 else min(e, n)
    return text[s:e] if s < e else ""


def _regex(texts: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    cache: dict[str, re.Pattern[str] | None] = {}
    out = np.zeros(len(texts), dtype=bool)
    for i, (text, pattern) in enumerate(zip(texts, patterns, strict=True)):
        if pattern not in cache:
            try:
                cache[pattern] = re.compile(_java_pattern(pattern))
            except re.error:
                cache[pattern] = None
        compiled = cache[pattern]
        out[i] = compiled is not None and compiled.fullmatch(text) is not None
    return out


@dataclass(frozen=True)
class Expr:
    """A parsed expression.

    Attributes
    ----------
    text : str
        The expression as written.
    root : Node
        The abstract syntax tree.
    variables : frozenset of str
        Names of the variables the expression refers to with ``${name}``.
    uses_current : bool
        Whether the expression uses ``.`` (the value being constrained).
    choice_columns : frozenset of str
        The choices columns a ``choice_filter`` reads (bare names, e.g. ``state``).
    functions : frozenset of str
        The functions called.

    Examples
    --------
    >>> import pandas as pd
    >>> e = parse_expression("selected(${ca_type}, '2') and count-selected(${ca_type}) >= 2")
    >>> e.evaluate(pd.DataFrame({"ca_type": ["1 2", "2", None]})).tolist()
    [True, False, False]
    """

    text: str
    root: Node = field(repr=False)
    variables: frozenset[str] = field(default=frozenset(), compare=False)
    uses_current: bool = field(default=False, compare=False)
    choice_columns: frozenset[str] = field(default=frozenset(), compare=False)
    functions: frozenset[str] = field(default=frozenset(), compare=False)

    def values(
        self,
        df: pd.DataFrame,
        *,
        current: str | pd.Series | None = None,
        choice: Mapping[str, Any] | None = None,
        today: _dt.date | None = None,
    ) -> pd.Series:
        """Evaluate the expression to its values (numbers, text, dates or truth values).

        Parameters
        ----------
        df : DataFrame
            The answers, one row per respondent; never modified.
        current : str or Series, optional
            The column (name or Series) that ``.`` stands for.
        choice : mapping, optional
            The columns of the choice being filtered (``choice_filter``): name -> value.
        today : date, optional
            The date ``today()`` returns (default: the date of the computer's clock).

        Returns
        -------
        Series
            Aligned with ``df.index``; numbers as float64 (NaN when missing), text as
            object (None when empty), dates as datetime64, conditions as bool.

        Examples
        --------
        >>> import pandas as pd
        >>> parse_expression("${a} * 2 + 1").values(pd.DataFrame({"a": [1, None]})).tolist()
        [3.0, nan]
        """
        value = self._value(df, current, choice, today)
        if value.kind == "num":
            return pd.Series(value.data.astype("float64"), index=df.index)
        if value.kind == "bool":
            return pd.Series(value.data.astype(bool), index=df.index)
        if value.kind == "date":
            return pd.Series(value.data.astype("datetime64[s]"), index=df.index)
        text = np.array([t if t != "" else None for t in _as_str(value)], dtype=object)
        return pd.Series(text, index=df.index, dtype=object)

    def evaluate(
        self,
        df: pd.DataFrame,
        *,
        current: str | pd.Series | None = None,
        choice: Mapping[str, Any] | None = None,
        today: _dt.date | None = None,
    ) -> pd.Series:
        """Evaluate the expression as a condition, row by row (ODK's ``boolean()``).

        Parameters
        ----------
        df : DataFrame
            The answers, one row per respondent; never modified.
        current : str or Series, optional
            The column (name or Series) that ``.`` stands for in a constraint.
        choice : mapping, optional
            The columns of the choice being filtered (``choice_filter``).
        today : date, optional
            The date ``today()`` returns.

        Returns
        -------
        Series of bool
            One value per row of ``df`` (same index).

        Examples
        --------
        >>> import pandas as pd
        >>> parse_expression(". >= 18").evaluate(pd.DataFrame({"age": [17, 30]}),
        ...                                      current="age").tolist()
        [False, True]
        """
        value = self._value(df, current, choice, today)
        return pd.Series(np.asarray(_as_bool(value), dtype=bool), index=df.index)

    # ------------------------------------------------------------------ internals
    def _value(
        self,
        df: pd.DataFrame,
        current: str | pd.Series | None,
        choice: Mapping[str, Any] | None,
        today: _dt.date | None,
    ) -> _Val:
        missing = sorted(name for name in self.variables if name not in df.columns)
        if missing:
            raise QuestionnaireError(
                f"expression {self.text!r} refers to column(s) {', '.join(missing)} "
                "that the data does not contain. Fix: add the column(s) or correct the "
                "expression."
            )
        n = len(df)
        columns = {name: _column(df[name]) for name in self.variables}
        if isinstance(current, str):
            current = df[current]
        env = _Env(
            n=n,
            columns=columns,
            dot=None if current is None else _column(current.reset_index(drop=True)),
            choice=dict(choice or {}),
            today=today or _dt.date.today(),
            text=self.text,
        )
        return env.value_of(self.root)


@dataclass
class _Env:
    n: int
    columns: dict[str, _Val]
    dot: _Val | None
    choice: dict[str, Any]
    today: _dt.date
    text: str

    def value_of(self, node: Node) -> _Val:
        n = self.n
        if isinstance(node, Number):
            return _Val("num", _full(n, node.value, "float64"))
        if isinstance(node, String):
            return _Val("str", _full(n, node.value, object))
        if isinstance(node, Var):
            return self.columns[node.name]
        if isinstance(node, ChoiceColumn):
            raw = self.choice.get(node.name)
            text = "" if raw is None or (isinstance(raw, float) and math.isnan(raw)) else (
                cell_text(raw))
            return _Val("str", _full(n, text, object), _full(n, text == "", bool))
        if isinstance(node, Current):
            if self.dot is None:
                raise QuestionnaireError(
                    f"expression {self.text!r} uses '.', which only has a meaning in a "
                    "constraint. Fix: refer to the variable as ${name}."
                )
            return self.dot
        if isinstance(node, Negate):
            return _Val("num", -_as_num(self.value_of(node.operand)))
        if isinstance(node, BinOp):
            return self.binary(node)
        return self.call(node)

    def binary(self, node: BinOp) -> _Val:
        left, right = self.value_of(node.left), self.value_of(node.right)
        if node.op == "and":
            return _Val("bool", _as_bool(left) & _as_bool(right))
        if node.op == "or":
            return _Val("bool", _as_bool(left) | _as_bool(right))
        if node.op in _EQUAL:
            return _Val("bool", _equality(node.op, left, right))
        if node.op in _ORDER:
            return _Val("bool", _order(node.op, left, right))
        return _Val("num", _arith(node.op, left, right))

    def call(self, node: Call) -> _Val:  # one branch per function
        name, n = node.name, self.n
        args = [self.value_of(arg) for arg in node.args]
        if name == "true":
            return _Val("bool", np.ones(n, dtype=bool))
        if name == "false":
            return _Val("bool", np.zeros(n, dtype=bool))
        if name in ("not", "boolean"):
            truth = _as_bool(args[0])
            return _Val("bool", ~truth if name == "not" else truth)
        if name == "boolean-from-string":
            return _Val("bool", np.array([t.strip().lower() in ("true", "1")
                                          for t in _as_str(args[0])], dtype=bool))
        if name == "if":
            return _merge(_as_bool(args[0]), args[1], args[2])
        if name == "coalesce":
            return _merge(np.array([t != "" and t != "NaN" for t in _as_str(args[0])],
                                   dtype=bool), args[0], args[1])
        if name == "selected":
            wanted = _as_str(args[1])
            return _Val("bool", np.array([w.strip() in t for t, w in
                                          zip(_tokens(args[0]), wanted, strict=True)], dtype=bool))
        if name == "count-selected":
            return _Val("num", np.array([len(t) for t in _tokens(args[0])], dtype="float64"))
        if name == "selected-at":
            at = _as_num(args[1])
            return _Val("str", np.array(
                [t[int(i)] if not math.isnan(i) and 0 <= int(i) < len(t) else ""
                 for t, i in zip(_tokens(args[0]), at, strict=True)], dtype=object))
        if name == "regex":
            return _Val("bool", _regex(_as_str(args[0]), _as_str(args[1])))
        if name == "string-length":
            return _Val("num", np.array([len(t) for t in _as_str(args[0])], dtype="float64"))
        if name == "string":
            return _Val("str", _as_str(args[0]))
        if name == "number":
            return _Val("num", _as_num(args[0]))
        if name == "int":
            return _Val("num", np.trunc(_as_num(args[0])))
        if name == "round":
            digits = _as_num(args[1]) if len(args) > 1 else np.zeros(n)
            return _Val("num", _round(_as_num(args[0]), np.trunc(digits)))
        if name == "abs":
            return _Val("num", np.abs(_as_num(args[0])))
        if name == "pow":
            with np.errstate(all="ignore"):
                return _Val("num", np.power(_as_num(args[0]), _as_num(args[1])))
        if name in ("min", "max"):
            stacked = np.vstack([_as_num(a) for a in args])
            with np.errstate(invalid="ignore"):
                reduce = np.min if name == "min" else np.max
                return _Val("num", reduce(stacked, axis=0))  # NaN anywhere gives NaN
        if name == "concat":
            parts = [_as_str(a) for a in args] or [_full(n, "", object)]
            return _Val("str", np.array(["".join(p) for p in zip(*parts, strict=True)],
                                        dtype=object))
        if name in ("contains", "starts-with", "ends-with"):
            test = {"contains": lambda a, b: b in a, "starts-with": str.startswith,
                    "ends-with": str.endswith}[name]
            return _Val("bool", np.array([test(a, b) for a, b in zip(
                _as_str(args[0]), _as_str(args[1]), strict=True)], dtype=bool))
        if name == "substr":
            starts = _as_num(args[1])
            ends = _as_num(args[2]) if len(args) > 2 else [None] * n
            return _Val("str", np.array([_substr(t, s, e) for t, s, e in zip(
                _as_str(args[0]), starts, ends, strict=True)], dtype=object))
        if name == "normalize-space":
            return _Val("str", np.array([" ".join(t.split()) for t in _as_str(args[0])],
                                        dtype=object))
        if name == "today":
            return _Val("date", _full(n, np.datetime64(self.today, "D"), "datetime64[D]"))
        if name == "date":
            return _Val("date", _as_date(args[0]))
        raise AssertionError(f"unknown function {name!r}")  # pragma: no cover


def parse_expression(text: str, *, choice_filter: bool = False) -> Expr:
    """Parse an XLSForm expression into an :class:`Expr`.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"${vict_theft} = 1 or ${vict_attack} = 1"``.
    choice_filter : bool
        Parse a ``choice_filter``: bare names (``state``) are columns of the choices.

    Returns
    -------
    Expr
        The parsed expression, with ``.variables`` and ``.evaluate(df)``.

    Raises
    ------
    ExpressionError
        (a :class:`~perception.errors.QuestionnaireError`) if the text is not in the
        language; the message names the expression and the position, ``.feature`` what
        is not supported (e.g. ``__import__('os').system('x')``: an unknown function).

    Examples
    --------
    >>> sorted(parse_expression("${req_help} = 1 and not(${age} < 25)").variables)
    ['age', 'req_help']
    >>> parse_expression("state = ${state}", choice_filter=True).choice_columns
    frozenset({'state'})
    """
    if not isinstance(text, str):
        raise QuestionnaireError(
            f"an expression must be text, got {type(text).__name__} {text!r}. "
            "Fix: quote the expression in the questionnaire."
        )
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise _error(
            text[:80] + "...",
            0,
            f"expression longer than {MAX_EXPRESSION_LENGTH} characters",
            "split the condition or simplify it",
            feature="a very long expression",
        )
    if not text.strip():
        raise _error(text, 0, "empty expression", "write a condition or remove the field",
                     feature="an empty expression")
    root = _Parser(text, choice_filter).parse()
    names: set[str] = set()
    choices: set[str] = set()
    calls: set[str] = set()
    uses_current = _collect(root, names, choices, calls)
    return Expr(text=text, root=root, variables=frozenset(names), uses_current=uses_current,
                choice_columns=frozenset(choices), functions=frozenset(calls))


def sub_expression(expr: Expr, node: Node) -> Expr:
    """The part ``node`` of ``expr`` as an expression of its own (to evaluate a
    condition inside it on its own).

    Parameters
    ----------
    expr : Expr
        A parsed expression.
    node : Node
        A node of its tree (``expr.root`` or below).

    Returns
    -------
    Expr
        The sub-expression, with the variables and functions it uses.

    Examples
    --------
    >>> e = parse_expression("if(${a} >= 2, 1, ${b})")
    >>> sorted(sub_expression(e, e.root.args[0]).variables)
    ['a']
    """
    names: set[str] = set()
    choices: set[str] = set()
    calls: set[str] = set()
    uses_current = _collect(node, names, choices, calls)
    return Expr(text=expr.text, root=node, variables=frozenset(names),
                uses_current=uses_current, choice_columns=frozenset(choices),
                functions=frozenset(calls))
