"""Selection of villages with probability proportional to size, with a reserve list.

:func:`select_pps` draws, in every stratum, ``n_h`` units with probabilities
proportional to a size column (systematic PPS in random order, or Sampford's method),
certainty units first, and a reserve list of replacement units; :func:`joint_inclusion`
gives the joint inclusion probabilities of the drawn units (R's ``ppsmat``).

How the reserve list is drawn (two phases, every probability known)
--------------------------------------------------------------------
In a stratum with ``n_h`` units to survey:

1. Certainty units: a unit with ``size >= X_h / n_h`` is taken with certainty, and the
   rule is repeated on the others with ``n_h`` reduced (:func:`~perception.sampling.pps.
   pps_probabilities`). They are surveyed, never replaced: a certainty village that
   cannot be reached is a loss, not something a probability sample can substitute.
2. Phase 1: ``n' + r`` units (``n'`` the non-certainty units to survey, ``r`` the
   reserve) are drawn by PPS from the other units (the certainty rule applies again
   with ``n' + r``), probability ``pi_draw``.
3. Phase 2: a random order of these ``n' + r`` units; the first ``n'`` are the sample,
   the others the reserve list, in that order (``reserve_order`` 1, 2, ...).

A unit's probability of being surveyed is ``pi = pi_draw * n' / (n' + r)``. When no unit
reaches certainty at phase 1 this equals ``n' size_i / X'`` (``X'`` the size of the
non-certainty units): the sample is exactly a PPS sample of ``n'`` units. Otherwise the
largest units have ``pi`` a little below their PPS value; ``pi`` stays exact.

When a sampled village is inaccessible, the next reserve village (in order) replaces
it; if that one is inaccessible too, the next. The villages surveyed are then the first
``n'`` accessible ones of the phase-2 order: a simple random sample of the accessible
phase-1 villages. With ``pi`` as above, weights ``1 / pi`` treat inaccessibility as
unrelated to the survey's answers within the stratum (missing at random), the
assumption behind every substitution; a replacement village gets the same ``pi`` as
the one it replaces. Without replacements (r = 0 or none used) ``pi`` is exact.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"village": list("abcdefgh"), "cercle": ["A"] * 4 + ["B"] * 4,
...                       "population": [900, 300, 200, 100, 400, 400, 100, 100]})
>>> s = select_pps(frame, "population", n={"A": 2, "B": 2}, strata="cercle",
...                method="sampford", seed=1, reserve=1)
>>> s.groupby("cercle")["reserve"].sum().tolist()
[1, 1]
>>> bool(s.loc[0, "certainty"])          # village a: 900 >= 1500 / 2
True
"""

from __future__ import annotations

import numbers
import secrets
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import SamplingError, format_rows
from .checks import (
    Strata,
    check_frame,
    frame_strata,
    mapping_per_stratum,
    numeric_column,
    stratum_label,
    whole_number,
)
from .pps import pps_probabilities, systematic_draw
from .sampford import sampford_draw, sampford_joint

__all__ = ["select_pps", "joint_inclusion", "Selection", "StratumDraw", "SELECTION_COLUMNS"]

SelectionMethod = Literal["systematic", "sampford"]
#: the columns select_pps adds to the frame's
SELECTION_COLUMNS = ["pi", "pi_draw", "certainty", "reserve", "reserve_order"]
_METHODS = ("systematic", "sampford")


@dataclass(frozen=True, eq=False)
class StratumDraw:
    """What was drawn in one stratum, with what is needed for joint probabilities.

    Attributes
    ----------
    key : the stratum's key.
    N : units in the stratum.
    n : units to survey (``n_h``).
    certain : labels of the certainty units (surveyed with probability 1).
    drawn : labels of the phase-1 units (sample then reserve, in phase-2 order).
    pi_draw : their phase-1 probabilities.
    n_survey : non-certainty units surveyed (``n'``).
    rest_pi : phase-1 probabilities of every non-certainty unit that was not certain at
        phase 1 (frame order); ``rest_drawn``: positions in it of the drawn ones
        (``-1`` for phase-1 certainty units), aligned with ``drawn``.
    """

    key: Hashable
    N: int
    n: int
    certain: tuple
    drawn: tuple
    pi_draw: tuple[float, ...]
    n_survey: int
    rest_pi: tuple[float, ...]
    rest_drawn: tuple[int, ...]

    @property
    def n_reserve(self) -> int:
        return len(self.drawn) - self.n_survey

    @property
    def phase1_certain(self) -> int:
        return sum(1 for p in self.rest_drawn if p < 0)

    def _key(self) -> tuple:
        return (self.key, self.N, self.n, self.certain, self.drawn, self.pi_draw,
                self.n_survey, self.rest_pi, self.rest_drawn)


