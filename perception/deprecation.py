"""Renamed arguments, and arguments that became keyword-only, keep working for one
release with a DeprecationWarning.

Every change of the public API made this way is listed in ``CHANGELOG.md``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any, ParamSpec, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")

#: the end of every message, so that the test suite can turn these warnings into errors
REMOVAL = "will be removed in the next release"


def _caller() -> int:
    """The ``stacklevel`` of the first frame outside this module (the caller's code), so
    that a warning points at the call also when the decorators are stacked."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level


def renamed_argument(old: str, new: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Accept the keyword ``old`` as ``new``, warning that it goes in the next release.

    Parameters
    ----------
    old : str
        The former name of the argument.
    new : str
        Its name now, a parameter of the decorated function.

    Returns
    -------
    callable
        A decorator.

    Examples
    --------
    >>> import warnings
    >>> @renamed_argument("type", "method")
    ... def f(method="a"):
    ...     return method
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     f(type="b"), caught[0].category.__name__
    ('b', 'DeprecationWarning')
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(
                        f"{func.__qualname__}() got both {old}= and {new}=; "
                        f"{old}= is the old name of {new}=, give only {new}="
                    )
                warnings.warn(
                    f"{func.__qualname__}(): the argument {old}= is renamed {new}= and the "
                    f"old name {REMOVAL}; write {new}=",
                    DeprecationWarning,
                    stacklevel=_caller(),
                )
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate


def positional_deprecated(*names: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Accept, for one release, arguments that became keyword-only by their old position.

    Parameters
    ----------
    *names : str
        The keyword-only parameters that used to follow the positional ones, in their
        former order (by their new names when they were also renamed: put this decorator
        above :func:`renamed_argument`).

    Returns
    -------
    callable
        A decorator. A call that gives more positional arguments than the function
        takes passes the extra ones to ``names`` in order, with a DeprecationWarning.

    Examples
    --------
    >>> import warnings
    >>> @positional_deprecated("by", "level")
    ... def f(design, variables, *, level=0.95, by=None):
    ...     return by, level
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     f("d", "x", "wave", 0.9), caught[0].category.__name__
    (('wave', 0.9), 'DeprecationWarning')
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        params = inspect.signature(func).parameters
        keyword_only = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
        unknown = [n for n in names if n not in keyword_only]
        if unknown:
            raise TypeError(f"{func.__qualname__}: {unknown} are not keyword-only parameters")
        positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                         for p in params.values())

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if len(args) <= positional:
                return func(*args, **kwargs)
            extra = args[positional:]
            if len(extra) > len(names):
                raise TypeError(
                    f"{func.__qualname__}() takes {positional} positional arguments but "
                    f"{len(args)} were given"
                )
            moved = names[:len(extra)]
            for name, value in zip(moved, extra, strict=True):
                if name in kwargs:
                    raise TypeError(
                        f"{func.__qualname__}() got multiple values for argument {name!r}"
                    )
                kwargs[name] = value
            warnings.warn(
                f"{func.__qualname__}(): {', '.join(f'{n}=' for n in moved)} "
                f"{'is' if len(moved) == 1 else 'are'} keyword-only; giving "
                f"{'it' if len(moved) == 1 else 'them'} by position {REMOVAL}; write "
                + ", ".join(f"{n}=..." for n in moved),
                DeprecationWarning,
                stacklevel=_caller(),
            )
            kept = cast(Any, args[:positional])
            return func(*kept, **kwargs)

        return wrapper

    return decorate


def warn_renamed_attribute(owner: str, old: str, new: str) -> None:
    """Warn that the attribute ``old`` of ``owner`` is renamed ``new``; call it from the
    property that keeps the old name for one release.

    Parameters
    ----------
    owner : str
        The class name, for the message.
    old : str
        The former name of the attribute.
    new : str
        Its name now.

    Examples
    --------
    >>> import warnings
    >>> class Result:
    ...     proportions = 0.5
    ...     @property
    ...     def table(self):
    ...         warn_renamed_attribute("Result", "table", "proportions")
    ...         return self.proportions
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     Result().table, caught[0].category.__name__
    (0.5, 'DeprecationWarning')
    """
    warnings.warn(
        f"{owner}.{old} is renamed {owner}.{new} and the old name {REMOVAL}; write .{new}",
        DeprecationWarning,
        stacklevel=_caller() + 1,
    )
