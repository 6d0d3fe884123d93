"""Respondent protection: personal data, small cells, rare combinations.

Library estimators return every cell (analysts need them, and they must equal R).
Outputs — CLI tables, CSV/XLSX exports, figures, reports — pass through
:func:`suppress_small_cells` (or :func:`protect_table`, which also suppresses the
complementary cells that would reveal a suppressed one) first, so a cell estimated from
fewer than ``min_cell`` respondents is never shown, only marked.

Data files that leave the project go through :func:`anonymise_wave`: personal data
(``pii: true`` in the questionnaire) removed or replaced by a keyed hash
(:func:`drop_pii`, :func:`hash_pii`), GPS removed (or coarsened to the commune), the
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
from ..tables import CELL_COUNT_COLUMNS, smallest_count

if TYPE_CHECKING:  # pragma: no cover
    from ..questionnaire.model import Questionnaire


__all__ = [
    "DEFAULT_MIN_CELL",
    "DEFAULT_K",
    "DEFAULT_MAX_CV",
    "DEFAULT_QUASI_IDENTIFIERS",
    "DEFAULT_AGE_BANDS",
    "VALUE_COLUMNS",
    "CELL_COUNT_COLUMNS",
    "SUPPRESSED_MARK",
    "DISCLOSURE_COLUMNS",
    "ANONYMISATION_REPORT_COLUMNS",
    "suppress_small_cells",
    "smallest_count",
    "disclosure_check",
    "protect_table",
    "drop_pii",
    "hash_pii",
    "k_anonymity",
    "anonymise_wave",
    "Anonymised",
]

#: smallest number of respondents a published estimate may rest on
DEFAULT_MIN_CELL = 30
#: smallest number of respondents a published table cell (a count) may hold, and the k of
#: k-anonymity
DEFAULT_K = 10
#: largest coefficient of variation (se / |estimate|) of an estimate published unflagged
DEFAULT_MAX_CV = 0.30
#: quasi-identifiers of the Central Mali questionnaire (columns that are absent are skipped)
DEFAULT_QUASI_IDENTIFIERS = ("sex", "age_grp", "ethnic", "activity", "displaced", "commune")

#: columns that carry a number derived from the respondents of a cell (the ``relative*``
#: columns are those of ``change(..., relative=True)``)
VALUE_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "deff", "cv", "p", "statistic",
                 "relative", "relative_se", "relative_ci_low", "relative_ci_high")

#: mark shown in place of a suppressed value
SUPPRESSED_MARK = "suppressed (n < {min_cell})"


def suppress_small_cells(
    table: pd.DataFrame,
    min_cell: int = DEFAULT_MIN_CELL,
    n_column: str = "n",
    value_columns: tuple[str, ...] = VALUE_COLUMNS,
) -> pd.DataFrame:
    """Blank the values of cells with fewer than ``min_cell`` respondents, and mark them.

    Returns a new table (the input is untouched) with the values of small cells set to
    NaN and a boolean ``suppressed`` column. The ``n`` column stays so the rule can be
    checked. A table that also has the cell counts of :data:`CELL_COUNT_COLUMNS`
    (``n_from``/``n_to`` of :func:`perception.change`, ``n_min`` of DiD effects and
    contrasts) suppresses a row when any of them is below ``min_cell`` too. Only plain settings survive in ``attrs``: covariances and nested tables
    would reveal the cells.

    Parameters
    ----------
    table : estimate table with an ``n`` column (unweighted respondents per cell).
    min_cell : smallest number of respondents a published cell may rest on.

    Examples
    --------
    >>> t = pd.DataFrame({"variable": ["a", "b"], "estimate": [0.4, 0.9], "n": [120, 12]})
    >>> suppress_small_cells(t)["estimate"].isna().tolist()
    [False, True]
    """
    if not isinstance(min_cell, int | np.integer) or min_cell < 1:
        raise DisclosureError(f"min_cell must be a positive whole number, got {min_cell!r}")
    if n_column not in table.columns:
        raise DisclosureError(
            f"the table has no {n_column!r} column, so small cells cannot be found; keep the "
            "'n' column of estimate tables in every output table"
        )
    out = table.copy()
    # keep only plain settings (level, method...): covariances and the per-wave tables
    # that change() carries would reveal the suppressed cells
    out.attrs = {
        k: v for k, v in table.attrs.items() if isinstance(v, str | int | float | bool)
    }
    counts = smallest_count(out, n_column)
    small = (counts < min_cell) | counts.isna()
    for column in value_columns:
        if column in out.columns:
            out[column] = out[column].astype(float).where(~small)
    out["suppressed"] = small.to_numpy()
    out.attrs["min_cell"] = int(min_cell)
    return out


# ------------------------------------------------------------------ personal data --


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise DisclosureError(f"{name} must be a positive whole number, got {value!r}")


def _check_frame(df: Any, q: Any, function: str) -> None:
    from ..questionnaire.model import Questionnaire

    if not isinstance(df, pd.DataFrame):
        raise DisclosureError(f"{function} needs a pandas DataFrame, got {type(df).__name__}")
    if not isinstance(q, Questionnaire):
        raise DisclosureError(
            f"{function} needs the wave's Questionnaire (it says which columns are pii), got "
            f"{type(q).__name__}. Fix: pass pc.load_questionnaire(path)."
        )


def drop_pii(df: pd.DataFrame, q: Questionnaire) -> pd.DataFrame:
    """Remove the columns the questionnaire flags ``pii: true``.

    Parameters
    ----------
    df : DataFrame
        A wave; never modified.
    q : Questionnaire

    Returns
    -------
    DataFrame
        A copy without the pii columns (absent ones are ignored); rows unchanged.

    Examples
    --------
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "rid", "type": "text", "label": "Id"},
    ...     {"name": "phone", "type": "text", "label": "Phone", "pii": True}]})
    >>> list(drop_pii(pd.DataFrame({"rid": ["a"], "phone": ["+223 70"]}), q).columns)
    ['rid']

    Notes
    -----
    R: ``df[setdiff(names(df), pii)]``; ``survey`` has no notion of personal data.
    """
    _check_frame(df, q, "drop_pii")
    return df.drop(columns=[c for c in q.pii if c in df.columns])


def _key(key: Any) -> bytes:
    from ..waves.reading import MIN_KEY_BYTES

    if isinstance(key, str):
        raw = key.encode("utf-8")
    elif isinstance(key, bytes):
        raw = key
    else:
        raise DisclosureError(
            f"key must be a secret given as text or bytes, got {type(key).__name__}. Fix: "
            "pass the secret (kept outside the data and never written anywhere)."
        )
    if len(raw) < MIN_KEY_BYTES:
        raise DisclosureError(
            f"key is {len(raw)} bytes; at least {MIN_KEY_BYTES} are needed for a keyed hash "
            "that cannot be guessed. Fix: use a longer random secret (e.g. "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`)."
        )
    return raw


def hash_pii(df: pd.DataFrame, q: Questionnaire, key: str | bytes) -> pd.DataFrame:
    """Replace every value of the ``pii: true`` columns by its keyed HMAC-SHA256 hash.

    The same value and key always give the same 64-character hex digest, so records can
    be linked across waves and files without the identifiers; without the key the hash
    cannot be reversed or recomputed from a guess. The key is used only here: it is
    not stored in the result, its attributes or any message.

    Parameters
    ----------
    df : DataFrame
        A wave; never modified.
    q : Questionnaire
    key : str or bytes
        The secret (at least 16 bytes). Required.

    Returns
    -------
    DataFrame
        A copy whose pii columns hold hex digests (text); missing values stay missing.
        A cell is hashed as the text it shows (numbers without a trailing ``.0``,
        surrounding spaces kept).

    Examples
    --------
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "phone", "type": "text", "label": "Phone", "pii": True}]})
    >>> out = hash_pii(pd.DataFrame({"phone": ["+223 70 00 00 00", None]}), q,
    ...                key="0123456789abcdef")
    >>> out["phone"].str.len().tolist()
    [64.0, nan]

    Notes
    -----
    Uses :func:`perception.io.hash_value` (HMAC-SHA256, RFC 2104), as
    ``read_wave(keep_pii="hash")`` does. R: ``digest::hmac(key, value, "sha256")``.
    """
    _check_frame(df, q, "hash_pii")
    return _hash_columns(df, [c for c in q.pii if c in df.columns], _key(key))


def _hash_columns(df: pd.DataFrame, columns: Sequence[str], secret: bytes) -> pd.DataFrame:
    from ..waves.reading import hash_value

    out = df.copy()
    for column in columns:
        out[column] = pd.Series(
            [hash_value(v, secret) for v in df[column].tolist()], index=df.index, dtype="str"
        )
    return out


# -------------------------------------------------------------- disclosure checks --

#: columns of :func:`disclosure_check`'s table after the cell's key columns
DISCLOSURE_COLUMNS = ["rule", "value", "threshold", "action", "message"]
# columns of an estimate table that do not identify its cell
_NON_KEY = frozenset({*VALUE_COLUMNS, *CELL_COUNT_COLUMNS, "df", "n", "suppressed",
                      "suppression", "flag", "count"})
_RULE_ORDER = {"small_cell": 0, "small_count": 1, "complementary": 2, "high_cv": 3}


def _describe_cell(values: Sequence[Any], keys: Sequence[str], label: Any) -> str:
    parts = [f"{k}={v}" for k, v in zip(keys, values, strict=True)]
    return ", ".join(parts) if parts else f"row {label}"


def _assess(
    table: pd.DataFrame,
    min_cell: int,
    k: int,
    max_cv: float | None,
    n_column: str,
    count_column: str | None,
    margins: bool = True,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The risky cells of an estimate table, with their positions (see disclosure_check)."""
    _check_count("min_cell", min_cell)
    _check_count("k", k)
    if max_cv is not None and (isinstance(max_cv, bool) or not isinstance(
            max_cv, int | float) or not max_cv > 0):
        raise DisclosureError(f"max_cv must be a positive number (0.30 for 30%), got {max_cv!r}")
    if not isinstance(table, pd.DataFrame):
        raise DisclosureError(f"the table must be a pandas DataFrame, got {type(table).__name__}")
    if n_column not in table.columns:
        raise DisclosureError(
            f"the table has no {n_column!r} column, so small cells cannot be found; keep the "
            "'n' column of estimate tables in every output table"
        )
    if count_column is not None and count_column not in table.columns:
        raise DisclosureError(
            f"count_column={count_column!r} is not a column of the table (columns: "
            f"{', '.join(map(str, table.columns))})"
        )
    keys = [c for c in table.columns if c not in _NON_KEY and c not in (n_column, count_column)]
    by = keys[: keys.index("variable")] if "variable" in keys else list(keys)
    n = smallest_count(table, n_column).to_numpy(dtype=float)
    estimate = (pd.to_numeric(table["estimate"], errors="coerce").to_numpy(dtype=float)
                if "estimate" in table.columns else None)
    count: np.ndarray | None = None
    approx = False
    if count_column is not None:
        count = pd.to_numeric(table[count_column], errors="coerce").to_numpy(dtype=float)
    elif "category" in table.columns and estimate is not None:
        with np.errstate(invalid="ignore"):
            count = np.round(np.clip(estimate, 0, 1) * n)
        approx = True

    records: list[dict[str, Any]] = []
    key_values = table[keys].to_numpy(dtype=object) if keys else np.empty((len(table), 0))

    def describe(i: int) -> str:
        return _describe_cell(key_values[i], keys, table.index[i])

    suppressed = np.zeros(len(table), dtype=bool)

    def add(pos: int, rule: str, value: float, threshold: float, action: str, message: str):
        records.append({"pos": pos, "rule": rule, "value": value, "threshold": threshold,
                        "action": action, "message": message})

    for i in range(len(table)):
        cell = describe(i)
        if not n[i] >= min_cell:  # NaN counts as small
            suppressed[i] = True
            add(i, "small_cell", n[i], min_cell, "suppress",
                f"{cell}: the estimate rests on {'an unknown number of' if np.isnan(n[i]) else int(n[i])} "
                f"respondents, fewer than min_cell={min_cell}: suppress it")
        if count is not None and not count[i] >= k:
            suppressed[i] = True
            how = "about {} respondents (estimate x n)" if approx else "{} respondents"
            shown = "an unknown number of respondents" if np.isnan(count[i]) else how.format(
                int(count[i]))
            add(i, "small_count", count[i], k, "suppress",
                f"{cell}: the cell holds {shown}, fewer than k={k}: suppress it")

    lines: list[tuple[list[str], str]] = []
    if "category" in keys and "variable" in keys:
        lines.append(([*by, "variable"], "the other categories of its variable (they sum to 1)"))
    for b in by if margins else []:
        lines.append(([c for c in keys if c != b], f"the other {b} domains and their margin"))
    size = count if count is not None else n
    line_groups = [
        ([np.asarray(g) for g in table.groupby(columns, dropna=False, sort=False).indices.values()]
         if columns else [np.arange(len(table))], what)
        for columns, what in lines
    ]
    changed = True
    while changed:
        changed = False
        for groups, what in line_groups:
            for idx in groups:
                if len(idx) < 2 or suppressed[idx].sum() != 1:
                    continue
                hidden = idx[suppressed[idx]][0]
                candidates = idx[~suppressed[idx]]
                sizes = np.where(np.isnan(size[candidates]), np.inf, size[candidates])
                j = int(candidates[int(np.argmin(sizes))])
                suppressed[j] = True
                changed = True
                add(j, "complementary", size[j], float("nan"), "suppress",
                    f"{describe(j)}: {describe(hidden)} is "
                    f"suppressed, and {what} would reveal it: suppress this cell too")
    if max_cv is not None and estimate is not None and "se" in table.columns:
        se = pd.to_numeric(table["se"], errors="coerce").to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = se / np.abs(estimate)
        for flagged in np.flatnonzero((cv > max_cv) & ~suppressed):
            i = int(flagged)
            add(i, "high_cv", float(cv[i]), float(max_cv), "flag",
                f"{describe(i)}: coefficient of variation {cv[i]:.0%} above "
                f"{max_cv:.0%}: publish it only with a warning (unreliable)")
    records.sort(key=lambda r: (r["pos"], _RULE_ORDER[r["rule"]]))
    return records, keys


