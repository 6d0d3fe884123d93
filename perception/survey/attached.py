"""Tables attached to result tables in ``DataFrame.attrs``.

pandas compares the ``attrs`` of the frames it concatenates with ``==`` and needs one
truth value; a plain DataFrame answers element by element and makes ``pd.concat`` of
two estimate tables fail. :class:`AttachedFrame` answers with one bool (equal content)
and otherwise behaves as the frame it holds. (The covariance of a table is kept the same
way, keyed by its rows: :mod:`perception.survey.covariance`.) :func:`stack_tables` stacks
result tables whose attachments differ.
"""

from __future__ import annotations

import copy

import pandas as pd


class AttachedFrame(pd.DataFrame):
    """A DataFrame kept in another table's ``attrs`` (e.g. the per-wave estimates).

    Examples
    --------
    >>> f = attach(pd.DataFrame({"a": [1.0, 2.0]}))
    >>> f == pd.DataFrame({"a": [1.0, 2.0]})
    True
    """

    def __eq__(self, other) -> bool:  # type: ignore[override]
        return isinstance(other, pd.DataFrame) and pd.DataFrame(self).equals(pd.DataFrame(other))

    def __ne__(self, other) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None

    def __deepcopy__(self, memo=None) -> AttachedFrame:
        # pandas deep-copies attrs at every operation; a plain DataFrame copy would
        # compare element by element and break pd.concat of pieces of one table
        out = AttachedFrame(pd.DataFrame(self).copy(deep=True))
        out.attrs = copy.deepcopy(dict(self.attrs), memo)
        return out


def attach(value):
    """Wrap a DataFrame for ``attrs`` (a copy); other values pass unchanged."""
    if value is None or isinstance(value, AttachedFrame):
        return value
    if isinstance(value, pd.DataFrame):
        out = AttachedFrame(value.copy())
        # the held table keeps its own attachments (e.g. the per-wave covariance)
        out.attrs = {k: attach(v) for k, v in value.attrs.items()}
        return out
    return value


def stack_tables(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack estimate tables one below the other, their ``attrs`` dropped (pandas
    compares the ``attrs`` of the frames it concatenates; those of different estimates
    differ, and a covariance of the stack would not be theirs).

    Examples
    --------
    >>> t = pd.DataFrame({"estimate": [0.5]})
    >>> t.attrs["level"] = 0.95
    >>> stacked = stack_tables([t, t])
    >>> len(stacked), stacked.attrs
    (2, {})
    """
    bare = []
    for table in tables:
        table = table.copy(deep=False)
        table.attrs = {}
        bare.append(table)
    return pd.concat(bare, ignore_index=True)
