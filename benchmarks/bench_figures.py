"""Time the demo figure set: two waves of 5,000 respondents, every figure, the CSVs and
the report (HTML and PDF). Target: under 60 s on a 2-core machine.

Plain script, not part of the test suite::

    .venv/bin/python benchmarks/bench_figures.py [--n 5000] [--formats png] [--repeat 1]

Prints the wall-clock and CPU time of each phase (simulation, figure tables and
drawing, saving the images, the report) and of the whole ``perception figures --demo``
run. CPU time is also shown because the wall clock depends on what else the machine
runs (the load average is printed).

BLAS threads: the estimators work on small matrices, where OpenBLAS threads only cost
time on a busy machine; this script pins them to one (``OPENBLAS_NUM_THREADS=1``,
set before numpy is imported) unless the variable is already set.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Clock:
    """Wall-clock and CPU seconds of a block."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def phases(n: int, formats: list[str]) -> dict[str, Clock]:
    """Time each phase of the figure set in this process."""
    import perception as pc
    from perception.outputs import report
    from perception.outputs.report import document, pdf_writer

    clocks = {k: Clock() for k in ("simulate", "tables+draw", "save images", "report")}
    with clocks["simulate"]:
        demo = pc.demo_survey(seed=1, n_per_wave=n)
        ctx = report.context_from_waves(demo.waves, demo.questionnaire)
    built = []
    for name in report.FIGURES:
        with clocks["tables+draw"]:
            item = report.build_figure(name, ctx)
        built.append(item)
        with clocks["save images"]:
            for fmt in formats:
                item.figure.savefig(io.BytesIO(), format=fmt, dpi=150)
    with clocks["report"], tempfile.TemporaryDirectory() as out:
        figures = []
        for i, item in enumerate(built):
            png = io.BytesIO()
            item.figure.savefig(png, format="png", dpi=150)
            figures.append(document.ReportFigure(i + 1, item.name, item.title, item.title,
                                                 png.getvalue(), item.readable))
        doc = document.ReportDocument("bench", "", ctx.lang, "", "perception",
                                      document.Section("Methods"), figures)
        pdf_writer.write_pdf(doc, Path(out) / "report.pdf")
    return clocks


def whole_command(n: int, formats: list[str]) -> Clock:
    """Time ``perception figures --demo`` end to end (a fresh demo of ``n`` per wave)."""
    from perception.cli import main

    clock = Clock()
    with tempfile.TemporaryDirectory() as out, clock:
        code = main(["figures", "--demo", "--demo-n", str(n), "--out", out, "--format",
                     ",".join(formats), "--no-progress"])
    if code != 0:
        raise SystemExit(f"perception figures failed with exit code {code}")
    return clock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="respondents per wave")
    parser.add_argument("--formats", default="png", help="image formats, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole command")
    args = parser.parse_args(argv)
    formats = args.formats.split(",")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s); "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    print(f"\nphases, two waves of {args.n} respondents:")
    print(f"{'phase':<14}{'wall s':>9}{'cpu s':>9}")
    total_wall = total_cpu = 0.0
    for name, clock in phases(args.n, formats).items():
        print(f"{name:<14}{clock.wall:9.2f}{clock.cpu:9.2f}")
        total_wall += clock.wall
        total_cpu += clock.cpu
    print(f"{'total':<14}{total_wall:9.2f}{total_cpu:9.2f}")
    print("\nperception figures --demo (whole command, figures + CSV + HTML + PDF):")
    best = None
    for _ in range(args.repeat):
        clock = whole_command(args.n, formats)
        print(f"  wall {clock.wall:.2f} s, cpu {clock.cpu:.2f} s")
        best = clock.wall if best is None else min(best, clock.wall)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    verdict = "OK" if best < 60 else "SLOW"
    print(f"\nbest wall time {best:.1f} s: {verdict} (target < 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