@dataclass(frozen=True, eq=False)
class Selection:
    """Record of a :func:`select_pps` draw, kept in the sample's ``attrs["selection"]``.

    Attributes
    ----------
    method, size, strata, reserve : the arguments of the draw.
    seed : the integer seed (drawn from the operating system when ``seed=None``, so the
        draw can be repeated); None when a Generator was given.
    draws : one :class:`StratumDraw` per stratum.
    """

    method: str
    size: str
    strata: tuple[str, ...]
    reserve: int
    seed: int | None
    draws: tuple[StratumDraw, ...]

    def _key(self) -> tuple:
        return (self.method, self.size, self.strata, self.reserve, self.seed,
                tuple(d._key() for d in self.draws))

    # pandas compares attrs with == when concatenating: one bool, never an array
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Selection) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # immutable: pandas deep-copies attrs on every operation on the sample; share it
    def __copy__(self) -> Selection:
        return self

    def __deepcopy__(self, memo: dict) -> Selection:
        return self

    def summary(self) -> pd.DataFrame:
        """One row per stratum: the stratum columns, ``N_h``, ``n_h``, ``certainty``,
        ``reserve`` (reserve units drawn) and ``phase1_certain`` (units certain at phase
        1, whose ``pi`` is below their PPS value)."""
        rows = []
        for d in self.draws:
            keys = d.key if isinstance(d.key, tuple) else (d.key,)
            row = dict(zip(self.strata, keys, strict=False))
            row.update(N_h=d.N, n_h=d.n, certainty=len(d.certain), reserve=d.n_reserve,
                       phase1_certain=d.phase1_certain)
            rows.append(row)
        return pd.DataFrame(rows)


# ------------------------------------------------------------------------- checks --
def _check_method(method: object) -> SelectionMethod:
    if method not in _METHODS:
        raise SamplingError(
            f"method={method!r} is not a selection method; choose 'systematic' (systematic "
            "PPS in random order) or 'sampford' (Sampford's method, exact joint "
            "probabilities)"
        )
    return "sampford" if method == "sampford" else "systematic"


def _sizes_per_stratum(n: object, strata: Strata, counts: np.ndarray) -> np.ndarray:
    mapping = getattr(n, "n", None) if not isinstance(n, Mapping | numbers.Real) else None
    if isinstance(mapping, Mapping):  # an Allocation
        n = mapping
    if isinstance(n, Mapping):
        values = mapping_per_stratum(n, strata, "n")
        out = np.array([whole_number(v, f"n of stratum {stratum_label(k)}")
                        for v, k in zip(values, strata.keys, strict=True)])
    elif isinstance(n, numbers.Real) and not isinstance(n, bool):
        out = np.full(strata.size, whole_number(n, "n"))
    else:
        raise SamplingError(
            "n must be the sample size of each stratum: one whole number, a mapping "
            f"{{stratum: n}}, or the result of pc.allocate(); got {type(n).__name__}"
        )
    over = np.flatnonzero(out > counts)
    if over.size:
        shown = ", ".join(f"{stratum_label(strata.keys[h])}: n={out[h]} > {counts[h]} units"
                          for h in over[:10])
        raise SamplingError(
            f"n exceeds the units of the frame in stratum {shown}. Fix: lower n there "
            "(pc.allocate caps each stratum at its size)"
        )
    if out.sum() == 0:
        raise SamplingError("n is 0 in every stratum: nothing to draw")
    return out


