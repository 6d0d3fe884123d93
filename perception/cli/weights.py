"""``perception weights WAVE --questionnaire Q --margins M --out OUT``: weight a wave.

Reads the wave, rakes (or calibrates) its weights to the population margins of a
``perception-margins/1`` YAML file (docs/weighting.md), optionally trims them, and
writes the file back with one new weight column (all rows and columns kept). Prints the
weight diagnostics before and after, and how closely each margin is met.

When the wave holds several survey waves (the questionnaire's ``wave`` column), each
wave is weighted to the margins separately: each wave is a sample of the whole
population.

Exit codes: 0 done; 2 a file cannot be read or the weighting is impossible (one-line
error on stderr).
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from ..disclosure.suppression import DEFAULT_MIN_CELL, suppress_small_cells
from ..errors import WeightingError
from ..questionnaire.loading import load_questionnaire
from ..survey.design import SurveyDesign
from ..survey.margins import level_key
from ..survey.weighting import (
    DIAGNOSTIC_COLUMNS,
    calibrate,
    rake,
    read_margins,
    trim_weights,
    weight_diagnostics,
)
from ..waves.files import read_table
from ..waves.reading import read_wave
from .common import blank_rows_note

DEFAULT_NAMES = {"rake": "w_raked", "linear": "w_calibrated", "logit": "w_calibrated"}
SOURCE_WIDTH = 400  # characters of the margins' source printed


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``weights`` subcommand."""
    parser = subparsers.add_parser(
        "weights",
        help="rake or calibrate a wave's weights to population margins",
        description="Rake (or calibrate) the weights of a wave file to population margins "
        "(YAML, format perception-margins/1; see docs/weighting.md) and write the file with "
        "a new weight column. Prints weight diagnostics before and after.",
    )
    parser.add_argument("wave", metavar="WAVE", help="wave file: .csv, .xlsx, .sav or .dta")
    parser.add_argument("-q", "--questionnaire", required=True, metavar="Q",
                        help="questionnaire file (.yaml)")
    parser.add_argument("--margins", required=True, metavar="MARGINS",
                        help="population margins file (.yaml, perception-margins/1)")
    parser.add_argument("--out", required=True, metavar="OUT",
                        help="output CSV: the wave with the new weight column")
    parser.add_argument("--weights", metavar="COL",
                        help="starting weights (default: the questionnaire's weight column; "
                        "equal weights if there is none)")
    parser.add_argument("--strata", metavar="COL",
                        help="strata column, for the diagnostics (default: the "
                        "questionnaire's stratum column)")
    parser.add_argument("--psu", metavar="COL",
                        help="PSU column (default: the questionnaire's psu column)")
    parser.add_argument("--method", choices=("rake", "linear", "logit"), default="rake",
                        help="rake: iterative proportional fitting (default); linear: GREG "
                        "calibration; logit: bounded calibration (needs --bounds)")
    parser.add_argument("--bounds", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="bounds on the adjustment factors (new over old weight) for "
                        "linear/logit calibration")
    parser.add_argument("--trim-upper", type=float, metavar="X",
                        help="cap the new weights at X, sharing the excess (strict trimming)")
    parser.add_argument("--trim-lower", type=float, metavar="X",
                        help="raise new weights below X to X (strict trimming)")
    parser.add_argument("--weight-name", metavar="NAME",
                        help="name of the new column (default w_raked, or w_calibrated)")
    parser.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL, metavar="N",
                        help="strata with fewer rows have their diagnostics suppressed "
                        f"(default {DEFAULT_MIN_CELL})")
    parser.set_defaults(run=run)
    return parser


