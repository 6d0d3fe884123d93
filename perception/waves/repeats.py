"""Repeat tables: reading a repeat group of an export, validated and linked to its parent
rows, and summarising it onto the parent rows.

A repeat group (a household roster, a list of incidents) is a table of its own: one row
per repetition. KoboToolbox's XLSX export keeps it on a sheet named after the group
(``_index``, ``_parent_index``, ``_parent_table_name``, ``_submission__uuid`` link each
row to its parent); a CSV export spreads it over columns ``members[1]/age``,
``members[2]/age`` ... of the parent row. :func:`read_repeat` reads either into one row
per repetition, validates it against the repeat's questionniare (its expressions may use
the parent's answers, brought in through the link) and checks the number of rows of each
parent against the repeat's ``count``. :func:`attach_repeat` adds summaries of a repeat
(count, any, mean, sum, min, max of an expression, with a condition) as columns of the
parent rows.

Examples
--------
>>> import pandas as pd
>>> wave = pd.DataFrame({"_uuid": ["a", "b", "c"], "hh_size": [2, 1, 3]})
>>> members = pd.DataFrame({"_submission__uuid": ["a", "a", "b"], "age": [34, 8, 61]})
>>> attach_repeat(wave, members, {"n_members": "count",
...                               "n_children": ("count", None, "${age} < 15"),
...                               "mean_age": ("mean", "${age}")})
  _uuid  hh_size  n_members  n_children  mean_age
0     a        2          2           1      21.0
1     b        1          1           0      61.0
2     c        3          0           0       NaN
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..disclosure.pii import hash_value
from ..errors import PerceptionError, WaveValidationError
from ..filecheck import open_workbook
from ..questionnaire.expressions import parse_expression
from ..questionnaire.model import Questionnaire
from .files import MAX_WAVE_BYTES, NA_STRINGS, read_table, tidy_columns
from .reading import key_bytes
from .validation import ValidationReport, validate_with_data

__all__ = ["read_repeat", "attach_repeat", "LINK_COLUMNS", "SUMMARY_STATISTICS"]

#: the columns that link a repeat row to its parent (kept in the repeat table)
LINK_COLUMNS = ("_index", "_parent_index", "_submission__uuid")
#: the statistics :func:`attach_repeat` computes
SUMMARY_STATISTICS = ("count", "any", "mean", "sum", "min", "max")
_SHEET_NAME_LIMIT = 31  # Excel (and KoboToolbox's export) cut sheet names there


def _sheet_of(path: Path, repeat: str, max_bytes: int) -> tuple[str | None, str]:
    """The sheet of the repeat in an XLSX export (None: not found) and the main sheet."""
    with open_workbook(path, max_bytes) as workbook:
        names = list(workbook.sheetnames)
    wanted = {repeat.lower(), repeat[:_SHEET_NAME_LIMIT].lower()}
    found = next((n for n in names if n.lower() in wanted), None)
    return found, names[0]


def _wide_columns(columns: list[str], repeat: str) -> dict[int, dict[str, str]]:
    """{position: {inner column: file column}} of ``repeat[k]/...`` columns."""
    pattern = re.compile(rf"(?:^|[/.])({re.escape(repeat)})\[(\d+)\][/.](.+)$")
    found: dict[int, dict[str, str]] = {}
    for column in columns:
        match = pattern.search(column)
        if match:
            found.setdefault(int(match.group(2)), {})[match.group(3)] = column
    return found


def _melt(frame: pd.DataFrame, paradata: pd.DataFrame, wide: dict[int, dict[str, str]]
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per repetition of the wide columns; empty repetitions dropped."""
    rows, links = [], []
    parent_index = (paradata["_index"].tolist() if "_index" in paradata.columns
                    else list(range(1, len(frame) + 1)))
    uuid = paradata["_uuid"].tolist() if "_uuid" in paradata.columns else [None] * len(frame)
    everything = pd.concat([frame, paradata], axis=1)
    number = 0
    for i in range(len(frame)):
        for position in sorted(wide):
            cells = {inner: everything[column].iloc[i] for inner, column in wide[position].items()}
            if all(v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() in NA_STRINGS
                   for v in cells.values()):
                continue
            number += 1
            rows.append(cells)
            links.append({"_index": number, "_parent_index": parent_index[i],
                          "_submission__uuid": uuid[i], "_repeat_position": position})
    columns = list(dict.fromkeys(c for w in wide.values() for c in w))
    return (pd.DataFrame(rows, columns=columns, dtype=object),
            pd.DataFrame(links, columns=[*LINK_COLUMNS, "_repeat_position"]))


