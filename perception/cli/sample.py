"""``perception sample FRAME --size population --n 120 --strata cercle --seed 1 --out sample.csv``:
draw the villages of a wave.

Reads the sampling frame (CSV or XLSX, one row per village), allocates the total
``--n`` across the strata (:func:`perception.allocate`: proportional to the size
column by default, or Neyman, optimal with costs, or by a detectable effect), draws the
villages of each stratum with probability proportional to size
(:func:`perception.select_pps`: systematic or Sampford, certainty villages first, a
reserve list), writes the drawn rows with their inclusion probabilities, and prints the
allocation and the draw per stratum. ``--joint`` writes Sampford's joint inclusion
probabilities of every village drawn, sample and reserve (R's ``ppsmat`` takes the rows
and columns of the villages surveyed).

The written file has the frame's columns plus ``frame_row`` (the village's position
among the frame's data rows, from 1), ``pi`` (probability of being surveyed; weights
are ``1 / pi``), ``pi_draw``, ``certainty`` and ``reserve`` (``TRUE``/``FALSE``, read as
logical by R's ``read.csv`` and pandas) and ``reserve_order``.

Exit codes: 0 written; 2 the frame cannot be read, an option is invalid, the allocation
or the draw is impossible, or the output exists (use ``--force``).

Examples
--------
>>> from perception.cli import main
>>> main(["sample", "villages.csv", "--size", "population", "--n", "120",
...       "--strata", "cercle", "--seed", "1", "--out", "sample.csv"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from ..errors import SamplingError
from ..sampling.allocation import ALLOCATION_METHODS, allocate
from ..sampling.selection import joint_inclusion, select_pps
from ..waves.files import read_table
from .common import blank_rows_note

#: the column of the output that numbers the frame's rows
ROW_COLUMN = "frame_row"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``sample`` subcommand."""
    parser = subparsers.add_parser(
        "sample",
        help="allocate and draw the villages of a wave (PPS, reserve list)",
        description="Allocate a total number of villages across strata and draw them with "
        "probability proportional to size (systematic or Sampford), certainty villages "
        "first, with a reserve list per stratum. Writes the drawn villages with their "
        "inclusion probabilities and prints the allocation.",
    )
    parser.add_argument("frame", metavar="FRAME",
                        help="sampling frame: .csv or .xlsx, one row per village")
    parser.add_argument("--size", required=True, metavar="COL",
                        help="column of the villages' sizes (population, households)")
    parser.add_argument("--n", type=int, metavar="N",
                        help="villages to survey in all strata (allocated across strata)")
    parser.add_argument("--strata", nargs="+", metavar="COL",
                        help="stratum column(s); default: one stratum")
    parser.add_argument("--allocation", choices=ALLOCATION_METHODS, default="proportional",
                        help="how --n is shared across strata (default proportional)")
    parser.add_argument("--allocate-by", choices=("size", "units"), default="size",
                        help="N_h of the allocation: the stratum's total --size (default) "
                        "or its number of villages")
    parser.add_argument("--sd", metavar="COL|X",
                        help="neyman/optimal: column holding each stratum's standard "
                        "deviation, or one number; mde: the item's sd (instead of --p)")
    parser.add_argument("--cost", metavar="COL|X",
                        help="optimal: column holding the cost of one village in each "
                        "stratum, or one number")
    parser.add_argument("--budget", type=float, metavar="X",
                        help="optimal: total cost instead of --n")
    parser.add_argument("--minimum", type=int, default=2, metavar="K",
                        help="villages per stratum at least (default 2)")
    parser.add_argument("--effect", type=float, metavar="X",
                        help="mde: the difference-in-differences (or change) to detect, "
                        "e.g. 0.10")
    parser.add_argument("--icc", type=float, metavar="X", help="mde: intra-village correlation")
    parser.add_argument("--p", type=float, metavar="X", help="mde: proportion of the item")
    parser.add_argument("--deff-weighting", type=float, default=None, metavar="X",
                        help="mde: design effect of the weights, 1 + CV^2 (default 1)")
    parser.add_argument("--cluster-size", type=float, metavar="M",
                        help="mde: interviews per village")
    parser.add_argument("--design", choices=("did", "change"), default="did",
                        help="mde: plan a difference-in-differences (default) or a change")
    parser.add_argument("--arm", metavar="COL",
                        help="mde with --design did: the treatment arm column")
    parser.add_argument("--method", choices=("systematic", "sampford"), default="systematic",
                        help="selection within strata (default systematic)")
    parser.add_argument("--reserve", type=int, default=0, metavar="R",
                        help="reserve villages per stratum (default 0)")
    parser.add_argument("--order", metavar="COL",
                        help="systematic: list villages by this column (e.g. commune)")
    parser.add_argument("--seed", type=int, required=True, metavar="SEED",
                        help="seed of the draw (the same seed gives the same sample)")
    parser.add_argument("--sheet", metavar="SHEET", help="XLSX sheet (default the first)")
    parser.add_argument("-o", "--out", required=True, metavar="FILE.csv",
                        help="the drawn villages (CSV)")
    parser.add_argument("--joint", metavar="FILE.csv",
                        help="write the joint inclusion probabilities of the villages "
                        "drawn (Sampford only; R's ppsmat)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.set_defaults(run=run)
    return parser


def _column_or_number(value: str | None, frame: pd.DataFrame, option: str):
    """A number given on the command line, else a column of the frame."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        if value not in frame.columns:
            raise SamplingError(f"{option} {value!r}: neither a number nor a column of the "
                              "frame") from None
        return value
    if not math.isfinite(number):
        raise SamplingError(f"{option} must be finite, got {value}")
    return number


def _allocation(frame: pd.DataFrame, args: argparse.Namespace):
    if not args.strata:
        used = [o for o, v in (("--allocation", args.allocation != "proportional"),
                               ("--budget", args.budget is not None),
                               ("--effect", args.effect is not None)) if v]
        if used:
            raise SamplingError(f"{', '.join(used)} allocate across strata: give --strata")
        if args.n is None:
            raise SamplingError("give --n, the number of villages to draw")
        return None
    mde = args.allocation == "mde"
    sd = _column_or_number(args.sd, frame, "--sd")
    if mde and isinstance(sd, str):
        raise SamplingError("--sd with --allocation mde is the item's standard deviation: "
                          "one number")
    kwargs = dict(
        strata=args.strata, method=args.allocation,
        size=args.size if args.allocate_by == "size" else None,
        sd=sd, cost=_column_or_number(args.cost, frame, "--cost"), budget=args.budget,
        minimum=args.minimum,
    )
    if mde:
        kwargs.update(effect=args.effect, icc=args.icc, p=args.p,
                      deff_weighting=1.0 if args.deff_weighting is None else args.deff_weighting,
                      cluster_size=args.cluster_size, design=args.design, arm=args.arm)
        missing = [o for o, v in (("--effect", args.effect), ("--icc", args.icc),
                                  ("--cluster-size", args.cluster_size)) if v is None]
        if args.p is None and sd is None:
            missing.append("--p (or --sd)")
        if missing:
            raise SamplingError(f"--allocation mde needs {', '.join(missing)}")
    else:
        extra = [o for o, v in (("--effect", args.effect), ("--icc", args.icc),
                                ("--p", args.p), ("--deff-weighting", args.deff_weighting),
                                ("--cluster-size", args.cluster_size), ("--arm", args.arm))
                 if v is not None]
        if extra:
            raise SamplingError(f"{', '.join(extra)} apply to --allocation mde")
    if args.n is not None:
        kwargs["n"] = args.n
    return allocate(frame, **kwargs)


def _check_outputs(args: argparse.Namespace) -> None:
    paths = [Path(args.out)] + ([Path(args.joint)] if args.joint else [])
    for path in paths:
        if path.exists() and not args.force:
            raise SamplingError(f"{path} exists; a drawn sample is a record: choose another "
                              "name or add --force to overwrite it")
    if args.joint and Path(args.joint).resolve() == Path(args.out).resolve():
        raise SamplingError("--joint and --out name the same file")
    if args.joint and args.method != "sampford":
        raise SamplingError("--joint needs --method sampford: systematic PPS has no exact "
                          "joint inclusion probabilities")


def run(args: argparse.Namespace) -> int:
    """Allocate, draw, write and print; return 0."""
    _check_outputs(args)
    # a frame is no Kobo export: every column is kept, none set aside as paradata
    frame, _ = read_table(args.frame, sheet=args.sheet, kobo=False)
    blank_rows_note("sample", args.frame, frame)
    if ROW_COLUMN in frame.columns:
        raise SamplingError(f"the frame already has a column {ROW_COLUMN!r}, which the output "
                          "adds; rename it")
    allocation = _allocation(frame, args)
    n = allocation if allocation is not None else args.n
    sample = select_pps(frame, args.size, n=n, strata=args.strata, method=args.method,
                        seed=args.seed, reserve=args.reserve, order=args.order)
    out = sample.copy()
    out.insert(0, ROW_COLUMN, sample.index.to_numpy() + 1)
    for flag in ("certainty", "reserve"):  # TRUE/FALSE: read as logical by R and pandas
        out[flag] = out[flag].map({True: "TRUE", False: "FALSE"})
    out.to_csv(args.out, index=False)
    if args.joint:
        pij = joint_inclusion(sample, reserve=True)
        labels = [int(i) + 1 for i in pij.index]
        table = pd.DataFrame(pij.to_numpy(), columns=[str(v) for v in labels])
        table.insert(0, ROW_COLUMN, labels)
        table.to_csv(args.joint, index=False)
    _print_summary(args, allocation, sample)
    return 0


def _print_summary(args: argparse.Namespace, allocation, sample: pd.DataFrame) -> None:
    pd.set_option("display.width", 160)
    record = sample.attrs["selection"]
    print(f"frame: {args.frame}; size column {args.size!r}; seed {args.seed}")
    if allocation is not None:
        print(f"\nallocation ({allocation.method}; whole numbers by {allocation.rounding}):")
        shown = allocation.table.drop(columns=["fraction"], errors="ignore")
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        if allocation.plan is not None:
            row = allocation.plan.iloc[0]
            print(f"\nplan: {int(row['n_clusters'])} villages per "
                  f"{'arm' if row['design'] == 'did' else 'wave'} to detect "
                  f"{row['effect']:g}; allocated {int(row['n_clusters_allocated'])}, "
                  f"detectable effect {row['mde_allocated']:.4f}")
        for note in allocation.notes:
            print(f"note: {note}")
    print(f"\ndraw ({args.method}, reserve {args.reserve} per stratum):")
    print(record.summary().to_string(index=False))
    if (record.summary()["phase1_certain"] > 0).any():
        print("note: some reserve draws had units certain at the first phase; their pi is "
              "below their PPS value (pi stays exact; see docs/sampling.md)")
    n_reserve = int(sample["reserve"].sum())
    print(f"\nwrote {args.out}: {len(sample) - n_reserve} villages to survey, {n_reserve} "
          f"in reserve")
    if args.joint:
        print(f"wrote {args.joint}: joint inclusion probabilities of the {len(sample)} "
              "villages drawn (keep the rows and columns of those surveyed)")
