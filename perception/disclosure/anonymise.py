"""Anonymised exports: a wave made shareable, and the k-anonymity of its quasi-identifiers.

Data files that leave the project go through :func:`anonymise_wave`: personal data
(``pii: true`` in the questionnaire) removed or replaced by a keyed hash
(:mod:`perception.disclosure.pii`), GPS removed (or coarsened to the commune), the
commune coarsened to the cercle, age to bands, dates to months, free text and columns
the questionnaire does not declare removed, and combinations of quasi-identifiers shared
by fewer than ``k`` records flagged (:func:`k_anonymity`).

The thresholds follow the project's practice for respondents in Central Mali (after the
OCHA Centre for Humanitarian Data guidance on statistical disclosure control): no
published estimate on fewer than 30 respondents, no table cell counting fewer than 10,
``k = 10`` identical records on the quasi-identifiers (stricter than the common
``k = 5``), estimates with a coefficient of variation above 30% flagged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from ..deprecation import positional_deprecated, renamed_argument, warn_renamed_attribute
from ..errors import DisclosureError
from .pii import check_frame, hash_columns, secret_key
from .suppression import DEFAULT_K, check_count

if TYPE_CHECKING:  # pragma: no cover
    from ..questionnaire.model import Questionnaire

__all__ = [
    "k_anonymity",
    "anonymise_wave",
    "Anonymised",
    "DEFAULT_QUASI_IDENTIFIERS",
    "DEFAULT_AGE_BANDS",
    "ANONYMISATION_REPORT_COLUMNS",
]

#: quasi-identifiers of the Central Mali questionnaire (columns that are absent are skipped)
DEFAULT_QUASI_IDENTIFIERS = ("sex", "age_grp", "ethnic", "activity", "displaced", "commune")


def _quasi_identifiers(df: pd.DataFrame, quasi_identifiers: Sequence[str] | None) -> list[str]:
    if quasi_identifiers is None:
        chosen = [c for c in DEFAULT_QUASI_IDENTIFIERS if c in df.columns]
        if not chosen:
            raise DisclosureError(
                "none of the default quasi-identifiers "
                f"({', '.join(DEFAULT_QUASI_IDENTIFIERS)}) is a column of the data. Fix: "
                "pass quasi_identifiers=[...] naming the columns that describe a person "
                "(sex, age band, ethnicity, occupation, displacement, place)."
            )
        return chosen
    if isinstance(quasi_identifiers, str):
        quasi_identifiers = [quasi_identifiers]
    chosen = list(quasi_identifiers)
    absent = [c for c in chosen if c not in df.columns]
    if absent or not chosen:
        raise DisclosureError(
            f"quasi_identifiers: {', '.join(map(repr, absent)) or '(none given)'} "
            f"{'is not a column' if len(absent) == 1 else 'are not columns'} of the data. Fix: "
            f"use columns of the data ({', '.join(map(str, df.columns[:30]))}"
            f"{' ...' if df.shape[1] > 30 else ''})."
        )
    return chosen


def _combination_sizes(df: pd.DataFrame, qi: Sequence[str]) -> np.ndarray:
    """For each row, the number of rows sharing its quasi-identifier values."""
    groups = df.groupby(list(qi), dropna=False, sort=False).ngroup().to_numpy()
    return np.bincount(groups)[groups]


@positional_deprecated("k")
@renamed_argument("df", "data")
def k_anonymity(
    data: pd.DataFrame,
    quasi_identifiers: Sequence[str] | None = None,
    *,
    k: int = DEFAULT_K,
) -> pd.DataFrame:
    """Combinations of quasi-identifiers shared by fewer than ``k`` records.

    A record whose combination of sex, age band, ethnicity, occupation, displacement and
    place is rare can be recognised by someone who knows the person, even without a
    name. The data set is k-anonymous when every combination is shared by at least
    ``k`` records.

    Parameters
    ----------
    data : DataFrame
        The records; never modified. Band ages (and coarsen places) first: raw ages make
        almost every record unique.
    quasi_identifiers : list of str, optional
        Default: the columns of ``DEFAULT_QUASI_IDENTIFIERS`` present in ``data``.
    k : int
        Smallest number of records a combination must be shared by (10).

    Returns
    -------
    DataFrame
        One row per rare combination: the quasi-identifier columns and ``count``, rarest
        first; a missing value is a value of its own. ``attrs``: ``k``,
        ``quasi_identifiers``, ``records_at_risk``, ``combinations`` (all),
        ``n_records``.

    Examples
    --------
    >>> df = pd.DataFrame({"sex": [1] * 12 + [2], "ethnic": [1] * 12 + [7]})
    >>> k_anonymity(df, ["sex", "ethnic"], k=10).to_dict("records")
    [{'sex': 2, 'ethnic': 7, 'count': 1}]

    Notes
    -----
    Sweeney (2002), "k-anonymity: a model for protecting privacy". R: ``sdcMicro::
    freqCalc``/``kAnon``.
    """
    if not isinstance(data, pd.DataFrame):
        raise DisclosureError(
            f"k_anonymity needs a pandas DataFrame, got {type(data).__name__}")
    check_count("k", k)
    qi = _quasi_identifiers(data, quasi_identifiers)
    if data.empty:
        table = pd.DataFrame(columns=[*qi, "count"])
        n_comb = 0
    else:
        counts = data.groupby(qi, dropna=False, sort=True).size()
        n_comb = len(counts)
        table = counts.rename("count").reset_index()
        table = table[table["count"] < k].sort_values("count", kind="stable").reset_index(
            drop=True)
    table["count"] = table["count"].astype("int64")
    table.attrs = {
        "k": int(k),
        "quasi_identifiers": qi,
        "records_at_risk": int(table["count"].sum()),
        "combinations": int(n_comb),
        "n_records": len(data),
    }
    return table


#: columns of :func:`anonymise_wave`'s report
ANONYMISATION_REPORT_COLUMNS = ["step", "column", "action", "rows", "detail"]


#: default age bands (lower bounds): 18-24, 25-34, 35-44, 45-54, 55+
DEFAULT_AGE_BANDS = (18, 25, 35, 45, 55)


_GPS_RE = re.compile(
    r"(^|[_\W])(gps|geopoint|geolocation|geo|lat|latitude|lon|lng|longitude|coords?|"
    r"coordinates)([_\W]|$)",
    re.IGNORECASE,
)


class Anonymised(NamedTuple):
    """The result of :func:`anonymise_wave`: ``data, report, rare_combinations =
    anonymise_wave(...)``.

    Attributes
    ----------
    data : DataFrame
        The shareable wave.
    report : DataFrame
        What was removed, coarsened, kept or flagged: ``step``, ``column``, ``action``,
        ``rows``, ``detail``.
    rare_combinations : DataFrame
        The combinations of quasi-identifiers shared by fewer than ``k`` records (the
        table of :func:`k_anonymity`).
    """

    data: pd.DataFrame
    report: pd.DataFrame
    rare_combinations: pd.DataFrame

    @property
    def rare(self) -> pd.DataFrame:
        """Old name of ``rare_combinations`` (removed in the next release)."""
        warn_renamed_attribute("Anonymised", "rare", "rare_combinations")
        return self.rare_combinations


class _Release:
    """A wave on its way to being shared: the input (never modified), the working copy and
    the report of every step."""

    def __init__(self, original: pd.DataFrame) -> None:
        self.original = original
        self.data = original.copy()
        self.notes: list[dict[str, Any]] = []

    def note(self, step: str, column: str, action: str, detail: str,
             rows: int | None = None) -> None:
        """Report a step on ``column``; ``rows``: its non-empty cells in the input."""
        if rows is None:
            rows = int(self.original[column].notna().sum())
        self.notes.append({"step": step, "column": column, "action": action,
                           "rows": int(rows), "detail": detail})

    def drop(self, step: str, column: str, detail: str) -> None:
        self.data = self.data.drop(columns=[column])
        self.note(step, str(column), "dropped", detail, int(self.original[column].notna().sum()))

    def report(self) -> pd.DataFrame:
        table = pd.DataFrame(self.notes, columns=ANONYMISATION_REPORT_COLUMNS)
        table["rows"] = table["rows"].astype("int64")
        return table


def _age_labels(bands: Sequence[int]) -> list[str]:
    return [f"{lo}-{hi - 1}" for lo, hi in zip(bands[:-1], bands[1:], strict=True)] + [
        f"{bands[-1]}+"]


def _checked_options(*, k: int, keep_pii: str, hash_key: str | bytes | None, gps: str,
                     keep_commune: bool, age_bands: Sequence[int], dates: str
                     ) -> tuple[bytes | None, list[int]]:
    """The secret of the keyed hash (None with ``keep_pii="drop"``) and the age bands,
    after checking every option before any work is done."""
    check_count("k", k)
    if keep_pii not in ("drop", "hash"):
        raise DisclosureError(f"keep_pii must be 'drop' or 'hash', got {keep_pii!r}")
    if keep_pii == "drop" and hash_key is not None:
        raise DisclosureError("hash_key given but keep_pii='drop'. Fix: pass keep_pii='hash' "
                              "to keep pseudonyms, or drop hash_key.")
    if keep_pii == "hash" and hash_key is None:
        raise DisclosureError("keep_pii='hash' needs hash_key=<secret> (at least 16 bytes). "
                              "Fix: pass hash_key=..., or keep_pii='drop'.")
    if gps not in ("drop", "commune"):
        raise DisclosureError(f"gps must be 'drop' or 'commune', got {gps!r}")
    if dates not in ("month", "keep", "drop"):
        raise DisclosureError(f"dates must be 'month', 'keep' or 'drop', got {dates!r}")
    bands = [int(b) for b in age_bands]
    if not bands or any(b2 <= b1 for b1, b2 in zip(bands, bands[1:], strict=False)):
        raise DisclosureError(f"age_bands must be increasing lower bounds, got {age_bands!r}")
    if gps == "commune" and not keep_commune:
        raise DisclosureError(
            "gps='commune' replaces positions by commune centroids, which reveal the "
            "commune that keep_commune=False removes. Fix: pass keep_commune=True, or "
            "gps='drop'."
        )
    secret = secret_key(hash_key) if keep_pii == "hash" else None
    return secret, bands


def _gps_columns(release: _Release, questionnaire: Questionnaire) -> list[str]:
    """Columns named like coordinates, never a design column."""
    roles = set(questionnaire.roles.values())
    return [c for c in release.data.columns if _GPS_RE.search(str(c)) and c not in roles]


def _remove_gps(release: _Release, columns: list[str], gps: str, commune_column: str,
                k: int) -> None:
    """Step 1: drop the positions, or replace them by their commune's mean position."""
    if gps != "commune" or not columns:
        for column in columns:
            release.drop("gps", column, "GPS position")
        return
    if commune_column not in release.data.columns:
        raise DisclosureError(
            f"gps='commune' needs the commune column {commune_column!r}, absent from the "
            "data. Fix: pass commune_column=..., or gps='drop'."
        )
    commune = release.data[commune_column]
    sizes = commune.map(commune.value_counts(dropna=True)).fillna(0).to_numpy()
    for column in columns:
        values = pd.to_numeric(release.data[column], errors="coerce")
        if values.notna().sum() == 0:
            release.drop("gps", column, "position that is not a number (e.g. a geopoint text)")
            continue
        centroid = values.groupby(commune, dropna=True).transform("mean").round(2)
        release.data[column] = centroid.where(sizes >= k)
        release.note("gps", column, "coarsened",
                     f"replaced by the mean position of the commune's respondents (2 "
                     f"decimals); empty for communes with fewer than {k} respondents")


