"""What the subcommands share: the options every command reads its input with
(``--questionnaire``, ``--sheet``, ``--encoding``, ``--where``) and writes its tables with
(``--lang``, ``--format``, ``--out``, ``--min-cell``); reading the waves; the answers
left out of the estimates, said once; the ``--where`` domain; printing or writing tables.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..disclosure.suppression import DEFAULT_MIN_CELL, DEFAULT_MIN_COUNT
from ..errors import PerceptionError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from ..questionnaire.model import Questionnaire


# ---------------------------------------------------------------------- options --
def add_input_options(parser: argparse.ArgumentParser, *, questionnaire: bool = True) -> None:
    """``-q/--questionnaire``, ``--sheet``, ``--encoding`` and ``--where``."""
    if questionnaire:
        parser.add_argument("-q", "--questionnaire", required=True, metavar="Q", type=Path,
                            help="questionnaire file (.yaml)")
    parser.add_argument("--sheet", metavar="SHEET", default=None,
                        help="the sheet of .xlsx wave files that holds the data (name or "
                        "0-based number); required when a workbook has several sheets with "
                        "data")
    parser.add_argument("--encoding", metavar="ENC", default=None,
                        help="encoding of CSV wave files (default utf-8; e.g. cp1252 for "
                        "Windows Latin-1 exports)")
    parser.add_argument("--where", metavar="EXPR", default=None,
                        help="analyse only the respondents for whom this expression of the "
                        "questionnaire's language is true, e.g. \"${region} = 1 and "
                        "${sex} = 2\" (a domain: the others stay in the design for the "
                        "standard errors)")


def add_output_options(parser: argparse.ArgumentParser, *, out_help: str | None = None
                       ) -> None:
    """``--lang``, ``--format``, ``--out``, ``--min-cell``, ``--min-count`` and
    ``--level``."""
    parser.add_argument("--lang", choices=("fr", "en"), default="fr",
                        help="language of the labels and numbers (default fr)")
    parser.add_argument("--format", choices=("csv", "xlsx", "md"), default=None,
                        dest="table_format",
                        help="csv (full precision, with label columns), xlsx (formatted "
                        "workbook) or md (Markdown); default: from --out's extension, else "
                        "a table printed for reading")
    parser.add_argument("--out", metavar="FILE", type=Path, default=None,
                        help=out_help or "write the table to FILE (.csv, .xlsx or .md) "
                        "instead of printing it")
    parser.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL, metavar="N",
                        help=f"smallest number of respondents of a shown cell (default "
                        f"{DEFAULT_MIN_CELL})")
    parser.add_argument("--min-count", type=int, default=DEFAULT_MIN_COUNT, metavar="K",
                        help="smallest number of respondents of a shown answer: answers given "
                        "by fewer (but some) are suppressed with the cells that would reveal "
                        f"them (default {DEFAULT_MIN_COUNT})")
    parser.add_argument("--level", type=float, default=0.95,
                        help="confidence level (default 0.95)")


def check_output_options(args: argparse.Namespace) -> None:
    """The output options are usable, before any computation."""
    if args.min_cell < 1:
        raise PerceptionError(f"--min-cell must be at least 1, got {args.min_cell}")
    check_min_count(args)
    if not 0 < args.level < 1:
        raise PerceptionError(f"--level must be between 0 and 1 (e.g. 0.95), got {args.level}")
    if args.out is not None and args.table_format is None:
        suffix = args.out.suffix.lower().lstrip(".")
        if suffix not in ("csv", "xlsx", "md"):
            raise PerceptionError(
                f"--out {args.out}: unknown file type {args.out.suffix or '(none)'!r}; give a "
                "name ending in .csv, .xlsx or .md (or --format)"
            )
    if args.table_format == "xlsx" and args.out is None:
        raise PerceptionError("--format xlsx writes a workbook: give --out FILE.xlsx")


def show_progress(args: argparse.Namespace) -> bool:
    """A progress bar only on a terminal (never in a log or a pipe), unless refused."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


# --------------------------------------------------------------------- messages --
@dataclass
class Messages:
    """What a command says on stderr: each message once, in order."""

    command: str
    said: set[str] = field(default_factory=set)

    def say(self, text: str) -> None:
        if text not in self.said:
            self.said.add(text)
            print(f"perception {self.command}: {text}", file=sys.stderr)


