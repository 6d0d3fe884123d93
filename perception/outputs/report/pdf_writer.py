"""The report as a PDF (reportlab): every page A4 portrait with its number, a title page,
a table of contents, the methods section, then each figure with its caption and its
tables. Fonts are the DejaVu fonts matplotlib ships (French spaces, arrows and dashes
included), embedded in the file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..readable import ReadableTable
from .document import ReportDocument

FONT = "PerceptionSans"
FONT_BOLD = "PerceptionSans-Bold"


def _register_fonts() -> None:
    from pathlib import Path as _Path

    import matplotlib
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = _Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT,
                                  boldItalic=FONT_BOLD)


def _styles() -> dict[str, Any]:
    from reportlab.lib.colors import HexColor
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13, spaceAfter=6)
    return {
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=20,
                                leading=25, spaceAfter=14),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=11, leading=15,
                                   textColor=HexColor("#444444")),
        "h1": ParagraphStyle("h1", parent=base, fontName=FONT_BOLD, fontSize=13, leading=17,
                             spaceBefore=6, spaceAfter=8),
        "h2": ParagraphStyle("h2", parent=base, fontName=FONT_BOLD, fontSize=9.5, leading=12,
                             spaceBefore=6, spaceAfter=3),
        "body": base,
        "note": ParagraphStyle("note", parent=base, fontSize=7.5, leading=9.5,
                               textColor=HexColor("#555555")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9, spaceAfter=0),
        "cellr": ParagraphStyle("cellr", parent=base, fontSize=7.5, leading=9, spaceAfter=0,
                                alignment=2),
        "head": ParagraphStyle("head", parent=base, fontName=FONT_BOLD, fontSize=7.5,
                               leading=9, spaceAfter=0),
        "toc1": ParagraphStyle("toc1", parent=base, fontSize=9.5, leading=14),
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table_flowables(table: ReadableTable, styles: dict[str, Any], width: float) -> list:
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    head = [Paragraph(_escape(c.header), styles["head"]) for c in table.columns]
    rows = [head]
    for values in table.text.astype(str).values.tolist():
        rows.append([Paragraph(_escape(v), styles["cell" if c.kind == "text" else "cellr"])
                     for c, v in zip(table.columns, values, strict=True)])
    from reportlab.pdfbase.pdfmetrics import stringWidth

    # numbers keep their width (never broken over lines): their widest text measured in
    # the table's font, plus the cell's padding (6 pt a side); text columns share the rest
    longest = [max([len(c.header) if c.kind != "text" else min(len(c.header), 12),
                    *(len(str(v)) for v in table.text.iloc[:, j])], default=4)
               for j, c in enumerate(table.columns)]
    widths = [max([stringWidth(str(v), FONT, 7.5) for v in table.text.iloc[:, j]]
                  + [stringWidth(word, FONT_BOLD, 7.5) for word in c.header.split()]) + 13
              if c.kind != "text" else 0.0
              for j, c in enumerate(table.columns)]
    rest = max(width - sum(widths), width * 0.25)
    text_total = sum(min(n, 45) for n, c in zip(longest, table.columns, strict=True)
                     if c.kind == "text") or 1
    # a text column is never narrower than its longest word (a name is not broken)
    word = [max([stringWidth(x, FONT, 7.5) for v in table.text.iloc[:, j]
                 for x in str(v).split()] or [0.0]) + 13 if c.kind == "text" else 0.0
            for j, c in enumerate(table.columns)]
    shares = [rest * min(n, 45) / text_total if c.kind == "text" else 0.0
              for n, c in zip(longest, table.columns, strict=True)]
    short = sum(max(m - x, 0.0) for m, x, c in zip(word, shares, table.columns, strict=True)
                if c.kind == "text")
    wide = sum(x for m, x, c in zip(word, shares, table.columns, strict=True)
               if c.kind == "text" and x > m)
    # what the narrow columns need is taken from the wider ones, in proportion
    shares = [max(m, x - short * x / wide) if c.kind == "text" and wide else max(m, x)
              for m, x, c in zip(word, shares, table.columns, strict=True)]
    widths = [w if c.kind != "text" else x
              for w, x, c in zip(widths, shares, table.columns, strict=True)]
    if sum(widths) > width:  # too wide: shrink every column alike
        widths = [w * width / sum(widths) for w in widths]
    grid = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    grid.setStyle(TableStyle([
        ("LINEBELOW", (0, 0), (-1, 0), 0.9, HexColor("#444444")),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, HexColor("#DDDDDD")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]))
    return [Paragraph(_escape(table.title), styles["h2"]), grid, Spacer(1, 3),
            Paragraph(_escape(table.note), styles["note"]), Spacer(1, 8)]


def write_pdf(doc: ReportDocument, path: Path) -> Path:
    """Write the report as a PDF to ``path``."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        Image,
        PageBreak,
        PageTemplate,
        Paragraph,
        Spacer,
    )
    from reportlab.platypus.tableofcontents import TableOfContents

    _register_fonts()
    styles = _styles()
    margin = 2.0 * cm
    width, height = A4
    frame_width = width - 2 * margin
    frame_height = height - 2 * margin

    class _Doc(BaseDocTemplate):
        def afterFlowable(self, flowable: Any) -> None:  # noqa: N802 (reportlab's hook name)
            if getattr(flowable, "toc_level", None) is not None:
                key = f"h{id(flowable)}"
                self.canv.bookmarkPage(key)
                self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0)
                self.notify("TOCEntry", (flowable.toc_level, flowable.getPlainText(),
                                         self.page, key))

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillGray(0.35)
        canvas.drawString(margin, 1.1 * cm, doc.title[:110])
        # the page number in a standard font: its text stays searchable in the file
        canvas.setFont("Helvetica", 8)
        canvas.drawRightString(width - margin, 1.1 * cm, f"page {document.page}")
        canvas.restoreState()

    pdf = _Doc(str(path), pagesize=A4, leftMargin=margin, rightMargin=margin,
               topMargin=margin, bottomMargin=margin, title=doc.title, author="perception",
               creator=doc.software, pageCompression=0)
    pdf.addPageTemplates([PageTemplate("page", [Frame(margin, margin, frame_width,
                                                      frame_height, id="body")],
                                       onPage=footer)])

    def heading(text: str) -> Any:
        para = Paragraph(_escape(text), styles["h1"])
        para.toc_level = 0  # type: ignore[attr-defined]
        return para

    toc = TableOfContents()
    toc.levelStyles = [styles["toc1"]]
    story: list[Any] = [Spacer(1, 5 * cm), Paragraph(_escape(doc.title), styles["title"]),
                        Paragraph(_escape(doc.subtitle), styles["subtitle"]), PageBreak(),
                        Paragraph(doc.word("Sommaire", "Contents"), styles["h1"]), toc,
                        PageBreak(), heading(doc.methods.title)]
    for block in doc.methods.blocks:
        story += ([Paragraph(_escape(block), styles["body"])] if isinstance(block, str)
                  else _table_flowables(block, styles, frame_width))
    for section in doc.sections:
        story += [PageBreak(), heading(section.title)]
        for block in section.blocks:
            story += ([Paragraph(_escape(block), styles["body"])] if isinstance(block, str)
                      else _table_flowables(block, styles, frame_width))
    for fig in doc.figures:
        story += [PageBreak(), heading(f"Figure {fig.number}. {fig.title}")]
        image = Image(io.BytesIO(fig.png))
        scale = min(frame_width / image.imageWidth, 0.62 * frame_height / image.imageHeight)
        image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
        story += [image, Spacer(1, 4), Paragraph(_escape(fig.caption), styles["note"]),
                  Spacer(1, 8)]
        for table in fig.tables:
            story += _table_flowables(table, styles, frame_width)
    pdf.multiBuild(story)
    return path