def _remove_pii(release: _Release, questionnaire: Questionnaire, gps_columns: list[str],
                secret: bytes | None) -> None:
    """Step 2: drop the ``pii: true`` columns, or replace them by their keyed hash."""
    columns = [c for c in questionnaire.pii
               if c in release.data.columns and c not in gps_columns]
    if secret is None:
        for column in columns:
            release.drop("pii", column, "personal data (pii: true in the questionnaire)")
        return
    release.data = hash_columns(release.data, columns, secret)
    for column in columns:
        release.note("pii", column, "hashed",
                     "personal data replaced by its keyed HMAC-SHA256 hash")


def _drop_undeclared(release: _Release, questionnaire: Questionnaire) -> None:
    """Step 3: drop the columns the questionnaire does not declare."""
    for column in [c for c in release.data.columns if c not in questionnaire]:
        release.drop("unknown", column,
                     "not in the questionnaire: may hold personal data or paradata")


def _drop_free_text(release: _Release, questionnaire: Questionnaire,
                    commune_column: str) -> None:
    """Step 4: drop the text answers that have no design role."""
    for var in questionnaire.variable_list:
        if (var.type == "text" and var.role is None and not var.pii
                and var.name != commune_column and var.name in release.data.columns):
            release.drop("free_text", var.name,
                         "text answers (free text, codes) may name or describe people")


