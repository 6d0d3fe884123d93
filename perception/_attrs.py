"""Values attached to result tables in ``DataFrame.attrs``.

pandas compares the ``attrs`` of the frames it concatenates with ``==`` and needs one
truth value; a plain array or DataFrame answers element by element and makes
``pd.concat`` of two estimate tables fail. These types answer with one bool (equal
content), and otherwise behave as the array or frame they hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class AttachedMatrix(np.ndarray):
    """A matrix (e.g. the covariance of an estimate column) kept in ``attrs``.

    Examples
    --------
    >>> m = AttachedMatrix([[1.0, 0.5], [0.5, 2.0]])
    >>> m == AttachedMatrix([[1.0, 0.5], [0.5, 2.0]])
    True
    >>> type(np.asarray(m)) is np.ndarray
    True
    """

    def __new__(cls, values) -> AttachedMatrix:
        return np.asarray(values, dtype=float).view(cls)

    def __eq__(self, other) -> bool:
        if not isinstance(other, np.ndarray) or np.shape(other) != self.shape:
            return False
        return bool(np.array_equal(self.view(np.ndarray), np.asarray(other), equal_nan=True))

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = None

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # arithmetic on the matrix gives plain arrays with element-wise comparisons
        result = np.asarray(array).view(np.ndarray)
        return result[()] if return_scalar else result


class AttachedFrame(pd.DataFrame):
    """A DataFrame kept in another table's ``attrs`` (e.g. the per-wave estimates)."""

    def __eq__(self, other) -> bool:  # type: ignore[override]
        return isinstance(other, pd.DataFrame) and pd.DataFrame(self).equals(pd.DataFrame(other))

    def __ne__(self, other) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None


def attach(value):
    """Wrap an array or DataFrame for ``attrs``; other values pass unchanged."""
    if value is None or isinstance(value, AttachedMatrix | AttachedFrame):
        return value
    if isinstance(value, pd.DataFrame):
        out = AttachedFrame(value.copy())
        # the held table keeps its own attachments (e.g. the per-wave covariance)
        out.attrs = {k: attach(v) for k, v in value.attrs.items()}
        return out
    if isinstance(value, np.ndarray):
        return AttachedMatrix(value)
    return value
