"""Waves larger than memory: a Parquet dataset (or a Dask DataFrame) validated partition
by partition gives the report of the whole data in memory (rows numbered across the
partitions, identifiers unique across them), and ``read_wave`` on it returns a lazy Dask
DataFrame equal to the file's read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc
from perception.errors import FileReadError, PerceptionError, WaveValidationError
from perception.waves.partitions import dataset_bytes, read_parquet_dataset

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "data" / "centre_mali_wave_small.csv"
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def small_demo(demo_factory):
    demo = demo_factory(seed=2, n_per_wave=400)
    return demo.waves, demo.questionnaire


def write(frame: pd.DataFrame, path: Path, npartitions: int) -> Path:
    dd.from_pandas(frame, npartitions=npartitions, sort=False).to_parquet(
        path, write_index=False)
    return path


def whole(path: Path) -> pd.DataFrame:
    """The dataset in memory: its files concatenated in name order."""
    return pd.concat([pd.read_parquet(f) for f in sorted(path.glob("*.parquet"))],
                     ignore_index=True)


def faulty(waves: pd.DataFrame) -> pd.DataFrame:
    """Errors of every kind, in several partitions, and duplicates across them."""
    bad = waves.copy()
    n = len(bad)
    first_wave = bad.index[bad["wave"] == bad["wave"].iloc[0]]
    bad.loc[first_wave[-1], "resp_id"] = bad.loc[0, "resp_id"]  # same wave, far apart
    bad.loc[first_wave[-2], "resp_id"] = bad.loc[1, "resp_id"]
    bad.loc[n - 1, "resp_id"] = bad.loc[2, "resp_id"]  # other wave: not a duplicate
    bad["age"] = bad["age"].astype(object)
    bad.loc[5, "age"] = "old"  # not a number
    bad.loc[n - 5, "age"] = 150  # out of range
    bad.loc[n // 2, "trust_police"] = 5  # not a code
    bad.loc[3, "sex"] = np.nan  # required
    other = [s for s in bad["stratum"].unique() if s != bad.loc[n - 2, "stratum"]][0]
    bad.loc[n - 2, "stratum"] = other  # its PSU in two strata
    bad["note"] = "x"  # a column the questionnaire does not declare (a warning)
    return bad


def assert_same_report(memory: pc.ValidationReport, partitioned: pc.ValidationReport):
    pd.testing.assert_frame_equal(memory.errors, partitioned.errors)
    pd.testing.assert_frame_equal(memory.warnings, partitioned.warnings)
    assert (memory.n_rows, memory.n_columns) == (partitioned.n_rows, partitioned.n_columns)
    assert memory.summary(max_rows=None) == partitioned.summary(max_rows=None)


def test_report_of_a_parquet_dataset_is_the_in_memory_report(small_demo, tmp_path):
    waves, q = small_demo
    path = write(faulty(waves), tmp_path / "waves", 4)
    memory = pc.validate(whole(path), q, source="waves")
    partitioned = pc.validate(read_parquet_dataset(path), q, source="waves")
    assert_same_report(memory, partitioned)
    checks = set(partitioned.errors["check"])
    assert {"dtype", "range", "codes", "required", "unique", "psu_in_stratum"} <= checks
    unique = partitioned.errors[partitioned.errors["check"] == "unique"]
    n = len(waves)
    # both rows of each duplicate, from the first and the last partitions of the wave
    assert len(unique) == 4 and {0, 1} <= set(unique["row"]) and max(unique["row"]) > n // 4
    assert n - 1 not in set(unique["row"])  # same id in another wave is no duplicate
    with pytest.raises(WaveValidationError) as raised:
        pc.read_wave(path, q)
    pd.testing.assert_frame_equal(raised.value.report.errors, memory.errors)
    assert f"{path} does not match questionnaire" in str(raised.value)


def test_validate_takes_dask_read_parquet(small_demo, tmp_path):
    """dd.read_parquet's partitions (text as pd.NA strings, rows numbered from 0 in each
    partition) give the report of the whole data, rows numbered across partitions."""
    waves, q = small_demo
    path = write(faulty(waves), tmp_path / "waves", 3)
    frame = dd.read_parquet(path)
    assert_same_report(pc.validate(frame.compute().reset_index(drop=True), q),
                       pc.validate(frame, q))


def test_two_worker_cluster(small_demo, tmp_path):
    distributed = pytest.importorskip("distributed")
    waves, q = small_demo
    path = write(faulty(waves), tmp_path / "waves", 4)
    memory = pc.validate(whole(path), q)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert dask.base.get_scheduler() == client.get  # the workers validate
        assert_same_report(memory, pc.validate(read_parquet_dataset(path), q))
        tasks = client.run(lambda dask_worker: dask_worker.state.executed_count)
        assert all(n > 0 for n in tasks.values())


def test_valid_dataset_reads_as_the_file(small_demo, tmp_path):
    waves, q = small_demo
    path = write(waves, tmp_path / "waves", 3)
    csv = tmp_path / "waves.csv"
    whole(path).to_csv(csv, index=False, date_format="%Y-%m-%d")
    memory = pc.read_wave(csv, q)
    lazy = pc.read_wave(path, q)
    assert type(lazy).__module__.startswith("dask")
    assert lazy.npartitions == 3 and lazy.known_divisions
    read = lazy.compute()
    pd.testing.assert_frame_equal(read, memory)
    meta = lazy.attrs["perception"]
    assert meta["derived"] == memory.attrs["perception"]["derived"]
    assert meta["pii_columns"] == memory.attrs["perception"]["pii_columns"]
    assert not set(q.pii) & set(lazy.columns)
    # the design takes it, and its table is the in-memory one
    by_memory = pc.SurveyDesign(memory, weights="w_final", strata="stratum", psu="psu_id")
    by_dask = pc.SurveyDesign(lazy, weights="w_final", strata="stratum", psu="psu_id")
    a = pc.mean(by_memory, "trust_fsi_mean", by="wave", na_rm=True)
    b = pc.mean(by_dask, "trust_fsi_mean", by="wave", na_rm=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", [dict(recode=True),
                                     dict(keep_pii="hash", hash_key="a secret of 16+ bytes")])
def test_options_as_on_a_file(small_demo, tmp_path, options):
    waves, q = small_demo
    path = write(waves, tmp_path / "waves", 2)
    csv = tmp_path / "waves.csv"
    whole(path).to_csv(csv, index=False, date_format="%Y-%m-%d")
    lazy, memory = pc.read_wave(path, q, **options), pc.read_wave(csv, q, **options)
    pd.testing.assert_frame_equal(lazy.compute(), memory)
    for name in ("missing_recoded", "pii_columns", "derived"):
        assert lazy.attrs["perception"].get(name) == memory.attrs["perception"].get(name)
    if options.get("recode"):
        assert sum(r["count"] for r in lazy.attrs["perception"]["missing_recoded"]) > 0


def test_a_dask_frame_is_read_too(small_demo):
    waves, q = small_demo
    lazy = pc.read_wave(dd.from_pandas(waves, npartitions=3), q)
    read = lazy.compute()
    assert list(read.index) == list(range(len(waves)))
    assert read["resp_id"].tolist() == waves["resp_id"].tolist()


def test_directory_without_parquet_files(tmp_path):
    q = pc.load_questionnaire(QUESTIONNAIRE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileReadError, match=r"without Parquet files.*Fix:"):
        pc.read_wave(tmp_path / "empty", q)


def test_file_options_are_refused(small_demo):
    waves, q = small_demo
    with pytest.raises(PerceptionError, match="sheet= and encoding= are options of a wave"):
        pc.read_wave(dd.from_pandas(waves, npartitions=2), q, encoding="latin-1")


def test_files_with_other_columns_are_refused(tmp_path):
    q = pc.load_questionnaire(QUESTIONNAIRE)
    data = pd.read_csv(SMALL)
    (tmp_path / "w").mkdir()
    data.iloc[:6].to_parquet(tmp_path / "w" / "a.parquet", index=False)
    data.iloc[6:].drop(columns="age").to_parquet(tmp_path / "w" / "b.parquet", index=False)
    with pytest.raises(FileReadError, match=r"b.parquet does not have the columns of "
                                            r"a.parquet \(lacks age\)"):
        pc.read_wave(tmp_path / "w", q)
    assert dataset_bytes(tmp_path / "w") > 0


def test_input_never_modified(small_demo):
    waves, q = small_demo
    frame = dd.from_pandas(faulty(waves), npartitions=2)
    before = frame.compute()
    pc.validate(frame, q)
    pd.testing.assert_frame_equal(frame.compute(), before)


def test_import_does_not_load_dask():
    import subprocess
    import sys

    code = ("import perception as pc, sys; pc.validate; pc.read_wave; "
            "assert 'dask' not in sys.modules, 'dask loaded'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@settings(max_examples=6)
@given(cuts=st.lists(st.integers(1, 11), max_size=4, unique=True),
       duplicate=st.tuples(st.integers(0, 11), st.integers(0, 11)),
       bad_code=st.integers(0, 11))
def test_any_partitioning_gives_the_in_memory_report(cuts, duplicate, bad_code):
    """Wherever the partitions are cut and wherever the faults are, the report is the
    one of the whole data."""
    q = _small_questionnaire()
    data = pd.read_csv(SMALL)
    data.loc[duplicate[1], "resp_id"] = data.loc[duplicate[0], "resp_id"]
    data.loc[duplicate[1], "wave"] = data.loc[duplicate[0], "wave"]
    data.loc[bad_code, "trust_police"] = 7
    bounds = [0, *sorted(cuts), len(data)]
    parts = [dask.delayed(data.iloc[a:b].reset_index(drop=True)) for a, b in
             zip(bounds, bounds[1:], strict=False)]
    frame = dd.from_delayed(parts, meta=data.iloc[:0], verify_meta=False)
    with dask.config.set(scheduler="synchronous"):
        assert_same_report(pc.validate(data, q), pc.validate(frame, q))


_CACHE: dict[str, pc.Questionnaire] = {}


def _small_questionnaire() -> pc.Questionnaire:
    if "q" not in _CACHE:
        _CACHE["q"] = pc.load_questionnaire(QUESTIONNAIRE)
    return _CACHE["q"]


def test_identifiers_sharing_a_hash_are_not_duplicates(small_demo, tmp_path, monkeypatch):
    """The counts are of 64-bit hashes; the rows found are compared by their values, so
    a collision (here every identifier hashes alike) reports only true duplicates."""
    waves, q = small_demo
    path = write(faulty(waves), tmp_path / "waves", 3)
    memory = pc.validate(whole(path), q)

    def one_hash(frame, index=True):
        return pd.Series(np.full(len(frame), 7, dtype=np.uint64), index=frame.index)

    monkeypatch.setattr(pd.util, "hash_pandas_object", one_hash)
    assert_same_report(memory, pc.validate(read_parquet_dataset(path), q))
