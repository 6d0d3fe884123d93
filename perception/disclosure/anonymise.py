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


def k_anonymity(
    df: pd.DataFrame,
    quasi_identifiers: Sequence[str] | None = None,
    k: int = DEFAULT_K,
) -> pd.DataFrame:
    """Combinations of quasi-identifiers shared by fewer than ``k`` records.

    A record whose combination of sex, age band, ethnicity, occupation, displacement and
    place is rare can be recognised by someone who knows the person, even without a
    name. The data set is k-anonymous when every combination is shared by at least
    ``k`` records.

    Parameters
    ----------
    df : DataFrame
        The records; never modified. Band ages (and coarsen places) first: raw ages make
        almost every record unique.
    quasi_identifiers : list of str, optional
        Default: the columns of :data:`DEFAULT_QUASI_IDENTIFIERS` present in ``df``.
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
    if not isinstance(df, pd.DataFrame):
        raise DisclosureError(f"k_anonymity needs a pandas DataFrame, got {type(df).__name__}")
    check_count("k", k)
    qi = _quasi_identifiers(df, quasi_identifiers)
    if df.empty:
        table = pd.DataFrame(columns=[*qi, "count"])
        n_comb = 0
    else:
        counts = df.groupby(qi, dropna=False, sort=True).size()
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
        "n_records": len(df),
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
    """The result of :func:`anonymise_wave`: ``data, report, rare = anonymise_wave(...)``."""

    #: the shareable wave
    data: pd.DataFrame
    #: what was removed, coarsened, kept or flagged: step, column, action, rows, detail
    report: pd.DataFrame
    #: the rare quasi-identifier combinations (see :func:`k_anonymity`)
    rare: pd.DataFrame


def _age_labels(bands: Sequence[int]) -> list[str]:
    return [f"{lo}-{hi - 1}" for lo, hi in zip(bands[:-1], bands[1:], strict=True)] + [
        f"{bands[-1]}+"]


def anonymise_wave(
    df: pd.DataFrame,
    q: Questionnaire,
    *,
    k: int = DEFAULT_K,
    quasi_identifiers: Sequence[str] | None = None,
    pii: Literal["drop", "hash"] = "drop",
    key: str | bytes | None = None,
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
    2. Personal data: the ``pii: true`` columns are dropped, or with ``pii="hash"``
       replaced by their keyed hash (:func:`hash_pii`).
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
       by fewer than ``k`` records are **flagged** in the report and in ``rare``, not
       removed: coarsen or suppress them before sharing if needed. Export one wave at a
       time (a panel respondent appears once per wave).

    Parameters
    ----------
    df : DataFrame
        A wave (validated); never modified.
    q : Questionnaire
    k : int
        k of k-anonymity, and the fewest respondents of a commune centroid (10).
    key : str or bytes
        The secret for ``pii="hash"``; never stored.

    Returns
    -------
    Anonymised
        ``(data, report, rare)``: the shareable wave (rows in the same order, none
        removed), the report (``step, column, action, rows, detail``) and the rare
        combinations.

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
    check_frame(df, q, "anonymise_wave")
    check_count("k", k)
    if pii not in ("drop", "hash"):
        raise DisclosureError(f"pii must be 'drop' or 'hash', got {pii!r}")
    if pii == "drop" and key is not None:
        raise DisclosureError("key given but pii='drop'. Fix: pass pii='hash' to keep "
                              "pseudonyms, or drop key.")
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
    out = df.copy()
    report: list[dict[str, Any]] = []
    roles = set(q.roles.values())

    def note(step: str, column: str, action: str, rows: int, detail: str) -> None:
        report.append({"step": step, "column": column, "action": action, "rows": int(rows),
                       "detail": detail})

    # 1. GPS
    gps_columns = [c for c in out.columns if _GPS_RE.search(str(c)) and c not in roles]
    if gps == "commune" and gps_columns:
        if commune_column not in out.columns:
            raise DisclosureError(
                f"gps='commune' needs the commune column {commune_column!r}, absent from the "
                "data. Fix: pass commune_column=..., or gps='drop'."
            )
        commune = out[commune_column]
        sizes = commune.map(commune.value_counts(dropna=True)).fillna(0).to_numpy()
        for column in gps_columns:
            values = pd.to_numeric(out[column], errors="coerce")
            if values.notna().sum() == 0:
                out = out.drop(columns=[column])
                note("gps", column, "dropped", df[column].notna().sum(),
                     "position that is not a number (e.g. a geopoint text)")
                continue
            centroid = values.groupby(commune, dropna=True).transform("mean").round(2)
            out[column] = centroid.where(sizes >= k)
            note("gps", column, "coarsened", df[column].notna().sum(),
                 f"replaced by the mean position of the commune's respondents (2 decimals); "
                 f"empty for communes with fewer than {k} respondents")
    else:
        for column in gps_columns:
            out = out.drop(columns=[column])
            note("gps", column, "dropped", df[column].notna().sum(), "GPS position")

    # 2. personal data
    pii_columns = [c for c in q.pii if c in out.columns and c not in gps_columns]
    if pii == "hash":
        if key is None:
            raise DisclosureError("pii='hash' needs key=<secret> (at least 16 bytes). Fix: "
                                  "pass key=..., or pii='drop'.")
        out = hash_columns(out, pii_columns, secret_key(key))
        for column in pii_columns:
            note("pii", column, "hashed", df[column].notna().sum(),
                 "personal data replaced by its keyed HMAC-SHA256 hash")
    else:
        out = out.drop(columns=pii_columns)
        for column in pii_columns:
            note("pii", column, "dropped", df[column].notna().sum(),
                 "personal data (pii: true in the questionnaire)")

    # 3. columns the questionnaire does not declare
    if drop_unknown:
        for column in [c for c in out.columns if c not in q]:
            out = out.drop(columns=[column])
            note("unknown", str(column), "dropped", df[column].notna().sum(),
                 "not in the questionnaire: may hold personal data or paradata")

    # 4. free text
    if drop_free_text:
        for var in q.variable_list:
            if (var.type == "text" and var.role is None and not var.pii
                    and var.name != commune_column and var.name in out.columns):
                out = out.drop(columns=[var.name])
                note("free_text", var.name, "dropped", df[var.name].notna().sum(),
                     "text answers (free text, codes) may name or describe people")

    # 5. commune
    if commune_column in out.columns and not keep_commune:
        out = out.drop(columns=[commune_column])
        to = "the cercle (kept)" if "cercle" in out.columns else "nothing finer"
        note("geography", commune_column, "dropped", df[commune_column].notna().sum(),
             f"commune coarsened to {to}")

    # 6. age
    band_column: str | None = None
    if age_column in out.columns:
        existing = next((c for c in (f"{age_column}_grp", f"{age_column}_band")
                         if c in out.columns), None)
        if existing is not None:
            out = out.drop(columns=[age_column])
            band_column = existing
            note("age", age_column, "dropped", df[age_column].notna().sum(),
                 f"exact age removed; the age band {existing!r} stays")
        else:
            band_column = "age_band"
            missing = set(q.missing_codes(age_column)) if age_column in q else set()
            ages = pd.to_numeric(out[age_column], errors="coerce")
            ages = ages.where(~ages.isin([float(m) for m in missing]))
            labels = _age_labels(bands)
            edges = [*bands, np.inf]
            banded = pd.cut(ages, bins=edges, right=False, labels=labels)
            position = list(out.columns).index(age_column)
            out = out.drop(columns=[age_column])
            out.insert(position, band_column, banded.astype("str").where(banded.notna()))
            empty = int(df[age_column].notna().sum() - banded.notna().sum())
            note("age", age_column, "banded", df[age_column].notna().sum(),
                 f"replaced by age_band ({', '.join(labels)})"
                 + (f"; {empty} missing codes or ages under {bands[0]} left empty" if empty else ""))

    # 7. dates
    if dates != "keep":
        for var in q.variable_list:
            if var.type != "date" or var.name not in out.columns or var.role is not None:
                continue
            if dates == "drop":
                out = out.drop(columns=[var.name])
                note("dates", var.name, "dropped", df[var.name].notna().sum(), "date removed")
            else:
                stamps = pd.to_datetime(out[var.name], errors="coerce", format="ISO8601")
                out[var.name] = stamps.dt.strftime("%Y-%m").astype("str").where(stamps.notna())
                note("dates", var.name, "coarsened", df[var.name].notna().sum(),
                     "date coarsened to the month (YYYY-MM)")

    # 8. sensitive variables
    for var in q.variable_list:
        if var.sensitive and var.name in out.columns:
            note("sensitive", var.name, "kept", out[var.name].notna().sum(),
                 "sensitive answer: release under restricted access only")

    # 9. k-anonymity
    if quasi_identifiers is None:
        place = commune_column if keep_commune else None
        candidates = ["sex", band_column, "ethnic", "activity", "displaced", place]
        qi = [c for c in dict.fromkeys(candidates) if c and c in out.columns]
        if not qi:
            raise DisclosureError(
                "none of the default quasi-identifiers is left in the data. Fix: pass "
                "quasi_identifiers=[...]."
            )
    else:
        qi = _quasi_identifiers(out, quasi_identifiers)
    rare = k_anonymity(out, qi, k)
    at_risk = rare.attrs["records_at_risk"]
    note("k_anonymity", " + ".join(qi), "flagged" if at_risk else "checked", at_risk,
         f"{len(rare)} of {rare.attrs['combinations']} combinations shared by fewer than "
         f"{k} records (flagged, not removed)" if at_risk
         else f"every combination is shared by at least {k} records")
    table = pd.DataFrame(report, columns=ANONYMISATION_REPORT_COLUMNS)
    table["rows"] = table["rows"].astype("int64")
    out.attrs = {}
    return Anonymised(out, table, rare)
