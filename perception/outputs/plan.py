"""Analysis plans: a list of analyses, one row per indicator × disaggregation ×
statistic (like the "list of analysis" of REACH's tools), run into labelled tables.

A plan is a YAML list (or ``{analyses: [...]}``) or the first sheet of an XLSX workbook
(one header row) with the columns:

============  ==========================================================================
column        meaning
============  ==========================================================================
variable      the indicator (a column of the waves); required
statistic     ``mean``, ``proportion`` (one row per answer), ``total``, ``top_box`` (the
              share giving one of the ``top`` answers), ``change`` or ``did``; required
by            disaggregations, comma-separated (``sex, region``); optional
top           answer codes counted as "yes", comma-separated (``2, 3``): required by
              ``top_box``; with ``change``/``did``, the outcome is that share
where         a domain in the questionnaire's expression language; optional
title         the table's title; optional (default: the indicator's label)
id            a short name for the sheet; optional
============  ==========================================================================

Every row is checked before anything runs; the problems are reported together, each
with its row number (the spreadsheet's row, or the entry's number in the YAML list).

Examples
--------
>>> demo = pc.demo_survey(seed=1)
>>> plan = read_plan([{"variable": "trust_police", "statistic": "top_box", "top": "2,3",
...                    "by": "wave"}], demo.questionnaire, demo.waves.columns)
>>> tables = run_plan(plan, demo.waves, demo.questionnaire, lang="en")
>>> tables[0].title
'The National Police: "Somewhat" or "A lot"'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.changes import change
from ..analysis.diff_in_diff import did
from ..analysis.scales import top_box_scores
from ..disclosure.suppression import DEFAULT_MIN_CELL, DEFAULT_MIN_COUNT
from ..errors import PerceptionError
from ..questionnaire.expressions import parse_expression
from ..survey.estimators import mean, proportion, total
from ..waves.validation import recode_missing
from .readable import ReadableTable, add_weighted_n, readable_table
from .report.context import design_from_questionnaire

PLAN_STATISTICS = ("mean", "proportion", "total", "top_box", "change", "did")
PLAN_COLUMNS = ("id", "variable", "statistic", "by", "top", "where", "title")


@dataclass(frozen=True)
class PlanRow:
    """One analysis of a plan."""

    number: int  # the row's number in the plan file (for messages)
    variable: str
    statistic: str
    by: tuple[str, ...] = ()
    top: tuple[int, ...] = ()
    where: str | None = None
    title: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Plan:
    """A checked analysis plan."""

    rows: tuple[PlanRow, ...]
    source: str = "the plan"
    extra: dict[str, Any] = field(default_factory=dict)


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _names(value: Any) -> list[str]:
    if _blank(value):
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if not _blank(v)]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def load_plan_entries(path: str | Path) -> tuple[list[tuple[int, Mapping[str, Any]]], str]:
    """The entries of a plan file with their row numbers (YAML: the entry's number;
    XLSX: the spreadsheet row)."""
    path = Path(path)
    if not path.is_file():
        raise PerceptionError(f"the analysis plan {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise PerceptionError(f"the analysis plan {path} is not valid YAML: {exc}") from None
        if isinstance(raw, Mapping):
            raw = raw.get("analyses")
        if not isinstance(raw, list):
            raise PerceptionError(f"the analysis plan {path} must be a list of analyses (or "
                                  "analyses: [...]), one per indicator x disaggregation x "
                                  "statistic")
        return [(i + 1, entry) for i, entry in enumerate(raw)], str(path)
    if suffix == ".xlsx":
        from ..filecheck import open_workbook, sheet_rows

        with open_workbook(path, 50_000_000) as book:
            _, rows = sheet_rows(path, book, 0)
        if not rows:
            raise PerceptionError(f"the analysis plan {path} is empty")
        header = [str(h).strip().lower() if h is not None else "" for h in rows[0]]
        entries: list[tuple[int, Mapping[str, Any]]] = []
        for i, values in enumerate(rows[1:], start=2):
            entry = {h: v for h, v in zip(header, values, strict=False) if h}
            if all(_blank(v) for v in entry.values()):
                continue
            entries.append((i, entry))
        return entries, str(path)
    raise PerceptionError(f"the analysis plan {path}: give a .yaml or .xlsx file")


def read_plan(entries: Iterable[Mapping[str, Any]] | Iterable[tuple[int, Mapping[str, Any]]],
              questionnaire: Any, columns: Iterable[str], source: str = "the plan") -> Plan:
    """Check every entry of a plan against the questionnaire and the data's ``columns``
    and return the :class:`Plan`; the problems of all rows are raised together, each
    with its row number.

    ``entries`` are mappings (numbered from 1) or (row number, mapping) pairs.
    """
    known = {str(c) for c in columns}
    problems: list[str] = []
    rows: list[PlanRow] = []
    numbered = [(e if isinstance(e, tuple) else (i + 1, e))
                for i, e in enumerate(entries)]
    for number, entry in numbered:
        where = f"row {number}"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: not a mapping of column -> value ({entry!r})")
            continue
        unknown_keys = [k for k in entry if str(k).lower() not in PLAN_COLUMNS]
        if unknown_keys:
            problems.append(f"{where}: unknown column {unknown_keys[0]!r} (columns: "
                            f"{', '.join(PLAN_COLUMNS)})")
        entry = {str(k).lower(): v for k, v in entry.items()}
        variable = "" if _blank(entry.get("variable")) else str(entry["variable"]).strip()
        statistic = ("" if _blank(entry.get("statistic")) else
                     str(entry["statistic"]).strip().lower())
        if not variable:
            problems.append(f"{where}: no variable")
        elif variable not in known:
            import difflib

            close = difflib.get_close_matches(variable, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{where}: unknown variable {variable!r}{hint}")
        if statistic not in PLAN_STATISTICS:
            problems.append(f"{where}: unknown statistic {statistic or '(none)'!r}; choose one "
                            f"of {', '.join(PLAN_STATISTICS)}")
        by = _names(entry.get("by"))
        for name in by:
            if name not in known:
                problems.append(f"{where}: unknown disaggregation {name!r}")
        try:
            top = tuple(int(float(c)) for c in _names(entry.get("top")))
        except ValueError:
            problems.append(f"{where}: top must be answer codes separated by commas "
                            f"(got {entry.get('top')!r})")
            top = ()
        if statistic == "top_box" and not top:
            problems.append(f"{where}: statistic top_box needs top (the answer codes counted, "
                            "e.g. 2,3)")
        text = None if _blank(entry.get("where")) else str(entry["where"])
        if text is not None:
            try:
                expr = parse_expression(text)
                missing = sorted(v for v in expr.variables if v not in known)
                if missing:
                    problems.append(f"{where}: where {text!r} names unknown column "
                                    f"{missing[0]!r}")
            except PerceptionError as exc:
                problems.append(f"{where}: where {text!r}: {exc}")
        if variable and variable not in known or statistic not in PLAN_STATISTICS:
            continue
        rows.append(PlanRow(number, variable, statistic, tuple(by), top, text,
                            None if _blank(entry.get("title")) else str(entry["title"]),
                            None if _blank(entry.get("id")) else str(entry["id"])))
    if problems:
        raise PerceptionError(f"{source}: {len(problems)} problem"
                              f"{'s' if len(problems) != 1 else ''} in the analysis plan, "
                              "nothing was run:\n  - " + "\n  - ".join(problems))
    if not rows:
        raise PerceptionError(f"{source}: the analysis plan has no analysis")
    return Plan(tuple(rows), source)


def _indicator_name(variable: str, top: Sequence[int]) -> str:
    return f"{variable}__top_{'_'.join(map(str, top))}"


def _with_top_count(table: pd.DataFrame, design: Any, indicator: str, by: list | None,
                    level: float) -> pd.DataFrame:
    """The share of a top-box indicator with ``n_category``: the respondents in the top
    box of each row, which the small-count rule of the outputs reads."""
    counts = proportion(design, indicator, by=by, na_rm=True, level=level)
    counts = counts[counts["category"].astype(float) == 1.0]
    keys = [*(by or []), "variable"]
    merged = table.merge(counts[[*keys, "n_category"]], on=keys, how="left", validate="1:1")
    merged["n_category"] = merged["n_category"].fillna(0).astype(int)  # nobody in the box
    merged.attrs = dict(table.attrs)
    return merged


def run_plan(plan: Plan, data: pd.DataFrame, questionnaire: Any, *, lang: str = "fr",
             min_cell: int = DEFAULT_MIN_CELL, level: float = 0.95,
             min_count: int | None = DEFAULT_MIN_COUNT) -> list[ReadableTable]:
    """Run every analysis of ``plan`` on the waves ``data`` (one design from the
    questionnaire's roles; missing-value codes of the plan's variables left out) into
    labelled tables for reading, small cells suppressed."""
    q = questionnaire
    roles = q.roles
    wave = roles.get("wave", "wave")
    treated = roles.get("treated", "treated")
    variables = sorted({r.variable for r in plan.rows})
    recoded, _ = recode_missing(data[variables], q)
    columns: dict[str, pd.Series] = {c: recoded[c] for c in variables}
    labels: dict[str, dict[str, str]] = {"fr": {}, "en": {}}
    for row in plan.rows:
        if row.top:
            name = _indicator_name(row.variable, row.top)
            columns[name] = top_box_scores(data, row.variable, top=list(row.top),
                                           questionnaire=q)
            for lang_ in ("fr", "en"):
                ql = lang_ if lang_ in q.languages else q.languages[0]
                codes = q.labels(row.variable, ql) if row.variable in q else {}
                quote = ("« {} »" if lang_ == "fr" else '"{}"')
                words = (" ou " if lang_ == "fr" else " or ").join(
                    quote.format(codes.get(c, c)) for c in row.top)
                base = q.label(row.variable, ql) if row.variable in q else row.variable
                labels[lang_][name] = (f"{base} : {words}" if lang_ == "fr"
                                       else f"{base}: {words}")
    design = design_from_questionnaire(data.assign(**columns), q, {})
    sources = [labels, q]
    tables: list[ReadableTable] = []
    for row in plan.rows:
        current: Any = design
        note = None
        if row.where:
            mask = parse_expression(row.where).evaluate(design.data).to_numpy(dtype=bool)
            current = design.subset(mask)
            note = (f"Champ : enquêtés pour lesquels {row.where}." if lang == "fr"
                    else f"Domain: respondents for whom {row.where}.")
        by = list(row.by) or None
        target = _indicator_name(row.variable, row.top) if row.top else row.variable
        statistic = "proportion"
        if row.statistic == "mean":
            table = mean(current, row.variable, by=by, na_rm=True, level=level)
            statistic = "mean"
        elif row.statistic == "total":
            table = total(current, row.variable, by=by, na_rm=True, level=level)
            statistic = "total"
        elif row.statistic == "proportion":
            table = proportion(current, row.variable, by=by, na_rm=True, level=level)
        elif row.statistic == "top_box":
            table = _with_top_count(mean(current, target, by=by, na_rm=True, level=level),
                                    current, target, by, level)
        elif row.statistic == "change":
            table = change(current, target, over=wave, by=by, na_rm=True, level=level)
            statistic = "proportion" if row.top else "mean"
        else:
            table = did(current, target, treated=treated, period=wave, by=by, na_rm=True,
                        level=level).effects
            statistic = "proportion" if row.top else "mean"
        table.attrs = {}
        if row.statistic in ("mean", "proportion", "top_box"):
            table = add_weighted_n(table, current, q)
        name = row.id or f"{row.number}_{row.variable}"
        tables.append(readable_table(table, statistic=statistic,  # type: ignore[arg-type]
                                     labels=sources, lang=lang, min_cell=min_cell,
                                     min_count=min_count,
                                     title=row.title, note=note, name=name, level=level))
    return tables