# ------------------------------------------------------------------------ waves --
def blank_rows_note(command: str, path: object, frame: pd.DataFrame,
                    messages: Messages | None = None) -> None:
    """Say on stderr how many entirely blank rows of ``path`` were skipped on reading.

    Blank rows hold no answer in any column, so they are not respondents; saying how
    many keeps the row count of the file accountable.
    """
    meta = frame.attrs.get("perception", {})
    count = int(frame.attrs.get("blank_rows_skipped", meta.get("blank_rows_skipped", 0)))
    if count:
        text = (f"{path}: skipped {count} entirely blank row{'s' if count != 1 else ''} "
                "(no value in any column)")
        (messages or Messages(command)).say(text)


def _sheet_argument(sheet: str | None) -> str | int | None:
    if sheet is None:
        return None
    return int(sheet) if sheet.strip().isdigit() else sheet


def check_sheets(path: Path, sheet: str | int | None) -> None:
    """A workbook with data on several sheets is read only when ``--sheet`` names one:
    otherwise the first sheet might be a page of notes, read silently."""
    if sheet is not None or path.suffix.lower() != ".xlsx" or not path.is_file():
        return
    from ..filecheck import is_blank, open_workbook
    from ..waves.files import MAX_WAVE_BYTES

    with open_workbook(path, MAX_WAVE_BYTES) as book:
        filled = []
        for name in book.sheetnames:
            rows = book[name].iter_rows(values_only=True, max_row=2)
            if any(not is_blank(v) for row in rows for v in row):
                filled.append(name)
    if len(filled) > 1:
        raise PerceptionError(
            f"{path}: the workbook has data on {len(filled)} sheets "
            f"({', '.join(map(repr, filled))}); say which one holds the wave with --sheet "
            f"NAME (e.g. --sheet {filled[-1]!r})"
        )


def read_waves(command: str, paths: Sequence[str | Path], q: Questionnaire, *,
               sheet: str | None = None, encoding: str | None = None,
               messages: Messages | None = None) -> pd.DataFrame:
    """The validated waves ``paths`` (:func:`perception.read_wave`), stacked in order, each
    file's skipped blank rows reported on stderr; a directory of Parquet files is one
    wave (:func:`parquet_wave`)."""
    import pandas as pd

    from ..waves.reading import read_wave

    chosen = _sheet_argument(sheet)
    frames = []
    for path in paths:
        if Path(path).is_dir():
            frames.append(parquet_wave(command, Path(path), q))
            continue
        check_sheets(Path(path), chosen)
        options: dict[str, Any] = {}
        if chosen is not None and Path(path).suffix.lower() == ".xlsx":
            options["sheet"] = chosen
        if encoding is not None and Path(path).suffix.lower() in (".csv", ".tsv", ".txt"):
            options["encoding"] = encoding
        frames.append(read_wave(path, q, **options))
    for path, frame in zip(paths, frames, strict=True):
        blank_rows_note(command, path, frame, messages)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def parquet_wave(command: str, path: Path, q: Questionnaire) -> pd.DataFrame:
    """A Parquet dataset (a directory), validated file by file, then read into memory
    when its data fit in the size a wave file may have: the command's labelled tables
    are computed in memory; a larger one is refused with what to do instead."""
    from ..waves.files import MAX_WAVE_BYTES
    from ..waves.partitions import dataset_bytes
    from ..waves.reading import read_wave

    size = dataset_bytes(path)
    if size > MAX_WAVE_BYTES:
        raise PerceptionError(
            f"{path}: its Parquet files hold {size:,} bytes of data, more than the "
            f"{MAX_WAVE_BYTES:,} that 'perception {command}' reads into memory. Fix: "
            "estimate it in Python on the Dask DataFrame, labelled as here: wave = "
            f"pc.read_wave({str(path)!r}, q); d = pc.SurveyDesign(wave, weights=..., "
            "strata=..., psu=..., questionnaire=q); pc.mean(d, ...) (every estimator, "
            "model and analysis runs partition by partition; docs/scale.md).")
    lazy: Any = read_wave(path, q)  # a Dask DataFrame
    frame = lazy.compute().reset_index(drop=True)
    frame.attrs = dict(lazy.attrs)
    return frame


