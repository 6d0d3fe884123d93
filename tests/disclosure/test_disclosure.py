"""Respondent protection: personal data, small cells, rare combinations, safe input.

- No value of a ``pii`` column of the input reaches any output of any output command
  (every byte of stdout, stderr and every file written is scanned).
- Small cells are never shown: primary and complementary suppression, checked by hand
  and on random tables.
- Skip logic, questionnaires and the package source cannot execute code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.cli import app as cli
from perception.disclosure.anonymise import anonymise_wave, k_anonymity
from perception.disclosure.pii import drop_pii, hash_pii
from perception.disclosure.suppression import (
    DEFAULT_MIN_CELL,
    disclosure_check,
    protect_table,
    suppress_small_cells,
)

ROOT = Path(__file__).resolve().parents[2]
Q_PATH = ROOT / "questionnaires" / "centre_mali_trust.yaml"
DEMO_Q_PATH = ROOT / "perception" / "demo" / "data" / "centre_mali_trust.yaml"
MARGINS = ROOT / "questionnaires" / "margins_centre_mali_2009.yaml"
SMALL_WAVE = ROOT / "tests" / "data" / "centre_mali_wave_small.csv"
KEY = "a 32-byte secret for the tests.."
# PII values shorter than this are not scanned for (3-letter names occur in any text)
MIN_SCANNED_LENGTH = 6
# commands that write no respondent data: simulated data, questionnaires, village-frame
# rows drawn for a sample
NOT_OUTPUT_COMMANDS = {"simulate", "questionnaire", "sample"}
RANDOM_TABLES = 50
# min_cell of the estimate command in the scan: some wave x cercle cells fall below it
ESTIMATE_MIN_CELL = 50


@pytest.fixture(scope="module")
def q() -> pc.Questionnaire:
    return pc.load_questionnaire(Q_PATH)


@pytest.fixture(scope="module")
def small(q) -> pd.DataFrame:
    from perception.waves.files import read_table

    return read_table(SMALL_WAVE, q)[0]


# ------------------------------------------------------------------ drop / hash --


def test_drop_pii(q, small):
    before = small.copy()
    out = drop_pii(small, q)
    assert set(q.pii) & set(out.columns) == set()
    assert list(out.columns) == [c for c in small.columns if c not in q.pii]
    pd.testing.assert_frame_equal(out, small.drop(columns=q.pii))
    pd.testing.assert_frame_equal(small, before)


def test_hash_pii_is_keyed_hmac_sha256(q, small):
    out = hash_pii(small, q, KEY)
    phone = small["phone"].iloc[0]
    expected = hmac.new(KEY.encode(), phone.encode(), hashlib.sha256).hexdigest()
    assert out["phone"].iloc[0] == expected
    assert out["gps_lat"].iloc[0] == hmac.new(
        KEY.encode(), b"14.49", hashlib.sha256).hexdigest()
    other = hash_pii(small, q, KEY.upper())
    assert (other["phone"] != out["phone"]).all()
    assert hash_pii(small, q, KEY)["phone"].equals(out["phone"])  # stable: waves can be linked
    assert "phone" in small.columns and small["phone"].iloc[0] == phone  # input untouched
    assert KEY not in repr(out.attrs) and not out.isin([KEY]).any().any()


@pytest.mark.parametrize(("key", "match"), [(None, "text or bytes"), ("short", "5 bytes")])
def test_hash_pii_needs_a_real_key(q, small, key, match):
    with pytest.raises(pc.DisclosureError, match=match) as info:
        hash_pii(small, q, key)
    if key:
        assert key not in str(info.value).replace("5 bytes", "")


def test_missing_pii_values_stay_missing(q):
    df = pd.DataFrame({"phone": [None, "+223 70"]})
    assert hash_pii(df, q, KEY)["phone"].isna().tolist() == [True, False]


# -------------------------------------------------------------- disclosure checks --


def _table(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_small_cell_and_its_complement_along_a_by_column():
    t = _table(sex=[1, 2], variable=["trust"] * 2, estimate=[0.41, 0.52], se=[0.03, 0.05],
               n=[400, 25])
    check = disclosure_check(t)
    assert check[["row", "sex", "rule", "action"]].values.tolist() == [
        [0, 1, "complementary", "suppress"], [1, 2, "small_cell", "suppress"]]
    assert "sex=2" in check["message"].iloc[0]
    assert disclosure_check(t, margins=False)["rule"].tolist() == ["small_cell"]


def test_two_way_table_complementary_suppression_by_hand():
    # region x sex; one small cell (2, 1): its row and its column each need a second
    # suppression, which in turn needs a fourth to close the rectangle
    t = _table(region=[1, 1, 2, 2], sex=[1, 2, 1, 2], variable=["trust"] * 4,
               estimate=[0.5, 0.4, 0.6, 0.3], se=[0.02] * 4, n=[300, 200, 20, 250])
    check = disclosure_check(t)
    hidden = set(check.loc[check["action"] == "suppress", "row"])
    assert hidden == {0, 1, 2, 3}
    rules = dict(zip(check["row"], check["rule"], strict=True))
    assert rules[2] == "small_cell" and rules[3] == "complementary"


def test_small_counts_in_a_proportion_table():
    # categories of one domain: n = 200 respondents; category 3 holds about 0.03 x 200 = 6
    t = _table(variable=["trust"] * 4, category=[0, 1, 2, 3],
               estimate=[0.40, 0.35, 0.22, 0.03], se=[0.03, 0.03, 0.03, 0.008], n=[200] * 4)
    check = disclosure_check(t)
    assert check[["category", "rule"]].values.tolist() == [[2, "complementary"],
                                                            [3, "small_count"]]
    assert "about 6 respondents" in check["message"].iloc[1]
    exact = t.assign(count=[80, 70, 44, 12])
    assert disclosure_check(exact, count_column="count").empty  # 12 >= k=10


def test_high_cv_is_flagged_not_suppressed():
    t = _table(variable=["a", "b"], estimate=[0.10, 0.50], se=[0.05, 0.05], n=[100, 100])
    check = disclosure_check(t)
    assert check[["variable", "rule", "action"]].values.tolist() == [["a", "high_cv", "flag"]]
    assert check["value"].iloc[0] == pytest.approx(0.5)
    assert disclosure_check(t, max_cv=None).empty


def test_protect_table_applies_the_check():
    t = _table(sex=[1, 2], variable=["trust"] * 2, estimate=[0.41, 0.52], se=[0.03, 0.05],
               deff=[1.2, 1.1], n=[400, 25])
    t.attrs["vcov"] = np.eye(2)
    out = protect_table(t)
    assert out["estimate"].isna().all() and out["se"].isna().all()
    assert out["suppression"].tolist() == ["complementary", f"n < {DEFAULT_MIN_CELL}"]
    assert out["n"].tolist() == [400, 25] and "vcov" not in out.attrs
    assert t["estimate"].notna().all()  # input untouched


def test_disclosure_errors_name_the_fix():
    with pytest.raises(pc.DisclosureError, match="no 'n' column"):
        disclosure_check(_table(variable=["a"], estimate=[0.1]))
    with pytest.raises(pc.DisclosureError, match="k must be a positive whole number"):
        disclosure_check(_table(variable=["a"], estimate=[0.1], n=[40]), k=0)


def test_small_cells_are_never_unsuppressed_on_random_tables():
    rng = np.random.default_rng(20240315)
    for _ in range(RANDOM_TABLES):
        regions, sexes, cats = rng.integers(1, 4), rng.integers(1, 3), rng.integers(2, 5)
        rows = [(r, s, c) for r in range(regions) for s in range(sexes) for c in range(cats)]
        n_domain = {(r, s): int(rng.integers(5, 120)) for r in range(regions)
                    for s in range(sexes)}
        shares = rng.dirichlet(np.ones(cats), size=len(n_domain))
        share = {key: shares[i] for i, key in enumerate(n_domain)}
        t = pd.DataFrame({
            "region": [r for r, _, _ in rows], "sex": [s for _, s, _ in rows],
            "variable": "trust", "category": [c for _, _, c in rows],
            "estimate": [share[(r, s)][c] for r, s, c in rows],
            "se": rng.uniform(0.001, 0.05, len(rows)),
            "n": [n_domain[(r, s)] for r, s, _ in rows],
        })
        min_cell, k = int(rng.integers(10, 60)), int(rng.integers(3, 15))
        basic = suppress_small_cells(t, min_cell=min_cell)
        out = protect_table(t, min_cell=min_cell, k=k)
        small = t["n"] < min_cell
        assert basic.loc[small, "estimate"].isna().all()
        assert out["suppressed"][basic["suppressed"]].all()  # a superset of the basic rule
        assert out.loc[out["suppressed"], ["estimate", "se", "ci_low" if "ci_low" in out
                                           else "se"]].isna().all().all()
        # no line (categories of a domain, domains of a by column) with one hidden cell
        hidden = out["suppressed"].tolist()
        for columns in (["region", "sex"], ["sex", "category"], ["region", "category"]):
            lines: dict[tuple, list[bool]] = {}
            keys = t[columns].itertuples(index=False, name=None)
            for key, hid in zip(keys, hidden, strict=True):
                lines.setdefault(key, []).append(hid)
            lonely = [k for k, cells in lines.items() if len(cells) > 1 and sum(cells) == 1]
            assert not lonely, (columns, lonely, t, out)


# -------------------------------------------------------------------- k-anonymity --


def test_k_anonymity_by_hand():
    df = pd.DataFrame({"sex": [1] * 12 + [2, 2, 2], "ethnic": [1] * 12 + [7, 7, None],
                       "other": range(15)})
    rare = k_anonymity(df, ["sex", "ethnic"], k=10)
    assert rare[["sex", "count"]].values.tolist() == [[2, 1], [2, 2]]
    assert np.isnan(rare["ethnic"].iloc[0]) and rare["ethnic"].iloc[1] == 7
    assert rare.attrs["records_at_risk"] == 3 and rare.attrs["combinations"] == 3
    assert k_anonymity(df, ["sex"], k=3).empty


def test_k_anonymity_errors(q):
    df = pd.DataFrame({"x": [1]})
    with pytest.raises(pc.DisclosureError, match="'sex' is not a column"):
        k_anonymity(df, ["sex"])
    with pytest.raises(pc.DisclosureError, match="needs the quasi-identifiers"):
        k_anonymity(df)
    with pytest.raises(pc.DisclosureError, match="none of which is a column"):
        k_anonymity(df, questionnaire=q)


def test_k_anonymity_from_the_questionnaire_and_all_blank_records(q, small):
    rare = k_anonymity(small, questionnaire=q, k=2)
    assert rare.attrs["quasi_identifiers"] == [c for c in q.quasi_identifiers if c in small]
    blank = pd.DataFrame({"sex": [1] * 10 + [None, None], "age": [30] * 10 + [None, None]})
    assert k_anonymity(blank, ["sex", "age"], k=10).empty  # the blank pair describes no one


# -------------------------------------------------------------- anonymise_wave --
# (the refusal, --resolve and the ladders: tests/disclosure/test_anonymise.py)


def test_anonymise_wave(q, small):
    before = small.copy()
    shared, report, rare = anonymise_wave(small, q, k=3)
    pd.testing.assert_frame_equal(small, before)
    assert len(shared) == len(small)  # no row removed
    gone = {"resp_name", "phone", "gps_lat", "gps_lon", "hh_id", "commune", "ethnic",
            "displaced"}
    assert not gone & set(shared.columns)
    assert shared["survey_date"].iloc[0] == small["survey_date"].iloc[0].strftime("%Y-%m")
    assert {"resp_id", "psu_id", "stratum", "w_final", "cercle", "age_grp"} <= set(shared.columns)
    steps = dict(zip(report["column"], report["action"], strict=False))
    assert steps["phone"] == "dropped" and steps["gps_lat"] == "dropped"
    assert steps["ethnic"] == "dropped" and steps["survey_date"] == "coarsened"
    assert rare.attrs["quasi_identifiers"] == ["region", "cercle", "sex", "age", "age_grp",
                                              "activity"]
    assert report["step"].iloc[-1] == "k_anonymity"
    assert report["rows"].iloc[-1] == rare.attrs["records_at_risk"] > 0
    assert (shared["age"] == small["age"]).all()  # nothing coarsened without resolve


def test_anonymise_wave_options(q, small):
    shared, report, _ = anonymise_wave(small, q, keep_pii="hash", hash_key=KEY,
                                       gps="commune", keep_sensitive=True, k=2, dates="drop")
    assert shared["phone"].equals(hash_pii(small, q, KEY)["phone"])
    assert "commune" in shared and "ethnic" in shared and "survey_date" not in shared
    mopti = small["commune"] == "Mopti"
    assert shared.loc[mopti, "gps_lat"].unique().tolist() == [
        round(small.loc[mopti, "gps_lat"].mean(), 2)]
    with pytest.raises(pc.DisclosureError, match="reveal the commune"):
        anonymise_wave(small, q, gps="commune")
    with pytest.raises(pc.DisclosureError, match="needs hash_key"):
        anonymise_wave(small, q, keep_pii="hash")


# ------------------------------------------------- every output command, every byte --


def _pii_values(wave_csv: Path, q: pc.Questionnaire) -> list[str]:
    raw = pd.read_csv(wave_csv, dtype=str, keep_default_na=False)
    values = {v.strip() for c in q.pii if c in raw for v in raw[c] if v.strip()}
    return sorted(v for v in values if len(v) >= MIN_SCANNED_LENGTH)


_TOKEN = re.compile(r"[^\s,;:\"'<>()\[\]{}=|/\\]+")


def _leaks(blob: bytes, values: list[str]) -> list[str]:
    """The values found in ``blob``: a text anywhere, a number not inside a longer number.

    The tokens of the output are indexed first, so that only values whose longest token
    occurs are searched for (thousands of values, megabytes of output).
    """
    text = blob.decode("utf-8", errors="replace")
    tokens = set(_TOKEN.findall(text))
    found = []
    for value in values:
        parts = _TOKEN.findall(value)
        if parts and max(parts, key=len) not in tokens:
            continue
        if re.fullmatch(r"[-+]?[0-9.]+", value):
            if re.search(rf"(?<![0-9.]){re.escape(value)}(?![0-9])", text):
                found.append(value)
        elif value in text:
            found.append(value)
    return found


def test_the_scan_finds_what_it_looks_for():
    values = ["Awa Traoré", "+223 70 11 22 33", "14.53207"]
    blob = "x,Awa Traoré,<t>+223 70 11 22 33</t> 14.53207\n".encode()
    assert _leaks(blob, values) == values
    assert _leaks(b"Awa Traore 114.532071 14.532079", values) == []


@pytest.fixture(scope="module")
def pii_wave(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """A demo wave (fictitious names, phones, GPS) written as CSV, and its PII values."""
    folder = tmp_path_factory.mktemp("pii")
    demo = pc.demo_survey(seed=2, n_per_wave=200)
    path = folder / "waves.csv"
    demo.waves.to_csv(path, index=False)
    q = pc.load_questionnaire(DEMO_Q_PATH)
    values = _pii_values(path, q)
    assert len(values) > 1000  # names, phones and coordinates of every respondent
    bad = demo.waves.copy()
    bad.loc[bad.index[:3], "gps_lat"] = [99.12345, 98.54321, 97.11111]  # out of range: reported
    bad_path = folder / "invalid.csv"
    bad.to_csv(bad_path, index=False)
    first, second = demo.waves.iloc[0], demo.waves.iloc[1]
    pd.DataFrame({  # a cleaning log that corrects a phone number and an answer
        "uuid": [first["resp_id"], second["resp_id"]], "variable": ["phone", "trust_police"],
        "old_value": [first["phone"], second["trust_police"]],
        "new_value": ["+223 70 00 00 01", 9], "reason": ["wrong digit", "recoded"],
    }).to_csv(folder / "cleaning_log.csv", index=False)
    return path, bad_path, values + ["99.12345", "98.54321", "97.11111", "+223 70 00 00 01"]


def _output_commands(wave: Path, invalid: Path, out: Path) -> dict[str, tuple[list[str], int]]:
    """Arguments and expected exit code of every command that writes respondent data."""
    q = str(DEMO_Q_PATH)
    return {
        "validate": (["validate", str(invalid), "-q", q], 1),
        "export": (["export", str(wave), "-q", q, "--out", str(out / "shared.csv"),
                    "--resolve"], 0),
        "weights": (["weights", str(wave), "-q", q, "--margins", str(MARGINS), "--out",
                     str(out / "weighted.csv")], 0),
        "estimate": (["estimate", str(wave), "-q", q, "--var", "trust_police", "--stat",
                      "proportion", "--by", "wave", "--by", "cercle", "--min-cell",
                      str(ESTIMATE_MIN_CELL), "--out", str(out / "estimates.csv")], 0),
        "model": (["model", str(wave), "-q", q, "--formula", "trust_police ~ C(wave) + C(sex)",
                   "--family", "ordinal", "--margins", "cercle", "--min-cell",
                   str(ESTIMATE_MIN_CELL), "--out", str(out / "model.csv")], 0),
        "table": (["table", str(wave), "-q", q, "--row", "trust_police", "--col", "cercle",
                   "--min-cell", str(ESTIMATE_MIN_CELL), "--out", str(out / "table.csv")], 0),
        "change": (["change", str(wave), "-q", q, "--var", "trust_police", "--by", "cercle",
                    "--min-cell", str(ESTIMATE_MIN_CELL), "--out", str(out / "change.csv")], 0),
        "did": (["did", str(wave), "-q", q, "--var", "trust_police", "--cells", "--min-cell",
                 str(ESTIMATE_MIN_CELL), "--out", str(out / "did.csv")], 0),
        "analyse": (["analyse", str(ROOT / "docs" / "examples" / "analysis_plan.yaml"), "-q", q,
                     "--data", str(wave), "--min-cell", str(ESTIMATE_MIN_CELL), "--out",
                     str(out / "analysis")], 0),
        "figures": (["figures", "--data", str(wave), "-q", q, "--out", str(out / "figures"),
                     "--only", "trust_actors", "--format", "svg", "--no-progress",
                     "--min-cell", "1000000"], 0),
        "clean": (["clean", str(wave), "--log", str(wave.parent / "cleaning_log.csv"), "-q", q,
                   "--out", str(out / "clean.csv")], 0),
    }


def test_every_output_command_is_scanned(tmp_path):
    listed = _output_commands(tmp_path, tmp_path, tmp_path)
    unscanned = [c for c in cli.COMMANDS if c not in NOT_OUTPUT_COMMANDS and c not in listed]
    assert not unscanned, f"add {unscanned} to _output_commands so their outputs are scanned"


@pytest.mark.parametrize("command", ["validate", "export", "weights", "estimate", "table",
                                     "change", "did", "analyse", "model", "figures", "clean"])
def test_no_pii_value_in_any_output(pii_wave, tmp_path, capsys, command):
    wave, invalid, values = pii_wave
    args, expected = _output_commands(wave, invalid, tmp_path)[command]
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == expected, captured.err
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written or command == "validate"
    blobs = {"stdout": captured.out.encode(), "stderr": captured.err.encode()}
    blobs.update({str(p.relative_to(tmp_path)): p.read_bytes() for p in written})
    leaks = {name: _leaks(blob, values)[:3] for name, blob in blobs.items()}
    assert not any(leaks.values()), leaks
    if command == "validate":
        assert "<redacted: pii>" in captured.out and "gps_lat" in captured.out
    if command == "estimate":  # cercles within waves: about 50 respondents each
        df = pd.read_csv(tmp_path / "estimates.csv")
        small = df["n"] < ESTIMATE_MIN_CELL
        assert small.any() and (~small).any()
        assert df.loc[small, ["estimate", "se", "ci_low", "ci_high"]].isna().all().all()
        assert df.loc[~small, "estimate"].notna().all()
    if command == "model":  # margins of small cercles suppressed
        df = pd.read_csv(tmp_path / "model_margins.csv")
        small = df["n"] < ESTIMATE_MIN_CELL
        assert df.loc[small, ["estimate", "se", "ci_low", "ci_high"]].isna().all().all()
        assert df.loc[~small, "estimate"].notna().all()
    if command == "figures":  # --min-cell above every n: every value suppressed
        tables = list((tmp_path / "figures" / "tables").glob("*.csv"))
        assert tables
        for table in tables:
            df = pd.read_csv(table)
            assert df["suppressed"].all()
            values_shown = [c for c in ("estimate", "se", "ci_low", "ci_high") if c in df]
            assert values_shown and df[values_shown].isna().all().all()


def test_export_cli_report(tmp_path, capsys):
    out = tmp_path / "shared.csv"
    code = cli.main(["export", str(SMALL_WAVE), "-q", str(Q_PATH), "--out", str(out), "--k", "5",
                     "--resolve"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "dropped    phone (12 non-empty)" in printed
    assert "k-anonymity (k=5) on region + cercle + sex + age + age_grp + activity" in printed
    shared = pd.read_csv(out)
    assert len(shared) == 12 and "resp_name" not in shared
    assert cli.main(["export", str(SMALL_WAVE), "-q", str(Q_PATH), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


# ------------------------------------------------------------------ safe input --
# The expression parser's refusals (``__import__``, attribute access, ...) are tested in
# test_expressions.py and test_questionnaire.py; XLSForm skip logic in test_xlsform.py.


def test_questionnaire_yaml_cannot_build_python_objects(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text('id: !!python/object/apply:os.system ["touch pwned"]\nvariables: []\n',
                    encoding="utf-8")
    with pytest.raises(pc.QuestionnaireError, match="invalid YAML"):
        pc.load_questionnaire(path)
    assert not (tmp_path / "pwned").exists()


# what no module of the package may contain: deserialisers that run code, eval/exec
UNSAFE = {
    "pickle": re.compile(r"\bimport\s+(c?pickle|dill|shelve|marshal)\b|\bread_pickle\b|"
                         r"\bpickle\.loads?\b|allow_pickle\s*=\s*True"),
    "eval/exec": re.compile(r"(?<![\w.])(eval|exec)\s*\("),
    "yaml without a safe loader": re.compile(r"yaml\.(unsafe_load|full_load|load_all)\s*\(|"
                                             r"yaml\.load\((?![^)]*Loader=_StrictLoader)"),
    "dynamic import from data": re.compile(r"__import__\s*\("),
}


def test_package_source_has_no_code_execution_from_data():
    found = []
    for path in sorted((ROOT / "perception").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for what, pattern in UNSAFE.items():
                if pattern.search(code) and "``" not in code:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "line",
    ["import pickle", "df = pd.read_pickle(path)", "value = eval(text)", "exec(code)",
     "yaml.load(text, Loader=yaml.Loader)", "yaml.unsafe_load(text)", "__import__(name)",
     "np.load(path, allow_pickle=True)"],
)
def test_the_source_scan_catches_unsafe_code(line):
    assert any(pattern.search(line) for pattern in UNSAFE.values())
