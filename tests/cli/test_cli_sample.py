"""``perception sample``: allocate and draw a wave's villages from a frame file; and the
demo's village frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.cli import main
from perception.sampling.demo_frame import DEMO_FRAME_COLUMNS


@pytest.fixture(scope="module")
def demo():
    return pc.demo_survey(seed=1, n_per_wave=1500)


@pytest.fixture(scope="module")
def frame(demo) -> pd.DataFrame:
    return pc.demo_village_frame(demo)


@pytest.fixture(scope="module")
def frame_csv(frame, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("frame") / "villages.csv"
    frame.to_csv(path, index=False)
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_demo_village_frame_adds_up_to_the_population(demo, frame):
    assert list(frame.columns) == DEMO_FRAME_COLUMNS
    pop = demo.population
    assert len(frame) == pop["village"].nunique()
    assert frame["adults"].sum() == len(pop) * demo.params["scale"]
    assert frame["households"].sum() == pop["household"].nunique()
    assert frame["cercle"].nunique() == 15 and frame["stratum"].nunique() == 30
    # the waves' strata are strata of the frame
    assert set(demo.waves["stratum"]) <= set(frame["stratum"])
    assert (frame.groupby("stratum")["treated"].nunique() == 1).all()
    assert frame.loc[frame["cercle"] == 11, "cercle_name"].eq("Mopti").all()


def test_draws_and_writes_the_sample(frame_csv, frame, tmp_path, capsys):
    out = tmp_path / "sample.csv"
    before = frame_csv.read_bytes()
    code, stdout, stderr = run(capsys, "sample", frame_csv, "--size", "adults", "--n", 60,
                               "--strata", "cercle", "--method", "sampford", "--reserve", 2,
                               "--seed", 1, "--out", out)
    assert code == 0, stderr
    assert frame_csv.read_bytes() == before
    sample = pd.read_csv(out)
    assert list(sample.columns) == ["frame_row", *frame.columns, "pi", "pi_draw", "certainty",
                                    "reserve", "reserve_order"]
    assert (~sample["reserve"]).sum() == 60
    assert sample["reserve"].sum() == 2 * 15
    # the same draw as the API with the same arguments
    alloc = pc.allocate(frame, 60, strata="cercle", size="adults")
    api = pc.select_pps(frame, "adults", n=alloc, strata="cercle", method="sampford", seed=1,
                        reserve=2)
    assert sample["frame_row"].tolist() == (api.index.to_numpy() + 1).tolist()
    np.testing.assert_allclose(sample["pi"], api["pi"], rtol=1e-15)
    assert sample["village"].tolist() == frame.loc[sample["frame_row"] - 1, "village"].tolist()
    assert "allocation (proportional" in stdout and "reserve 2 per stratum" in stdout
    assert "wrote" in stdout and "60 villages to survey, 30 in reserve" in stdout


def test_neyman_allocation_and_joint_probabilities(frame, tmp_path, capsys):
    path = tmp_path / "villages.csv"
    sd = frame["cercle"].map(lambda c: 0.3 + 0.01 * (c % 10))
    frame.assign(sd=sd).to_csv(path, index=False)
    out, joint = tmp_path / "s.csv", tmp_path / "pij.csv"
    code, stdout, stderr = run(capsys, "sample", path, "--size", "adults", "--n", 45,
                               "--allocation", "neyman", "--sd", "sd", "--strata", "cercle",
                               "--method", "sampford", "--reserve", 1, "--seed", 7, "--out",
                               out, "--joint", joint)
    assert code == 0, stderr
    sample = pd.read_csv(out)
    pij = pd.read_csv(joint)
    assert pij["frame_row"].tolist() == sample["frame_row"].tolist()
    matrix = pij.drop(columns="frame_row").to_numpy()
    np.testing.assert_allclose(np.diag(matrix), sample["pi"], rtol=1e-12)
    np.testing.assert_allclose(matrix, matrix.T)
    assert "allocation (neyman" in stdout


def test_xlsx_frame_and_strata_of_two_columns(frame, tmp_path, capsys):
    path = tmp_path / "villages.xlsx"
    frame.to_excel(path, index=False)
    out = tmp_path / "s.csv"
    code, stdout, stderr = run(capsys, "sample", path, "--size", "households", "--n", 70,
                               "--strata", "cercle", "treated", "--seed", 3, "--out", out)
    assert code == 0, stderr
    sample = pd.read_csv(out)
    assert len(sample) == 70
    assert sample.groupby(["cercle", "treated"]).size().min() >= 2


def test_mde_allocation_from_the_command_line(frame_csv, tmp_path, capsys):
    out = tmp_path / "s.csv"
    code, stdout, stderr = run(capsys, "sample", frame_csv, "--size", "adults", "--strata",
                               "stratum", "--allocation", "mde", "--effect", 0.15, "--icc",
                               0.08, "--p", 0.5, "--cluster-size", 12, "--arm", "treated",
                               "--seed", 1, "--out", out)
    assert code == 0, stderr
    k = int(pc.sample_size(0.15, 12, 0.08, p=0.5, design="did")["n_clusters"].iloc[0])
    sample = pd.read_csv(out)
    assert sample.groupby("treated").size().tolist() == [k, k]
    assert f"plan: {k} villages per arm" in stdout


@pytest.mark.parametrize(("extra", "message"), [
    (["--size", "population", "--n", "10", "--strata", "cercle"], "no column 'population'"),
    (["--size", "adults", "--n", "10", "--strata", "cercle"], "below what the minimum"),
    (["--size", "adults", "--n", "40", "--strata", "cercle", "--allocation", "neyman"],
     "needs sd="),
    (["--size", "adults", "--n", "40", "--strata", "cercle", "--joint", "j.csv"],
     "--joint needs --method sampford"),
    (["--size", "adults", "--n", "40", "--allocation", "neyman"], "give --strata"),
    (["--size", "adults", "--n", "40", "--strata", "cercle", "--icc", "0.1"],
     "apply to --allocation mde"),
    (["--size", "adults", "--strata", "cercle", "--allocation", "mde", "--effect", "0.1"],
     "needs --icc, --cluster-size, --p"),
    (["--size", "adults", "--n", "40", "--strata", "cercle", "--sd", "spread",
      "--allocation", "neyman"], "neither a number nor a column"),
])
def test_errors_are_one_line_with_exit_code_2(frame_csv, tmp_path, capsys, extra, message):
    out = tmp_path / "s.csv"
    code, stdout, stderr = run(capsys, "sample", frame_csv, *extra, "--seed", 1, "--out", out)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1
    assert not out.exists()


def test_refuses_to_overwrite_a_sample(frame_csv, tmp_path, capsys):
    out = tmp_path / "s.csv"
    out.write_text("kept\n")
    args = ["sample", frame_csv, "--size", "adults", "--n", 40, "--strata", "cercle",
            "--seed", 1, "--out", out]
    code, _, stderr = run(capsys, *args)
    assert code == 2 and "exists" in stderr and out.read_text() == "kept\n"
    code, _, stderr = run(capsys, *args, "--force")
    assert code == 0, stderr


def test_unreadable_frame_and_missing_seed(tmp_path, capsys):
    code, _, stderr = run(capsys, "sample", tmp_path / "none.csv", "--size", "adults", "--n",
                          5, "--seed", 1, "--out", tmp_path / "s.csv")
    assert code == 2 and "Traceback" not in stderr
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(tmp_path / "none.csv"), "--size", "adults", "--n", "5", "--out",
              str(tmp_path / "s.csv")])
    assert exc.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "sample" in capsys.readouterr().out


def test_every_frame_column_is_kept(tmp_path, capsys):
    """Columns named like Kobo/ODK system columns are frame columns, not paradata."""
    frame = pd.DataFrame({"_id": range(1, 9), "start": ["2024-01-01"] * 8,
                          "adults": [100, 200, 150, 120, 90, 300, 80, 60]})
    path = tmp_path / "frame.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "sample.csv"
    code, _, stderr = run(capsys, "sample", path, "--size", "adults", "--n", 3, "--seed", 4,
                          "--out", out)
    assert code == 0, stderr
    written = pd.read_csv(out)
    assert list(written.columns[:4]) == ["frame_row", "_id", "start", "adults"]
    assert (written["_id"] == written["frame_row"]).all()
