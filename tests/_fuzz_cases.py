"""Mutations of valid waves and questionnaires, shared by ``test_fuzz.py`` (a few hundred
examples drawn by hypothesis) and ``benchmarks/fuzz_validate.py`` (>= 10,000 waves).

Every mutation takes a ``random.Random``, so hypothesis can draw it (``st.randoms()``,
derandomised, shrinkable) and the benchmark can seed it.

Waves: a mutation changes cells (what a field team, a spreadsheet or an export can do
to a value) or whole columns. :func:`allowed_rows` gives the rows a report may call
invalid after cell mutations: the mutated rows, and the rows that share a
cross-row key with them (respondent id within a wave; PSU within a wave, whose stratum
must be unique). Benign mutations (row and column order, an extra column, a new index)
must leave a valid wave valid.

Questionnaires: the YAML text (lines deleted, repeated, swapped, characters replaced,
truncated) or the parsed mapping (a key deleted, renamed, or its value replaced by
another type) is mutated; loading must then succeed or raise a ``QuestionnaireError``.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: values a cell may be set to: what CSV, XLSX, SPSS exports and hand edits produce
STRANGE_VALUES: tuple[Any, ...] = (
    None, np.nan, "", "   ", "NA", "n/a", "-", "?", "9 ", " 1", "1.0", "1,5", "3.7", "oui",
    "Ségou", "12/31/2024", "2024-02-30", "2024-03-15", "0x1F", "1e400", "-0", "∞", "🙂",
    "'; DROP TABLE wave; --", "${trust_police}", "=1+1", "__import__('os')", "\x00",
    True, False, 0, 1, 2, 3, 7, 8, 9, 97, 98, 99, 998, 999, -1, -999, 10**12, 2**63,
    0.5, 1.5, -0.0, 1e-300, 1e308, math.inf, -math.inf,
    pd.Timestamp("1900-01-01"), pd.Timestamp("2024-03-15"), pd.NaT, b"bytes",
)

#: cross-row keys of the demo questionnaire's checks: (wave, resp_id) must be unique,
#: (wave, psu_id) must lie in one stratum
CROSS_ROW_KEYS = (("wave", "resp_id"), ("wave", "psu_id"))


@dataclass(frozen=True)
class MutatedWave:
    data: pd.DataFrame
    rows: frozenset  # row labels whose cells were changed
    kind: str  # "cells", "columns" or "benign"
    what: str  # description, for failure messages


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mutate_cells(df: pd.DataFrame, rnd: random.Random, count: int | None = None
                 ) -> MutatedWave:
    """Set 1-5 random cells to strange values (or to a value of another cell)."""
    out = df.copy(deep=True)
    rows: set = set()
    what = []
    for _ in range(count or rnd.randint(1, 5)):
        label = out.index[rnd.randrange(len(out))]
        column = out.columns[rnd.randrange(out.shape[1])]
        if rnd.random() < 0.2:  # a value that belongs to another column
            other = out.columns[rnd.randrange(out.shape[1])]
            value = out.at[out.index[rnd.randrange(len(out))], other]
        else:
            value = rnd.choice(STRANGE_VALUES)
        series = out[column].astype(object)
        series.loc[label] = value
        out[column] = series
        rows.add(label)
        what.append(f"{column}[{label}]={value!r}")
    return MutatedWave(out, frozenset(rows), "cells", "; ".join(what))


def mutate_columns(df: pd.DataFrame, rnd: random.Random) -> MutatedWave:
    """Drop, duplicate, rename, retype or blank a whole column."""
    column = df.columns[rnd.randrange(df.shape[1])]
    action = rnd.choice(["drop", "duplicate", "rename", "text", "blank", "constant",
                         "numbers", "upper"])
    out = df.copy(deep=True)
    if action == "drop":
        out = out.drop(columns=column)
    elif action == "duplicate":
        out = pd.concat([out, out[[column]]], axis=1)
    elif action == "rename":
        out = out.rename(columns={column: rnd.choice([f" {column}", column.upper(),
                                                      f"{column}_x", f"{column}.1"])})
    elif action == "text":
        out[column] = out[column].astype(str)
    elif action == "blank":
        out[column] = None
    elif action == "constant":
        out[column] = rnd.choice(STRANGE_VALUES)
    elif action == "numbers":
        out[column] = np.arange(len(out)) * rnd.choice([1, -1, 0.5, 1000])
    else:
        out = out.rename(columns=str.upper)
    return MutatedWave(out, frozenset(out.index), "columns", f"{action} {column}")


def mutate_benign(df: pd.DataFrame, rnd: random.Random) -> MutatedWave:
    """Changes that leave a valid wave valid."""
    action = rnd.choice(["rows", "columns", "extra", "index"])
    if action == "rows":
        out = df.sample(frac=1.0, random_state=rnd.randrange(2**32))
    elif action == "columns":
        order = list(df.columns)
        rnd.shuffle(order)
        out = df[order]
    elif action == "extra":
        out = df.assign(interviewer_note=[rnd.choice(["ok", "", None]) for _ in range(len(df))])
    else:
        out = df.set_axis([f"r{i}" for i in range(len(df))], axis=0)
    return MutatedWave(out.copy(), frozenset(), "benign", action)


def mutate_wave(df: pd.DataFrame, rnd: random.Random) -> MutatedWave:
    """One random mutation: cells (most often), whole columns, or a benign change."""
    pick = rnd.random()
    if pick < 0.7:
        return mutate_cells(df, rnd)
    if pick < 0.9:
        return mutate_columns(df, rnd)
    return mutate_benign(df, rnd)


def allowed_rows(mutated: MutatedWave) -> set:
    """Rows a report may list after cell mutations: the mutated rows and the rows sharing
    a cross-row key (:data:`CROSS_ROW_KEYS`) with one of them, before or after."""
    data = mutated.data
    allowed = set(mutated.rows)
    for key in CROSS_ROW_KEYS:
        if not all(c in data.columns for c in key):
            continue
        texts = pd.DataFrame({c: data[c].astype(object).map(_text) for c in key},
                             index=data.index)
        joined = texts.apply(lambda r: None if r.isna().any() else tuple(r), axis=1)
        touched = {joined.loc[label] for label in mutated.rows if joined.loc[label] is not None}
        allowed |= set(joined.index[joined.isin(touched)])
    return allowed


def check_report(report, mutated: MutatedWave) -> list[str]:
    """Problems with a validation report of a mutated wave (empty when it is right)."""
    problems = []
    expected = ["row", "column", "check", "value", "message"]
    for name in ("errors", "warnings"):
        table = getattr(report, name)
        if list(table.columns) != expected:
            problems.append(f"{name} columns {list(table.columns)}")
    if report.ok != report.errors.empty:
        problems.append("ok disagrees with errors")
    if mutated.kind == "benign" and not report.ok:
        problems.append(f"benign change ({mutated.what}) made the wave invalid:\n"
                        + report.summary())
    if mutated.kind == "cells":
        rows = {r for r in report.errors["row"].tolist() if r is not None}
        extra = rows - allowed_rows(mutated)
        if extra:
            problems.append(f"unmutated rows {sorted(extra, key=str)} reported invalid after "
                            f"{mutated.what}:\n{report.summary()}")
        whole = report.errors[report.errors["row"].isna()]
        if len(whole):
            problems.append(f"whole-column errors after {mutated.what}:\n{report.summary()}")
    if report.errors["message"].isna().any() or (report.errors["message"] == "").any():
        problems.append("an error without a message")
    return problems


# ------------------------------------------------------------- questionnaires --
def mutate_yaml_text(text: str, rnd: random.Random) -> str:
    """Delete, repeat, swap or indent lines, replace characters, or truncate."""
    lines = text.splitlines()
    for _ in range(rnd.randint(1, 3)):
        action = rnd.choice(["delete", "repeat", "swap", "char", "truncate", "indent",
                             "insert"])
        i = rnd.randrange(len(lines))
        if action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "char" and lines[i]:
            k = rnd.randrange(len(lines[i]))
            lines[i] = lines[i][:k] + rnd.choice(":-[]{}&*!|>'\"%@`#, \t\\é0") + lines[i][k + 1:]
        elif action == "truncate":
            lines = lines[: max(1, i)]
        elif action == "indent":
            lines[i] = rnd.choice(["  ", " ", "\t"]) + lines[i]
        else:
            lines.insert(i, rnd.choice(["- name: x", "codes: 1", "relevant: ${x} = 1",
                                        "  missing: {9: DK}", "type: integer", "&a b",
                                        "*a", "!!python/object:os.system x", "? ?"]))
    return "\n".join(lines) + "\n"


_VALUES: tuple[Any, ...] = (None, 0, 1, -1, 2.5, "", "x", "integer", "${age} > 200", True,
                            [], {}, [1, 2], {"fr": "a"}, {1: {"fr": "a", "en": "a"}},
                            "fr", "trust4", "refused_dk", 10**20)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def mutate_yaml_data(data: dict, rnd: random.Random) -> dict:
    """Delete a key (or list item), rename a key, or replace a value by another type."""
    out = copy.deepcopy(data)
    for _ in range(rnd.randint(1, 3)):
        paths = _paths(out)
        if not paths:
            break
        path = rnd.choice(paths)
        parent = out
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = rnd.choice(["delete", "replace", "replace", "rename"])
        if action == "delete":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[rnd.choice(["nmae", "type ", "Labels", 9, None, "relevant"])] = parent.pop(last)
        else:
            parent[last] = copy.deepcopy(rnd.choice(_VALUES))
    return out