def disclosure_check(
    table: pd.DataFrame,
    min_cell: int = DEFAULT_MIN_CELL,
    k: int = DEFAULT_K,
    max_cv: float | None = DEFAULT_MAX_CV,
    *,
    n_column: str = "n",
    count_column: str | None = None,
    margins: bool = True,
) -> pd.DataFrame:
    """List the cells of an estimate table that must not be published as they are.

    Rules, each giving one row per risky cell:

    - ``small_cell`` (suppress): the estimate rests on fewer than ``min_cell``
      respondents (``n``).
    - ``small_count`` (suppress): the cell counts fewer than ``k`` respondents: the
      ``count_column`` when given; for a proportion table (a ``category`` column), about
      ``estimate x n``.
    - ``complementary`` (suppress): a cell whose publication, with the margin, would
      reveal a suppressed one: the categories of a variable sum to 1, and the domains
      of a ``by`` column add up to their margin (``margins=True``); when exactly one
      cell of such a line is suppressed, the smallest other cell of the line is
      suppressed too (repeated until no line has a single suppressed cell).
    - ``high_cv`` (flag): coefficient of variation ``se / |estimate|`` above ``max_cv``
      on a cell that is published: unreliable, publish with a warning.

    Parameters
    ----------
    table : DataFrame
        An estimate table (``by`` columns, ``variable`` [, ``category``], ``estimate``,
        ``se`` ..., ``n``). Never modified.
    min_cell : int
        Smallest number of respondents a published estimate may rest on (30).
    k : int
        Smallest number of respondents a published cell may count (10).
    max_cv : float or None
        Largest coefficient of variation published without a flag (0.30); None: no
        check.
    n_column, count_column : str
        Columns with the respondents behind each estimate and (optional) in each cell.
    margins : bool
        Whether the margins of the ``by`` columns (all domains together) are published
        too, so that domains need complementary suppression (default True). Pass False
        for domains that do not add up to a published margin.

    Returns
    -------
    DataFrame
        ``row`` (index label in ``table``), the cell's key columns (``by`` columns,
        ``variable``, ``category``/``quantile``), ``rule``, ``value`` (n, count or cv),
        ``threshold``, ``action`` (``"suppress"`` or ``"flag"``), ``message``. Empty when
        nothing is at risk.

    Examples
    --------
    >>> t = pd.DataFrame({"sex": [1, 2], "variable": ["trust", "trust"],
    ...                   "estimate": [0.41, 0.52], "se": [0.03, 0.2], "n": [400, 25]})
    >>> disclosure_check(t)[["sex", "rule", "action"]].values.tolist()
    [[1, 'complementary', 'suppress'], [2, 'small_cell', 'suppress']]

    Notes
    -----
    Primary and complementary (secondary) suppression as in statistical disclosure
    control (Hundepool et al., *Statistical Disclosure Control*, 2012, ch. 4; the OCHA
    Centre for Humanitarian Data guidance). No R ``survey`` equivalent (``sdcTable``
    does cell suppression in R). Use :func:`protect_table` to apply the result.
    """
    records, keys = _assess(table, min_cell, k, max_cv, n_column, count_column, margins)
    columns = ["row", *keys, *DISCLOSURE_COLUMNS]
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    out = pd.DataFrame(
        [{"row": table.index[r["pos"]], **{c: table.iloc[r["pos"]][c] for c in keys},
          **{c: r[c] for c in DISCLOSURE_COLUMNS}} for r in records],
        columns=columns,
    )
    return out


