"""Numbers as a reader of a French or English report expects them: ``4 812`` and
``45,3`` in French (a narrow no-break space between thousands, a decimal comma),
``4,812`` and ``45.3`` in English; intervals as ``[40,1 ; 50,2]`` in French (no-break spaces) and
``(40.1–50.2)`` in English; p-values as ``< 0,001``.

Examples
--------
>>> fmt_number(4812.4, "fr")
'4\\u202f812'
>>> fmt_number(45.25, "en", 1)
'45.2'
>>> fmt_interval(40.123, 50.19, "fr", 1)
'[40,1\\xa0;\\xa050,2]'
>>> fmt_interval(40.123, 50.19, "en", 1)
'(40.1–50.2)'
>>> fmt_p(0.0004, "fr")
'<\\xa00,001'
"""

from __future__ import annotations

import math
from typing import Any

#: the narrow no-break space between groups of thousands in French
THIN_SPACE = "\u202f"
#: the no-break space French puts before ";" and "%"
NBSP = "\u00a0"


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite number (not NaN, None, pd.NA or text)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt_number(value: Any, lang: str, decimals: int = 0) -> str:
    """A number in the conventions of ``lang``; ``–`` when there is none.

    Rounding is to ``decimals`` places, half away from zero as printed by Python's
    format (binary floats: 0.125 may print as 0.12).
    """
    if not is_number(value):
        return "–"
    out = f"{float(value):,.{decimals}f}"
    if out.startswith("-") and float(out.replace(",", "").lstrip("-") or 0) == 0:
        out = out[1:]  # no "-0,0"
    if lang == "fr":
        out = out.replace(",", THIN_SPACE).replace(".", ",")
    return out.replace("-", "\u2212")


def fmt_signed(value: Any, lang: str, decimals: int = 1) -> str:
    """A change with its sign: ``+4,2``, ``−1,0``, ``0,0``."""
    if not is_number(value):
        return "–"
    text = fmt_number(value, lang, decimals)
    zero = fmt_number(0.0, lang, decimals)
    return text if text.startswith("\u2212") or text == zero else "+" + text


def fmt_interval(low: Any, high: Any, lang: str, decimals: int = 1) -> str:
    """A confidence interval: ``[a ; b]`` in French, ``(a–b)`` in English; empty when
    either end is unknown."""
    if not (is_number(low) and is_number(high)):
        return ""
    a, b = fmt_number(low, lang, decimals), fmt_number(high, lang, decimals)
    if lang == "fr":
        return f"[{a}{NBSP};{NBSP}{b}]"
    # an en dash between two numbers reads as a minus when either is negative
    negative = a.startswith("\u2212") or b.startswith("\u2212")
    return f"({a} to {b})" if negative else f"({a}–{b})"


def fmt_p(value: Any, lang: str) -> str:
    """A p-value with three decimals, ``< 0.001`` below that."""
    if not is_number(value):
        return "–"
    if float(value) < 0.001:
        return "<" + NBSP + fmt_number(0.001, lang, 3)
    return fmt_number(value, lang, 3)


def fmt_percent(value: Any, lang: str, decimals: int = 0) -> str:
    """A proportion as a percentage: ``45 %`` (French, no-break space) or ``45%``."""
    if not is_number(value):
        return "–"
    return fmt_number(float(value) * 100, lang, decimals) + (NBSP + "%" if lang == "fr" else "%")
