"""A small, safe parser for the XLSForm expressions used in questionnaires.

Questionnaires state skip logic (``relevant``), value constraints (``constraint``) and
cross-variable rules as XLSForm-style expressions such as
``${vict_theft} = 1 or ${vict_attack} = 1``. This module turns such a text into an
abstract syntax tree with a tokenizer and a recursive-descent parser, and evaluates the
tree **vectorised** over a :class:`pandas.DataFrame`. Nothing is ever passed to
``eval``/``exec``: only the grammar below is accepted, anything else is rejected with a
:class:`~perception.errors.QuestionnaireError` naming the expression and the position.

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

Functions: ``not(x)``, ``selected(${var}, 'code')``, ``count-selected(${var})``.

Semantics (as in ODK Collect, with one documented simplification):

- ``${var}`` is the column ``var``; ``.`` is the value being constrained.
- A comparison involving a missing answer (NaN/None) is **False** -- for ``!=`` too.
- If either side of a comparison is a number, both sides are compared as numbers (text
  that is not a number counts as missing); otherwise they are compared as text.
- ``and``/``or``/``not()`` work on truth values: a number is true when non-zero, a text
  when non-empty, a missing answer is false.
- ``selected(${v}, 'c')`` is true when the space-separated answer ``v`` contains ``c``;
  ``count-selected(${v})`` counts the selected codes (0 when missing).

Examples
--------
>>> import pandas as pd
>>> expr = parse_expression("${vict_theft} = 1 or ${vict_attack} = 1")
>>> sorted(expr.variables)
['vict_attack', 'vict_theft']
>>> df = pd.DataFrame({"vict_theft": [0, 1, None], "vict_attack": [1, 0, None]})
>>> expr.evaluate(df).tolist()
[True, True, False]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pandas as pd

from ..errors import QuestionnaireError
from .cells import cell_text

__all__ = ["Expr", "parse_expression", "FUNCTIONS", "MAX_EXPRESSION_LENGTH"]

#: longest expression text accepted (characters)
MAX_EXPRESSION_LENGTH = 2000
#: deepest nesting of parentheses, function calls and unary minus accepted
MAX_DEPTH = 40

#: whitelisted functions: name -> number of arguments
FUNCTIONS: dict[str, int] = {"not": 1, "selected": 2, "count-selected": 1}

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

_FIX = (
    "write the condition with ${variable} references, numbers, 'text', "
    "= != < <= > >=, + - * div mod, and/or, parentheses and the functions "
    "not(), selected(), count-selected()"
)


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, var, dot, op, name, end
    text: str
    pos: int


def _error(text: str, pos: int, problem: str, fix: str = _FIX) -> QuestionnaireError:
    caret = f"\n    {text}\n    {' ' * pos}^" if len(text) <= 200 else ""
    return QuestionnaireError(
        f"invalid expression {text!r}: {problem} at position {pos}.{caret}\n    Fix: {fix}."
    )


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"":
                raise _error(text, pos, "unterminated text literal", "close the quote")
            raise _error(text, pos, f"unexpected character {char!r}")
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
                )
            tokens.append(_Token("var", name, pos))
        elif kind != "ws":
            tokens.append(_Token(kind, match.group(0), pos))
        pos = match.end()
    if text.count("${") != sum(t.kind == "var" for t in tokens):  # pragma: no cover
        raise _error(text, text.index("${"), "malformed variable reference")
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


Node: TypeAlias = Number | String | Var | Current | Negate | BinOp | Call


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    # helpers
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

    def _unexpected(self, expected: str) -> QuestionnaireError:
        tok = self.tok
        found = "the end of the expression" if tok.kind == "end" else repr(tok.text)
        return _error(self.text, tok.pos, f"{expected}, found {found}")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(
                self.text,
                self.tok.pos,
                f"expression nested more than {MAX_DEPTH} levels deep",
                "simplify the expression",
            )

    # grammar
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
            return self.parse_call()
        raise self._unexpected("expected a value, a ${variable}, '(' or a function")

    def parse_call(self) -> Node:
        tok = self._advance()
        name = tok.text
        is_call = self._is("op", "(")
        if name in _KEYWORD_OPERATORS:
            raise _error(self.text, tok.pos, f"operator {name!r} is missing its left operand")
        if not is_call:
            raise _error(
                self.text,
                tok.pos,
                f"bare name {name!r}",
                f"refer to a variable as ${{{name}}} and quote text as '{name}'",
            )
        if name not in FUNCTIONS:
            allowed = ", ".join(f"{f}()" for f in FUNCTIONS)
            raise _error(
                self.text,
                tok.pos,
                f"unknown function {name!r}",
                f"only these functions are allowed: {allowed}",
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
        if len(args) != FUNCTIONS[name]:
            raise _error(
                self.text,
                tok.pos,
                f"{name}() takes {FUNCTIONS[name]} argument(s), got {len(args)}",
            )
        if name in ("selected", "count-selected") and not isinstance(args[0], (Var, Current)):
            raise _error(
                self.text,
                tok.pos,
                f"the first argument of {name}() must be a ${{variable}} or '.'",
            )
        return Call(name, tuple(args))


def _collect(node: Node, names: set[str]) -> bool:
    """Add the variable names of ``node`` to ``names``; return whether ``.`` is used."""
    if isinstance(node, Var):
        names.add(node.name)
        return False
    if isinstance(node, Current):
        return True
    if isinstance(node, Negate):
        return _collect(node.operand, names)
    if isinstance(node, BinOp):
        left = _collect(node.left, names)
        right = _collect(node.right, names)
        return left or right
    if isinstance(node, Call):
        used = False
        for arg in node.args:
            used = _collect(arg, names) or used
        return used
    return False


# ------------------------------------------------------------------------ evaluation
#
# Values are numpy arrays, one element per row -- float64 (numbers, NaN = missing),
# bool (truth values), datetime64[ns] (dates, NaT = missing) or object (text, None =
# missing) -- or Python scalars for literals, which broadcast.

_Value: TypeAlias = np.ndarray | float | str


def _column(series: pd.Series) -> np.ndarray:
    """A column as an evaluation array."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return series.to_numpy(dtype="datetime64[ns]")
    out = series.to_numpy(dtype=object, copy=True)
    out[series.isna().to_numpy()] = None
    return out


