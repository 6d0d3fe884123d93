"""The report as a Word document (python-docx), where evaluation reports are written: a
title page, the methods section, each figure with its caption and its tables as real
Word tables, page numbers in the footer. A4 portrait throughout."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..readable import ReadableTable
from .document import ReportDocument


def _field(paragraph: Any, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES, TOC ...) in ``paragraph``; Word fills it in."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    run = paragraph.add_run()
    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    text = OxmlElement("w:instrText")
    text.set(qn("xml:space"), "preserve")
    text.text = instruction
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    shown = OxmlElement("w:t")
    shown.text = "1"
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    for element in (begin, text, separate, shown, end):
        run._r.append(element)


def _table(document: Any, table: ReadableTable) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    document.add_paragraph(table.title, style="Heading 3")
    grid = document.add_table(rows=1, cols=len(table.columns))
    grid.style = "Table Grid"
    for cell, column in zip(grid.rows[0].cells, table.columns, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(column.header)
        run.bold = True
        run.font.size = Pt(8)
    for values in table.text.astype(str).values.tolist():
        cells = grid.add_row().cells
        for cell, column, value in zip(cells, table.columns, values, strict=True):
            cell.text = ""
            paragraph = cell.paragraphs[0]
            run = paragraph.add_run(value)
            run.font.size = Pt(8)
            if column.kind != "text":
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    note = document.add_paragraph()
    run = note.add_run(table.note)
    run.italic = True
    run.font.size = Pt(8)


def write_docx(doc: ReportDocument, path: Path) -> Path:
    """Write the report as a Word document to ``path``."""
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
    from docx.shared import Cm, Pt

    document = docx.Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2.0))
    document.styles["Normal"].font.name = "Calibri"
    document.styles["Normal"].font.size = Pt(10)
    document.core_properties.title = doc.title
    document.core_properties.author = "perception"
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    footer.add_run(doc.word("page ", "page "))
    _field(footer, "PAGE")

    # title page
    for _ in range(6):
        document.add_paragraph()
    document.add_paragraph(doc.title, style="Title")
    document.add_paragraph(doc.subtitle, style="Subtitle")
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    # contents: a Word field, filled in by Word (F9) or LibreOffice on update
    document.add_paragraph(doc.word("Sommaire", "Contents"), style="Heading 1")
    _field(document.add_paragraph(), 'TOC \\o "1-1" \\h \\z \\u')
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)

    document.add_paragraph(doc.methods.title, style="Heading 1")
    for block in doc.methods.blocks:
        if isinstance(block, str):
            document.add_paragraph(block)
        else:
            _table(document, block)
    for extra in doc.sections:
        document.add_paragraph(extra.title, style="Heading 1")
        for block in extra.blocks:
            if isinstance(block, str):
                document.add_paragraph(block)
            else:
                _table(document, block)
    for fig in doc.figures:
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        document.add_paragraph(f"Figure {fig.number}. {fig.title}", style="Heading 1")
        document.add_picture(io.BytesIO(fig.png), width=Cm(17.0))
        caption = document.add_paragraph(style="Caption")
        caption.add_run(f"Figure {fig.number} : " if doc.lang == "fr"
                        else f"Figure {fig.number}: ").bold = True
        caption.add_run(fig.caption)
        for table in fig.tables:
            _table(document, table)
    document.save(str(path))
    return path
