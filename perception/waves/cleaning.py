"""Cleaning logs, as survey teams clean data: one row per change, applied to the raw export.

A cleaning log (REACH/IMPACT's and most field teams' practice) lists, for each change,
the submission (``uuid``), the question (``variable``/``question``), the value found in
the raw data (``old_value``), the value it becomes (``new_value``) and why (``reason``/
``issue``); or a whole submission to remove (``change_type``/``action`` ``remove_survey``,
or the new value "remove survey"). :func:`apply_cleaning_log` applies it to the raw data:

- every row of the log is checked first -- its submission exists, its variable is a
  column (or an option of a select_multiple, ``water_sources/piped``), **its old value is
  the value in the raw data**, it has a reason, it changes a cell once -- and if any row
  fails, every failure is reported and nothing is changed;
- the raw data are never modified: the clean data are a copy, with an audit table of
  every change (log row, uuid, variable, old and new value, reason, action, data row);
- the log is keyed by submission, not by row, so the same log applied to a later export
  holding more submissions makes the same changes (the new submissions are untouched).

``perception clean EXPORT --log LOG.xlsx -q Q --out CLEAN`` runs it on files.

Examples
--------
>>> import pandas as pd
>>> raw = pd.DataFrame({"_uuid": ["a", "b", "c"], "age": [34, 330, 51],
...                     "hosted": ["yes", "no", "no"]})
>>> log = pd.DataFrame({"uuid": ["b", "c"], "variable": ["age", None],
...                     "old_value": [330, None], "new_value": [33, "remove survey"],
...                     "reason": ["typo confirmed by phone", "duplicate interview"]})
>>> clean, audit = apply_cleaning_log(raw, log)
>>> clean
  _uuid  age hosted
0     a   34    yes
1     b   33     no
>>> audit[["uuid", "variable", "old_value", "new_value", "action"]].values.tolist()
[['b', 'age', '330', '33', 'changed'], ['c', None, None, 'remove survey', 'removed']]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import PerceptionError, WaveValidationError
from ..questionnaire.cells import cell_text
from ..questionnaire.model import Questionnaire
from .files import MAX_WAVE_BYTES, read_table

__all__ = ["apply_cleaning_log", "read_cleaning_log", "AUDIT_COLUMNS", "KEY_COLUMNS",
           "REDACTED", "identifying_paradata"]

#: what messages and shared audit tables show instead of a value of personal data
REDACTED = "<redacted: pii>"
# system columns of an export that identify people or devices (never written out)
_IDENTIFYING = re.compile(
    r"(deviceid|device_id|subscriberid|simserial|phonenumber|phone_number|username|email|"
    r"geolocation|gps|submitted_by|submitter|attachments|^audit$|_notes$)", re.IGNORECASE)

#: columns of the audit table
AUDIT_COLUMNS = ["log_row", "uuid", "variable", "old_value", "new_value", "reason", "action",
                 "row"]
#: the columns that identify a submission, in the order they are looked for
KEY_COLUMNS = ("_uuid", "uuid", "X_uuid", "meta/instanceID", "instanceID", "KEY", "_id")

_LOG_NAMES = {
    "uuid": ("uuid", "_uuid", "x_uuid", "submission_uuid", "key", "instanceid"),
    "variable": ("variable", "question", "question_name", "question.name", "name", "column"),
    "old_value": ("old_value", "old value", "old", "old.value", "value_before"),
    "new_value": ("new_value", "new value", "new", "new.value", "value_after"),
    "reason": ("reason", "issue", "comment", "explanation", "justification"),
    "action": ("action", "change_type", "type", "changed"),
}
_REMOVE = frozenset({"remove_survey", "remove survey", "remove", "delete", "deletion",
                     "delete_survey", "removed"})
_NO_ACTION = frozenset({"no_action", "no action", "none", "no_change", "no change"})
_BLANK = frozenset({"blank_response", "blank", "blank response"})
_LOG_SHEETS = ("cleaning_log", "cleaning log", "log", "cleaninglog")


def _text(value: Any) -> str:
    """A cell as the text the comparison sees: blank is ''."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating) and math.isnan(value):
        return ""
    return cell_text(value).strip()


