"""The values kept in ``attrs`` answer ``==`` with one bool: equal content, else False."""

import copy

import numpy as np
import pandas as pd

from perception.survey.attached import AttachedFrame, attach
from perception.survey.covariance import Covariance, attach_covariance


def _table(matrix) -> pd.DataFrame:
    t = pd.DataFrame({"g": ["a", "b"], "estimate": [1.0, 2.0]})
    return attach_covariance(t, matrix, ["g"])


def test_covariance_equality_is_one_bool():
    m = _table(np.array([[1.0, np.nan], [np.nan, 2.0]])).attrs["vcov"]
    assert isinstance(m, Covariance)
    same = _table(np.array([[1.0, np.nan], [np.nan, 2.0]])).attrs["vcov"]
    assert (m == same) is True  # NaN equals NaN
    assert (m == _table(np.eye(2)).attrs["vcov"]) is False
    assert (m == np.array([[1.0, np.nan], [np.nan, 2.0]])) is False  # not keyed
    assert (m != _table(np.eye(2)).attrs["vcov"]) is True
    other_keys = attach_covariance(pd.DataFrame({"g": ["a", "c"], "estimate": [1.0, 2.0]}),
                                   [[1.0, np.nan], [np.nan, 2.0]], ["g"]).attrs["vcov"]
    assert (m == other_keys) is False


def test_covariance_is_immutable_and_shared_by_copies():
    t = _table(np.array([[1.0, 0.5], [0.5, 2.0]]))
    m = t.attrs["vcov"]
    assert copy.deepcopy(m) is m and t.sort_values("estimate").attrs["vcov"] is m
    assert not m.matrix.flags.writeable and not m.estimates.flags.writeable
    as_array = np.asarray(m)
    as_array[0, 0] = 9.0  # a copy: the attached matrix cannot change
    assert m[0, 0] == 1.0 and m.shape == (2, 2)


def test_frame_equality_is_one_bool_and_keeps_nested_attrs():
    inner = _table(np.eye(2))
    f = attach(inner)
    assert isinstance(f, AttachedFrame) and isinstance(f.attrs["vcov"], Covariance)
    assert (f == pd.DataFrame({"g": ["a", "b"], "estimate": [1.0, 2.0]})) is True
    assert (f == pd.DataFrame({"g": ["a", "b"], "estimate": [1.0, 3.0]})) is False
    assert (f != np.eye(2)) is True
    assert attach(f) is f and attach(None) is None and attach(3) == 3
    inner.loc[0, "estimate"] = 9.0
    assert f["estimate"].iloc[0] == 1.0  # a copy: the original can change