def _kind(value: _Value) -> str:
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            return "bool"
        if value.dtype.kind == "f":
            return "number"
        if value.dtype.kind == "M":
            return "date"
        return "text"
    return "number" if isinstance(value, float) else "text"


def _numeric(value: _Value, n: int) -> np.ndarray | float:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return value
        if value.dtype == bool:
            return value.astype("float64")
        if value.dtype.kind == "M":
            return np.full(n, np.nan)
        return pd.to_numeric(pd.Series(value, dtype=object), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return np.nan
    return float(value)


def _text(value: _Value, n: int) -> np.ndarray | str:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return np.array([None if v != v else cell_text(v) for v in value], dtype=object)
        if value.dtype.kind == "M":
            return np.array(
                [None if pd.isna(v) else str(pd.Timestamp(v).date()) for v in value], dtype=object
            )
        if value.dtype == bool:
            return np.array(["true" if v else "false" for v in value], dtype=object)
        return np.array([None if v is None else cell_text(v) for v in value], dtype=object)
    return cell_text(value)


def _dates(value: _Value, n: int) -> np.ndarray | np.datetime64:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "M":
            return value
        return pd.to_datetime(pd.Series(value), errors="coerce").to_numpy(dtype="datetime64[ns]")
    stamp = pd.to_datetime(str(value), errors="coerce")
    return np.datetime64("NaT") if pd.isna(stamp) else stamp.to_datetime64().astype("datetime64[ns]")


def _present(value: np.ndarray | float | str | np.datetime64, n: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return ~np.isnan(value)
        if value.dtype.kind == "M":
            return ~np.isnat(value)
        return np.array([v is not None for v in value], dtype=bool)
    if isinstance(value, float):
        return np.full(n, not np.isnan(value))
    if isinstance(value, np.datetime64):
        return np.full(n, not np.isnat(value))
    return np.full(n, True)


def _truth(value: _Value, n: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            return value
        if value.dtype.kind == "f":
            return ~np.isnan(value) & (value != 0)
        if value.dtype.kind == "M":
            return ~np.isnat(value)
        return np.array([isinstance(v, str) and v != "" for v in value], dtype=bool)
    if isinstance(value, str):
        return np.full(n, value != "")
    return np.full(n, bool(value) and not np.isnan(value))


_COMPARE = {
    "=": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _compare(op: str, left: _Value, right: _Value, n: int) -> np.ndarray:
    kinds = {_kind(left), _kind(right)}
    a: np.ndarray | np.datetime64 | float | str
    b: np.ndarray | np.datetime64 | float | str
    if "date" in kinds:
        a, b = _dates(left, n), _dates(right, n)
    elif kinds & {"number", "bool"}:
        a, b = _numeric(left, n), _numeric(right, n)
    else:
        a, b = _text(left, n), _text(right, n)
    present = _present(a, n) & _present(b, n)
    if not present.any():
        return present
    if isinstance(a, np.ndarray) and a.dtype == object:
        a = np.where(present, a, "")
    if isinstance(b, np.ndarray) and b.dtype == object:
        b = np.where(present, b, "")
    with np.errstate(invalid="ignore"):
        result = np.asarray(_COMPARE[op](a, b), dtype=bool)
    return np.broadcast_to(result, (n,)) & present


def _arith(op: str, left: _Value, right: _Value, n: int) -> np.ndarray:
    a = np.broadcast_to(np.asarray(_numeric(left, n), dtype="float64"), (n,))
    b = np.broadcast_to(np.asarray(_numeric(right, n), dtype="float64"), (n,))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if op == "+":
            out = a + b
        elif op == "-":
            out = a - b
        elif op == "*":
            out = a * b
        elif op == "div":
            out = a / b
        else:  # mod: XPath keeps the sign of the dividend
            out = np.fmod(a, b)
    out = np.array(out, dtype="float64")
    out[~np.isfinite(out)] = np.nan
    return out


def _tokens(value: _Value, n: int) -> list[list[str] | None]:
    text = _text(value, n)
    if not isinstance(text, np.ndarray):
        return [text.split()] * n
    return [None if t is None else t.split() for t in text]


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

    def values(self, df: pd.DataFrame, *, current: str | pd.Series | None = None) -> pd.Series:
        """Evaluate the expression to its values (numbers, text or truth values).

        Parameters
        ----------
        df : DataFrame
            The answers, one row per respondent; never modified.
        current : str or Series, optional
            The column (name or Series) that ``.`` stands for.

        Returns
        -------
        Series
            Aligned with ``df.index``; numbers as float64 (NaN when missing), text as
            object (None when missing), conditions as bool.

        Examples
        --------
        >>> import pandas as pd
        >>> parse_expression("${a} * 2 + 1").values(pd.DataFrame({"a": [1, None]})).tolist()
        [3.0, nan]
        """
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
        dot = None if current is None else _column(current)
        value = self._eval(self.root, columns, dot, n)
        if not isinstance(value, np.ndarray):
            value = np.array([value] * n, dtype=object if isinstance(value, str) else None)
        return pd.Series(np.broadcast_to(value, (n,)).copy(), index=df.index)

    def evaluate(self, df: pd.DataFrame, *, current: str | pd.Series | None = None) -> pd.Series:
        """Evaluate the expression as a condition, row by row.

        Parameters
        ----------
        df : DataFrame
            The answers, one row per respondent; never modified.
        current : str or Series, optional
            The column (name or Series) that ``.`` stands for in a constraint.

        Returns
        -------
        Series of bool
            One value per row of ``df`` (same index); missing answers give False.

        Examples
        --------
        >>> import pandas as pd
        >>> parse_expression(". >= 18").evaluate(pd.DataFrame({"age": [17, 30]}),
        ...                                      current="age").tolist()
        [False, True]
        """
        values = self.values(df, current=current)
        truth = _truth(values.to_numpy(), len(df))
        return pd.Series(np.asarray(truth, dtype=bool), index=df.index)

    def _eval(
        self, node: Node, columns: dict[str, np.ndarray], dot: np.ndarray | None, n: int
    ) -> _Value:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Var):
            return columns[node.name]
        if isinstance(node, Current):
            if dot is None:
                raise QuestionnaireError(
                    f"expression {self.text!r} uses '.', which only has a meaning in a "
                    "constraint. Fix: refer to the variable as ${name}."
                )
            return dot
        if isinstance(node, Negate):
            return -np.broadcast_to(
                np.asarray(_numeric(self._eval(node.operand, columns, dot, n), n)), (n,)
            )
        if isinstance(node, BinOp):
            left = self._eval(node.left, columns, dot, n)
            right = self._eval(node.right, columns, dot, n)
            if node.op == "and":
                return _truth(left, n) & _truth(right, n)
            if node.op == "or":
                return _truth(left, n) | _truth(right, n)
            if node.op in _COMPARE:
                return _compare(node.op, left, right, n)
            return _arith(node.op, left, right, n)
        if isinstance(node, Call):
            args = [self._eval(arg, columns, dot, n) for arg in node.args]
            if node.name == "not":
                return ~_truth(args[0], n)
            tokens = _tokens(args[0], n)
            if node.name == "count-selected":
                return np.array([0.0 if t is None else len(t) for t in tokens], dtype="float64")
            wanted = _text(args[1], n)
            if not isinstance(wanted, np.ndarray):
                wanted = np.array([wanted] * n, dtype=object)
            flags = [
                t is not None and w is not None and w in t
                for t, w in zip(tokens, wanted, strict=True)
            ]
            return np.array(flags, dtype=bool)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


def parse_expression(text: str) -> Expr:
    """Parse an XLSForm-style expression into an :class:`Expr`.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"${vict_theft} = 1 or ${vict_attack} = 1"``.

    Returns
    -------
    Expr
        The parsed expression, with ``.variables`` and ``.evaluate(df)``.

    Raises
    ------
    QuestionnaireError
        If the text is not in the accepted grammar (the message names the expression
        and the position), e.g. ``__import__('os').system('x')``.

    Examples
    --------
    >>> sorted(parse_expression("${req_help} = 1 and not(${age} < 25)").variables)
    ['age', 'req_help']
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
        )
    if not text.strip():
        raise _error(text, 0, "empty expression", "write a condition or remove the field")
    root = _Parser(text).parse()
    names: set[str] = set()
    uses_current = _collect(root, names)
    return Expr(text=text, root=root, variables=frozenset(names), uses_current=uses_current)
