"""The values kept in ``attrs`` answer ``==`` with one bool: equal content, else False."""

import numpy as np
import pandas as pd

from perception._attrs import AttachedFrame, AttachedMatrix, attach


def test_matrix_equality_is_one_bool():
    m = attach(np.array([[1.0, np.nan], [np.nan, 2.0]]))
    assert isinstance(m, AttachedMatrix)
    assert (m == np.array([[1.0, np.nan], [np.nan, 2.0]])) is True  # NaN equals NaN
    assert (m == np.array([[1.0, 0.0], [0.0, 2.0]])) is False
    assert (m == np.eye(3)) is False  # another shape
    assert (m == [[1.0, np.nan], [np.nan, 2.0]]) is False  # not an array
    assert (m != np.eye(2)) is True
    assert type(m * 2) is np.ndarray  # arithmetic gives plain arrays


def test_frame_equality_is_one_bool_and_keeps_nested_attrs():
    inner = pd.DataFrame({"a": [1.0, 2.0]})
    inner.attrs["vcov"] = np.eye(2)
    f = attach(inner)
    assert isinstance(f, AttachedFrame) and isinstance(f.attrs["vcov"], AttachedMatrix)
    assert (f == pd.DataFrame({"a": [1.0, 2.0]})) is True
    assert (f == pd.DataFrame({"a": [1.0, 3.0]})) is False
    assert (f != np.eye(2)) is True
    assert attach(f) is f and attach(None) is None and attach(3) == 3
    inner.loc[0, "a"] = 9.0
    assert f["a"].iloc[0] == 1.0  # a copy: the original can change
