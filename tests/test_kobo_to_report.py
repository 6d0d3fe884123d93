"""The page "From a Kobo export to a report" (docs/kobo_to_report.md): every command of
its ``bash`` blocks runs, in order, from an empty folder, and exits 0; what it says the
commands write is there."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

import perception as pc
from perception.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "kobo_to_report.md"


def commands() -> list[list[str]]:
    from test_docs import code_blocks

    lines = [line.strip() for block in code_blocks(PAGE.read_text(encoding="utf-8"), "bash")
             for line in block.splitlines() if line.strip()]
    assert all(line.startswith("perception ") for line in lines), lines
    return [shlex.split(line)[1:] for line in lines]


def test_the_page_runs(tmp_path, monkeypatch, capsys, demo_factory):
    for relative in ("questionnaires/centre_mali_trust.yaml", "docs/examples/analysis_plan.yaml"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pc, "demo_survey", demo_factory)
    argv_list = commands()
    assert len(argv_list) >= 8
    for argv in argv_list:
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"perception {shlex.join(argv)} exited {code}: {err}"
    for path in ("baseline_report/report.html", "baseline_report/report.docx",
                 "baseline_report/tables.xlsx", "endline_report/report.pdf",
                 "analysis/analysis.xlsx", "did.xlsx"):
        assert (tmp_path / path).stat().st_size > 1000, path


@pytest.fixture(scope="module")
def waves_file(tmp_path_factory, demo_factory):
    path = tmp_path_factory.mktemp("plan") / "waves.csv"
    demo_factory(seed=2, n_per_wave=400).waves.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def test_a_twenty_row_plan_gives_one_labelled_workbook(waves_file, tmp_path, capsys):
    plan = ROOT / "docs" / "examples" / "analysis_plan.yaml"
    code = main(["analyse", str(plan), "-q", str(ROOT / "questionnaires" /
                                                  "centre_mali_trust.yaml"),
                 "--data", str(waves_file), "--out", str(tmp_path), "--lang", "en"])
    _, err = capsys.readouterr()
    assert code == 0, err
    from openpyxl import load_workbook

    book = load_workbook(tmp_path / "analysis.xlsx")
    assert len(book.sheetnames) == 20
    first = book[book.sheetnames[0]]
    assert first["A1"].value == 'The National Police: "Somewhat" or "A lot"'
    header = [c.value for c in first[3] if c.value]
    assert header == ["Survey wave", "%", "95% CI", "n", "Weighted N", "Reliability"]
    import pandas as pd

    csv = pd.read_csv(tmp_path / "analysis.csv")
    assert csv["table"].nunique() == 20 and "reliability" in csv.columns


def test_a_bad_plan_row_is_named_by_its_number_before_anything_runs(waves_file, tmp_path,
                                                                     capsys):
    plan = tmp_path / "plan.xlsx"
    import pandas as pd

    pd.DataFrame({"variable": ["trust_police", "trust_polise", "age"],
                  "statistic": ["top_box", "mean", "median"],
                  "top": ["2,3", None, None]}).to_excel(plan, index=False)
    out = tmp_path / "out"
    code = main(["analyse", str(plan), "-q", str(ROOT / "questionnaires" /
                                                  "centre_mali_trust.yaml"),
                 "--data", str(waves_file), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and "nothing was run" in err
    assert "row 3: unknown variable 'trust_polise' (did you mean 'trust_police'?)" in err
    assert "row 4: unknown statistic 'median'" in err
    assert not (out / "analysis.xlsx").exists()