def _same(logged: Any, found: Any) -> bool:
    a, b = _text(logged), _text(found)
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def _normalise_header(name: Any) -> str:
    return re.sub(r"\s+", " ", str(name).strip().lower())


def read_cleaning_log(path: str | Path, *, max_bytes: int = MAX_WAVE_BYTES) -> pd.DataFrame:
    """Read a cleaning log (CSV or XLSX: its ``cleaning_log`` sheet, else the first) with
    its columns named ``uuid, variable, old_value, new_value, reason, action``.

    Raises
    ------
    PerceptionError
        The file cannot be read, or has no uuid column.

    Examples
    --------
    >>> log = read_cleaning_log("cleaning_log.xlsx")          # doctest: +SKIP
    """
    path = Path(path)
    sheet = None
    if path.suffix.lower() == ".xlsx":
        from ..filecheck import open_workbook

        with open_workbook(path, max_bytes) as workbook:
            names = list(workbook.sheetnames)
        sheet = next((n for n in names if _normalise_header(n) in _LOG_SHEETS), None)
    frame, _ = read_table(path, sheet=sheet, kobo=False, max_bytes=max_bytes)
    return _standard_log(frame, str(path))


def _standard_log(log: pd.DataFrame, source: str) -> pd.DataFrame:
    found: dict[str, str] = {}
    headers = {_normalise_header(c): c for c in log.columns}
    for target, names in _LOG_NAMES.items():
        for name in names:
            if name in headers:
                found[target] = headers[name]
                break
    if "uuid" not in found:
        raise PerceptionError(
            f"{source}: the cleaning log has no uuid column (its columns: "
            f"{', '.join(map(str, log.columns))}). Fix: name the column of the submission "
            "ids uuid, and the others variable, old_value, new_value, reason.")
    out = pd.DataFrame({t: log[c] if c in log.columns else None
                        for t, c in ((t, found.get(t, "")) for t in _LOG_NAMES)},
                       index=log.index)
    out = out.astype(object).where(out.notna(), None)
    out.attrs["source"] = source
    return out


def identifying_paradata(columns: Sequence[str]) -> list[str]:
    """The system columns of an export that identify people or devices (device and SIM
    ids, user names, e-mails, GPS, attachments).

    Examples
    --------
    >>> identifying_paradata(["_uuid", "_geolocation", "deviceid", "_index", "username"])
    ['_geolocation', 'deviceid', 'username']
    """
    return [c for c in columns if _IDENTIFYING.search(str(c))]


def _key_column(data: pd.DataFrame, key: str | None) -> str:
    if key is not None:
        if key not in data.columns:
            raise PerceptionError(f"the data have no column {key!r} to find the submissions "
                                  "of the log. Fix: give the column of the uuids.")
        return key
    column = next((c for c in KEY_COLUMNS if c in data.columns), None)
    if column is None:
        raise PerceptionError(
            "the data have no submission id column (_uuid, uuid, meta/instanceID, KEY ...). "
            "Fix: keep the KoboToolbox/ODK system columns in the export, or give key=.")
    return column


def _option(column: str, data: pd.DataFrame, q: Questionnaire | None) -> tuple[str, str] | None:
    """('water_sources', 'piped') for a log variable naming a select_multiple option."""
    for sep in ("/", "."):
        if sep in column:
            base, code = column.rsplit(sep, 1)
            base = re.split(r"[/.]", base)[-1]
            multiple = q is not None and base in q and q.variable(base).type == "select_multiple"
            if base in data.columns and (multiple or q is None):
                return base, code
    return None


def _action(entry: dict[str, Any]) -> str:
    action = _text(entry.get("action")).lower()
    new = _text(entry.get("new_value")).lower()
    if action in _REMOVE or new in ("remove survey", "remove_survey"):
        return "removed"
    if action in _NO_ACTION:
        return "no action"
    if action in _BLANK:
        return "blanked"
    return "changed"


