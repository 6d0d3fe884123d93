"""``perception figures``: the figure set from the command line, its CSV tables (equal
to the library's estimates, small cells suppressed), the report, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.analysis import scales as indices
from perception.cli import main
from perception.disclosure.suppression import publishable
from perception.outputs import report

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"

#: a small demo keeps these tests fast (the full demo is timed in benchmarks/)
DEMO_N = 1000
#: the CSV tables are written with pandas' full float precision
CSV_RTOL = 1e-12
#: the full figure set of the small demo must take less than this (CPU seconds: the
#: wall clock depends on what else the machine runs)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["figures", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo(demo_factory):
    return demo_factory(seed=1, n_per_wave=DEMO_N)


@pytest.fixture(scope="module")
def full_set(tmp_path_factory, demo_factory):
    """The whole demo figure set (small demo), run once (its speed is measured in
    benchmarks/bench_figures.py, never here). The command's demo is the run's shared one
    for the same arguments, built once."""
    out = tmp_path_factory.mktemp("figures")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pc, "demo_survey", demo_factory)
        code = main(["figures", "--demo", "--demo-n", str(DEMO_N), "--out", str(out),
                     "--no-progress"])
    assert code == 0
    return out


def _design(demo):
    ctx = report.context_from_waves(demo.waves, demo.questionnaire)
    return ctx.design


def _compare(csv: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    """Every cell of the CSV equals the library's, suppressed cells are blank: those of
    fewer than 30 respondents, of answers given by fewer than 10 (a top-box share tells
    both answers' counts) and their complementary cells."""
    merged = csv.merge(expected, on=keys, suffixes=("", "_lib"), validate="one_to_one")
    assert len(merged) == len(expected) == len(csv)
    shown = ~merged["suppressed"].astype(bool)
    assert (merged.loc[shown, "n"] >= 30).all() and not shown[merged["n"] < 30].any()
    if "n_category" in expected.columns:
        counts = merged["n_category_lib"]
        small = np.minimum(counts, merged["n"] - counts)
        assert not shown[(small > 0) & (small < 10)].any()
        assert ((small[shown] == 0) | (small[shown] >= 10)).all()
        protected = publishable(expected.sort_values(keys).reset_index(drop=True))
        assert (merged.sort_values(keys)["suppressed"].to_numpy()
                == protected["suppressed"].to_numpy()).all()
    for column in ["estimate", "se", "ci_low", "ci_high"]:
        if column not in expected.columns:
            continue
        np.testing.assert_allclose(merged.loc[shown, column], merged.loc[shown, column + "_lib"],
                                   rtol=CSV_RTOL)
        assert merged.loc[~shown, column].isna().all()
    assert (merged["n"] == merged["n_lib"]).all()


def test_only_one_figure_quickly(tmp_path, capsys):
    code, _, err = _run(capsys, "--demo", "--demo-n", "300", "--out", str(tmp_path),
                        "--only", "trust_actors", "--format", "png,svg,pdf", "--no-progress")
    assert code == 0, err
    assert (tmp_path / "trust_actors.png").stat().st_size > 10_000
    assert (tmp_path / "trust_actors.svg").exists() and (tmp_path / "trust_actors.pdf").exists()
    assert (tmp_path / "tables" / "trust_actors.csv").exists()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["trust_actors.png"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 1
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def test_trust_csv_equals_the_library(full_set, demo):
    csv = pd.read_csv(full_set / "tables" / "trust_actors.csv")
    expected = indices.top_box(_design(demo), report.DEFAULT_CONFIG["trust_items"],
                               by="wave", questionnaire=demo.questionnaire)
    _compare(csv, expected, ["wave", "variable"])


def test_heatmap_csv_equals_the_library_with_suppression(full_set, demo):
    csv = pd.read_csv(full_set / "tables" / "trust_heatmap.csv")
    design = _design(demo)
    last = design.subset((design.data["wave"] == 1).to_numpy())
    expected = indices.top_box(last, report.DEFAULT_CONFIG["trust_items"], by="cercle",
                               questionnaire=demo.questionnaire)
    _compare(csv, expected, ["cercle", "variable"])


def test_change_and_did_csv_equal_the_library(full_set, demo):
    folder = full_set
    design = _design(demo)
    csv = pd.read_csv(folder / "tables" / "change_domain.csv")
    expected = pc.change(design, "trust_police_high", over="wave", by="cercle", na_rm=True)
    # a change is shown only when both of its waves reach min_cell, whatever its n
    merged = csv.merge(expected, on=["cercle", "variable", "from", "to"], suffixes=("", "_lib"))
    for column in ("n", "n_from", "n_to"):
        assert (merged[column] == merged[f"{column}_lib"]).all(), column
    small = merged[["n_from", "n_to"]].min(axis=1) < 30
    assert (merged["suppressed"].astype(bool) == small).all()
    assert merged.loc[small, "estimate"].isna().all()
    np.testing.assert_allclose(merged.loc[~small, "estimate"],
                               merged.loc[~small, "estimate_lib"], rtol=CSV_RTOL)
    overall = pd.read_csv(folder / "tables" / "change_domain_overall.csv")
    expected = pc.change(design, "trust_police_high", over="wave", na_rm=True)
    np.testing.assert_allclose(overall["estimate"], expected["estimate"], rtol=CSV_RTOL)
    result = pc.did(design, "trust_police_high", na_rm=True)
    cells = pd.read_csv(folder / "tables" / "did_outcome.csv")
    _compare(cells, result.cells, ["treated", "wave", "variable"])
    effects = pd.read_csv(folder / "tables" / "did_outcome_effects.csv")
    np.testing.assert_allclose(effects["estimate"], result.effects["estimate"], rtol=CSV_RTOL)
    np.testing.assert_allclose(effects["se"], result.effects["se"], rtol=CSV_RTOL)
    assert effects["n_min"].iloc[0] == result.cells["n"].min()
    assert effects["n"].iloc[0] == result.cells["n"].sum()  # two waves: all four cells


def test_full_demo_set(full_set):
    folder = full_set
    pngs = sorted(p.stem for p in folder.glob("*.png"))
    assert pngs == sorted(report.FIGURES) and len(pngs) >= 12
    for name in report.FIGURES:
        table = pd.read_csv(folder / "tables" / f"{name}.csv")
        assert "n" in table.columns and "suppressed" in table.columns
        if "estimate" in table.columns:
            hidden = table["suppressed"].astype(bool)
            assert table.loc[hidden, "estimate"].isna().all()
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == len(report.FIGURES)
    pdf = (folder / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")


def test_list_shows_every_figure(capsys):
    code, out, _ = _run(capsys, "--list")
    assert code == 0
    for name in report.FIGURES:
        assert name in out


def test_data_files_and_questionnaire(tmp_path, capsys, demo):
    paths = []
    for wave, name in demo.wave_names.items():
        path = tmp_path / f"{name}.csv"
        demo.waves[demo.waves["wave"] == wave].to_csv(path, index=False,
                                                      date_format="%Y-%m-%d")
        paths.append(str(path))
    config = tmp_path / "config.yaml"
    config.write_text("lang: en\nlabels:\n  en:\n    trust_police: Police (national)\n",
                      encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = _run(capsys, "--data", *paths, "--questionnaire", str(QUESTIONNAIRE),
                        "--out", str(out), "--only", "trust_actors", "--config", str(config),
                        "--no-progress")
    assert code == 0, err
    csv = pd.read_csv(out / "tables" / "trust_actors.csv")
    assert set(csv["wave"]) == {0, 1}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html


def test_unknown_figure_lists_the_valid_ones(tmp_path, capsys):
    code, _, err = _run(capsys, "--demo", "--out", str(tmp_path), "--only", "trust_actor")
    assert code == 2
    assert "unknown figure 'trust_actor'" in err and "Did you mean 'trust_actors'" in err
    for name in report.FIGURES:
        assert name in err
    assert "Traceback" not in err


def test_missing_variable_is_named(demo):
    config = {"trust_items": ["trust_police", "trust_customs"]}
    ctx = report.context_from_waves(demo.waves, demo.questionnaire, config)
    with pytest.raises(pc.PerceptionError,
                       match="figure 'trust_actors' needs the variable 'trust_customs'.*"
                             "leave the figure out"):
        report.build_figure("trust_actors", ctx)
    # the other figures do not need it
    assert report.build_figure("weights", ctx).tables[""]["n"].sum() == len(demo.waves)


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    code, _, err = _run(capsys, "--demo", "--out", str(blocker / "figures"))
    assert code == 2
    assert "cannot write to the output folder" in err and "--out" in err


def test_other_usage_errors(tmp_path, capsys):
    code, _, err = _run(capsys, "--data", str(tmp_path / "x.csv"), "--out", str(tmp_path))
    assert code == 2 and "--questionnaire" in err
    code, _, err = _run(capsys, "--demo", "--out", str(tmp_path), "--format", "png,gif")
    assert code == 2 and "'gif'" in err
    config = tmp_path / "c.yaml"
    config.write_text("figurs: [weights]\n", encoding="utf-8")
    code, _, err = _run(capsys, "--demo", "--out", str(tmp_path), "--config", str(config))
    assert code == 2 and "unknown key 'figurs'" in err and "Did you mean 'figures'" in err


# ---------------------------------------------------------------- the report --
def _pdf_pages(pdf: bytes) -> list[bytes]:
    import re

    return re.findall(rb"/MediaBox \[\s*([\d. ]+)\]", pdf)


def test_report_explains_itself(full_set):
    html = (full_set / "report.html").read_text(encoding="utf-8")
    # self-contained: no link or source outside the page
    import re

    assert not re.findall(r'(?:href|src)="(?!#|data:)', html)
    assert "<table" in html and ("Méthodes" in html or "Methods" in html)
    assert "Situation de référence" in html and "Fin de projet" in html
    assert "Fiabilité" in html and "IC à 95" in html
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert "tables/" not in text and "colonne « suppressed »" not in text
    pdf = (full_set / "report.pdf").read_bytes()
    pages = _pdf_pages(pdf)
    assert len(pages) > len(report.FIGURES) and len(set(pages)) == 1  # one page size (A4)
    for number in (2, len(pages)):
        assert f"(page {number})".encode() in pdf
    from openpyxl import load_workbook

    book = load_workbook(full_set / "tables.xlsx")
    readable = [f"{s.name}" if not p else f"{s.name}_{p}" for s in report.FIGURES.values()
                for p in s.statistics]
    assert sorted(book.sheetnames) == sorted(readable)
    import docx

    document = docx.Document(str(full_set / "report.docx"))
    assert len(document.inline_shapes) == len(report.FIGURES)
    # the methods' sample table, then every table of every figure, as Word tables
    assert len(document.tables) == 1 + len(readable)
    words = [c.text for c in document.tables[1].rows[0].cells]
    assert "Fiabilité" in words


def test_one_wave_gives_the_baseline_report(tmp_path, capsys, demo):
    path = tmp_path / "baseline.csv"
    demo.waves[demo.waves["wave"] == 0].to_csv(path, index=False, date_format="%Y-%m-%d")
    out = tmp_path / "f"
    code, _, err = _run(capsys, "--data", str(path), "-q", str(QUESTIONNAIRE), "--out",
                        str(out), "--lang", "en")
    assert code == 0, err
    for name in ("change_domain", "did_outcome", "did_items", "did_subgroups"):
        assert f"figure {name} not drawn: it needs 2 waves" in err
        assert not (out / f"{name}.png").exists()
    assert (out / "trust_subgroups.png").exists() and (out / "report.docx").exists()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Baseline" in html and "The survey has 1 wave" in html
    assert err.count("trust_police: ") <= 1  # each message once
    assert "\r" not in err  # no progress bar outside a terminal


def test_no_footer_reveals_a_suppressed_size(demo):
    ctx = report.context_from_waves(demo.waves, demo.questionnaire, min_cell=66)
    from perception.outputs.figures.common import source_note_of

    item = report.build_figure("trust_heatmap", ctx)
    table = item.tables[""]
    hidden = table.loc[table["suppressed"], "n"].astype(int)
    assert len(hidden)
    footer = source_note_of(item.figure)
    shown = table.loc[~table["suppressed"], "n"]
    assert f"{int(shown.min())}" in footer.replace("\u202f", "")
    for n in set(hidden) - set(shown.astype(int)):
        assert str(n) not in footer.replace("\u202f", "")
    texts = [t.get_text() for t in item.figure.axes[0].texts if t.get_gid() == "n"]
    for n in set(hidden) - set(shown.astype(int)):
        assert all(str(n) not in t.replace("\u202f", "") for t in texts)
    assert all("reliability" in t.data.columns for t in item.readable)
