"""Anonymised exports: a wave made shareable, and the k-anonymity of its quasi-identifiers.

Data files that leave the project go through :func:`anonymise_wave`: personal data
(``pii: true``) and identifiers (``role: identifier``) removed or replaced by a keyed
hash (:mod:`perception.disclosure.pii`), GPS removed (or coarsened to the commune), free
text, sensitive answers and columns the questionnaire does not declare removed, dates
coarsened to months, and the combinations of quasi-identifiers (``role:
quasi_identifier``) shared by fewer than ``k`` records found (:func:`k_anonymity`) and,
on request, resolved by coarsening along the ladders the questionnaire declares
(:mod:`perception.disclosure.ladders`). Nothing about which columns describe a person
is written here: the questionnaire says it.

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

import pandas as pd

from ..deprecation import positional_deprecated, renamed_argument, warn_renamed_attribute
from ..errors import DisclosureError
from .ladders import combination_sizes, resolve_k_anonymity
from .pii import check_frame, hash_columns, secret_key
from .suppression import DEFAULT_K, check_count

if TYPE_CHECKING:  # pragma: no cover
    from ..questionnaire.model import Questionnaire

__all__ = [
    "k_anonymity",
    "anonymise_wave",
    "Anonymised",
    "ANONYMISATION_REPORT_COLUMNS",
]


def _quasi_identifiers(df: pd.DataFrame, quasi_identifiers: Sequence[str] | None,
                       questionnaire: Questionnaire | None) -> list[str]:
    if quasi_identifiers is None:
        if questionnaire is None:
            raise DisclosureError(
                "k_anonymity needs the quasi-identifiers. Fix: pass quasi_identifiers=[...] "
                "naming the columns that describe a person (sex, age band, ethnicity, "
                "occupation, displacement, place), or questionnaire=q whose variables say "
                "role: quasi_identifier."
            )
        declared = questionnaire.quasi_identifiers
        chosen = [c for c in declared if c in df.columns]
        if not chosen:
            raise DisclosureError(
                f"questionnaire {questionnaire.id!r} declares "
                + (f"quasi-identifiers ({', '.join(declared)}) none of which is a column of "
                   "the data" if declared else "no quasi-identifier")
                + ". Fix: mark the variables that describe a person (sex, age, ethnicity, "
                "occupation, displacement, place) role: quasi_identifier in the "
                "questionnaire (docs/questionnaire_format.md), or pass quasi_identifiers=[...]."
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


@positional_deprecated("k")
@renamed_argument("df", "data")
def k_anonymity(
    data: pd.DataFrame,
    quasi_identifiers: Sequence[str] | None = None,
    *,
    k: int = DEFAULT_K,
    questionnaire: Questionnaire | None = None,
) -> pd.DataFrame:
    """Combinations of quasi-identifiers shared by fewer than ``k`` records.

    A record whose combination of sex, age band, ethnicity, occupation, displacement and
    place is rare can be recognised by someone who knows the person, even without a
    name. The data set is k-anonymous when every combination is shared by at least
    ``k`` records.

    Parameters
    ----------
    data : DataFrame
        The records; never modified. Raw ages make almost every record unique: coarsen
        them first (``anonymise_wave(..., resolve=True)`` does it along the ladders).
    quasi_identifiers : list of str, optional
        The columns; default: the questionnaire's ``role: quasi_identifier`` variables
        present in ``data``.
    k : int
        Smallest number of records a combination must be shared by (10).
    questionnaire : Questionnaire, optional
        Says which variables are quasi-identifiers (when ``quasi_identifiers`` is not
        given).

    Returns
    -------
    DataFrame
        One row per rare combination: the quasi-identifier columns and ``count``, rarest
        first; a missing value is a value of its own, but a combination whose values are
        all missing describes no one and is never rare. ``attrs``: ``k``,
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
    qi = _quasi_identifiers(data, quasi_identifiers, questionnaire)
    if data.empty:
        table = pd.DataFrame(columns=[*qi, "count"])
        n_comb = 0
    else:
        counts = data.groupby(qi, dropna=False, sort=False).size()
        n_comb = len(counts)
        table = counts.rename("count").reset_index()
        blank = table[qi].isna().all(axis=1)
        table = table[(table["count"] < k) & ~blank].sort_values(
            "count", kind="stable").reset_index(drop=True)
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