def _drop_commune(release: _Release, commune_column: str) -> None:
    """Step 5: coarsen the commune to the cercle (the commune column goes)."""
    if commune_column not in release.data.columns:
        return
    release.data = release.data.drop(columns=[commune_column])
    to = "the cercle (kept)" if "cercle" in release.data.columns else "nothing finer"
    release.note("geography", commune_column, "dropped", f"commune coarsened to {to}")


def _band_age(release: _Release, questionnaire: Questionnaire, age_column: str,
              bands: list[int]) -> str | None:
    """Step 6: replace the age by its band; the name of the band column, if any."""
    data = release.data
    if age_column not in data.columns:
        return None
    existing = next((c for c in (f"{age_column}_grp", f"{age_column}_band")
                     if c in data.columns), None)
    if existing is not None:
        release.drop("age", age_column, f"exact age removed; the age band {existing!r} stays")
        return existing
    missing = set(questionnaire.missing_codes(age_column)) if age_column in questionnaire \
        else set()
    ages = pd.to_numeric(data[age_column], errors="coerce")
    ages = ages.where(~ages.isin([float(m) for m in missing]))
    labels = _age_labels(bands)
    banded = pd.cut(ages, bins=[*bands, np.inf], right=False, labels=labels)
    position = list(data.columns).index(age_column)
    release.data = data = data.drop(columns=[age_column])
    data.insert(position, "age_band", banded.astype("str").where(banded.notna()))
    given = int(release.original[age_column].notna().sum())
    empty = given - int(banded.notna().sum())
    release.note("age", age_column, "banded",
                 f"replaced by age_band ({', '.join(labels)})"
                 + (f"; {empty} missing codes or ages under {bands[0]} left empty"
                    if empty else ""))
    return "age_band"


