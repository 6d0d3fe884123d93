"""Writing a figure set: every figure (PNG, PDF, SVG), the published CSV behind each,
``tables.xlsx`` (one formatted sheet per table), and the report in HTML, PDF and Word.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import PerceptionError
from .. import figures as F
from ..table_files import write_workbook
from .context import ReportContext
from .document import ReportDocument, ReportFigure
from .docx_writer import write_docx
from .html_writer import write_html
from .methods import methods_section, software_version
from .pdf_writer import write_pdf
from .specs import BuiltFigure, available_figures, build_figure, figures_to_draw

FORMATS = ("png", "pdf", "svg")


@dataclass
class ReportFiles:
    """Paths written by :func:`write_report`, and the figures this data could not give
    (name -> why)."""

    figures: dict[str, list[Path]] = field(default_factory=dict)
    tables: dict[str, list[Path]] = field(default_factory=dict)
    html: Path | None = None
    pdf: Path | None = None
    docx: Path | None = None
    xlsx: Path | None = None
    left_out: dict[str, str] = field(default_factory=dict)


def prepare_output(out: str | Path) -> Path:
    """Create the output folder (and ``tables/``) or raise a clear error."""
    out = Path(out)
    try:
        (out / "tables").mkdir(parents=True, exist_ok=True)
        probe = out / ".perception_write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PerceptionError(
            f"cannot write to the output folder {str(out)!r}: {exc.strerror or exc}. Choose a "
            "folder you can write to with --out"
        ) from None
    return out


def check_formats(formats: Sequence[str] | str) -> list[str]:
    """The image formats of the figures, or a clear error."""
    if isinstance(formats, str):
        formats = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise PerceptionError(
            f"unknown figure format {bad[0] if bad else '(none)'!r}; choose from "
            f"{', '.join(FORMATS)} (comma-separated, e.g. --format png,pdf)"
        )
    return list(dict.fromkeys(formats))


def report_title(ctx: ReportContext) -> str:
    """The report's title in its language (the configuration's ``title``)."""
    raw = ctx.config.get("title") or {}
    return raw.get(ctx.lang, "") if isinstance(raw, Mapping) else str(raw)


def _subtitle(ctx: ReportContext) -> str:
    from ..labelling import Labeller

    lab = Labeller(ctx.labels, ctx.lang)
    waves = ", ".join(lab.value(ctx.wave, w) for w in ctx.waves)
    q = ctx.questionnaire
    name = ""
    title = getattr(q, "title", None)
    if isinstance(title, Mapping) and title:
        name = title.get(ctx.lang) or next(iter(title.values()))
    word = "Vagues" if ctx.lang == "fr" else "Waves"
    if len(ctx.waves) == 1:
        word = "Vague" if ctx.lang == "fr" else "Wave"
    return f"{name}. {word} : {waves}." if ctx.lang == "fr" else f"{name}. {word}: {waves}."


def _png(figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def write_report(
    ctx: ReportContext,
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    formats: Sequence[str] | str = ("png",),
    progress: bool = False,
    dpi: int = F.style.DPI,
    date: str | None = None,
) -> ReportFiles:
    """Write the figures, the CSV behind each one, ``tables.xlsx`` and the report
    (``report.html``, ``report.pdf``, ``report.docx``).

    Parameters
    ----------
    ctx : the report context (:func:`context_from_waves`).
    out : folder to write to (created if needed).
    names : figures to draw (default: the configuration's ``figures``, else all). Those
        the data cannot give (a comparison of waves on one wave; a DiD without
        intervention areas) are left out and listed in ``ReportFiles.left_out``.
    formats : image formats of the figures ("png", "pdf", "svg").
    progress : show a progress bar on stderr.
    date : the report's date (ISO; default today).

    Returns
    -------
    ReportFiles with every path written.
    """
    from tqdm import tqdm

    asked = figures_to_draw(ctx, names)
    formats = check_formats(formats)
    out = prepare_output(out)
    drawn, left_out = available_figures(ctx, asked)
    files = ReportFiles(left_out=left_out)
    built: list[BuiltFigure] = []
    with _saving_style(), tqdm(total=len(drawn) + 1, desc="perception figures",
                               unit="figure", file=sys.stderr, disable=not progress,
                               leave=False) as bar:
        for name in drawn:
            bar.set_postfix_str(name)
            item = build_figure(name, ctx)
            built.append(item)
            files.figures[name] = []
            for fmt in formats:
                path = out / f"{name}.{fmt}"
                item.figure.savefig(path, dpi=dpi, format=fmt,
                                    metadata=_metadata(fmt, item.title))
                files.figures[name].append(path)
            files.tables[name] = _write_tables(out / "tables", item)
            bar.update(1)
        bar.set_postfix_str("report")
        methods = methods_section(ctx, left_out, date=date)
        # the figure's own footer (source, marks, n) is in the image: the caption is its title
        figures = [ReportFigure(i + 1, item.name, item.title, item.title,
                                _png(item.figure, dpi), item.readable)
                   for i, item in enumerate(built)]
        doc = ReportDocument(
            title=report_title(ctx), subtitle=_subtitle(ctx), lang=ctx.lang,
            date=date or pd.Timestamp.today().date().isoformat(),
            software=f"perception {software_version()}", methods=methods, figures=figures)
        readable = [t for item in built for t in item.readable]
        if readable:
            files.xlsx = write_workbook(readable, out / "tables.xlsx")
        files.html = write_html(doc, out / "report.html")
        files.pdf = write_pdf(doc, out / "report.pdf")
        files.docx = write_docx(doc, out / "report.docx")
        bar.update(1)
    return files


def _saving_style():
    """Fonts embedded as TrueType in PDF and kept as text in SVG while saving."""
    import matplotlib as mpl

    return mpl.rc_context({"pdf.fonttype": 42, "svg.fonttype": "none"})


def _metadata(fmt: str, title: str) -> dict[str, str] | None:
    if fmt == "png":
        return {"Title": title, "Software": "perception"}
    if fmt == "pdf":
        return {"Title": title, "Creator": "perception"}
    if fmt == "svg":
        return {"Title": title}
    return None  # pragma: no cover


def _write_tables(folder: Path, item: BuiltFigure) -> list[Path]:
    """The published tables of a figure as CSV: full precision, with the label columns
    and the reliability of the tables for reading when there is one."""
    readable = {t.name: t for t in item.readable}
    paths = []
    for part, table in item.tables.items():
        stem = item.name if not part else f"{item.name}_{part}"
        path = folder / f"{stem}.csv"
        shown = readable.get(stem)
        frame = table
        if shown is not None and len(shown.data) == len(table) and "estimate" in table:
            same = np.allclose(shown.data["estimate"].to_numpy(dtype=float),
                               table["estimate"].to_numpy(dtype=float), equal_nan=True)
            frame = shown.data if same else table
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths
