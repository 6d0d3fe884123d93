"""The report as one self-contained HTML page: figures embedded (base64 PNG), tables as
HTML tables, the methods section first; no link leaves the page, so it reads offline
and can be sent on its own."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..readable import ReadableTable
from .document import ReportDocument

_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; max-width: 62em; margin: 2em auto;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 2.2em; }
h3 { font-size: 1em; margin: 1.2em 0 0.4em; }
.subtitle, .note, figcaption { color: #555; font-size: 0.9em; }
nav ol { padding-left: 1.4em; } nav a { color: #0072B2; text-decoration: none; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
table.readable { border-collapse: collapse; font-size: 0.82em; margin: 0.4em 0; }
table.readable caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
table.readable th { border-bottom: 1.5px solid #444; padding: 3px 8px; text-align: left;
  vertical-align: bottom; }
table.readable td { border-bottom: 1px solid #ddd; padding: 2px 8px; }
table.readable .num { text-align: right; white-space: nowrap; }
table.readable tr.suppressed td { color: #888; font-style: italic; }
table.readable tr.low td.num { color: #8a4b00; }
"""


def table_html(table: ReadableTable) -> str:
    """One readable table as an HTML table with its title as caption and its note."""
    head = "".join(
        f'<th class="{"num" if c.kind != "text" else "txt"}">{html.escape(c.header)}</th>'
        for c in table.columns)
    rows = []
    flags = (list(table.data["reliability"]) if "reliability" in table.data.columns
             and len(table.data) == len(table.text) else [""] * len(table.text))
    for values, flag in zip(table.text.astype(str).values.tolist(), flags, strict=True):
        cells = "".join(
            f'<td class="{"num" if c.kind != "text" else "txt"}">{html.escape(v)}</td>'
            for c, v in zip(table.columns, values, strict=True))
        cls = f' class="{flag}"' if flag in ("suppressed", "low") else ""
        rows.append(f"<tr{cls}>{cells}</tr>")
    return (f'<table class="readable"><caption>{html.escape(table.title)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="note">{html.escape(table.note)}</p>')


def document_html(doc: ReportDocument) -> str:
    """The whole report as an HTML page."""
    toc = [f'<li><a href="#methods">{html.escape(doc.methods.title)}</a></li>']
    body = [f'<section id="methods"><h2>{html.escape(doc.methods.title)}</h2>']
    for block in doc.methods.blocks:
        body.append(f"<p>{html.escape(block)}</p>" if isinstance(block, str)
                    else table_html(block))
    body.append("</section>")
    for section in doc.sections:
        anchor = f"section-{len(toc)}"
        toc.append(f'<li><a href="#{anchor}">{html.escape(section.title)}</a></li>')
        body.append(f'<section id="{anchor}"><h2>{html.escape(section.title)}</h2>')
        for block in section.blocks:
            body.append(f"<p>{html.escape(block)}</p>" if isinstance(block, str)
                        else table_html(block))
        body.append("</section>")
    for fig in doc.figures:
        label = doc.word("Figure", "Figure")
        heading = f"{label} {fig.number}. {fig.title}"
        toc.append(f'<li><a href="#{fig.name}">{html.escape(heading)}</a></li>')
        data = base64.b64encode(fig.png).decode("ascii")
        tables = "".join(table_html(t) for t in fig.tables)
        body.append(
            f'<section id="{fig.name}"><h2>{html.escape(heading)}</h2><figure>'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(fig.title)}">'
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>{tables}</section>")
    contents = doc.word("Sommaire", "Contents")
    return f"""<!DOCTYPE html>
<html lang="{doc.lang}"><head><meta charset="utf-8">
<meta name="generator" content="{html.escape(doc.software)}">
<title>{html.escape(doc.title)}</title>
<style>{_STYLE}</style></head><body>
<header><h1>{html.escape(doc.title)}</h1>
<p class="subtitle">{html.escape(doc.subtitle)}</p></header>
<nav><h2>{contents}</h2><ol>{''.join(toc)}</ol></nav>
{''.join(body)}
</body></html>
"""


def write_html(doc: ReportDocument, path: Path) -> Path:
    """Write the report's HTML page to ``path``."""
    path.write_text(document_html(doc), encoding="utf-8")
    return path