def _coarsen_dates(release: _Release, questionnaire: Questionnaire, dates: str) -> None:
    """Step 7: dates (without a design role) to the month, or dropped."""
    if dates == "keep":
        return
    for var in questionnaire.variable_list:
        if var.type != "date" or var.name not in release.data.columns or var.role is not None:
            continue
        if dates == "drop":
            release.drop("dates", var.name, "date removed")
            continue
        stamps = pd.to_datetime(release.data[var.name], errors="coerce", format="ISO8601")
        release.data[var.name] = stamps.dt.strftime("%Y-%m").astype("str").where(
            stamps.notna())
        release.note("dates", var.name, "coarsened", "date coarsened to the month (YYYY-MM)")


def _list_sensitive(release: _Release, questionnaire: Questionnaire) -> None:
    """Step 8: the sensitive variables stay, and are listed."""
    for var in questionnaire.variable_list:
        if var.sensitive and var.name in release.data.columns:
            release.note("sensitive", var.name, "kept",
                         "sensitive answer: release under restricted access only",
                         int(release.data[var.name].notna().sum()))


def _flag_rare(release: _Release, quasi_identifiers: Sequence[str] | None,
               band_column: str | None, commune_column: str, keep_commune: bool,
               k: int) -> pd.DataFrame:
    """Step 9: the combinations of quasi-identifiers shared by fewer than ``k`` records
    (flagged in the report, not removed)."""
    data = release.data
    if quasi_identifiers is None:
        place = commune_column if keep_commune else None
        candidates = ["sex", band_column, "ethnic", "activity", "displaced", place]
        qi = [c for c in dict.fromkeys(candidates) if c and c in data.columns]
        if not qi:
            raise DisclosureError(
                "none of the default quasi-identifiers is left in the data. Fix: pass "
                "quasi_identifiers=[...]."
            )
    else:
        qi = _quasi_identifiers(data, quasi_identifiers)
    rare = k_anonymity(data, qi, k=k)
    at_risk = rare.attrs["records_at_risk"]
    release.note("k_anonymity", " + ".join(qi), "flagged" if at_risk else "checked",
                 f"{len(rare)} of {rare.attrs['combinations']} combinations shared by fewer "
                 f"than {k} records (flagged, not removed)" if at_risk
                 else f"every combination is shared by at least {k} records", at_risk)
    return rare


