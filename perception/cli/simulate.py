"""``perception simulate``: write the built-in Central Mali example to a folder.

Writes one CSV per wave (``baseline.csv``, [``midline.csv``], ``endline.csv``), all waves
stacked (``waves.csv``), the population's true values (``truth.csv``) and a
``README.txt`` describing the files.

Examples
--------
>>> from perception.cli import main
>>> main(["simulate", "--out", "demo_output/waves", "--seed", "2"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from pathlib import Path

_README = """\
Central Mali example survey (simulated) -- perception {version}

Made by: perception simulate --seed {seed} --n-per-wave {n_per_wave} --waves {waves}{panel_flag}
Everything here is synthetic: no real person, village or answer. The same seed always
gives the same files.

Files
-----
{wave_files}
waves.csv     all waves stacked (column `wave`: {wave_codes}).
truth.csv     the true values of the simulated population (see below).
README.txt    this file.

The waves
---------
Variables, codes and missing-value codes follow the questionnaire
questionnaires/centre_mali_trust.yaml (perception.questionnaire_path()); validate with
`perception validate`. Skipped questions are empty cells; 8 = refused, 9 = don't know
(97/98/99 and 998/999 for multi-digit items); ca_type holds space-separated codes.
Columns beyond the questionnaire: hh_id, n_elig_adults (adults in the household, for the
Kish selection), w_base (inverse selection probability, expanded to census adults),
w_nr (after nonresponse adjustment within cercle x sex x age band 18-24/25-54/55+) -- w_final is w_nr
post-stratified to the 2009 census adults by cercle x sex.
resp_name, phone, gps_lat and gps_lon are fictitious personal data (pii in the
questionnaire), present so that their removal can be tested.

Design: strata `stratum` = cercle x treated (30); villages (`psu_id`) drawn with
probability proportional to households, revisited at every wave; {hh_per_village} households
per village and wave; one adult by Kish selection;
{panel_text}.
In R: svydesign(ids = ~psu_id, strata = ~stratum, weights = ~w_final, data = waves).

The truth (truth.csv)
---------------------
Columns: quantity, variable, wave, group, value -- computed exactly on the finite
population ({population:,} census adults; one simulated adult per {scale}).
  share     share of positive answers among substantive ones (trust_*: 2-3 of 0-3;
            safe_night: 1-2 of 1-5; would_report: 3-4 of 1-4)
  mean      mean of the 0-3 trust scale among substantive answers
  dk        share answering 9 (don't know) among all adults
  change    share at `wave` minus share at baseline
  did       change in treated communes minus change in comparison communes
  att       share in treated communes minus their share without the programme
  icc       intra-village correlation of the positive indicator within strata (baseline)
  n_adults  adults in the group
group: all, treated=1, treated=0, cercle=<code>, or treated=1 - treated=0 (did).
Configured: effect {effect:+.3f} (trust_police at the endline), trend {trend:+.3f}, icc {icc:.2f}.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``perception simulate``."""
    parser = subparsers.add_parser(
        "simulate",
        help="write the simulated Central Mali example (waves and population truth)",
        description="Simulate the Central Mali trust survey (population of Mopti and Ségou, "
        "stratified PPS sample of villages revisited at each wave) and write one CSV per "
        "wave, all waves stacked, the population's true values and a README.",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder to write to (created if needed)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--n-per-wave", type=int, default=4000, metavar="N",
                        help="target respondents per wave (default 4000)")
    parser.add_argument("--waves", type=int, choices=(2, 3), default=2,
                        help="2: baseline and endline; 3: with a midline (default 2)")
    parser.add_argument("--panel", action="store_true",
                        help="re-interview the baseline respondents (with attrition)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Simulate and write the files; print what was written."""
    from .. import __version__
    from ..demo.simulator import demo_survey

    demo = demo_survey(args.seed, n_per_wave=args.n_per_wave, waves=args.waves, panel=args.panel)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, str]] = []
    waves = demo.waves
    for code, name in demo.wave_names.items():
        part = waves[waves["wave"] == code]
        path = out / f"{name}.csv"
        part.to_csv(path, index=False, date_format="%Y-%m-%d")
        written.append((path, f"{len(part):,} respondents"))
    path = out / "waves.csv"
    waves.to_csv(path, index=False, date_format="%Y-%m-%d")
    written.append((path, f"{len(waves):,} rows, {waves.shape[1]} columns"))
    path = out / "truth.csv"
    demo.truth.to_csv(path, index=False)
    written.append((path, f"{len(demo.truth):,} true values"))
    p = demo.params
    pop = demo.truth.query("quantity == 'n_adults' and group == 'all' and wave == 0")["value"]
    text = _README.format(
        version=__version__, seed=p["seed"], n_per_wave=p["n_per_wave"], waves=p["waves"],
        panel_flag=" --panel" if p["panel"] else "",
        wave_files="\n".join(f"{name + '.csv':<13} wave {code} ({name}), one row per respondent."
                             for code, name in demo.wave_names.items()),
        wave_codes=", ".join(f"{code} {name}" for code, name in demo.wave_names.items()),
        hh_per_village=p["hh_per_village"],
        panel_text="the baseline respondents are re-interviewed (panel, with attrition)"
        if p["panel"] else "new households at each wave (repeated cross-sections)",
        population=int(pop.iloc[0]), scale=p["scale"], effect=p["effect"], trend=p["trend"],
        icc=p["icc"],
    )
    path = out / "README.txt"
    path.write_text(text, encoding="utf-8")
    written.append((path, "description of the files"))
    print(f"perception simulate: wrote {len(written)} files to {out}")
    for path, what in written:
        print(f"  {path.name:<13} {what}")
    return 0
