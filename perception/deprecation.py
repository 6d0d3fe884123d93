"""Renamed arguments keep their old name for one release, with a DeprecationWarning."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def renamed_argument(old: str, new: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Accept the keyword ``old`` as ``new``, warning that it goes in the next release.

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
                    f"old name will be removed in the next release; write {new}=",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate
