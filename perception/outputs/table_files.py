"""Readable tables written out: printed in a terminal, as Markdown, CSV (full precision,
with the label columns) or an Excel workbook (one formatted sheet per table).

Examples
--------
>>> from perception.outputs.readable import readable_table
>>> demo = pc.demo_survey(seed=1)
>>> t = pc.top_box(demo.design(), "trust_police", by="wave")
>>> rt = readable_table(t, labels=demo.questionnaire, lang="en")
>>> print(to_markdown(rt).splitlines()[2])
| Survey wave | % | 95% CI | n | Reliability |
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import PerceptionError
from .readable import ReadableTable

TableFormat = Literal["csv", "xlsx", "md"]
TABLE_FORMATS: tuple[str, ...] = ("csv", "xlsx", "md")


def check_table_format(fmt: str) -> str:
    """``fmt`` as one of :data:`TABLE_FORMATS`, or a clear error."""
    value = str(fmt).strip().lower()
    if value not in TABLE_FORMATS:
        raise PerceptionError(f"unknown table format {fmt!r}; choose one of "
                              f"{', '.join(TABLE_FORMATS)}")
    return value


# ------------------------------------------------------------------------ text --
def to_text(table: ReadableTable, width: int = 100) -> str:
    """The table as a reader sees it in a terminal: title, aligned columns, note."""
    shown = table.shown()
    headers = list(shown.columns)
    rows = shown.astype(str).values.tolist()
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    right = [c.kind != "text" for c in table.columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w)
                         for v, w, r in zip(values, widths, right, strict=True)).rstrip()

    out = [table.title, "", line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    out += ["", textwrap.fill(table.note, width=width)]
    return "\n".join(out)


def _md_cell(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(table: ReadableTable) -> str:
    """The table in Markdown: a heading, a pipe table (numbers right-aligned), the note
    in italics."""
    headers = table.headers
    align = ["---:" if c.kind != "text" else ":---" for c in table.columns]
    lines = [f"### {table.title}", "",
             "| " + " | ".join(_md_cell(h) for h in headers) + " |",
             "|" + "|".join(align) + "|"]
    for row in table.text.astype(str).values.tolist():
        lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
    lines += ["", f"*{table.note}*", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------ files --
def write_tables(tables: Sequence[ReadableTable], path: str | Path,
                 fmt: str | None = None) -> Path:
    """Write ``tables`` to ``path`` as CSV (the full-precision data; several tables are
    stacked with a ``table`` column), Markdown or an Excel workbook (one sheet per
    table). ``fmt`` defaults to the file's extension."""
    path = Path(path)
    fmt = check_table_format(fmt or path.suffix.lstrip(".") or "csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frames = [t.data.assign(table=t.name)[["table", *t.data.columns]]
                  if len(tables) > 1 else t.data for t in tables]
        pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    elif fmt == "md":
        path.write_text("\n".join(to_markdown(t) for t in tables), encoding="utf-8")
    else:
        write_workbook(tables, path)
    return path


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_names(tables: Sequence[ReadableTable]) -> list[str]:
    """A valid, unique Excel sheet name (31 characters at most) for each table."""
    names: list[str] = []
    for table in tables:
        base = _SHEET_BAD.sub("_", table.name).strip("'") or "table"
        name = base[:31]
        k = 2
        while name.lower() in (n.lower() for n in names):
            suffix = f"_{k}"
            name = base[: 31 - len(suffix)] + suffix
            k += 1
        names.append(name)
    return names


def _number_format(decimals: int, kind: str) -> str:
    if kind == "count":
        return "#,##0"
    return "0" if decimals == 0 else "0." + "0" * decimals


def write_workbook(tables: Sequence[ReadableTable], path: str | Path) -> Path:
    """An Excel workbook with one formatted sheet per table: the title, a bold header
    row, numbers with number formats, the panes frozen below the header and right of
    the label columns, the note under the table."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    if not tables:
        raise PerceptionError("there is no table to write")
    book = Workbook()
    book.remove(book.active) if book.active is not None else None
    header_fill = PatternFill("solid", fgColor="E8EEF4")
    rule = Border(bottom=Side(style="thin", color="7F7F7F"))
    for table, name in zip(tables, sheet_names(tables), strict=True):
        sheet = book.create_sheet(name)
        sheet.cell(row=1, column=1, value=table.title).font = Font(bold=True, size=12)
        header_row = 3
        for j, column in enumerate(table.columns, start=1):
            cell = sheet.cell(row=header_row, column=j, value=column.header)
            cell.font = Font(bold=True)
            cell.fill = header_fill
            cell.border = rule
            cell.alignment = Alignment(wrap_text=True, vertical="bottom",
                                       horizontal="left" if column.kind == "text" else "right")
        for i, row in enumerate(table.cells.itertuples(index=False), start=header_row + 1):
            for j, (column, value) in enumerate(zip(table.columns, row, strict=True), start=1):
                if column.kind in ("number", "count"):
                    if value is None or (isinstance(value, float) and not np.isfinite(value)):
                        shown = table.text.iloc[i - header_row - 1, j - 1]
                        cell = sheet.cell(row=i, column=j, value=None if shown == "–" else shown)
                        cell.alignment = Alignment(horizontal="right")
                        continue
                    cell = sheet.cell(row=i, column=j, value=float(value))
                    cell.number_format = _number_format(column.decimals, column.kind)
                else:
                    cell = sheet.cell(row=i, column=j, value=str(value))
                    if column.kind != "text":
                        cell.alignment = Alignment(horizontal="right")
        last = header_row + len(table.cells)
        note_row = last + 2
        sheet.cell(row=note_row, column=1, value=table.note).alignment = Alignment(
            wrap_text=True, vertical="top")
        width = max(len(table.columns), 1)
        if width > 1:
            sheet.merge_cells(start_row=note_row, start_column=1, end_row=note_row,
                              end_column=width)
        for j, column in enumerate(table.columns, start=1):
            longest = max([len(str(column.header)) // 2 + 2,
                           *(len(str(v)) for v in table.text.iloc[:, j - 1])], default=8)
            sheet.column_dimensions[get_column_letter(j)].width = min(max(longest + 2, 8), 50)
        total_width = sum(sheet.column_dimensions[get_column_letter(j)].width or 10
                          for j in range(1, width + 1))
        sheet.row_dimensions[note_row].height = 15 * (len(table.note) // max(total_width, 20) + 2)
        labels = sum(1 for c in table.columns if c.kind == "text" and c.key != "reliability")
        sheet.freeze_panes = sheet.cell(row=header_row + 1, column=min(labels, width - 1) + 1)
        sheet.sheet_view.showGridLines = False
    path = Path(path)
    book.save(path)
    return path