def _read(path: str, questionnaire) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The validated wave (``pc.read_wave``), the file as it will be written out (the
    table as read, without the questionnaire's pii columns) and the pii columns dropped."""
    if Path(path).is_dir():  # refused before a pass over the dataset
        raise WeightingError(
            f"{path} is a directory (a Parquet dataset): 'perception weights' writes the "
            "wave back as one file with its weights. Fix: give a wave file (.csv, .xlsx, "
            ".sav, .dta).")
    data = read_wave(path, questionnaire)
    blank_rows_note("weights", path, data)
    raw, _ = read_table(path, questionnaire)
    dropped = [c for c in questionnaire.pii if c in raw.columns]
    raw = raw.drop(columns=dropped)
    if len(raw) != len(data):  # pragma: no cover - read_wave keeps every row
        raise WeightingError(f"{path}: the validated wave and the file differ in rows")
    return data, raw, dropped


def _column(value: str | None, roles: dict, role: str, data: pd.DataFrame, option: str):
    if value is not None:
        if value not in data.columns:
            raise WeightingError(f"{option} {value!r}: the wave has no such column")
        return value
    name = roles.get(role)
    return name if name in data.columns else None


def _weight_one(data: pd.DataFrame, weights, strata, psu, margins, args) -> np.ndarray:
    design = SurveyDesign(data, weights=weights, strata=strata, psu=psu, nest=True)
    if args.method == "rake":
        if margins.totals:
            raise WeightingError(
                f"{args.margins} gives numeric totals ({', '.join(margins.totals)}), which "
                "raking cannot use; use --method linear or logit"
            )
        adjusted = rake(design, margins.margins)
    else:
        bounds = tuple(args.bounds) if args.bounds else None
        adjusted = calibrate(design, margins.population, method=args.method, bounds=bounds)
    if args.trim_upper is not None or args.trim_lower is not None:
        adjusted = trim_weights(adjusted, upper=args.trim_upper, lower=args.trim_lower,
                                strict=True)
    return adjusted.weights.to_numpy()


def _display(values: pd.Series) -> pd.Series:
    """Labels for printing: 11.0 -> "11"."""
    return values.map(level_key, na_action="ignore")


def _diagnostics(data: pd.DataFrame, weights: np.ndarray, by: str | None, min_cell: int
                 ) -> pd.DataFrame:
    frame = pd.DataFrame({"_w_": weights}, index=data.index)
    if by is not None:
        frame[by] = _display(data[by])
    design = SurveyDesign(frame, weights="_w_")
    table = weight_diagnostics(design, by=by)
    shown = suppress_small_cells(table, min_cell=min_cell,
                                 value_columns=tuple(DIAGNOSTIC_COLUMNS[1:]))
    if not shown["suppressed"].any():
        shown = shown.drop(columns="suppressed")
    return shown


def _margin_check(data: pd.DataFrame, weights: np.ndarray, margins, wave_column) -> pd.DataFrame:
    """Largest relative gap between weighted counts and each margin (per wave)."""
    groups = [None] if wave_column is None else sorted(data[wave_column].unique())
    rows = []
    for g in groups:
        in_g = np.ones(len(data), dtype=bool) if g is None else (
            data[wave_column] == g).to_numpy()
        for column, margin in margins.margins.items():
            achieved = pd.Series(weights[in_g]).groupby(
                _display(data.loc[in_g, column]).to_numpy()).sum()
            gaps = [abs(float(achieved.get(level_key(level), 0.0)) - count) / count
                    for level, count in margin.items() if count > 0]
            row = {"margin": column, "max_relative_gap": max(gaps) if gaps else 0.0}
            if wave_column is not None:
                row = {wave_column: level_key(g), **row}
            rows.append(row)
    return pd.DataFrame(rows)


def run(args: argparse.Namespace) -> int:
    """Weight the wave, write the output, print diagnostics; return 0."""
    if args.method == "logit" and not args.bounds:
        raise WeightingError(
            "--method logit needs finite bounds on the adjustment factors: add --bounds "
            "LOW HIGH, e.g. --bounds 0.3 3"
        )
    q = load_questionnaire(args.questionnaire)
    margins = read_margins(args.margins)
    data, raw, dropped = _read(args.wave, q)
    roles = q.roles
    weights = _column(args.weights, roles, "weight", data, "--weights")
    strata = _column(args.strata, roles, "stratum", data, "--strata")
    psu = _column(args.psu, roles, "psu", data, "--psu")
    name = args.weight_name or DEFAULT_NAMES[args.method]
    if name in data.columns:
        raise WeightingError(
            f"the wave already has a column {name!r}; choose another name with --weight-name"
        )
    missing = [c for c in margins.margins if c not in data.columns]
    missing += [c for c in margins.totals if c not in data.columns]
    if missing:
        raise WeightingError(
            f"{args.margins} has margins for column(s) {', '.join(missing)} that the wave "
            f"{args.wave} does not have"
        )
    wave_column = roles.get("wave")
    if wave_column not in data.columns or data[wave_column].nunique(dropna=True) < 2:
        wave_column = None
    before = (data[weights].to_numpy(dtype=float) if weights else np.ones(len(data)))
    after = np.full(len(data), np.nan)
    if wave_column is None:
        after[:] = _weight_one(data, weights, strata, psu, margins, args)
    else:
        if data[wave_column].isna().any():
            rows = data.index[data[wave_column].isna().to_numpy()]
            raise WeightingError(
                f"column {wave_column!r} (wave) is missing in rows {list(rows[:10])}"
            )
        for g in sorted(data[wave_column].unique()):
            rows_g = (data[wave_column] == g).to_numpy()
            part = data.loc[rows_g]
            after[rows_g] = _weight_one(part, weights, strata, psu, margins, args)
    out = raw.copy()
    out[name] = after
    out.to_csv(args.out, index=False)

    by = wave_column or strata
    pd.set_option("display.width", 160)
    print(f"margins: {args.margins} (version {margins.version})")
    # where the numbers come from, cut between words (never inside a file path); the
    # method and caveats that follow are in the margins file
    source = textwrap.shorten(margins.source, width=SOURCE_WIDTH,
                              placeholder=f" ... (the rest in {args.margins})")
    print(textwrap.fill(f"source: {source}", width=100, subsequent_indent="  ",
                        break_long_words=False, break_on_hyphens=False))
    if wave_column is not None:
        print(f"each {wave_column} weighted to the margins separately")
    print(f"\nweights before ({weights or 'equal weights'}):")
    print(_diagnostics(data, before, by, args.min_cell).to_string(index=False))
    print(f"\nweights after ({name}, {args.method}"
          + (", trimmed" if args.trim_upper is not None or args.trim_lower is not None
             else "") + "):")
    print(_diagnostics(data, after, by, args.min_cell).to_string(index=False))
    print("\nmargins met (largest relative gap between weighted count and margin):")
    print(_margin_check(data, after, margins, wave_column).to_string(index=False))
    print(f"\nwrote {args.out}: {len(out)} rows, {out.shape[1]} columns (new column {name!r})")
    if dropped:
        print(f"personal data columns left out (pii in the questionnaire): {', '.join(dropped)}")
    return 0