def _rows_of(path: Path, q: Questionnaire, repeat: str, sheet: str | None, max_bytes: int
             ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The repeat's rows (named and typed by its questionnaire) and their link columns."""
    rq = q.repeat(repeat)
    found = None
    if path.suffix.lower() == ".xlsx":
        found, _ = _sheet_of(path, repeat, max_bytes) if sheet is None else (sheet, None)
    if found is not None:
        df, meta = read_table(path, rq, sheet=found, kobo=True, max_bytes=max_bytes)
        para = meta["paradata"]
        links = pd.DataFrame({c: para[c] for c in LINK_COLUMNS if c in para.columns},
                             index=df.index)
        if "_submission__uuid" not in links.columns and "uuid" in df.columns:
            links["_submission__uuid"] = df["uuid"]  # R-cleaned exports (REACH): uuid
        return df, links, meta["notes"]
    raw, meta = read_table(path, None, kobo=True, max_bytes=max_bytes)
    wide = _wide_columns([*raw.columns, *meta["paradata"].columns], repeat)
    if not wide:
        raise PerceptionError(
            f"{path}: no data of the repeat {repeat!r}: no sheet named {repeat!r} and no "
            f"column {repeat}[1]/... Fix: give the KoboToolbox export with its repeat "
            "groups (XLSX: one sheet per repeat; CSV: the repeat's columns), or sheet=<name>."
        )
    long, links = _melt(raw, meta["paradata"], wide)
    df, _, _ = tidy_columns(path, long, rq, na_strings=NA_STRINGS, notes=meta["notes"])
    notes = [*meta["notes"], f"repeat {repeat!r} read from the columns {repeat}[1..{max(wide)}]/"
             f"... of {path.name}: {len(df)} rows"]
    return df.reset_index(drop=True), links.reset_index(drop=True), notes


def _parent_rows(path: Path, q: Questionnaire, repeat: str, max_bytes: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of the table ``repeat`` is repeated in, with their link columns."""
    parent = q.repeat(repeat).parent
    if parent is not None:
        df, links, _ = _rows_of(path, q, parent, None, max_bytes)
        return df, links
    sheet = None
    if path.suffix.lower() == ".xlsx":
        sheet = _sheet_of(path, repeat, max_bytes)[1]
    df, meta = read_table(path, q, sheet=sheet, kobo=True, max_bytes=max_bytes)
    para = meta["paradata"]
    keys = pd.DataFrame({c: para[c] for c in ("_index", "_uuid") if c in para.columns},
                        index=df.index)
    if "_uuid" not in keys.columns and "uuid" in df.columns:
        keys["_uuid"] = df["uuid"]
    return df, keys


def _link(child: pd.DataFrame, parent: pd.DataFrame, main_parent: bool) -> tuple[str, str]:
    """(child column, parent column) that link a repeat row to its parent row."""
    if main_parent and "_submission__uuid" in child.columns and "_uuid" in parent.columns:
        if child["_submission__uuid"].notna().any():
            return "_submission__uuid", "_uuid"
    if "_parent_index" in child.columns and "_index" in parent.columns:
        return "_parent_index", "_index"
    raise PerceptionError(
        "the repeat rows cannot be linked to their parent rows: no _submission__uuid/_uuid "
        "nor _parent_index/_index columns. Fix: export the repeat groups with their "
        "KoboToolbox system columns."
    )


def _count_errors(rq: Questionnaire, parent: pd.DataFrame, keys: pd.Series,
                  links: pd.Series) -> pd.DataFrame:
    """Parents whose number of repeat rows differs from the repeat's count."""
    expected = parse_expression(rq.count or "0").values(parent)
    have = links.value_counts()
    rows = []
    for key, want in zip(keys, expected, strict=True):
        if want is None or (isinstance(want, float) and np.isnan(want)):
            continue
        got = int(have.get(key, 0))
        if got != int(want):
            rows.append({"row": None, "column": "(repeat)", "check": "repeat_count",
                         "value": got, "message": (
                             f"parent {key}: {got} row{'s' if got != 1 else ''} of "
                             f"{rq.id!r} but the count {rq.count} says {int(want)}. Fix: "
                             "check the export (a repeat sheet cut short?) or the count.")})
    return pd.DataFrame(rows, columns=["row", "column", "check", "value", "message"])


def read_repeat(
    path: str | Path,
    questionnaire: Questionnaire,
    repeat: str,
    *,
    sheet: str | None = None,
    keep_pii: Literal["drop", "hash"] = "drop",
    hash_key: str | bytes | None = None,
    max_bytes: int = MAX_WAVE_BYTES,
) -> pd.DataFrame:
    """Read a repeat group of an export, validated and linked to its parent rows.

    Parameters
    ----------
    path : str or Path
        The export: an XLSX with one sheet per repeat group (KoboToolbox), or a CSV whose
        columns ``<repeat>[1]/<question>`` ... hold the repetitions. Never modified.
    questionnaire : Questionnaire
        The questionnaire holding the repeat (``questionnaire.repeat(repeat)``).
    repeat : str
        The repeat's name.
    sheet : str, optional
        The sheet of the repeat (default: the sheet named after it).
    keep_pii : {"drop", "hash"}
        What happens to the repeat's ``pii`` columns (as in ``perception.read_wave``).
    hash_key : str or bytes, optional
        The key of ``keep_pii="hash"``.
    max_bytes : int
        Largest file accepted.

    Returns
    -------
    DataFrame
        One row per repetition: the repeat's variables, then the link columns
        ``_index``, ``_parent_index`` and ``_submission__uuid`` (those the export has).

    Raises
    ------
    WaveValidationError
        The rows fail the repeat's questionnaire, or a parent has more or fewer rows than
        the repeat's ``count`` (every failure listed; ``.report`` holds them).

    Examples
    --------
    >>> members = pc.read_repeat("export.xlsx", q, "members")      # doctest: +SKIP
    >>> wave = pc.attach_repeat(pc.read_wave("export.xlsx", q), members,
    ...                         {"n_members": "count"})              # doctest: +SKIP

    Notes
    -----
    R: ``readxl::read_excel(path, sheet = "members")`` then a join on
    ``_parent_index``; no R function validates repeat tables.
    """
    if not isinstance(questionnaire, Questionnaire):
        raise PerceptionError(
            f"read_repeat needs a Questionnaire, got {type(questionnaire).__name__}. Fix: "
            "pass pc.load_questionnaire(path).")
    key = key_bytes(hash_key) if keep_pii == "hash" else b""
    path = Path(path)
    rq = questionnaire.repeat(repeat)
    df, links, notes = _rows_of(path, questionnaire, repeat, sheet, max_bytes)
    outer = sorted({name for v in rq.variable_list
                    for e in (v.relevant_expr, v.constraint_expr, v.choice_filter_expr)
                    if e is not None for name in e.variables} - set(rq.names))
    parent, keys = None, None
    if outer or rq.count:
        parent, keys = _parent_rows(path, questionnaire, repeat, max_bytes)
    checked = df
    child_key = parent_key = ""
    if parent is not None and keys is not None:
        child_key, parent_key = _link(links, keys, rq.parent is None)
        lookup = pd.Series(range(len(parent)), index=keys[parent_key].astype(str).to_numpy())
        lookup = lookup[~lookup.index.duplicated()]
        position = links[child_key].astype(str).map(lookup)
        checked = df.copy()
        for name in outer:
            if name in parent.columns:
                values = parent[name].to_numpy()
                checked[name] = [values[int(p)] if p == p else None for p in position]
    report, data = validate_with_data(checked, rq, source=f"{path} ({repeat})")
    extra = (_count_errors(rq, parent, keys[parent_key].astype(str),
                           links[child_key].astype(str))
             if rq.count and parent is not None and keys is not None else None)
    warnings = report.warnings[~report.warnings["column"].isin(outer)]
    errors = report.errors if extra is None or extra.empty else pd.concat(
        [report.errors, extra.astype(object)], ignore_index=True)
    report = ValidationReport(errors.reset_index(drop=True), warnings.reset_index(drop=True),
                              report.n_rows, report.n_columns, report.source)
    if not report.ok or data is None:
        raise WaveValidationError(
            f"{path}: repeat {repeat!r} does not match questionnaire {questionnaire.id!r}: "
            f"{len(report.errors)} error{'s' if len(report.errors) != 1 else ''}.\n"
            f"{report.summary(max_rows=None, max_groups=None)}", report)
    data = data.drop(columns=[c for c in outer if c in data.columns])
    for column in [c for c in rq.pii if c in data.columns]:
        if keep_pii == "drop":
            data = data.drop(columns=column)
        else:
            data[column] = data[column].map(lambda v: hash_value(v, key)).astype(object)
    for column in links.columns:
        data[column] = links[column].to_numpy()
    data.attrs = {"perception": {"source": str(path), "questionnaire": questionnaire.id,
                                 "repeat": repeat, "pii": keep_pii, "notes": notes,
                                 "warnings": len(report.warnings)}}
    return data


# ------------------------------------------------------------------ summaries --


def _spec(name: str, spec: Any) -> tuple[str, str | None, str | None]:
    if isinstance(spec, str):
        spec = (spec,)
    if not isinstance(spec, tuple | list) or not 1 <= len(spec) <= 3:
        raise PerceptionError(
            f"summary {name!r}: {spec!r} is not a summary. Fix: write 'count', or a tuple "
            "(statistic, expression, condition), e.g. ('mean', '${age}', '${sex} = 2').")
    stat, expression, where = (*spec, None, None)[:3]
    if stat not in SUMMARY_STATISTICS:
        raise PerceptionError(
            f"summary {name!r}: unknown statistic {stat!r}. Fix: use one of "
            f"{', '.join(SUMMARY_STATISTICS)}.")
    if stat != "count" and expression is None:
        raise PerceptionError(
            f"summary {name!r}: {stat} needs an expression, e.g. ({stat!r}, '${{age}}'). "
            "Fix: give the value (or, for any, the condition) to summarise.")
    return stat, expression, where


def attach_repeat(
    data: pd.DataFrame,
    repeat: pd.DataFrame,
    summaries: Mapping[str, Any],
    *,
    on: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Add summaries of a repeat table as columns of its parent rows.

    Parameters
    ----------
    data : DataFrame
        The parent rows (a wave from ``perception.read_wave``, which keeps the
        submission keys ``_uuid``/``_index`` of a questionnaire with repeats; or a repeat
        table holding a nested repeat). Never modified.
    repeat : DataFrame
        The repeat rows (``perception.read_repeat``), with their link columns.
    summaries : mapping
        New column -> summary: ``"count"`` (rows of the repeat), or a tuple
        ``(statistic, expression, condition)``: ``statistic`` one of ``count`` (rows where
        the condition holds), ``any`` (a row where the expression -- a condition -- is
        true), ``mean``, ``sum``, ``min``, ``max`` (of the expression's values, blanks
        left out); ``expression`` and ``condition`` in the expression language
        (``"${age}"``, ``"${age} < 15"``); the condition (optional) keeps the rows it
        holds for.
    on : (str, str), optional
        (parent column, repeat column) linking them. Default: ``_uuid`` and
        ``_submission__uuid``, else ``_index`` and ``_parent_index``.

    Returns
    -------
    DataFrame
        A copy of ``data`` with one column per summary. A parent without repeat rows gets
        count 0, any False, sum 0, and NaN means, minima and maxima.

    Raises
    ------
    PerceptionError
        A summary that is not one, a column that exists, no link between the tables, an
        expression that refers to a column the repeat does not hold.

    Examples
    --------
    >>> import pandas as pd
    >>> wave = pd.DataFrame({"_index": [1, 2]})
    >>> incidents = pd.DataFrame({"_parent_index": [1, 1, 2], "kind": ["theft", "attack",
    ...                           "theft"], "reported": ["yes", "no", "no"]})
    >>> attach_repeat(wave, incidents, {"any_attack": ("any", "${kind} = 'attack'"),
    ...               "n_reported": ("count", None, "${reported} = 'yes'")})
       _index  any_attack  n_reported
    0       1        True           1
    1       2       False           0

    Notes
    -----
    R: ``dplyr::summarise`` by ``_parent_index`` and a ``left_join``.
    """
    if not isinstance(data, pd.DataFrame) or not isinstance(repeat, pd.DataFrame):
        raise PerceptionError("attach_repeat needs two DataFrames: the parent rows and the "
                              "repeat rows. Fix: pass the wave and pc.read_repeat(...).")
    if on is None:
        if "_uuid" in data.columns and "_submission__uuid" in repeat.columns:
            on = ("_uuid", "_submission__uuid")
        elif "_index" in data.columns and "_parent_index" in repeat.columns:
            on = ("_index", "_parent_index")
        else:
            raise PerceptionError(
                "attach_repeat cannot link the tables: the parent has no _uuid or _index "
                "column, or the repeat no _submission__uuid or _parent_index. Fix: read the "
                "wave with pc.read_wave (it keeps them for a questionnaire with repeats) or "
                "give on=(parent column, repeat column).")
    parent_col, child_col = on
    for frame, column, what in ((data, parent_col, "parent"), (repeat, child_col, "repeat")):
        if column not in frame.columns:
            raise PerceptionError(f"the {what} rows have no column {column!r}. Fix: give "
                                  f"on=(parent column, repeat column) that both tables hold.")
    clash = [name for name in summaries if name in data.columns]
    if clash:
        raise PerceptionError(f"the parent rows already have column(s) {', '.join(clash)}. "
                              "Fix: name the summaries otherwise.")
    keys = repeat[child_col].astype(object).map(lambda v: None if pd.isna(v) else str(v))
    parent_keys = data[parent_col].astype(object).map(lambda v: None if pd.isna(v) else str(v))
    out = data.copy()
    for name, raw in summaries.items():
        stat, expression, where = _spec(name, raw)
        kept = (parse_expression(where).evaluate(repeat) if where
                else pd.Series(True, index=repeat.index))
        grouped_keys = keys[kept.to_numpy()]
        result: pd.Series
        if stat == "count":
            if expression is not None:
                values = parse_expression(expression).values(repeat)[kept.to_numpy()]
                grouped_keys = grouped_keys[values.notna().to_numpy()]
            result = parent_keys.map(grouped_keys.value_counts()).fillna(0).astype("int64")
        elif stat == "any":
            truth = parse_expression(expression or "false()").evaluate(repeat)[kept.to_numpy()]
            hits = set(grouped_keys[truth.to_numpy()])
            result = parent_keys.map(lambda k, hits=hits: k in hits).astype(bool)
        else:
            values = pd.to_numeric(parse_expression(expression or "0").values(repeat),
                                   errors="coerce")[kept.to_numpy()]
            table = pd.DataFrame({"key": grouped_keys.to_numpy(), "value": values.to_numpy()})
            agg = table.dropna(subset=["value"]).groupby("key")["value"].agg(stat)
            result = parent_keys.map(agg)
            result = result.fillna(0.0) if stat == "sum" else result.astype("float64")
        out[name] = result.to_numpy()
    return out