@renamed_argument("df", "data")
@renamed_argument("q", "questionnaire")
@renamed_argument("pii", "keep_pii")
@renamed_argument("key", "hash_key")
def anonymise_wave(
    data: pd.DataFrame,
    questionnaire: Questionnaire,
    *,
    k: int = DEFAULT_K,
    quasi_identifiers: Sequence[str] | None = None,
    keep_pii: Literal["drop", "hash"] = "drop",
    hash_key: str | bytes | None = None,
    gps: Literal["drop", "commune"] = "drop",
    keep_commune: bool = False,
    commune_column: str = "commune",
    age_column: str = "age",
    age_bands: Sequence[int] = DEFAULT_AGE_BANDS,
    dates: Literal["month", "keep", "drop"] = "month",
    drop_free_text: bool = True,
    drop_unknown: bool = True,
) -> Anonymised:
    """Make a wave shareable: remove personal data, coarsen, flag rare combinations.

    Steps, in order (each reported):

    1. GPS: columns named like coordinates (``gps``, ``lat``, ``lon``, ``latitude``,
       ``geopoint`` ...; never a design column) are dropped, or with ``gps="commune"``
       replaced by the mean position of the respondents of the same commune (2
       decimals), left empty for communes with fewer than ``k`` respondents.
    2. Personal data: the ``pii: true`` columns are dropped, or with ``keep_pii="hash"``
       replaced by their keyed hash (``hash_pii``).
    3. Columns the questionnaire does not declare are dropped (they may hold personal
       data or paradata) unless ``drop_unknown=False``.
    4. Free text: ``text`` variables without a design role are dropped unless
       ``drop_free_text=False`` (answers such as "other, specify" name people).
    5. The commune (``commune_column``) is dropped -- coarsened to the cercle, which
       stays -- unless ``keep_commune=True``.
    6. Age: replaced by ``age_band`` (``age_bands``' lower bounds: 18-24, 25-34, 35-44,
       45-54, 55+); dropped when the data already hold ``age_grp``. Missing-value codes
       (998/999) leave the band empty.
    7. Dates (``date`` variables) become months (``"2024-03"``), or are kept or dropped.
    8. Sensitive variables are kept and listed (restricted release).
    9. k-anonymity: combinations of quasi-identifiers (default: ``sex``, the age band,
       ``ethnic``, ``activity``, ``displaced``, and the commune when it is kept) shared
       by fewer than ``k`` records are **flagged** in the report and in
       ``rare_combinations``, not removed: coarsen or suppress them before sharing if
       needed. Export one wave at a time (a panel respondent appears once per wave).

    Parameters
    ----------
    data : DataFrame
        A wave (validated); never modified.
    questionnaire : Questionnaire
        The questionnaire of the wave: its ``pii``, ``text``, ``date`` and
        ``sensitive`` variables and design roles.
    k : int
        k of k-anonymity, and the fewest respondents of a commune centroid (10).
    quasi_identifiers : sequence of str, optional
        The columns whose combinations are checked (step 9).
    keep_pii : {"drop", "hash"}
        Drop the ``pii: true`` columns (default), or replace each value by its keyed
        hash.
    hash_key : str or bytes, optional
        The secret for ``keep_pii="hash"`` (at least 16 bytes); never stored.
    gps : {"drop", "commune"}
        Drop the positions (default), or replace them by the commune's mean position
        (needs ``keep_commune=True``).
    keep_commune : bool
        Keep the commune column (default: dropped, coarsened to the cercle).
    commune_column : str
        The commune column.
    age_column : str
        The column of the age in years.
    age_bands : sequence of int
        Lower bounds of the age bands, increasing.
    dates : {"month", "keep", "drop"}
        Dates coarsened to the month (default), kept, or dropped.
    drop_free_text : bool
        Drop the ``text`` variables without a design role (default).
    drop_unknown : bool
        Drop the columns the questionnaire does not declare (default).

    Returns
    -------
    Anonymised
        ``(data, report, rare_combinations)``: the shareable wave (rows in the same
        order, none removed), the report (``step, column, action, rows, detail``) and
        the rare combinations.

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> shared, report, rare = pc.anonymise_wave(demo.waves, demo.questionnaire)
    >>> len(shared) == len(demo.waves)
    True
    >>> report.loc[report["action"] == "dropped", "column"].tolist()
    ['gps_lat', 'gps_lon', 'resp_name', 'phone', 'hh_id', 'commune', 'age']
    >>> print(report.loc[report["column"] == "age", "detail"].iloc[0])
    exact age removed; the age band 'age_grp' stays

    Notes
    -----
    Follows the OCHA Centre for Humanitarian Data guidance on statistical disclosure
    control, with the thresholds of this module's docstring. R: ``sdcMicro``
    (``globalRecode``, ``kAnon``).
    """
    check_frame(data, questionnaire, "anonymise_wave")
    secret, bands = _checked_options(k=k, keep_pii=keep_pii, hash_key=hash_key, gps=gps,
                                     keep_commune=keep_commune, age_bands=age_bands,
                                     dates=dates)
    release = _Release(data)
    gps_columns = _gps_columns(release, questionnaire)
    _remove_gps(release, gps_columns, gps, commune_column, k)
    _remove_pii(release, questionnaire, gps_columns, secret)
    if drop_unknown:
        _drop_undeclared(release, questionnaire)
    if drop_free_text:
        _drop_free_text(release, questionnaire, commune_column)
    if not keep_commune:
        _drop_commune(release, commune_column)
    band_column = _band_age(release, questionnaire, age_column, bands)
    _coarsen_dates(release, questionnaire, dates)
    _list_sensitive(release, questionnaire)
    rare = _flag_rare(release, quasi_identifiers, band_column, commune_column, keep_commune, k)
    release.data.attrs = {}
    return Anonymised(release.data, release.report(), rare)
