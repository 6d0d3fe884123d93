"""No output shows a small cell: the demo figure set and its report, and the command
line's tables, checked against the library's unsuppressed tables.

For every published table: no estimate on fewer than 30 respondents, no answer given by
1 to 9 respondents (a zero reveals nobody), nothing of a hidden cell shown (values, its
answer count), and no hidden cell recomputable from the published ones: the answers of a
group sum to 1 (their counts to ``n``), so a group never has a single hidden answer; the
same answer across the domains of a ``by`` column adds up to its margin, so a hidden
small answer never stands alone on such a line. Figure footers give only sizes of at
least 30.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.cli import main
from perception.outputs import report
from perception.outputs.figures.common import source_note_of
from perception.outputs.report.specs import FIGURES
from perception.tables import CELL_COUNT_COLUMNS, smallest_count

ROOT = Path(__file__).resolve().parents[1]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
MIN_CELL, MIN_COUNT = 30, 10
VALUES = ["estimate", "se", "ci_low", "ci_high"]
#: columns of a published table that do not tell its cells apart
NOT_KEYS = {*VALUES, "df", "deff", "n", "p", "n_category", "count", "suppressed",
            "suppression", "reliability", "n_weighted", "missing_code", "cv", "flag",
            "n_excluded", "excluded",
            *CELL_COUNT_COLUMNS}


def _answer_counts(table: pd.DataFrame) -> np.ndarray | None:
    """The respondents of the smallest answer a row tells: its ``n_category`` (with
    ``n - n_category`` when the table keeps one answer of two), or the ``count`` of a
    reason of item nonresponse; None for tables of no answers."""
    if "n_category" in table.columns:
        count = pd.to_numeric(table["n_category"], errors="coerce").to_numpy(dtype=float)
        if "category" not in table.columns or "n_excluded" in table.columns:
            count = np.minimum(count, table["n"].to_numpy(dtype=float) - count)
        return count
    if {"category", "count"} <= set(table.columns):
        return table["count"].to_numpy(dtype=float)
    return None


def _keys(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The ``by`` columns and every key column (by, variable, category ...)."""
    keys = [c for c in table.columns if c not in NOT_KEYS and not str(c).endswith("_label")]
    by = keys[: keys.index("variable")] if "variable" in keys else []
    return by, keys