def _rng(seed: object) -> tuple[np.random.Generator, int | None]:
    if isinstance(seed, np.random.Generator):
        return seed, None
    if seed is None:
        entropy = secrets.randbits(128)  # as numpy's SeedSequence() draws it, but recorded
        return np.random.default_rng(entropy), entropy
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise SamplingError(f"seed must be a whole number >= 0 or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed)), int(seed)


# -------------------------------------------------------------------------- draws --
def _draw_stratum(rng: np.random.Generator, method: str, size: np.ndarray, n: int,
                  reserve: int, order: np.ndarray | None) -> dict:
    """One stratum (positions are within the stratum)."""
    N = size.shape[0]
    _, certain = pps_probabilities(size, n)
    rest = np.flatnonzero(~certain)
    n_survey = n - int(certain.sum())
    m1 = 0 if n_survey == 0 else min(n_survey + reserve, rest.size)
    pi1, certain1 = pps_probabilities(size[rest], m1)
    free = np.flatnonzero(~certain1)  # positions in `rest`
    m_free = m1 - int(certain1.sum())
    if m_free == 0:
        picked = np.empty(0, dtype=np.int64)
    elif method == "systematic":
        picked = free[systematic_draw(rng, size[rest[free]], m_free,
                                      None if order is None else order[rest[free]])]
    else:
        picked = free[sampford_draw(rng, pi1[free])]
    phase1 = np.concatenate([np.flatnonzero(certain1), picked])  # positions in `rest`
    if m1 > n_survey:
        phase1 = rng.permutation(phase1)
    free_pos = np.full(rest.size, -1)
    free_pos[free] = np.arange(free.size)
    return dict(N=N, certain=np.flatnonzero(certain), drawn=rest[phase1],
                pi_draw=pi1[phase1], n_survey=n_survey, rest_pi=pi1[free],
                rest_drawn=free_pos[phase1])


def select_pps(
    frame: pd.DataFrame,
    size: str,
    *,
    n: int | Mapping[Hashable, int] | object,
    strata: str | Sequence[str] | None = None,
    method: SelectionMethod = "systematic",
    seed: int | np.random.Generator | None = None,
    reserve: int = 0,
    order: str | None = None,
) -> pd.DataFrame:
    """Draw units (villages) with probability proportional to size, stratum by stratum.

    Parameters
    ----------
    frame : DataFrame
        The sampling frame, one row per unit; never modified. Row labels must be unique
        (they are kept in the result and key :func:`joint_inclusion`).
    size : str
        Column of positive sizes (population, households).
    n : int, mapping or Allocation
        Units to survey in each stratum: one number for every stratum, a mapping
        ``{stratum: n}`` (keys as the strata column's values; tuples for several
        columns), or the result of :func:`perception.allocate`.
    strata : str or list of str, optional
        Stratum column(s); strata are drawn independently. None: one stratum.
    method : {"systematic", "sampford"}
        ``"systematic"``: systematic PPS in a random order of the units (or sorted by
        ``order``); ``"sampford"``: Sampford's method, whose exact joint probabilities
        :func:`joint_inclusion` gives.
    seed : int or numpy Generator, optional
        Same seed, same frame and arguments: same sample. None draws a seed from the
        operating system and records it in ``attrs["selection"].seed``. Strata are
        drawn in sorted order from one Generator.
    reserve : int
        Replacement units per stratum (see the module docstring): drawn with the sample
        in one PPS draw of ``n' + reserve`` units, then split at random; fewer when the
        stratum has too few units.
    order : str, optional
        ``method="systematic"`` only: list the units by this column (implicit
        stratification, e.g. the commune), in random order within its values.

    Returns
    -------
    DataFrame
        The drawn rows of ``frame`` (their labels and columns), sample first then the
        reserve, stratum by stratum, with ``pi`` (probability of being surveyed:
        weights are ``1 / pi``), ``pi_draw`` (probability of the phase-1 draw),
        ``certainty`` (taken with probability 1), ``reserve`` (True for reserve units)
        and ``reserve_order`` (1, 2, ... in the order to use them; <NA> in the
        sample). ``attrs["selection"]`` records the draw (:class:`Selection`; its
        ``summary()`` is a table per stratum).

    Raises
    ------
    SamplingError
        For a missing column, non-positive or missing sizes or strata, ``n`` larger
        than a stratum, a mapping that misses a stratum or names an unknown one, an
        unknown method, or a frame that already has a column of the result.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"population": [500, 300, 200, 200, 100, 100, 100]})
    >>> s = select_pps(frame, "population", n=3, seed=1)
    >>> s["pi"].tolist(), s["certainty"].tolist()
    ([1.0, 0.6, 0.4], [True, False, False])

    Notes
    -----
    R: ``sampling::UPsystematic`` / ``UPsampford`` on ``inclusionprobabilities(size,
    n)`` within strata (``sampling::strata`` with ``method``); the sample then becomes
    ``svydesign(ids=~village, strata=~cercle, fpc=~pi, pps="brewer")`` or
    ``pps=ppsmat(joint_inclusion(...))``.
    """
    frame = check_frame(frame, "select_pps")
    method = _check_method(method)
    reserve = whole_number(reserve, "reserve")
    if not isinstance(size, str):
        raise SamplingError(f"size must be the name of the size column, got {size!r}")
    x = numeric_column(frame, size, "size", positive=True)
    st = frame_strata(frame, strata)
    counts = np.bincount(st.codes, minlength=st.size)
    n_h = _sizes_per_stratum(n, st, counts)
    clash = [c for c in SELECTION_COLUMNS if c in frame.columns]
    if clash:
        raise SamplingError(
            f"the frame already has column(s) {', '.join(clash)}, which select_pps adds; "
            "rename them first"
        )
    order_codes = None
    if order is not None:
        if method != "systematic":
            raise SamplingError("order= lists the units for systematic sampling; Sampford's "
                              "method does not depend on the order: leave order out")
        if not isinstance(order, str) or order not in frame.columns:
            raise SamplingError(f"order: the frame has no column {order!r}")
        if frame[order].isna().any():
            missing = frame.index[frame[order].isna().to_numpy()]
            raise SamplingError(f"order column {order!r} is missing in rows "
                                f"{format_rows(missing)}; fill it or leave order out")
        try:
            order_codes = pd.factorize(frame[order], sort=True)[0]
        except TypeError:  # values of mixed types cannot be sorted
            raise SamplingError(f"order column {order!r} mixes values that cannot be sorted "
                              "(e.g. numbers and text); give it one type") from None
    rng, recorded_seed = _rng(seed)
    row_labels = frame.index.to_numpy(dtype=object)  # plain objects: fast to index
    positions, pis, pi_draws, certainty, is_reserve, reserve_order = [], [], [], [], [], []
    draws = []
    for h in range(st.size):
        rows = st.rows(h)
        part = _draw_stratum(rng, method, x[rows], int(n_h[h]), reserve,
                             None if order_codes is None else order_codes[rows])
        n_survey, drawn = part["n_survey"], part["drawn"]
        m1 = drawn.size
        share = n_survey / m1 if m1 else 0.0
        for p in part["certain"]:
            positions.append(rows[p])
            pis.append(1.0)
            pi_draws.append(1.0)
            certainty.append(True)
            is_reserve.append(False)
            reserve_order.append(pd.NA)
        for t, p in enumerate(drawn):
            positions.append(rows[p])
            pis.append(float(part["pi_draw"][t]) * share)
            pi_draws.append(float(part["pi_draw"][t]))
            certainty.append(False)
            is_reserve.append(t >= n_survey)
            reserve_order.append(t - n_survey + 1 if t >= n_survey else pd.NA)
        draws.append(StratumDraw(
            key=st.keys[h], N=part["N"], n=int(n_h[h]),
            certain=tuple(_plain(v) for v in row_labels[rows[part["certain"]]]),
            drawn=tuple(_plain(v) for v in row_labels[rows[drawn]]),
            pi_draw=tuple(float(v) for v in part["pi_draw"]),
            n_survey=int(n_survey),
            rest_pi=tuple(float(v) for v in part["rest_pi"]),
            rest_drawn=tuple(int(v) for v in part["rest_drawn"]),
        ))
    drawn_rows = frame.iloc[np.asarray(positions, dtype=np.int64)]
    added = pd.DataFrame({
        "pi": np.asarray(pis, dtype=float),
        "pi_draw": np.asarray(pi_draws, dtype=float),
        "certainty": np.asarray(certainty, dtype=bool),
        "reserve": np.asarray(is_reserve, dtype=bool),
        "reserve_order": pd.array(reserve_order, dtype="Int64"),
    }, index=drawn_rows.index)
    out = pd.concat([drawn_rows, added], axis=1)
    out.attrs = {**frame.attrs, "selection": Selection(
        method=method, size=size, strata=st.columns, reserve=reserve, seed=recorded_seed,
        draws=tuple(draws))}
    return out


def _plain(label: Hashable) -> Hashable:
    return label.item() if isinstance(label, np.generic) else label


# ------------------------------------------------------------------- joint probs --
def joint_inclusion(sample: pd.DataFrame, reserve: bool = False) -> pd.DataFrame:
    """Joint inclusion probabilities of the units of a :func:`select_pps` sample.

    Parameters
    ----------
    sample : DataFrame
        The result of :func:`select_pps` (its ``attrs["selection"]``), possibly with
        rows removed or reordered; rows are matched by label.
    reserve : bool
        Include the reserve units (each with its probability of being surveyed, as in
        ``pi``). Default: the sample's rows only.

    Returns
    -------
    DataFrame (m x m), index and columns the rows' labels: ``pi_ij`` of being surveyed
    together, ``pi_i`` on the diagonal. Units of different strata are independent
    (``pi_i pi_j``); a certainty unit with any unit ``j``: ``pi_j``; two phase-1 units:
    their phase-1 joint probability times ``n' (n' - 1) / (m (m - 1))`` (``m = n' +
    reserve``); two units of a Sampford draw: Sampford's exact joint probability
    (:func:`~perception.sampling.sampford.sampford_joint`).

    Raises
    ------
    SamplingError
        If ``sample`` does not come from :func:`select_pps`, holds a row it did not
        draw, or was drawn by systematic PPS (its joint probabilities are not known
        exactly; see Notes).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"population": [500, 300, 200, 200, 100, 100, 100]})
    >>> s = select_pps(frame, "population", n=3, method="sampford", seed=1)
    >>> pij = joint_inclusion(s)
    >>> pij.shape, bool((pij.to_numpy().diagonal() == s["pi"].to_numpy()).all())
    ((3, 3), True)

    Notes
    -----
    The matrix is R's ``ppsmat(pij)`` for ``svydesign(..., pps=ppsmat(pij))`` (rows in
    the order of ``sample``). Systematic PPS in random order has no exact joint
    probabilities (they depend on the list order; many pairs have ``pi_ij = 0`` for a
    fixed order): estimate with ``pps="brewer"``, ``"overton"`` or ``"hartley-rao"``,
    which need only ``pi``, or draw with ``method="sampford"``.
    """
    record = sample.attrs.get("selection") if isinstance(sample, pd.DataFrame) else None
    if not isinstance(record, Selection):
        raise SamplingError(
            "joint_inclusion() needs the table returned by pc.select_pps (it reads "
            "attrs['selection']); operations such as pd.concat with other tables may have "
            "dropped it. Draw again or keep the returned table"
        )
    where: dict = {}
    for h, d in enumerate(record.draws):
        for label in d.certain:
            where[label] = (h, "certain", -1)
        for t, label in enumerate(d.drawn):
            where[label] = (h, "reserve" if t >= d.n_survey else "sample", t)
    labels = list(sample.index)
    unknown = [lab for lab in labels if lab not in where]
    if unknown:
        raise SamplingError(f"rows {format_rows(unknown)} of the sample were not drawn by this "
                          "select_pps draw")
    if not reserve:
        labels = [lab for lab in labels if where[lab][1] != "reserve"]
    m = len(labels)
    info = [where[lab] for lab in labels]
    pi = np.empty(m)
    for a, (h, kind, t) in enumerate(info):
        d = record.draws[h]
        pi[a] = 1.0 if kind == "certain" else d.pi_draw[t] * d.n_survey / len(d.drawn)
    out = np.outer(pi, pi)
    for h, d in enumerate(record.draws):
        members = [a for a in range(m) if info[a][0] == h]
        if not members:
            continue
        phase1 = [a for a in members if info[a][1] != "certain"]
        for a in members:  # certainty unit with any other unit of its stratum
            if info[a][1] == "certain":
                out[a, members] = pi[members]
                out[members, a] = pi[members]
        if len(phase1) < 2:
            continue
        m1 = len(d.drawn)
        factor = d.n_survey * (d.n_survey - 1) / (m1 * (m1 - 1))
        free = [a for a in phase1 if d.rest_drawn[info[a][2]] >= 0]
        joint1 = np.outer([d.pi_draw[info[a][2]] for a in phase1],
                          np.ones(len(phase1)))  # phase-1 certain x other: the other's pi1
        joint1 = np.minimum(joint1, joint1.T)
        if len(free) >= 2:
            if record.method != "sampford":
                raise SamplingError(
                    "joint_inclusion(): systematic PPS in random order has no exact joint "
                    "inclusion probabilities; estimate with pps='brewer', 'overton' or "
                    "'hartley-rao' (they need only pi), or draw with method='sampford'"
                )
            pos = [d.rest_drawn[info[a][2]] for a in free]
            exact = sampford_joint(np.asarray(d.rest_pi), pos)
            index = [phase1.index(a) for a in free]
            joint1[np.ix_(index, index)] = exact
        block = joint1 * factor
        out[np.ix_(phase1, phase1)] = block
        out[phase1, phase1] = pi[phase1]
    out[np.arange(m), np.arange(m)] = pi
    return pd.DataFrame(out, index=pd.Index(labels, name=sample.index.name),
                        columns=pd.Index(labels, name=sample.index.name))
