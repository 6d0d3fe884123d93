"""A catalogue of bad inputs: each must stop with a clear message, never a traceback.

One table per area (files, questionnaires, data validation, designs, estimates,
margins and weighting, formulas, the command line). Each case does one wrong thing and
names the fragments its message must hold: the column or argument at fault, the rows
where there are rows, and the fix. Library cases must raise the named
:class:`perception.PerceptionError` subclass; command-line cases must exit with a
non-zero code, print the message on stderr and no ``Traceback``.
"""

from __future__ import annotations

import copy
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import perception as pc
from perception.cli import main
from perception.errors import (
    DesignError,
    EstimationError,
    PerceptionError,
    QuestionnaireError,
    WaveValidationError,
    WeightingError,
)

ROOT = Path(__file__).resolve().parents[1]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
MARGINS = ROOT / "questionnaires" / "margins_centre_mali_2009.yaml"
SMALL_WAVE = ROOT / "tests" / "data" / "centre_mali_wave_small.csv"
TWO_GB = 2 * 1024**3  # the sparse file: one byte written at this offset


@dataclass(frozen=True)
class Case:
    """One bad input: ``act(tmp_path)`` does the wrong thing."""

    id: str
    act: Callable[[Path], Any]
    error: type[Exception]
    fragments: tuple[str, ...]


def _q() -> pc.Questionnaire:
    return pc.load_questionnaire(QUESTIONNAIRE)


def _wave() -> pd.DataFrame:
    return pd.read_csv(SMALL_WAVE)


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _sparse(path: Path, size: int = TWO_GB) -> Path:
    """A file of ``size + 1`` bytes that takes no disk space (one byte written)."""
    with open(path, "wb") as handle:
        handle.seek(size)
        handle.write(b"1")
    return path