def _lines(table: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    if not columns:
        return [np.arange(len(table))]
    return [np.asarray(i) for i in
            table.groupby(columns, sort=False, dropna=False).indices.values()]


def assert_protected(published: pd.DataFrame, raw: pd.DataFrame, where: str) -> None:
    """``published`` (an output table) hides what it must of ``raw`` (the library's
    table of the same cells, in the same order)."""
    assert len(published) == len(raw), where
    assert "suppressed" in published.columns, where
    hidden = published["suppressed"].astype(bool).to_numpy()
    sizes = smallest_count(raw).to_numpy(dtype=float)
    assert hidden[~(sizes >= MIN_CELL)].all(), f"{where}: a group under {MIN_CELL} shown"
    values = [c for c in VALUES if c in published.columns]
    assert published.loc[hidden, values].isna().all().all(), f"{where}: a hidden value shown"
    counts = _answer_counts(raw)
    if counts is None:
        return
    secret = (counts > 0) & (counts < MIN_COUNT)
    assert hidden[secret].all(), f"{where}: an answer of fewer than {MIN_COUNT} shown"
    for column in ("n_category", "count"):
        if column in published.columns and column in raw.columns:
            assert published.loc[hidden, column].isna().all(), f"{where}: a hidden count shown"
            # (no count: a row of no answer, a list experiment beside its direct question)
            shown = published.loc[~hidden, column].astype(float).dropna()
            assert ((shown == 0) | (shown >= MIN_COUNT)).all(), where
    by, keys = _keys(raw)
    # the answers of a group (not the options of a select-multiple question, each a share
    # of its own): never one hidden alone
    if "category" in raw.columns and "n_excluded" not in raw.columns:
        for idx in _lines(raw, [*by, "variable"]):
            assert hidden[idx].sum() != 1 or len(idx) == 1, (
                f"{where}: one hidden answer in {raw.iloc[idx[0]][[*by, 'variable']].to_dict()}")
    for b in by:  # the same answer across the domains of b adds up to a margin
        for idx in _lines(raw, [c for c in keys if c != b]):
            if len(idx) > 1 and hidden[idx].sum() == 1:
                assert not secret[idx][hidden[idx]].any(), (
                    f"{where}: a small answer alone on the margin of {b}")


# ------------------------------------------------------------------ figure set --
@pytest.fixture(scope="module")
def figure_set(tmp_path_factory, demo_factory):
    """The demo figure set and its report (small demo), with the library's tables."""
    demo = demo_factory(seed=1, n_per_wave=1000)
    ctx = report.context_from_waves(demo.waves, demo.questionnaire)
    out = tmp_path_factory.mktemp("figure_set")
    files = report.write_report(ctx, out, formats=("png",), date="2026-01-01")
    raw = {name: FIGURES[name].tables(ctx) for name in files.figures}
    return ctx, files, raw, out


def test_the_figure_set_tables_hide_every_small_cell(figure_set):
    ctx, files, raw, out = figure_set
    checked = answers = 0
    for name, tables in raw.items():
        for part, table in tables.items():
            if "n" not in table.columns:  # diagnostics: no respondents' answers
                continue
            stem = name if not part else f"{name}_{part}"
            published = pd.read_csv(out / "tables" / f"{stem}.csv")
            assert_protected(published, table.reset_index(drop=True), stem)
            checked += 1
            answers += _answer_counts(table) is not None
    assert checked >= 15 and answers >= 8
    # the demo has small answers, and they are hidden
    heatmap = pd.read_csv(out / "tables" / "trust_heatmap.csv")
    assert heatmap["suppression"].str.startswith("count").any()


def test_the_figures_and_the_report_show_no_hidden_cell(figure_set):
    ctx, files, raw, out = figure_set
    for name in files.figures:
        item = report.build_figure(name, ctx)
        footer = source_note_of(item.figure).replace("\u202f", "").replace("\u00a0", "")
        for low in re.findall(r"n = ([\d ]+)", footer):
            assert int(low.replace(" ", "")) >= MIN_CELL, (name, footer)
        for t in item.readable:
            hidden = t.data["suppressed"].astype(bool).to_numpy()
            assert t.cells.loc[hidden, "estimate"].isna().all(), t.name
            if "estimate" in t.text.columns:
                assert (t.text.loc[hidden, "estimate"] == "masqué").all(), t.name
            if "n_category" in t.data.columns:
                assert t.data.loc[hidden, "n_category"].isna().all(), t.name
    html = files.html.read_text(encoding="utf-8")
    assert "masqué" in html and "moins de 10 enquêtés" in html


# ------------------------------------------------------------------ command line --
def _design(path: Path, variables: list[str]) -> pc.SurveyDesign:
    q = pc.load_questionnaire(QUESTIONNAIRE)
    data = pc.read_wave(path, q)
    recoded, _ = pc.recode_missing(data[variables], q)
    return pc.SurveyDesign(data.assign(**{v: recoded[v] for v in variables}),
                           weights="w_final", strata="stratum", psu="psu_id")


def test_estimate_hides_small_answers(wave_file, tmp_path, capsys):
    out = tmp_path / "estimates.csv"
    code = main(["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "trust_police",
                 "--var", "abuse_hh", "--stat", "proportion", "--by", "cercle", "--by", "wave",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    published = pd.read_csv(out)
    design = _design(wave_file, ["trust_police", "abuse_hh"])
    raw = pd.concat([pc.proportion(design, v, by=["cercle", "wave"], na_rm=True)
                     for v in ("trust_police", "abuse_hh")], ignore_index=True)
    assert_protected(published, raw, "estimate")
    assert published["suppression"].str.startswith("count").any()
    assert "answer given by fewer than 10" in err


def test_crosstab_hides_small_answers(wave_file, tmp_path, capsys):
    out = tmp_path / "table.csv"
    code = main(["table", str(wave_file), "-q", str(QUESTIONNAIRE), "--row", "cercle",
                 "--col", "trust_police", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    published = pd.read_csv(out)
    raw = pc.proportion(_design(wave_file, ["trust_police"]), "trust_police", by="cercle",
                        na_rm=True)
    assert_protected(published, raw, "table")


def test_a_lower_min_count_shows_more(wave_file, capsys):
    args = ["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "trust_police",
            "--stat", "proportion", "--by", "cercle", "--format", "csv"]
    assert main(args) == 0
    strict = capsys.readouterr().out
    assert main([*args, "--min-count", "1"]) == 0
    loose = capsys.readouterr().out
    assert strict.count("True") > loose.count("True")
    assert main([*args, "--min-count", "0"]) == 2
    assert "--min-count must be at least 1" in capsys.readouterr().err
