"""The blocked pass over the rows behind fast means and totals.

:func:`block_sums` reads the item columns in blocks of rows that stay in the CPU cache,
so each column is read from memory once, and adds each block's (group, domain) sums of
``w (x - c)`` and its sums of ``w (x - c)^2``. The shift ``c`` of each column
(:func:`pilot_shifts`, a provisional mean from a pilot sample of rows) keeps the sums of
squares free of cancellation; a column near 0 next to its spread is summed unshifted.

A large survey is summed by several threads, each taking its own columns over every
block: ``np.bincount``, ``np.multiply`` and the dot products release the GIL on
vectors this long, and each thread writes only its own columns' sums, so the result is
the same number for number as one thread's.

Examples
--------
>>> import numpy as np
>>> from perception.survey.variance import GroupSums
>>> sums = GroupSums(np.array([0, 0, 1]), 2)
>>> w, x = np.array([1.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0])
>>> totals, squares, _ = block_sums(sums, w, [x], np.zeros(1), whole=True)
>>> totals[:, 0, 0].tolist(), squares.tolist()
([4.0, 10.0], [[60.0]])
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from .variance import GroupSums

#: rows per block of :func:`block_sums`: a block's work vectors stay in the CPU cache,
#: so each column is read from memory once
BLOCK_ROWS = 1 << 15
#: and at least this many rows per (group, domain) bin
BLOCK_PER_BIN = 8
#: rows from which :func:`block_sums` spreads the columns over threads (below it, the
#: threads' start and hand-over of the GIL cost more than they save), and the rows per
#: block then: longer blocks, fewer hand-overs
THREAD_ROWS = 1 << 18
THREAD_BLOCK_ROWS = 1 << 17
#: at most this many threads (a pass over the rows is bound by memory beyond a few)
MAX_THREADS = 4
#: rows whose weighted mean shifts each column (:func:`pilot_shifts`), read as
#: PILOT_RUNS runs spread over the data
PILOT_ROWS = 1 << 14
PILOT_RUNS = 16
#: a column whose pilot mean lies within this many pilot standard deviations of 0 is
#: summed unshifted: the shift would save fewer than 2 * log2(SHIFT_FREE) = 10 bits of
#: its squares' 52, and costs a pass over the column
SHIFT_FREE = 32.0


class CellPart(Protocol):
    """Cell sums of a raked design over a block of rows (``engine.CellSums.rows``)."""

    ratio: np.ndarray

    def __call__(self, values: np.ndarray) -> np.ndarray: ...


class Cells(Protocol):
    """Sums by (raking cell, domain) of a raked design (``engine.CellSums``)."""

    n_cells: int
    n_domains: int

    def rows(self, start: int, stop: int) -> CellPart: ...


def pilot_rows(n: int) -> slice | np.ndarray:
    """Rows of the pilot sample: every row of a small survey, else PILOT_RUNS runs of
    contiguous rows evenly spread over the data (cheap to read, and not just the first
    rows when the file is sorted)."""
    if n <= PILOT_ROWS:
        return slice(None)
    run = PILOT_ROWS // PILOT_RUNS
    starts = np.linspace(0, n - run, PILOT_RUNS).astype(np.int64)
    return (starts[:, None] + np.arange(run)).ravel()


def pilot_shifts(num: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    """A provisional estimate of each column's mean: the shift ``c`` of the totals.

    Any value near the mean keeps the shifted sums free of cancellation, so a weighted
    mean over the pilot rows serves; a pilot without weight (a domain elsewhere in the
    data) falls back to every row, a non-finite value to 0. A column whose mean is small
    next to its spread (``|c| <= SHIFT_FREE`` pilot standard deviations, as most items
    are) gets 0: its unshifted squares lose nothing that matters, and
    :func:`block_sums` skips the subtraction.
    """
    pilot = pilot_rows(len(w))
    w_pilot = w[pilot]
    w_sum = float(w_pilot.sum())
    shift = np.zeros(len(num))
    for j, x in enumerate(num):
        if w_sum > 0:
            x_pilot = x[pilot]
            c = float(w_pilot @ x_pilot) / w_sum
            spread = float(w_pilot @ (x_pilot - c) ** 2) / w_sum
        else:
            c = float(w @ x) / float(w.sum())
            spread = 0.0
        if not np.isfinite(c) or (spread > 0 and c * c <= SHIFT_FREE**2 * spread):
            c = 0.0
        shift[j] = c
    return shift


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_count(n_rows: int, n_columns: int) -> int:
    """Threads of a blocked pass over ``n_rows`` rows of ``n_columns`` columns."""
    if n_rows < THREAD_ROWS:
        return 1
    return max(1, min(available_cores(), MAX_THREADS, n_columns))


def block_sums(sums: GroupSums, w: np.ndarray, num: list[np.ndarray], shift: np.ndarray,
               whole: bool, cs: Cells | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(G, D, k) sums of ``w (x - c)`` by (group, domain) and (D, k) sums of
    ``w (x - c)^2``, over blocks of rows (each column read once, its work vectors in
    cache). None as soon as a sum is not finite: a missing or infinite value in a row of
    a domain, which the general path handles (``na_rm``, errors). A raked design
    (``cs``) also gets the (C, D, k) cell sums of ``(w / base)(x - c)``. ``whole``: one
    domain holding every row."""
    n, k = len(w), len(num)
    totals = np.zeros((k, sums.n_bins))  # flat: a block's sums are added unshaped
    sq = np.zeros((k, sums.n_domains))
    cells = None if cs is None else np.zeros((k, cs.n_cells, cs.n_domains))
    threads = thread_count(n, k)
    # a block spans several times the bins, so that bincount's output stays cheap
    size = min(n, max(BLOCK_ROWS if threads == 1 else THREAD_BLOCK_ROWS,
                      BLOCK_PER_BIN * sums.n_groups * sums.n_domains))

    def columns(chosen: range) -> bool:
        """Sum the ``chosen`` columns over every block; False at a non-finite sum."""
        r_buffer, wr_buffer = np.empty(size), np.empty(size)
        for start in range(0, n, size):
            stop = min(start + size, n)
            part = sums.rows(start, stop)
            cell_part = None if cs is None else cs.rows(start, stop)
            w_block, wr = w[start:stop], wr_buffer[: stop - start]
            for j in chosen:
                if shift[j]:
                    r = np.subtract(num[j][start:stop], shift[j],
                                    out=r_buffer[: stop - start])
                else:  # the column itself, read only
                    r = num[j][start:stop]
                if cell_part is not None and cells is not None:
                    np.multiply(cell_part.ratio, r, out=wr)
                    cells[j] += cell_part(wr)
                np.multiply(w_block, r, out=wr)
                part.add_to(totals[j], wr)
                if whole:  # np.inner lets go of the GIL where ``@`` holds it
                    sq[j, 0] += np.inner(wr, r)
                else:
                    np.multiply(wr, r, out=wr)
                    sq[j] += part.by_domain(wr)
            # NaN * 0 is NaN: a weight of 0 hides nothing
            if not np.isfinite(sq[chosen.start:chosen.stop:chosen.step].sum()):
                return False
        return True

    if threads == 1:
        finite = columns(range(k))
    else:
        with ThreadPoolExecutor(threads) as pool:
            finite = all(pool.map(columns, [range(t, k, threads) for t in range(threads)]))
    if not finite:
        return None
    return (sums.shaped(totals).transpose(1, 2, 0), sq.T,
            None if cells is None else cells.transpose(1, 2, 0))