def _check(log: pd.DataFrame, data: pd.DataFrame, key: str, q: Questionnaire | None
           ) -> tuple[list[str], list[dict[str, Any]]]:
    """Every failure of the log, and the changes it makes (checked). The messages never
    show a value of a ``pii`` variable."""
    private = set(q.pii) if q is not None else set()

    def shown(variable: str, value: Any) -> str:
        return REDACTED if variable in private else repr(_text(value))

    problems: list[str] = []
    changes: list[dict[str, Any]] = []
    rows_of: dict[str, int] = {}
    for position, value in enumerate(data[key].tolist()):
        rows_of.setdefault(_text(value), position)
    seen: dict[tuple[str, str], int] = {}
    records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in log.to_dict("records")]
    for number, entry in enumerate(records, start=2):
        where = f"log row {number}"
        uuid = _text(entry.get("uuid"))
        action = _action(entry)
        variable = _text(entry.get("variable"))
        if action == "no action":
            changes.append({**entry, "log_row": number, "action": action, "row": None})
            continue
        if not uuid:
            problems.append(f"{where}: no uuid")
            continue
        if uuid not in rows_of:
            problems.append(f"{where}: uuid {uuid!r} is not a submission of the data")
            continue
        if not _text(entry.get("reason")):
            problems.append(f"{where} ({uuid}, {variable or 'remove survey'}): no reason")
        position = rows_of[uuid]
        if action == "removed":
            changes.append({**entry, "log_row": number, "action": action, "row": position})
            continue
        if not variable:
            problems.append(f"{where} ({uuid}): no variable")
            continue
        option = None if variable in data.columns else _option(variable, data, q)
        if variable not in data.columns and option is None:
            problems.append(f"{where} ({uuid}): {variable!r} is not a column of the data")
            continue
        found = (data[variable].iloc[position] if option is None else
                 int(option[1] in _text(data[option[0]].iloc[position]).split()))
        if not _same(entry.get("old_value"), found):
            problems.append(
                f"{where} ({uuid}, {variable}): the log's old value "
                f"{shown(variable, entry.get('old_value'))} is not the value in the data "
                f"{shown(variable, found)}")
            continue
        target = (uuid, variable)
        if target in seen:
            problems.append(f"{where} ({uuid}, {variable}): changes a cell log row "
                            f"{seen[target]} changes too")
            continue
        seen[target] = number
        new = None if action == "blanked" else entry.get("new_value")
        name = option[0] if option else variable
        if (q is not None and name in q and q.variable(name).is_numeric and _text(new)
                and option is None):
            try:
                float(_text(new))
            except ValueError:
                problems.append(f"{where} ({uuid}, {variable}): the new value "
                                f"{shown(variable, new)} is not a number, and {name} holds "
                                "numbers")
                continue
        changes.append({**entry, "new_value": new, "log_row": number, "action": action,
                        "row": position, "option": option})
    return problems, changes


def _set(clean: pd.DataFrame, column: str, position: int, value: Any) -> None:
    series = clean[column]
    if value is None or _text(value) == "":
        new: Any = np.nan if pd.api.types.is_numeric_dtype(series.dtype) else None
    elif pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype):
        try:
            new = float(_text(value))
        except ValueError:
            new = _text(value)
    else:
        new = value if isinstance(value, str) else _text(value)
    if isinstance(new, float) and pd.api.types.is_integer_dtype(series.dtype):
        if new.is_integer():
            new = int(new)
        else:
            series = series.astype("float64")
    elif not isinstance(new, float) and pd.api.types.is_numeric_dtype(series.dtype):
        series = series.astype(object)
    elif isinstance(series.dtype, pd.StringDtype) or series.dtype != object:
        series = series.astype(object)
    series = series.copy()
    series.iloc[position] = new
    clean[column] = series