def _checked_options(*, k: int, keep_pii: str, hash_key: str | bytes | None, gps: str,
                     dates: str) -> bytes | None:
    """The secret of the keyed hash (None with ``keep_pii="drop"``), after checking every
    option before any work is done."""
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
    return secret_key(hash_key) if keep_pii == "hash" else None


def _check_gps_commune(data: pd.DataFrame, questionnaire: Questionnaire, gps: str,
                       commune_column: str, keep_sensitive: bool) -> None:
    """Commune centroids reveal the commune: only when the commune itself is shared."""
    if gps != "commune":
        return
    if commune_column not in data.columns:
        raise DisclosureError(
            f"gps='commune' needs the commune column {commune_column!r}, absent from the "
            "data. Fix: pass commune_column=..., or gps='drop'."
        )
    if (commune_column in questionnaire and questionnaire.variable(commune_column).sensitive
            and not keep_sensitive):
        raise DisclosureError(
            f"gps='commune' replaces positions by commune centroids, which reveal the "
            f"commune {commune_column!r} that the export drops as sensitive. Fix: pass "
            "keep_sensitive=True (restricted release), or gps='drop'."
        )


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
    """Step 2: drop the ``pii: true`` and ``role: identifier`` columns, or replace them by
    their keyed hash."""
    pii = [c for c in questionnaire.pii if c in release.data.columns and c not in gps_columns]
    ids = [c for c in questionnaire.identifiers if c in release.data.columns]
    why = {**{c: "personal data (pii: true in the questionnaire)" for c in pii},
           **{c: "identifier (role: identifier in the questionnaire)" for c in ids}}
    if secret is None:
        for column, reason in why.items():
            release.drop("pii", column, reason)
        return
    release.data = hash_columns(release.data, list(why), secret)
    for column, reason in why.items():
        release.note("pii", column, "hashed", f"{reason} replaced by its keyed HMAC-SHA256 hash")


def _drop_undeclared(release: _Release, questionnaire: Questionnaire) -> None:
    """Step 3: drop the columns the questionnaire does not declare."""
    for column in [c for c in release.data.columns if c not in questionnaire]:
        release.drop("unknown", column,
                     "not in the questionnaire: may hold personal data or paradata")


def _drop_free_text(release: _Release, questionnaire: Questionnaire) -> None:
    """Step 4: drop the text answers that have no role (design, identifier or
    quasi-identifier)."""
    for var in questionnaire.variable_list:
        if (var.type == "text" and var.role is None and not var.pii
                and var.name in release.data.columns):
            release.drop("free_text", var.name,
                         "text answers (free text, codes) may name or describe people")


def _sensitive(release: _Release, questionnaire: Questionnaire, keep: bool) -> None:
    """Step 5: the sensitive variables are dropped, or kept and listed."""
    for var in questionnaire.variable_list:
        if not var.sensitive or var.name not in release.data.columns:
            continue
        if keep:
            release.note("sensitive", var.name, "kept",
                         "sensitive answer kept (--keep-sensitive): release under "
                         "restricted access only", int(release.data[var.name].notna().sum()))
        else:
            release.drop("sensitive", var.name,
                         "sensitive answer: restricted access only (kept by "
                         "keep_sensitive=True, perception export --keep-sensitive)")


def _coarsen_dates(release: _Release, questionnaire: Questionnaire, dates: str) -> None:
    """Step 6: dates (without a design role) to the month, or dropped."""
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


def _k_anonymity_step(release: _Release, questionnaire: Questionnaire,
                      quasi_identifiers: Sequence[str] | None, k: int, resolve: bool,
                      gps_columns: list[str], commune_column: str) -> pd.DataFrame:
    """Step 7: the combinations of quasi-identifiers shared by fewer than ``k`` records;
    with ``resolve``, coarsened along their ladders and blanked until there are none."""
    data = release.data
    if quasi_identifiers is None and questionnaire.quasi_identifiers:
        qi = [c for c in questionnaire.quasi_identifiers if c in data.columns]
    else:
        qi = _quasi_identifiers(data, quasi_identifiers, questionnaire)
    if not qi:
        release.note("k_anonymity", "(none)", "checked",
                     "no quasi-identifier is left in the shareable data", 0)
        empty = pd.DataFrame({"count": pd.Series([], dtype="int64")})
        empty.attrs = {"k": int(k), "quasi_identifiers": [], "records_at_risk": 0,
                       "combinations": 0, "n_records": len(data)}
        return empty
    if resolve:
        ladders = {c: questionnaire.variable(c).coarsen for c in qi if c in questionnaire}
        missing = {c: questionnaire.missing_codes(c) for c in qi if c in questionnaire}
        before = combination_sizes(data, qi) < k
        resolved, changes = resolve_k_anonymity(data, qi, ladders, missing, k=k)
        if before.any():
            release.note("resolve", " + ".join(qi), "resolved",
                         f"{int(before.sum())} record(s) were at risk before", int(before.sum()))
        for change in changes:
            detail = (f"coarsened to level {change.level!r}" if change.action == "coarsened"
                      else "blanked (still at risk after the coarsening)")
            release.note("resolve", change.column, change.action, detail, change.rows)
        if gps_columns and commune_column in data.columns:
            lost = data[commune_column].notna() & resolved[commune_column].isna()
            for column in [c for c in gps_columns if c in resolved.columns]:
                resolved.loc[lost, column] = float("nan")
        release.data = data = resolved
    rare = k_anonymity(data, qi, k=k)
    at_risk = rare.attrs["records_at_risk"]
    release.note("k_anonymity", " + ".join(qi), "flagged" if at_risk else "checked",
                 f"{len(rare)} of {rare.attrs['combinations']} combinations shared by fewer "
                 f"than {k} records" if at_risk
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
    resolve: bool = False,
    keep_sensitive: bool = False,
    quasi_identifiers: Sequence[str] | None = None,
    keep_pii: Literal["drop", "hash"] = "drop",
    hash_key: str | bytes | None = None,
    gps: Literal["drop", "commune"] = "drop",
    commune_column: str = "commune",
    dates: Literal["month", "keep", "drop"] = "month",
    drop_free_text: bool = True,
    drop_unknown: bool = True,
) -> Anonymised:
    """Make a wave shareable: remove personal data and sensitive answers, then find (and
    with ``resolve=True`` remove) the rare combinations of quasi-identifiers.

    Steps, in order (each reported):

    1. GPS: columns named like coordinates (``gps``, ``lat``, ``lon``, ``latitude``,
       ``geopoint`` ...; never a design column) are dropped, or with ``gps="commune"``
       replaced by the mean position of the respondents of the same commune (2
       decimals), left empty for communes with fewer than ``k`` respondents.
    2. Personal data and identifiers: the ``pii: true`` and ``role: identifier`` columns
       (a household id) are dropped, or with ``keep_pii="hash"`` replaced by their keyed
       hash (``hash_pii``).
    3. Columns the questionnaire does not declare are dropped (they may hold personal
       data or paradata) unless ``drop_unknown=False``.
    4. Free text: ``text`` variables without a role are dropped unless
       ``drop_free_text=False`` (answers such as "other, specify" name people).
    5. Sensitive variables (``sensitive: true``: restricted access only) are dropped
       unless ``keep_sensitive=True``.
    6. Dates (``date`` variables) become months (``"2024-03"``), or are kept or dropped.
    7. k-anonymity: the combinations of the quasi-identifiers left (``role:
       quasi_identifier`` in the questionnaire) shared by fewer than ``k`` records are
       found. With ``resolve=True`` they are removed: the quasi-identifiers are
       coarsened, for every record, one level of their ``coarsen`` ladder at a time
       (each time the variable whose next level takes the most records out of risk),
       then the values of the records still at risk are blanked, variable by variable,
       until every combination is shared by at least ``k`` records (a record whose
       quasi-identifiers are all blank describes no one). Each change is reported
       (``step == "resolve"``: variable, records changed, level reached). Without
       ``resolve`` the data keep the rare combinations: do not share them (``perception
       export`` refuses to). Export one wave at a time (a panel respondent appears once
       per wave).

    Parameters
    ----------
    data : DataFrame
        A wave (validated); never modified.
    questionnaire : Questionnaire
        The questionnaire of the wave: its ``pii``, ``text``, ``date`` and ``sensitive``
        variables, its roles (design, ``identifier``, ``quasi_identifier``) and the
        coarsening ladders.
    k : int
        k of k-anonymity, and the fewest respondents of a commune centroid (10).
    resolve : bool
        Coarsen and blank quasi-identifiers until the data are k-anonymous (step 7).
    keep_sensitive : bool
        Keep the sensitive variables (for a restricted-access release).
    quasi_identifiers : sequence of str, optional
        The columns whose combinations are checked, instead of the questionnaire's
        quasi-identifiers (their ladders, if any, are the questionnaire's).
    keep_pii : {"drop", "hash"}
        Drop the ``pii: true`` and identifier columns (default), or replace each value
        by its keyed hash.
    hash_key : str or bytes, optional
        The secret for ``keep_pii="hash"`` (at least 16 bytes); never stored.
    gps : {"drop", "commune"}
        Drop the positions (default), or replace them by the commune's mean position
        (only when the commune is shared; emptied where ``resolve`` blanks the commune).
    commune_column : str
        The commune column of ``gps="commune"``.
    dates : {"month", "keep", "drop"}
        Dates coarsened to the month (default), kept, or dropped.
    drop_free_text : bool
        Drop the ``text`` variables without a role (default).
    drop_unknown : bool
        Drop the columns the questionnaire does not declare (default).

    Returns
    -------
    Anonymised
        ``(data, report, rare_combinations)``: the shareable wave (rows in the same
        order, none removed), the report (``step, column, action, rows, detail``; the
        changes of ``resolve`` included) and the combinations still shared by fewer than
        ``k`` records (empty after ``resolve``).

    Raises
    ------
    DisclosureError
        For an invalid option, or a questionnaire that declares no quasi-identifier
        present in the data (and no ``quasi_identifiers`` given).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> shared, report, rare = pc.anonymise_wave(demo.waves, demo.questionnaire)
    >>> len(shared) == len(demo.waves), rare.attrs["records_at_risk"] > 0
    (True, True)
    >>> report.loc[report["action"] == "dropped", "column"].tolist()[:6]
    ['gps_lat', 'gps_lon', 'resp_name', 'phone', 'hh_id', 'commune']
    >>> shared, report, rare = pc.anonymise_wave(demo.waves, demo.questionnaire,
    ...                                          resolve=True)
    >>> rare.empty, shared["age"].iloc[0] in ("18-24", "25-34", "35-44", "45-54", "55+")
    (True, True)

    Notes
    -----
    Follows the OCHA Centre for Humanitarian Data guidance on statistical disclosure
    control, with the thresholds of this module's docstring. R: ``sdcMicro``
    (``globalRecode``, ``localSuppression``, ``kAnon``).
    """
    check_frame(data, questionnaire, "anonymise_wave")
    secret = _checked_options(k=k, keep_pii=keep_pii, hash_key=hash_key, gps=gps, dates=dates)
    _check_gps_commune(data, questionnaire, gps, commune_column, keep_sensitive)
    if quasi_identifiers is None and not questionnaire.quasi_identifiers:
        _quasi_identifiers(data, None, questionnaire)  # raises: the fix is in the questionnaire
    release = _Release(data)
    gps_columns = _gps_columns(release, questionnaire)
    _remove_gps(release, gps_columns, gps, commune_column, k)
    _remove_pii(release, questionnaire, gps_columns, secret)
    if drop_unknown:
        _drop_undeclared(release, questionnaire)
    if drop_free_text:
        _drop_free_text(release, questionnaire)
    _sensitive(release, questionnaire, keep_sensitive)
    _coarsen_dates(release, questionnaire, dates)
    rare = _k_anonymity_step(release, questionnaire, quasi_identifiers, k, resolve,
                             gps_columns, commune_column)
    release.data.attrs = {}
    return Anonymised(release.data, release.report(), rare)
