"""Collecting the problems of a questionnaire, to report them all at once.

Every step of building a questionnaire (:mod:`perception.questionnaire.building`) adds
what it finds to one :class:`Problems`; the build raises a single
:class:`~perception.errors.QuestionnaireError` listing every problem, each naming where
it is (variable, module, field), what is wrong and the fix.

Examples
--------
>>> p = Problems("q.yaml")
>>> p.fail(where_variable("age", "demo", "range"), "min 5 is greater than max 1", "swap them")
>>> p.messages
["variable 'age' (module 'demo'), field 'range': min 5 is greater than max 1. Fix: swap them."]
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..errors import QuestionnaireError

__all__ = ["Problems", "did_you_mean", "where_variable", "MAX_LISTED"]

#: problems listed in one error message (the rest are counted)
MAX_LISTED = 50


def did_you_mean(name: object, candidates: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` when ``name`` is close to one of ``candidates``.

    Examples
    --------
    >>> did_you_mean("trust_polise", ["trust_police", "age"])
    " (did you mean 'trust_police'?)"
    """
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def where_variable(name: str, module: str, fld: str | None = None) -> str:
    """Where a problem of a variable is: ``variable 'x' (module 'm'), field 'f'``."""
    where = f"variable {name!r} (module {module!r})"
    return f"{where}, field {fld!r}" if fld else where


class Problems:
    """The problems found while building one questionnaire (in the order found)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.messages: list[str] = []

    def fail(self, where: str, problem: str, fix: str) -> None:
        """Record a problem: where it is, what is wrong, how to fix it."""
        self.messages.append(f"{where}: {problem}. Fix: {fix}.")

    def add(self, message: str) -> None:
        """Record a problem already written as a message."""
        self.messages.append(message)

    def __len__(self) -> int:
        return len(self.messages)

    def raise_if_any(self) -> None:
        """Raise one QuestionnaireError listing every problem (the first 50)."""
        if not self.messages:
            return
        shown = self.messages[:MAX_LISTED]
        more = len(self.messages) - len(shown)
        raise QuestionnaireError(
            f"{self.source}: invalid questionnaire ({len(self.messages)} problem"
            f"{'s' if len(self.messages) != 1 else ''}):\n  - "
            + "\n  - ".join(shown)
            + (f"\n  - ... and {more} more" if more else "")
        )