def apply_cleaning_log(
    data: pd.DataFrame,
    log: pd.DataFrame | str | Path,
    *,
    questionnaire: Questionnaire | None = None,
    key: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply a cleaning log to raw data; return the clean copy and the audit table.

    Parameters
    ----------
    data : DataFrame
        The raw data (an export as read by ``perception.waves.files.read_table``,
        with its submission id column). Never modified.
    log : DataFrame or str or Path
        The cleaning log: columns ``uuid``, ``variable`` (or ``question``),
        ``old_value``, ``new_value``, ``reason`` (or ``issue``), optionally ``action``
        (or ``change_type``: ``change_response``, ``blank_response``, ``remove_survey``,
        ``no_action``); a CSV/XLSX file is read with ``read_cleaning_log``.
    questionnaire : Questionnaire, optional
        To check that new values of numeric variables are numbers, and to recognise
        select_multiple options (``water_sources/piped``, ``water_sources.piped``).
    key : str, optional
        The submission id column (default: the first of ``KEY_COLUMNS``, else the
        questionnaire's ``id`` role).

    Returns
    -------
    clean : DataFrame
        A copy of ``data`` with the logged cells changed and the removed submissions
        left out (the other rows in their order, index kept).
    audit : DataFrame
        One row per log row applied: ``log_row, uuid, variable, old_value, new_value,
        reason, action`` (``changed``, ``blanked``, ``removed``, ``no action``), ``row``
        (the data row, by position).

    Raises
    ------
    WaveValidationError
        When any row of the log fails (uuid not in the data, variable not a column, old
        value different from the data, no reason, a cell changed twice ...): every
        failure is listed (values of ``pii`` variables redacted), and nothing is applied.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"_uuid": ["a"], "age": [30]})
    >>> log = pd.DataFrame({"uuid": ["a"], "variable": ["age"], "old_value": [31],
    ...                     "new_value": [30], "reason": ["check"]})
    >>> apply_cleaning_log(raw, log)     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    perception.errors.WaveValidationError: the cleaning log does not match the data (1 row): ...

    Notes
    -----
    R: ``cleaningtools::create_clean_data`` (IMPACT Initiatives) applies such logs.
    """
    if not isinstance(data, pd.DataFrame):
        raise PerceptionError(f"apply_cleaning_log needs the data as a DataFrame, got "
                              f"{type(data).__name__}.")
    if isinstance(log, str | Path):
        log = read_cleaning_log(log)
    elif isinstance(log, pd.DataFrame):
        log = _standard_log(log, "the cleaning log")
    else:
        raise PerceptionError(f"log must be a DataFrame or a file, got {type(log).__name__}.")
    if key is None and questionnaire is not None and not any(
            c in data.columns for c in KEY_COLUMNS):
        key = questionnaire.roles.get("id")
    column = _key_column(data, key)
    problems, changes = _check(log, data, column, questionnaire)
    if problems:
        raise WaveValidationError(
            f"the cleaning log does not match the data ({len(problems)} row"
            f"{'s' if len(problems) != 1 else ''}): nothing was changed.\n  - "
            + "\n  - ".join(problems)
            + "\n  Fix: correct the log (or check that it belongs to this export), then "
            "apply it again.")
    clean = data.copy(deep=True)
    removed: list[int] = []
    audit: list[dict[str, Any]] = []
    for change in changes:
        action, position = change["action"], change["row"]
        if action == "removed":
            removed.append(position)
        elif action in ("changed", "blanked"):
            option = change.get("option")
            if option is None:
                _set(clean, _text(change["variable"]), position, change["new_value"])
            else:
                base, code = option
                tokens = _text(clean[base].iloc[position]).split()
                tokens = [t for t in tokens if t != code]
                if _text(change["new_value"]) in ("1", "true", "True"):
                    tokens.append(code)
                _set(clean, base, position, " ".join(tokens) or None)
        audit.append({
            "log_row": change["log_row"], "uuid": _text(change.get("uuid")) or None,
            "variable": _text(change.get("variable")) or None,
            "old_value": _text(change.get("old_value")) or None,
            "new_value": _text(change.get("new_value")) or None,
            "reason": _text(change.get("reason")) or None, "action": action,
            "row": position,
        })
    if removed:
        clean = clean.drop(index=clean.index[sorted(set(removed))])
    table = pd.DataFrame(audit, columns=AUDIT_COLUMNS).astype(object)
    return clean, table.where(table.notna(), None)


def changed_columns(audit: pd.DataFrame) -> Sequence[str]:
    """The variables an audit table changed (for summaries)."""
    return sorted({v for v, a in zip(audit["variable"], audit["action"], strict=True)
                   if v and a in ("changed", "blanked")})
