"""The column-by-column comparison of a result table computed on a Dask DataFrame with
the in-memory one, shared by the tests of the Dask back end."""

from __future__ import annotations

import numpy as np
import pandas as pd


def assert_same_columns(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """The same columns, numbers equal to 1e-10 (relative; partitions are summed in
    another order), the other values equal as text."""
    got, want = got.reset_index(drop=True), want.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    for column in want.columns:
        if want[column].dtype.kind in "fiu":
            np.testing.assert_allclose(got[column].to_numpy(float),
                                       want[column].to_numpy(float), rtol=1e-10,
                                       atol=1e-12, err_msg=column)
        else:
            assert got[column].astype(str).tolist() == want[column].astype(str).tolist()
