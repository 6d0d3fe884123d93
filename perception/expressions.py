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
from typing import Union

import numpy as np
import pandas as pd

from .errors import QuestionnaireError

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


Node = Union[Number, String, Var, Current, Negate, BinOp, Call]


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

_Value = Union[pd.Series, float, str]


def _is_numeric(value: _Value) -> bool:
    if isinstance(value, pd.Series):
        return pd.api.types.is_numeric_dtype(value.dtype) or pd.api.types.is_bool_dtype(value.dtype)
    return isinstance(value, float)


def _is_datetime(value: _Value) -> bool:
    return isinstance(value, pd.Series) and pd.api.types.is_datetime64_any_dtype(value.dtype)


def _numeric(value: _Value, index: pd.Index) -> pd.Series:
    if isinstance(value, pd.Series):
        if pd.api.types.is_bool_dtype(value.dtype):
            return value.astype("float64")
        return pd.to_numeric(value, errors="coerce").astype("float64")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = np.nan
        return pd.Series(number, index=index, dtype="float64")
    return pd.Series(float(value), index=index, dtype="float64")


def _text(value: _Value, index: pd.Index) -> pd.Series:
    if isinstance(value, pd.Series):
        out = value.astype(object)
        return out.where(value.notna(), None).map(_cell_text, na_action="ignore")
    return pd.Series(_cell_text(value), index=index, dtype=object)


def _cell_text(cell: object) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _missing(series: pd.Series) -> pd.Series:
    return series.isna()


def _truth(value: _Value, index: pd.Index) -> pd.Series:
    if isinstance(value, pd.Series):
        if pd.api.types.is_bool_dtype(value.dtype):
            return value.fillna(False).astype(bool)
        if pd.api.types.is_numeric_dtype(value.dtype):
            numbers = value.astype("float64")
            return (numbers.notna() & (numbers != 0)).astype(bool)
        text = _text(value, index)
        return (text.notna() & (text.str.len() > 0)).fillna(False).astype(bool)
    if isinstance(value, str):
        return pd.Series(bool(value), index=index)
    return pd.Series(bool(value) and not np.isnan(value), index=index)


def _compare(op: str, left: _Value, right: _Value, index: pd.Index) -> pd.Series:
    if _is_datetime(left) or _is_datetime(right):
        a = _dates(left, index)
        b = _dates(right, index)
    elif _is_numeric(left) or _is_numeric(right):
        a = _numeric(left, index)
        b = _numeric(right, index)
    else:
        a = _text(left, index)
        b = _text(right, index)
    present = a.notna() & b.notna()
    with np.errstate(invalid="ignore"):
        if op == "=":
            result = a == b
        elif op == "!=":
            result = a != b
        else:
            a_obj, b_obj = a.where(present), b.where(present)
            if a.dtype == object or b.dtype == object:
                a_obj = a_obj.where(present, "")
                b_obj = b_obj.where(present, "")
            result = {
                "<": lambda: a_obj < b_obj,
                "<=": lambda: a_obj <= b_obj,
                ">": lambda: a_obj > b_obj,
                ">=": lambda: a_obj >= b_obj,
            }[op]()
    return (result.astype(bool) & present).astype(bool)


def _dates(value: _Value, index: pd.Index) -> pd.Series:
    if isinstance(value, pd.Series):
        return pd.to_datetime(value, errors="coerce")
    return pd.Series(pd.to_datetime(str(value), errors="coerce"), index=index)


def _arith(op: str, left: _Value, right: _Value, index: pd.Index) -> pd.Series:
    a = _numeric(left, index)
    b = _numeric(right, index)
    with np.errstate(divide="ignore", invalid="ignore"):
        if op == "+":
            out = a + b
        elif op == "-":
            out = a - b
        elif op == "*":
            out = a * b
        elif op == "div":
            out = a / b
        else:  # mod: XPath keeps the sign of the dividend
            out = pd.Series(np.fmod(a.to_numpy(), b.to_numpy()), index=index)
    return out.replace([np.inf, -np.inf], np.nan)


def _tokens_of(value: _Value, index: pd.Index) -> pd.Series:
    text = _text(value, index)
    return text.map(lambda s: s.split(), na_action="ignore")


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
            Aligned with ``df.index``.
        """
        missing = sorted(name for name in self.variables if name not in df.columns)
        if missing:
            raise QuestionnaireError(
                f"expression {self.text!r} refers to column(s) {', '.join(missing)} "
                "that the data does not contain. Fix: add the column(s) or correct the "
                "expression."
            )
        if isinstance(current, str):
            current = df[current]
        value = self._eval(self.root, df, current)
        if not isinstance(value, pd.Series):
            value = pd.Series([value] * len(df), index=df.index)
        return value

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
        return _truth(self.values(df, current=current), df.index).astype(bool)

    def _eval(self, node: Node, df: pd.DataFrame, current: pd.Series | None) -> _Value:
        index = df.index
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Var):
            return df[node.name]
        if isinstance(node, Current):
            if current is None:
                raise QuestionnaireError(
                    f"expression {self.text!r} uses '.', which only has a meaning in a "
                    "constraint. Fix: refer to the variable as ${name}."
                )
            return current
        if isinstance(node, Negate):
            return -_numeric(self._eval(node.operand, df, current), index)
        if isinstance(node, BinOp):
            if node.op in ("and", "or"):
                left = _truth(self._eval(node.left, df, current), index)
                right = _truth(self._eval(node.right, df, current), index)
                return (left & right) if node.op == "and" else (left | right)
            left = self._eval(node.left, df, current)
            right = self._eval(node.right, df, current)
            if node.op in ("=", "!=", "<", "<=", ">", ">="):
                return _compare(node.op, left, right, index)
            return _arith(node.op, left, right, index)
        if isinstance(node, Call):
            args = [self._eval(arg, df, current) for arg in node.args]
            if node.name == "not":
                return ~_truth(args[0], index)
            tokens = _tokens_of(args[0], index)
            if node.name == "count-selected":
                return tokens.map(len, na_action="ignore").fillna(0).astype("float64")
            wanted = _text(args[1], index)
            pairs = zip(tokens.tolist(), wanted.tolist(), strict=True)
            flags = [isinstance(t, list) and isinstance(w, str) and w in t for t, w in pairs]
            return pd.Series(flags, index=index, dtype=bool)
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
