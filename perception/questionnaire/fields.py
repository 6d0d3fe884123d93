"""Reading one field of a questionnaire entry: a label, a code, a code list, a range,
a flag, a text, an expression.

Each function takes the :class:`~perception.questionnaire.problems.Problems` of the build,
the raw value from the YAML and where it is; it returns the checked value (or a neutral
value after recording the problem), so that every problem of a file is found in one
pass.

Examples
--------
>>> from perception.questionnaire.problems import Problems
>>> p = Problems("q.yaml")
>>> codes_of(p, ("fr", "en"), {1: {"fr": "Oui", "en": "Yes"}, "2": {"fr": "Non", "en": "No"}},
...          "variable 'ok'")
{1: {'fr': 'Oui', 'en': 'Yes'}, 2: {'fr': 'Non', 'en': 'No'}}
>>> p.messages
[]
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import QuestionnaireError
from .expressions import Expr, parse_expression
from .problems import Problems, did_you_mean

__all__ = [
    "labels_of",
    "defaults_of",
    "code_of",
    "codes_of",
    "named_sets",
    "resolve_codes",
    "range_of",
    "flag_of",
    "text_field",
    "expr_of",
    "DEFAULT_KEYS",
    "RANGE_TYPES",
]

DEFAULT_KEYS = ("required", "sensitive")
RANGE_TYPES = ("integer", "numeric", "date")
_INT_RE = re.compile(r"^-?\d+$")

Code = int | str


def labels_of(
    p: Problems, languages: Sequence[str], raw: Any, where: str, *, optional: bool = False
) -> dict[str, str]:
    """A label: a mapping language -> text, or plain text when there is one language."""
    if raw is None or raw == {}:
        if not optional:
            p.fail(where, "no label", f"add label: {{{', '.join(f'{x}: ...' for x in languages)}}}")
        return {}
    if isinstance(raw, bool):
        p.fail(
            where,
            f"the label is the boolean {raw} (YAML reads unquoted Yes/No/On/Off/True/False "
            "as booleans)",
            f'quote it: "{"Yes" if raw else "No"}"',
        )
        return {}
    if isinstance(raw, str):
        if len(languages) == 1:
            return {languages[0]: raw}
        p.fail(
            where,
            f"plain text label {raw!r} but the questionnaire has languages "
            f"{', '.join(languages)}",
            f"write {{{', '.join(f'{x}: ...' for x in languages)}}}",
        )
        return {}
    if not isinstance(raw, Mapping):
        p.fail(where, f"a label must be text or a mapping language -> text, got {raw!r}",
               "write {fr: ..., en: ...}")
        return {}
    out: dict[str, str] = {}
    for lang, text in raw.items():
        if lang not in languages:
            p.fail(where, f"label in undeclared language {lang!r}",
                   f"add it to languages or use one of {', '.join(languages)}")
        elif isinstance(text, bool):
            p.fail(
                where,
                f"the {lang!r} label is the boolean {text} (YAML reads unquoted "
                "Yes/No/On/Off/True/False as booleans)",
                f'quote it: {lang}: "{"Yes" if text else "No"}"',
            )
        elif not isinstance(text, str) or not text.strip():
            p.fail(where, f"the {lang!r} label must be non-empty text, got {text!r}",
                   "write the label text")
        else:
            out[lang] = text
    for lang in languages:
        if lang not in raw and not optional:
            p.fail(where, f"no {lang!r} label", f"add {lang}: ... to the label")
    return out


def defaults_of(p: Problems, raw: Any) -> dict[str, bool]:
    """The ``defaults`` section: ``required``/``sensitive`` for every variable."""
    if not isinstance(raw, Mapping):
        p.fail("top level, key 'defaults'", f"must be a mapping, got {raw!r}",
               "write defaults: {required: true}")
        return {}
    out: dict[str, bool] = {}
    for key, value in raw.items():
        if key not in DEFAULT_KEYS:
            p.fail(f"defaults, key {key!r}", "not a field that may have a default",
                   f"use only {', '.join(DEFAULT_KEYS)}")
        elif not isinstance(value, bool):
            p.fail(f"defaults, key {key!r}", f"must be true or false, got {value!r}",
                   "write true or false")
        else:
            out[key] = value
    return out


def code_of(p: Problems, raw: Any, where: str, *, text: bool = False) -> Code | None:
    """A code: a whole number, or short text (``text``: always text, ``1`` -> ``'1'``)."""
    if isinstance(raw, bool):
        p.fail(
            where,
            f"code {raw!r} is a boolean (YAML reads unquoted yes/no/on/off/true/false "
            "as booleans)",
            "use numeric codes, or quote the code",
        )
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int):
        return str(raw) if text else raw
    if isinstance(raw, float) and text:
        return repr(raw)
    if isinstance(raw, str) and raw.strip():
        stripped = raw.strip()
        return stripped if text or not _INT_RE.match(stripped) else int(stripped)
    p.fail(where, f"invalid code {raw!r}", "codes are whole numbers or short text")
    return None


def codes_of(
    p: Problems, languages: Sequence[str], raw: Any, where: str, *, text: bool = False
) -> dict[Code, dict[str, str]]:
    """A code list: a mapping code -> label."""
    if not isinstance(raw, Mapping) or not raw:
        p.fail(where, f"must be a non-empty mapping code -> label, got {raw!r}",
               "write e.g. {0: {fr: Non, en: 'No'}, 1: ...}")
        return {}
    out: dict[Code, dict[str, str]] = {}
    for key, label in raw.items():
        code = code_of(p, key, where, text=text)
        if code is None:
            continue
        if code in out:
            p.fail(where, f"code {code!r} declared twice", "keep one entry per code")
            continue
        out[code] = labels_of(p, languages, label, f"{where}, code {code!r}")
    return out


def named_sets(p: Problems, languages: Sequence[str], raw: Any, key: str) -> dict[str, Any]:
    """The ``code_lists`` or ``missing_sets`` section: name -> raw code list, each checked
    once here (variables resolve them with their own code type)."""
    if not isinstance(raw, Mapping):
        p.fail(f"top level, key {key!r}", f"must be a mapping name -> codes, got {raw!r}",
               "see docs/questionnaire_format.md")
        return {}
    out: dict[str, Any] = {}
    for name, codes in raw.items():
        codes_of(p, languages, codes, f"{key} {name!r}")  # reported once, here
        out[str(name)] = codes
    return out


def resolve_codes(
    p: Problems,
    languages: Sequence[str],
    raw: Any,
    named: Mapping[str, Any],
    where: str,
    section: str,
    *,
    text: bool = False,
) -> dict[Code, dict[str, str]] | None:
    """A variable's ``codes``/``missing``: the name of a list of ``section``, or a list."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in named:
            p.fail(
                where,
                f"no {section} entry named {raw!r}{did_you_mean(raw, named)}",
                f"declare it under {section} or use one of {', '.join(named) or '(none)'}",
            )
            return {}
        return codes_of(Problems(p.source), languages, named[raw], where, text=text)
    return codes_of(p, languages, raw, where, text=text)