def _edited_wave(tmp: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    path = tmp / "wave.csv"
    edit(_wave()).to_csv(path, index=False)
    return path


def _set(column: str, row: int, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
        return df

    return edit


# ---------------------------------------------------------------------- files --
def _read(name: str, content: str | bytes) -> Callable[[Path], Any]:
    return lambda tmp: pc.read_wave(_write(tmp / name, content), _q())


def _zip_bytes(tmp: Path) -> bytes:
    with zipfile.ZipFile(tmp / "x.zip", "w") as archive:
        archive.writestr("sheet.xml", "<x/>")
    return (tmp / "x.zip").read_bytes()


def _duplicated_header(tmp: Path) -> Path:
    lines = SMALL_WAVE.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",age"] + [line + ",30" for line in lines[1:]]
    return _write(tmp / "dup.csv", "\n".join(lines) + "\n")


FILE_CASES = [
    Case("empty file", _read("empty.csv", b""), WaveValidationError,
         ("empty.csv", "empty (0 bytes)", "Fix:")),
    Case("header without rows", lambda tmp: pc.read_wave(
        _write(tmp / "head.csv", SMALL_WAVE.read_text().splitlines()[0] + "\n"), _q()),
        WaveValidationError, ("head.csv", "no data rows", "Fix:")),
    Case("file not found", lambda tmp: pc.read_wave(tmp / "nowhere.csv", _q()),
         WaveValidationError, ("nowhere.csv", "not found", "Fix:")),
    Case("unsupported extension", _read("wave.txt", "a,b\n1,2\n"), WaveValidationError,
         ("'.txt'", ".csv", "Fix:")),
    Case("xlsx saved as .csv", lambda tmp: pc.read_wave(
        _write(tmp / "wave.csv", _zip_bytes(tmp)), _q()), WaveValidationError,
        ("extension .csv", "ZIP archive", "Fix:")),
    Case("csv saved as .xlsx", lambda tmp: pc.read_wave(
        _write(tmp / "wave.xlsx", SMALL_WAVE.read_text()), _q()), WaveValidationError,
        ("extension .xlsx", "is text", "Fix:")),
    Case("csv saved as .sav", lambda tmp: pc.read_wave(
        _write(tmp / "wave.sav", SMALL_WAVE.read_text()), _q()), WaveValidationError,
        ("extension .sav", "text", "Fix:")),
    Case("csv saved as .dta", lambda tmp: pc.read_wave(
        _write(tmp / "wave.dta", SMALL_WAVE.read_text()), _q()), WaveValidationError,
        ("extension .dta", "text", "Fix:")),
    Case("image saved as .csv", _read("wave.csv", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
         WaveValidationError, ("extension .csv", "binary", "Fix:")),
    Case("2 GB file refused by the size limit", lambda tmp: pc.read_wave(
        _sparse(tmp / "huge.csv"), _q()), WaveValidationError,
        ("huge.csv", "2,147,483,649 bytes", "limit", "max_bytes")),
    Case("Latin-1 text", lambda tmp: pc.read_wave(_write(
        tmp / "latin.csv", SMALL_WAVE.read_text(encoding="utf-8").encode("latin-1")), _q()),
        WaveValidationError, ("not UTF-8", "byte offset", "line", "Fix:")),
    Case("duplicated column in the header", lambda tmp: pc.read_wave(
        _duplicated_header(tmp), _q()), WaveValidationError,
        ("dup.csv", "'age' appears twice", "columns 18 and 65", "Fix:")),
    Case("questionnaire file too large", lambda tmp: pc.load_questionnaire(
        _sparse(tmp / "big.yaml", 10_000_000)), QuestionnaireError,
        ("big.yaml", "exceeds the limit", "Fix:")),
]


# ------------------------------------------------------------ questionnaires --
MINI: dict[str, Any] = {
    "id": "mini",
    "languages": ["fr", "en"],
    "modules": [{"name": "m", "label": {"fr": "M", "en": "M"}, "variables": [
        {"name": "rid", "type": "text", "role": "id", "label": {"fr": "Id", "en": "Id"}},
        {"name": "theft", "type": "binary", "label": {"fr": "Vol", "en": "Theft"}},
        {"name": "reported", "type": "categorical", "relevant": "${theft} = 1",
         "label": {"fr": "Signalé", "en": "Reported"},
         "codes": {1: {"fr": "Oui", "en": "Yes"}, 3: {"fr": "Non", "en": "No"}}},
    ]}],
}


def _questionnaire(edit: Callable[[dict], None]) -> Callable[[Path], Any]:
    def act(tmp: Path):
        data = copy.deepcopy(MINI)
        edit(data)
        path = tmp / "q.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        return pc.load_questionnaire(path)

    return act


def _variable(data: dict, name: str) -> dict:
    return next(v for v in data["modules"][0]["variables"] if v["name"] == name)


QUESTIONNAIRE_CASES = [
    Case("code list clash: a missing code is also a valid code", _questionnaire(
        lambda d: _variable(d, "reported").update(missing={3: {"fr": "NSP", "en": "DK"}})),
        QuestionnaireError, ("'reported'", "'missing'", "3", "Fix:")),
    Case("cycle in skip logic", _questionnaire(
        lambda d: _variable(d, "theft").update(relevant="${reported} = 1")),
        QuestionnaireError, ("cycle", "theft", "reported", "Fix:")),
    Case("skip logic on itself", _questionnaire(
        lambda d: _variable(d, "reported").update(relevant="${reported} = 1")),
        QuestionnaireError, ("cycle: reported -> reported", "Fix:")),
    Case("code execution in skip logic", _questionnaire(
        lambda d: _variable(d, "reported").update(relevant="__import__('os').getcwd()")),
        QuestionnaireError, ("'reported'", "'relevant'", "__import__", "Fix:")),
    Case("questionnaire is a list", lambda tmp: pc.load_questionnaire(
        _write(tmp / "q.yaml", "- a\n- b\n")), QuestionnaireError,
        ("must hold a mapping", "Fix:")),
    Case("questionnaire YAML syntax", lambda tmp: pc.load_questionnaire(
        _write(tmp / "q.yaml", "id: x\nmodules: [\n")), QuestionnaireError,
        ("invalid YAML at line", "Fix:")),
]


# ------------------------------------------------------------ wave validation --
def _read_edited(edit) -> Callable[[Path], Any]:
    return lambda tmp: pc.read_wave(_edited_wave(tmp, edit), _q())


VALIDATION_CASES = [
    Case("text in a numeric column", _read_edited(_set("age", 3, "vingt")),
         WaveValidationError, ("age", "row 3", "'vingt'", "Fix:")),
    Case("all-missing required variable",
         _read_edited(lambda df: df.assign(trust_police=np.nan)), WaveValidationError,
         ("trust_police", "12 rows", "required", "Fix:")),
    Case("code outside the code list", _read_edited(_set("trust_police", 5, 5)),
         WaveValidationError, ("trust_police", "5", "Fix:")),
    Case("required column absent", _read_edited(lambda df: df.drop(columns="sex")),
         WaveValidationError, ("sex", "missing", "Fix:")),
    Case("duplicated respondent id", _read_edited(_set("resp_id", 4, "R001")),
         WaveValidationError, ("resp_id", "R001", "Fix:")),
    Case("answer where skip logic says not asked",
         _read_edited(_set("ca_participated", 1, 1)), WaveValidationError,
         ("ca_participated", "row 1", "Fix:")),
    # pandas would read a bare number in a date column as a time on 1 January 1970
    Case("bare numbers in a date column",
         _read_edited(lambda df: df.assign(survey_date=20240310)), WaveValidationError,
         ("survey_date", "12 rows", "bare number, not a date", "YYYY-MM-DD", "Fix:")),
    Case("one number among the dates", _read_edited(_set("survey_date", 4, "45366")),
         WaveValidationError, ("survey_date", "row 4", "'45366'", "serial", "Fix:")),
    Case("Excel serial numbers in a date column of an XLSX", lambda tmp: pc.read_wave(
        _xlsx_with_serial_dates(tmp), _q()), WaveValidationError,
        ("survey_date", "2 rows: 0, 1", "45366", "1899-12-30", "Fix:")),
]


def _xlsx_with_serial_dates(tmp: Path) -> Path:
    """A wave whose first two dates are numbers (a date column without its date format:
    Excel's serial numbers); the other rows hold real date cells."""
    wave = _wave()
    dates = pd.to_datetime(wave["survey_date"]).dt.date.astype(object)
    dates.iloc[[0, 1]] = [45366, 45367]
    path = tmp / "wave.xlsx"
    wave.assign(survey_date=dates).to_excel(path, index=False)
    return path


# --------------------------------------------------------------------- designs --
def _frame(**changes) -> pd.DataFrame:
    df = pd.DataFrame({"s": ["a", "a", "b", "b", "c", "c"], "v": [1, 2, 3, 4, 5, 6],
                       "w": [1.0, 2, 3, 4, 5, 6], "y": [1.0, 2, 3, 4, 5, 6],
                       "g": ["x", "x", "y", "y", "z", "z"]})
    return df.assign(**changes)


def _design(**kwargs) -> pc.SurveyDesign:
    options = {"weights": "w", "strata": "s", "psu": "v"}
    options.update(kwargs.pop("options", {}))
    return pc.SurveyDesign(_frame(**kwargs), **options)


DESIGN_CASES = [
    Case("empty data", lambda tmp: pc.SurveyDesign(_frame().iloc[:0], weights="w"),
         DesignError, ("no rows",)),
    Case("a single PSU", lambda tmp: pc.SurveyDesign(_frame(v=1), weights="w", psu="v"),
         DesignError, ("only one primary sampling unit", "psu")),
    Case("NaN weights", lambda tmp: _design(w=[1, np.nan, 3, 4, 5, 6]), DesignError,
         ("'w'", "missing", "rows 1")),
    Case("infinite weights", lambda tmp: _design(w=[1, 2, np.inf, 4, 5, 6]), DesignError,
         ("'w'", "infinite", "rows 2")),
    Case("negative weights", lambda tmp: _design(w=[1, 2, 3, -4, 5, 6]), DesignError,
         ("'w'", "negative", "rows 3", ">= 0")),
    Case("weights all zero", lambda tmp: _design(w=0.0), DesignError, ("'w'", "zero")),
    Case("text in the weights", lambda tmp: _design(w=["1", "2", "three", "4", "5", "6"]),
         DesignError, ("'w'", "numeric", "rows 2", "'three'")),
    Case("unknown PSU column", lambda tmp: _design(options={"psu": "village"}), DesignError,
         ("'village'", "psu", "Available columns")),
    Case("duplicated columns", lambda tmp: pc.SurveyDesign(
        pd.concat([_frame(), _frame()[["w"]]], axis=1), weights="w"), DesignError,
        ("'w'", "more than once", "rename")),
    Case("missing strata", lambda tmp: _design(s=["a", None, "b", "b", "c", "c"]),
         DesignError, ("'s'", "strata", "rows 1")),
    Case("PSU ids crossing strata", lambda tmp: _design(v=[1, 2, 1, 2, 3, 4]), DesignError,
         ("'v'", "'s'", "nest=True")),
    Case("lonely PSU under lonely_psu='fail'", lambda tmp: pc.mean(
        _design(v=[1, 2, 3, 4, 5, 5]), "y"), DesignError,
        ("stratum 'c'", "only one PSU", "rows 4, 5", "lonely_psu=")),
    Case("unknown lonely_psu option", lambda tmp: _design(options={"lonely_psu": "drop"}),
         DesignError, ("lonely_psu='drop'", "remove", "certainty")),
    Case("fpc mixing sizes and fractions", lambda tmp: _design(
        f=[0.5, 0.5, 10, 10, 0.5, 0.5], options={"fpc": "f"}), DesignError,
        ("fpc", "'f'", "rows")),
    Case("subset by a string", lambda tmp: _design().subset("g == 'x'"), DesignError,
         ("boolean mask",)),
    Case("subset mask of the wrong length", lambda tmp: _design().subset(np.ones(3, bool)),
         DesignError, ("3 values", "6 rows")),
]


# ------------------------------------------------------------------- estimates --
ESTIMATE_CASES = [
    Case("infinite values in a variable", lambda tmp: pc.mean(
        _design(y=[1, 2, np.inf, 4, 5, -np.inf]), "y", na_rm=True), EstimationError,
         ("'y'", "2 infinite", "rows 2, 5", "Fix")),
    Case("infinite values in a ratio's denominator", lambda tmp: pc.ratio(
        _design(w=[1.0, 2, 3, 4, 5, 6], x=[1, np.inf, 3, 4, 5, 6]), "y", "x"),
         EstimationError, ("'x'", "infinite", "rows 1")),
    Case("all-missing variable", lambda tmp: pc.mean(_design(y=np.nan), "y", na_rm=True),
         EstimationError, ("'y'", "no rows", "all 6 rows")),
    Case("missing values without na_rm", lambda tmp: pc.mean(
        _design(y=[1, np.nan, 3, np.nan, 5, 6]), "y"), EstimationError,
        ("'y'", "2 missing", "rows 1, 3", "na_rm=True")),
    Case("zero-weight domain", lambda tmp: pc.mean(_design(w=[1, 2, 3, 4, 0, 0]), "y",
                                                   by="g"), EstimationError,
         ("'z'", "sum to zero", "subset")),
    Case("empty subset", lambda tmp: pc.mean(_design().subset(np.zeros(6, bool)), "y"),
         EstimationError, ("'y'", "domain is empty", "subset")),
    Case("text in a numeric variable", lambda tmp: pc.mean(
        _design(y=["1", "2", "trois", "4", "5", "6"]), "y"), EstimationError,
        ("'y'", "not numeric", "rows 2", "'trois'")),
    Case("unknown variable", lambda tmp: pc.total(_design(), "yy"), EstimationError,
         ("'yy'", "Did you mean 'y'")),
    Case("confidence level in percent", lambda tmp: pc.mean(_design(), "y", level=95),
         EstimationError, ("level", "between 0 and 1", "95")),
    Case("unknown proportion interval", lambda tmp: pc.proportion(_design(), "g",
                                                                  method="wilson"),
         EstimationError, ("'wilson'", "logit", "beta")),
    Case("quantile above 1", lambda tmp: pc.quantile(_design(), "y", 1.5), EstimationError,
         ("quantiles", "1.5")),
    Case("a change from one wave", lambda tmp: pc.change(
        pc.SurveyDesign(_frame(wave=1), weights="w"), "y", over="wave"), EstimationError,
        ("'wave'", "single value", "two waves")),
    Case("treated not 0/1", lambda tmp: pc.did(pc.SurveyDesign(
        _frame(wave=[0, 1, 0, 1, 0, 1], t=[0, 1, 2, 0, 1, 0]), weights="w"), "y",
        treated="t", period="wave"), EstimationError, ("'t'", "0/1", "rows 2")),
]


# ----------------------------------------------------------- margins, weighting --
def _margins_file(tmp: Path, text: str) -> Path:
    return _write(tmp / "margins.yaml", text)


WEIGHTING_CASES = [
    Case("unknown level in margins", lambda tmp: pc.rake(pc.SurveyDesign(_frame(), weights="w"),
                                                         {"g": {"x": 10, "y": 10, "z": 5,
                                                                "w": 3}}),
         WeightingError, ("'w'", "absent from the sample", "merge")),
    Case("margins missing a level of the data", lambda tmp: pc.poststratify(
        pc.SurveyDesign(_frame(), weights="w"), "g", {"x": 10, "y": 10}), WeightingError,
        ("'g'", "'z'", "rows 4, 5", "Add those levels")),
    Case("negative population count", lambda tmp: pc.rake(
        pc.SurveyDesign(_frame(), weights="w"), {"g": {"x": 10, "y": -10, "z": 3}}),
        WeightingError, ("'y'", "negative", ">= 0")),
    Case("missing value in a margin column", lambda tmp: pc.rake(
        pc.SurveyDesign(_frame(g=["x", None, "y", "y", "z", "z"]), weights="w"),
        {"g": {"x": 10, "y": 10, "z": 3}}), WeightingError,
        ("'g'", "missing", "rows 1", "Impute")),
    Case("calibration bounds reversed", lambda tmp: pc.calibrate(
        pc.SurveyDesign(_frame(), weights="w"), {"g": {"x": 10, "y": 10, "z": 3}},
        bounds=(2, 1)), WeightingError, ("bounds=(2, 1)", "low must be below high")),
    Case("impossible trimming bound", lambda tmp: pc.trim_weights(
        pc.SurveyDesign(_frame(), weights="w"), upper=0.1), WeightingError,
        ("upper=0.1", "raise upper")),
    Case("margins file of another format", lambda tmp: pc.read_margins(
        _margins_file(tmp, "format: perception-margins/9\n")), WeightingError,
        ("margins.yaml", "perception-margins/9", "perception-margins/1")),
    Case("margins file without version", lambda tmp: pc.read_margins(_margins_file(
        tmp, "format: perception-margins/1\nmargins:\n  sex:\n    1: 5\n")), WeightingError,
        ("margins.yaml", "'version'", "required")),
    Case("margins file not found", lambda tmp: pc.read_margins(tmp / "none.yaml"),
         WeightingError, ("none.yaml", "not found", "perception-margins/1")),
]


# -------------------------------------------------------------------- formulas --
FORMULA_CASES = [
    Case("formula without ~", lambda tmp: pc.glm(_design(), "y + g"), EstimationError,
         ("'y + g'", "outcome ~ terms")),
    Case("unknown column in a formula", lambda tmp: pc.glm(_design(), "y ~ gg"),
         EstimationError, ("unknown column 'gg'", "Did you mean 'g'")),
    Case("code execution in a formula", lambda tmp: pc.glm(
        _design(), "y ~ __import__('os').getcwd()"), EstimationError,
        ("'__import__'", "not a function a formula may use")),
    Case("attribute access in a formula", lambda tmp: pc.glm(
        _design(), "y ~ np.save('x', w)"), EstimationError,
        ("'save'", "np.log", "Fix:")),
    Case("binomial outcome outside [0, 1]", lambda tmp: pc.glm(_design(), "y ~ g",
                                                               family="binomial"),
         EstimationError, ("'y'", "between 0 and 1", "rows", "I(y == 1)")),
    Case("collinear terms", lambda tmp: pc.glm(_design(y2=_frame()["y"] * 2), "w ~ y + y2"),
         EstimationError, ("'y2'", "linear combination", "Drop them")),
    Case("unknown family", lambda tmp: pc.glm(_design(), "y ~ g", family="gamma"),
         EstimationError, ("'gamma'", "gaussian", "binomial", "poisson")),
]

LIBRARY_CASES = (FILE_CASES + QUESTIONNAIRE_CASES + VALIDATION_CASES + DESIGN_CASES
                 + ESTIMATE_CASES + WEIGHTING_CASES + FORMULA_CASES)


@pytest.mark.parametrize("case", LIBRARY_CASES, ids=[c.id for c in LIBRARY_CASES])
def test_library_refuses_with_a_clear_message(case, tmp_path):
    with pytest.raises(case.error) as info:
        case.act(tmp_path)
    assert isinstance(info.value, PerceptionError)
    message = str(info.value)
    for fragment in case.fragments:
        assert fragment in message, (fragment, message)
    assert "Traceback" not in message


def test_validate_reports_duplicated_columns_without_raising():
    data = pd.concat([_wave(), _wave()[["age"]]], axis=1)
    report = pc.validate(data, _q())
    assert not report.ok
    row = report.errors[report.errors["check"] == "duplicate_column"].iloc[0]
    assert row["column"] == "age" and "appears 2 times" in row["message"]
    assert "Fix:" in row["message"]


# ------------------------------------------------------------------------- CLI --
@dataclass(frozen=True)
class CliCase:
    id: str
    argv: Callable[[Path], list[str]]
    fragments: tuple[str, ...]
    code: int = 2


def _small(tmp: Path) -> str:
    return str(SMALL_WAVE)


def _bad_margins(tmp: Path) -> str:
    text = MARGINS.read_text(encoding="utf-8").replace("margins:\n", "margins:\n  sex:\n"
                                                       "    1: 100\n    2: 100\n    3: 50\n",
                                                       1)
    data = yaml.safe_load(text)
    data["margins"] = {"sex": {1: 100, 2: 100, 3: 50}}
    data.pop("population_total", None)
    return str(_write(tmp / "margins.yaml", yaml.safe_dump(data, allow_unicode=True)))


Q = str(QUESTIONNAIRE)
CLI_CASES = [
    CliCase("validate: wave file not found", lambda t: ["validate", str(t / "no.csv"), "-q", Q],
            ("no.csv", "not found")),
    CliCase("validate: questionnaire not found", lambda t: ["validate", _small(t), "-q",
                                                            str(t / "q.yaml")],
            ("questionnaire file not found", "q.yaml")),
    CliCase("validate: text saved as .xlsx", lambda t: [
        "validate", str(_write(t / "w.xlsx", SMALL_WAVE.read_text())), "-q", Q],
        ("extension .xlsx", "Fix:")),
    CliCase("validate: 2 GB file", lambda t: ["validate", str(_sparse(t / "huge.csv")), "-q", Q],
            ("huge.csv", "bytes", "limit")),
    CliCase("validate: --max-bytes below the file", lambda t: [
        "validate", _small(t), "-q", Q, "--max-bytes", "100"], ("limit of 100 bytes",)),
    CliCase("validate: a failing wave exits 1", lambda t: [
        "validate", str(_edited_wave(t, _set("age", 3, "vingt"))), "-q", Q], (), code=1),
    CliCase("figures: unknown figure name", lambda t: [
        "figures", "--demo", "--out", str(t / "f"), "--only", "trust_actor"],
        ("unknown figure 'trust_actor'", "Did you mean 'trust_actors'", "Valid figures")),
    # a folder under a regular file cannot be created, even by root (CI may run as root,
    # for whom chmod does not make a folder unwritable)
    CliCase("figures: unwritable output folder", lambda t: [
        "figures", "--demo", "--out", str(_write(t / "file.txt", "x") / "figs")],
        ("cannot write to the output folder", "--out")),
    CliCase("figures: unknown image format", lambda t: [
        "figures", "--demo", "--out", str(t / "f"), "--format", "gif"],
        ("unknown figure format 'gif'", "png")),
    CliCase("figures: --min-cell 0", lambda t: [
        "figures", "--demo", "--out", str(t / "f"), "--min-cell", "0"],
        ("--min-cell must be at least 1",)),
    CliCase("figures: --data without questionnaire", lambda t: [
        "figures", "--data", _small(t), "--out", str(t / "f")], ("--questionnaire",)),
    CliCase("figures: --strict with answers left out", lambda t: [
        "figures", "--data", _small(t), "-q", Q, "--out", str(t / "f"), "--only",
        "trust_actors", "--strict", "--no-progress"],
        ("--strict", "trust_police: 4 of 12 answers", "9 Ne sait pas", "Fix:")),
    CliCase("weights: margins file not found", lambda t: [
        "weights", _small(t), "-q", Q, "--margins", str(t / "m.yaml"), "--out",
        str(t / "o.csv")], ("m.yaml", "not found")),
    CliCase("weights: level of the margins absent from the wave", lambda t: [
        "weights", _small(t), "-q", Q, "--margins", _bad_margins(t), "--out",
        str(t / "o.csv")], ("sex", "3", "absent")),
    CliCase("weights: unknown method", lambda t: [
        "weights", _small(t), "-q", Q, "--margins", str(MARGINS), "--out", str(t / "o.csv"),
        "--method", "ipf"], ("invalid choice: 'ipf'",)),
    CliCase("weights: unknown starting weight column", lambda t: [
        "weights", _small(t), "-q", Q, "--margins", str(MARGINS), "--out", str(t / "o.csv"),
        "--weights", "poids"], ("--weights 'poids'", "no such column")),
    CliCase("estimate: unknown variable", lambda t: [
        "estimate", _small(t), "-q", Q, "--var", "trust_polise"],
        ("no column 'trust_polise'", "trust_police")),
    CliCase("estimate: --strict with rows left out", lambda t: [
        "estimate", _small(t), "-q", Q, "--var", "vict_reported", "--strict"],
        ("--strict", "vict_reported: 8 of 12 answers", "non posée: 7", "Fix:")),
    CliCase("export: output not CSV", lambda t: [
        "export", _small(t), "-q", Q, "--out", str(t / "share.json")], ("must be a .csv",)),
    CliCase("simulate: too few respondents", lambda t: [
        "simulate", "--out", str(t / "sim"), "--n-per-wave", "5"], ("n_per_wave", "200")),
    CliCase("unknown subcommand", lambda t: ["estimat"], ("invalid choice: 'estimat'",)),
]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    captured = capsys.readouterr()
    return int(code), captured.err + captured.out


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_command_line_fails_cleanly(case, tmp_path, capsys):
    code, output = _run(case.argv(tmp_path), capsys)
    assert code == case.code, output
    assert "Traceback" not in output
    for fragment in case.fragments:
        assert fragment in output, (fragment, output)


def test_the_catalogue_is_complete():
    """At least 40 bad inputs, over every area the brief names."""
    assert len(LIBRARY_CASES) + len(CLI_CASES) >= 40
    areas = [FILE_CASES, QUESTIONNAIRE_CASES, VALIDATION_CASES, DESIGN_CASES,
             ESTIMATE_CASES, WEIGHTING_CASES, FORMULA_CASES, CLI_CASES]
    assert all(len(area) >= 5 for area in areas)
