"""PDF report tables: numbers are never broken over lines, nor is a word of a label."""

from __future__ import annotations

import pandas as pd

from perception.outputs.readable import readable_table
from perception.outputs.report import pdf_writer


def _table() -> pd.DataFrame:
    # small domains (three-digit n), a long label next to a short one
    return pd.DataFrame({
        "cercle": ["Bandiagara", "Mopti"],
        "variable": ["trust_police", "trust_police"],
        "estimate": [0.961, 0.879], "se": [0.01, 0.02], "ci_low": [0.92, 0.78],
        "ci_high": [0.98, 0.93], "df": [30, 30], "n": [271, 232],
        "label": ["Situation de référence → Fin de projet"] * 2,
    })


def test_every_number_and_word_fits_its_column():
    from reportlab.pdfbase.pdfmetrics import stringWidth

    pdf_writer._register_fonts()
    styles = pdf_writer._styles()
    readable = readable_table(_table(), statistic="proportion", min_count=None)
    grid = next(f for f in pdf_writer._table_flowables(readable, styles, 480.0)
                if type(f).__name__ == "Table")
    widths = grid._colWidths
    assert sum(widths) <= 480.0 + 1e-6
    for j, column in enumerate(readable.columns):
        values = readable.text.iloc[:, j].astype(str)
        pieces = values if column.kind != "text" else [w for v in values for w in v.split()]
        needed = max(stringWidth(p, pdf_writer.FONT, 7.5) for p in pieces) + 12
        assert widths[j] >= needed, (column.header, widths[j], needed)