def _date_bound(p: Problems, key: str, value: Any, where: str) -> Any:
    if isinstance(value, _dt.date | str):
        stamp = pd.to_datetime(str(value), errors="coerce")
        if not pd.isna(stamp):
            return stamp
    p.fail(where, f"{key} {value!r} is not a date", "write an ISO date such as 2024-01-31")
    return None


def range_of(p: Problems, raw: Any, vtype: str, where: str) -> tuple[Any, Any]:
    """The ``range`` of an integer, numeric or date variable: (min, max), bounds included."""
    if raw is None:
        return None, None
    if vtype not in RANGE_TYPES:
        p.fail(where, f"a {vtype} variable cannot have a range",
               f"ranges apply to {', '.join(RANGE_TYPES)}; use codes")
        return None, None
    if not isinstance(raw, Mapping) or not raw or set(raw) - {"min", "max"}:
        p.fail(where, f"must be a mapping with min and/or max, got {raw!r}",
               "write range: {min: 18, max: 110}")
        return None, None
    bounds: list[Any] = []  # Timestamps for a date variable, else numbers (or None)
    for key in ("min", "max"):
        value = raw.get(key)
        if value is None:
            bounds.append(None)
        elif vtype == "date":
            bounds.append(_date_bound(p, key, value, where))
        elif isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            p.fail(where, f"{key} {value!r} is not a number", f"write {key}: <number>")
            bounds.append(None)
        elif vtype == "integer" and not float(value).is_integer():
            p.fail(where, f"{key} {value!r} is not a whole number for an integer variable",
                   f"write a whole number for {key}")
            bounds.append(None)
        else:
            bounds.append(value)
    vmin, vmax = bounds
    if vmin is not None and vmax is not None and vmin > vmax:
        p.fail(where, f"min {raw.get('min')} is greater than max {raw.get('max')}",
               "swap the bounds or correct them")
        return None, None
    return vmin, vmax


def flag_of(p: Problems, raw: Mapping[str, Any], flag: str, default: bool, where: str) -> bool:
    """A true/false field (``required``, ``pii`` ...), ``default`` when absent."""
    value = raw.get(flag, default)
    if not isinstance(value, bool):
        p.fail(where, f"must be true or false, got {value!r}",
               f"write {flag}: true or {flag}: false")
        return False
    return value


def text_field(p: Problems, raw: Mapping[str, Any], key: str, where: str) -> str | None:
    """A text field (``relevant``, ``note`` ...): non-empty text, or None when absent."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        p.fail(where, f"must be non-empty text, got {value!r}", f"quote the {key} text")
        return None
    return value


def expr_of(
    p: Problems, text: str | None, where: str, *, choice_filter: bool = False
) -> Expr | None:
    """An expression of the language (:mod:`perception.questionnaire.expressions`)."""
    if text is None:
        return None
    try:
        return parse_expression(text, choice_filter=choice_filter)
    except QuestionnaireError as exc:
        p.add(f"{where}: {exc}")
        return None


def expression_entry(p: Problems, entry: Any, key: str, where: str, example: str,
                     about: str) -> Expr | None:
    """The expression written under ``key`` of a questionnaire entry (a derived
    variable's ``expression``, a consistency rule's ``condition``), compiled; None after
    reporting it when it is missing, not text, not of the language or uses ``.`` (the
    current answer, meaningless in ``about``)."""
    text = entry.get(key)
    place = f"{where}, field {key!r}"
    if not isinstance(text, str) or not text.strip():
        p.fail(place, f"missing or not text ({text!r})", f"write {key}: {example!r}")
        return None
    expr = expr_of(p, text, place)
    if expr is not None and expr.uses_current:
        p.fail(place, f"'.' has no meaning in {about}", "refer to variables as ${name}")
        return None
    return expr