# ------------------------------------------------------------------ left out --
def left_out_lines(design: Any, names: Sequence[str], by: Sequence[str] = ()
                   ) -> list[str]:
    """One line per variable that loses answers: how many of the rows, and why (each
    missing-value code with its label and skipped questions, as the labelled design
    leaves them out of every estimate; an empty answer; an empty ``--by`` column)."""
    import numpy as np

    from ..survey.valid_values import prepare

    data = design.data
    by = list(by)
    by_empty = data[by].isna().any(axis=1).to_numpy() if by else np.zeros(len(data), bool)
    lines = []
    for name in names:
        prepared = prepare(design, [name], by)
        excluded = prepared.excluded
        reasons = [f"{reason}: {int((prepared.codes == k).sum())}"
                   for k, reason in enumerate(prepared.reasons)]
        empty = data[name].isna().to_numpy() & ~excluded
        q = design.questionnaire
        if empty.any() and q is not None and name in q and q.variable(name).derived:
            reasons.append("not computed, a source being a missing code, empty or not "
                           f"asked: {int(empty.sum())}")
        elif empty.any():
            reasons.append(f"empty: {int(empty.sum())}")
        lost = excluded | empty
        if (by_empty & ~lost).any():
            reasons.append(f"empty {', '.join(by)}: {int((by_empty & ~lost).sum())}")
            lost = lost | by_empty
        if lost.any():
            lines.append(f"{name}: {int(lost.sum())} of {len(data)} answers left out of the "
                         f"estimates ({'; '.join(reasons)})")
    return lines


# ----------------------------------------------------------------- the domain --
def where_domain(design: Any, text: str | None, messages: Messages
                 ) -> tuple[Any, dict[str, str] | None]:
    """The design restricted to the respondents for whom ``--where`` is true (rows where
    it is false or blank leave the domain, not the design: standard errors keep every
    PSU), and a sentence for the table's note."""
    if text is None:
        return design, None
    import numpy as np

    from ..questionnaire.expressions import parse_expression

    try:
        expr = parse_expression(text)
    except PerceptionError as exc:
        raise PerceptionError(f"--where {text!r}: {exc}") from None
    data = design.data
    unknown = sorted(v for v in expr.variables if v not in data.columns)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], [str(c) for c in data.columns], n=2)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise PerceptionError(f"--where {text!r}: the data has no column {unknown[0]!r}.{hint}")
    mask = expr.evaluate(data).to_numpy(dtype=bool)
    inside = np.asarray(design.in_domain, dtype=bool)
    kept = int((mask & inside).sum())
    if kept == 0:
        raise PerceptionError(f"--where {text!r} is true for no respondent: nothing to estimate")
    messages.say(f"--where {text}: {kept} of {int(inside.sum())} respondents in the domain "
                 "(the others stay in the design for the standard errors)")
    note = {"fr": f"Champ : {kept} enquêtés pour lesquels {text}.",
            "en": f"Domain: the {kept} respondents for whom {text}."}
    return design.subset(mask), note


@dataclass
class Analysis:
    """The inputs of an analysis command: the recoded waves' design, the questionnaire,
    what to say under the tables."""

    design: Any
    questionnaire: Questionnaire
    notes: dict[str, str]
    messages: Messages
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    top: list[int] | None = None

    def note(self, lang: str) -> str | None:
        return self.notes.get(lang)

    @property
    def label_sources(self) -> list:
        """Labels of the tables: the indicators made with ``--top``, then the
        questionnaire."""
        return [self.labels, self.questionnaire] if self.labels else [self.questionnaire]

    def for_reading(self, table: Any) -> Any:
        """``table`` ready for :func:`readable_table`: with ``--top`` its indicators are
        named by the codes they count (``labels``), not by the item's wording."""
        if self.labels and "variable_label" in table.columns:
            return table.drop(columns="variable_label")
        return table

    def statistic(self, name: str) -> str:
        """``proportion`` for a 0/1 indicator (``--top``, a binary variable, the options of
        a select-multiple question), else ``mean``."""
        if self.top is not None:
            return "proportion"
        q = self.questionnaire
        if name in q and q.variable(name).type in ("binary", "select_multiple"):
            return "proportion"
        return "mean"

    def design_for(self, name: str, lang: str | None = None) -> Any:
        """The design to estimate ``name`` on: the labelled design (a select-multiple
        question gets one estimate per option; ``lang`` is the design's already)."""
        return self.design


def parse_codes(text: str | None) -> list[int] | None:
    """``--top 2,3`` as ``[2, 3]``."""
    if text is None:
        return None
    try:
        codes = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise PerceptionError(f"--top {text!r}: give answer codes separated by commas, e.g. "
                              "--top 2,3") from None
    if not codes:
        raise PerceptionError("--top needs at least one answer code, e.g. --top 2,3")
    return codes