def protect_table(
    table: pd.DataFrame,
    min_cell: int = DEFAULT_MIN_CELL,
    k: int = DEFAULT_K,
    max_cv: float | None = DEFAULT_MAX_CV,
    *,
    n_column: str = "n",
    count_column: str | None = None,
    margins: bool = True,
) -> pd.DataFrame:
    """Apply :func:`disclosure_check` to a table about to be published.

    :func:`suppress_small_cells`, plus the suppression of small counts and of
    complementary cells, plus a flag on unreliable estimates.

    Returns
    -------
    DataFrame
        A new table: the values of every suppressed cell set to NaN, ``suppressed``
        (bool), ``suppression`` (why: ``"n < 30"``, ``"count < 10"``,
        ``"complementary"``, or empty) and ``flag`` (``"cv > 30%"`` or empty). The
        covariance in ``attrs`` is dropped.

    Examples
    --------
    >>> t = pd.DataFrame({"sex": [1, 2], "variable": ["trust", "trust"],
    ...                   "estimate": [0.41, 0.52], "se": [0.03, 0.2], "n": [400, 25]})
    >>> protect_table(t)[["estimate", "suppression"]].values.tolist()
    [[nan, 'complementary'], [nan, 'n < 30']]

    Notes
    -----
    No R ``survey`` equivalent; see :func:`disclosure_check`.
    """
    records, _ = _assess(table, min_cell, k, max_cv, n_column, count_column, margins)
    out = suppress_small_cells(table, min_cell=min_cell, n_column=n_column)
    why = [""] * len(out)
    flag = [""] * len(out)
    hide = np.zeros(len(out), dtype=bool)
    text = {"small_cell": f"n < {min_cell}", "small_count": f"count < {k}",
            "complementary": "complementary"}
    for r in records:
        if r["action"] == "suppress":
            hide[r["pos"]] = True
            why[r["pos"]] = why[r["pos"]] or text[r["rule"]]
        else:
            flag[r["pos"]] = f"cv > {max_cv:.0%}"
    for column in VALUE_COLUMNS:
        if column in out.columns:
            out[column] = out[column].astype(float).where(~hide)
    out["suppressed"] = out["suppressed"].to_numpy() | hide
    out["suppression"] = why
    out["flag"] = flag
    return out


# -------------------------------------------------------------------- k-anonymity --


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
    _check_count("k", k)
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


# -------------------------------------------------------------- shareable waves --

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
    _check_frame(df, q, "anonymise_wave")
    _check_count("k", k)
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
        out = _hash_columns(out, pii_columns, _key(key))
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

