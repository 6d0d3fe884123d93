"""What a report holds, whatever it is written to (HTML, PDF, Word): a title, a methods
section of paragraphs and tables, and the figures, each with its caption, its image and
its tables for reading."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..readable import Column, ReadableTable


@dataclass(frozen=True)
class Section:
    """A titled section: paragraphs and tables, in order (a block is a str or a table)."""

    title: str
    blocks: list[str | ReadableTable] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFigure:
    """A figure of the report: its number, title, caption, PNG image and tables."""

    number: int
    name: str
    title: str
    caption: str
    png: bytes
    tables: list[ReadableTable]


@dataclass(frozen=True)
class ReportDocument:
    """A whole report."""

    title: str
    subtitle: str
    lang: str
    date: str
    software: str
    methods: Section
    figures: list[ReportFigure]
    sections: list[Section] = field(default_factory=list)

    def word(self, fr: str, en: str) -> str:
        """``fr`` or ``en`` in the report's language."""
        return fr if self.lang == "fr" else en


def plain_table(name: str, title: str, note: str, frame: pd.DataFrame,
                headers: dict[str, str], counts: tuple[str, ...] = (), lang: str = "fr"
                ) -> ReadableTable:
    """A table of the methods section (counts, not estimates): ``frame``'s columns shown
    under ``headers``; the ``counts`` columns written as whole numbers."""
    from ..numbers import fmt_number

    columns = [Column(c, headers.get(c, c), "count" if c in counts else "text")
               for c in frame.columns]
    text = pd.DataFrame({c: [fmt_number(v, lang) if c in counts else str(v)
                             for v in frame[c]] for c in frame.columns})
    return ReadableTable(name=name, title=title, note=note, lang=lang, columns=columns,
                         cells=frame.reset_index(drop=True), text=text, data=frame)
