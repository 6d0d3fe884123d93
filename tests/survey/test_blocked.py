"""The blocked pass over the rows: threads share the columns and change no number."""

from __future__ import annotations

import numpy as np
import pytest

from perception.survey import blocked
from perception.survey.variance import GroupSums


def _columns(n: int, k: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, list]:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 37, n)
    w = rng.uniform(0.5, 3.0, n)
    return group, w, [rng.normal(1000.0 * j, 1.0 + j, n) for j in range(k)]


@pytest.mark.parametrize("by_domain", [False, True])
@pytest.mark.parametrize("threads", [2, 3, 5])
def test_threads_give_the_same_sums_number_for_number(threads, by_domain, monkeypatch):
    group, w, num = _columns(5000, 5)
    domain = np.random.default_rng(4).integers(-1, 4, len(w)) if by_domain else None
    sums = GroupSums(group, 37, domain, 4 if by_domain else 1)
    if by_domain:
        w = np.where(domain >= 0, w, 0.0)
    shift = blocked.pilot_shifts(num, w)
    assert shift[0] == 0.0 and shift[-1] != 0.0  # both kinds of column
    monkeypatch.setattr(blocked, "BLOCK_ROWS", 256)
    monkeypatch.setattr(blocked, "THREAD_BLOCK_ROWS", 256)
    monkeypatch.setattr(blocked, "BLOCK_PER_BIN", 0)
    monkeypatch.setattr(blocked, "THREAD_ROWS", 10**9)
    one = blocked.block_sums(sums, w, num, shift, not by_domain)
    monkeypatch.setattr(blocked, "THREAD_ROWS", 0)
    monkeypatch.setattr(blocked, "available_cores", lambda: threads)
    assert blocked.thread_count(len(w), len(num)) == min(threads, blocked.MAX_THREADS, 5)
    many = blocked.block_sums(sums, w, num, shift, not by_domain)
    assert one is not None and many is not None
    for a, b in zip(one[:2], many[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    # and the sums are those of the rows, shifted
    for j, x in enumerate(num):
        wr = w * (x - shift[j])
        by_group = np.bincount(group, weights=wr, minlength=37)
        np.testing.assert_allclose(many[0][:, :, j].sum(axis=1), by_group,
                                   atol=1e-12 * np.abs(wr).sum())


def test_a_missing_value_in_any_thread_sends_the_estimate_to_the_general_path(monkeypatch):
    group, w, num = _columns(3000, 4)
    num[3][2999] = np.nan  # last row of a column of the last thread
    sums = GroupSums(group, 37)
    monkeypatch.setattr(blocked, "THREAD_BLOCK_ROWS", 500)
    monkeypatch.setattr(blocked, "BLOCK_PER_BIN", 0)
    monkeypatch.setattr(blocked, "THREAD_ROWS", 0)
    monkeypatch.setattr(blocked, "available_cores", lambda: 2)
    assert blocked.block_sums(sums, w, num, np.zeros(4), True) is None


def test_small_surveys_are_summed_by_one_thread():
    assert blocked.thread_count(blocked.THREAD_ROWS - 1, 15) == 1
    assert blocked.thread_count(blocked.THREAD_ROWS, 1) == 1
    assert 1 <= blocked.thread_count(blocked.THREAD_ROWS, 15) <= blocked.MAX_THREADS