def _top_labels(q: Questionnaire, names: Sequence[str], top: list[int]) -> dict:
    out: dict[str, dict[str, str]] = {}
    for lang in ("fr", "en"):
        lang_q = lang if lang in q.languages else q.languages[0]
        entries = {}
        for name in names:
            if name not in q:
                continue
            codes = q.labels(name, lang_q)
            words = [f"« {codes.get(c, c)} »" if lang == "fr" else f'"{codes.get(c, c)}"'
                     for c in top]
            joined = (" ou " if lang == "fr" else " or ").join(words)
            entries[name] = f"{q.label(name, lang_q)} : {joined}" if lang == "fr" else (
                f"{q.label(name, lang_q)}: {joined}")
        out[lang] = entries
    return out


def prepare_analysis(command: str, args: argparse.Namespace, variables: Sequence[str],
                     by: Sequence[str] = (), *, strict: bool = False,
                     top: list[int] | None = None, outcomes: Sequence[str] = ()) -> Analysis:
    """Read the waves, build the labelled design from the questionnaire's roles (it
    leaves the missing-value codes of ``variables`` out of the estimates: their count is
    said once per variable), turn each of ``outcomes`` into its 0/1 indicator of the
    ``top`` codes when given and keep the ``--where`` domain."""
    from ..outputs.report import design_from_questionnaire
    from ..questionnaire.loading import load_questionnaire

    messages = Messages(command)
    q = load_questionnaire(args.questionnaire)
    data = read_waves(command, args.wave, q, sheet=args.sheet, encoding=args.encoding,
                      messages=messages)
    names = list(dict.fromkeys(variables))
    for name in [*names, *by]:
        if name not in data.columns:
            import difflib

            close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=2)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise PerceptionError(f"the data has no column {name!r}.{hint}")
    # a labelled design: the questionnaire's missing codes and skipped questions are
    # left out of every estimate by the estimators themselves (survey/valid_values)
    lang = getattr(args, "lang", None)
    design = design_from_questionnaire(data, q, {}).with_labels(
        q, lang=lang if lang in q.languages else None)
    lines = left_out_lines(design, names, by)
    if lines and strict:
        raise PerceptionError(
            "--strict: answers would be left out of the estimates: " + "; ".join(lines)
            + ". Fix: recode or impute those answers, or run without --strict to leave them "
            "out with their count reported."
        )
    for line in lines:
        messages.say(line)
    labels: dict[str, dict[str, str]] = {}
    if top is not None:
        import numpy as np

        from ..survey.valid_values import valid_frame

        valid = valid_frame(design, list(outcomes))
        columns = {}
        for name in outcomes:
            values = valid[name]
            answered = values.notna()
            columns[name] = values.isin(top).astype(float).where(answered, np.nan)
        labels = _top_labels(q, outcomes, top)
        design = design.with_data(data.assign(**columns))
    design, notes = where_domain(design, getattr(args, "where", None), messages)
    return Analysis(design, q, notes or {}, messages, labels, top)


def _select_multiple(q: Questionnaire, name: str) -> bool:
    return name in q and q.variable(name).type == "select_multiple"


# ------------------------------------------------------------------ emitting --
def emit(tables: Sequence[Any], args: argparse.Namespace, messages: Messages) -> None:
    """Print the readable tables (or their CSV/Markdown) on stdout, or write them to
    ``--out`` in ``--format``."""
    from ..outputs.table_files import to_markdown, to_text, write_tables

    fmt = args.table_format
    if args.out is not None:
        path = write_tables(tables, args.out, fmt)
        messages.say(f"wrote {path}")
    elif fmt == "csv":
        import pandas as pd

        frames = [t.data.assign(table=t.name) if len(tables) > 1 else t.data for t in tables]
        sys.stdout.write(pd.concat(frames, ignore_index=True).to_csv(index=False))
    elif fmt == "md":
        sys.stdout.write("\n".join(to_markdown(t) for t in tables))
    else:
        sys.stdout.write("\n\n".join(to_text(t) for t in tables) + "\n")
    hidden = sum(int(t.data["suppressed"].sum()) for t in tables if "suppressed" in t.data)
    if hidden:
        messages.say(suppressed_message(hidden, args))


def check_min_count(args: argparse.Namespace) -> None:
    """``--min-count`` is a positive whole number."""
    if args.min_count < 1:
        raise PerceptionError(f"--min-count must be at least 1, got {args.min_count}")


def suppressed_message(hidden: int, args: argparse.Namespace) -> str:
    """What the suppressed cells of the tables are, for stderr."""
    return (f"{hidden} cell(s) suppressed: fewer than {args.min_cell} respondents, or an "
            f"answer given by fewer than {args.min_count} respondents (and the cells that "
            "would reveal it)")
