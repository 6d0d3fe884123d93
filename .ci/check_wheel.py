"""Check the built distributions as a user would get them (``make wheel``).

1. The wheel and the sdist in DIST carry every file of the package, data included
   (``py.typed``, the questionnaire, the CSVs), as regular files equal to the
   repository's (``perception/demo/data/centre_mali_trust.yaml`` is a symlink in the
   repository: the distributions must hold the file itself).
2. The wheel installs in a new virtual environment in a temporary folder outside the
   repository (so the source tree cannot be imported by accident), where the command
   ``perception figures --demo`` and a short analysis run.

Usage: python .ci/check_wheel.py DIST [--keep]. Exit code 0: all good; 1: a check failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "perception-surveys"

SMOKE = """
import importlib.metadata, sys
import perception as pc
assert pc.__file__.startswith(sys.prefix), f"imported from {pc.__file__}, not the venv"
print("perception-surveys", importlib.metadata.version("perception-surveys"), "from", pc.__file__)
q = pc.load_questionnaire(pc.questionnaire_path())
demo = pc.demo_survey(seed=1, n_per_wave=600)
assert pc.validate(demo.waves, q).ok
print(pc.proportion(demo.design(), "sex", by="wave")[["wave", "category", "estimate", "se"]])
"""


class CheckFailed(Exception):
    pass


def package_files() -> dict[str, bytes]:
    """Every file of perception/ in the repository (symlinks followed), by wheel path."""
    try:
        listed = subprocess.run(["git", "ls-files", "perception"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = [p.relative_to(ROOT).as_posix() for p in (ROOT / "perception").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts]
    return {path: (ROOT / path).read_bytes() for path in listed}


def check_members(kind: str, members: dict[str, bytes | None], expected: dict[str, bytes]) -> None:
    """``members``: path -> bytes (None when the member is not a regular file)."""
    problems = []
    for path, content in expected.items():
        if path not in members:
            problems.append(f"{path} is missing")
        elif members[path] is None:
            problems.append(f"{path} is not a regular file (a symlink?)")
        elif members[path] != content:
            problems.append(f"{path} differs from the repository's file")
    if problems:
        raise CheckFailed(f"the {kind} lacks package files: " + "; ".join(problems)
                          + ". Fix: [tool.setuptools.package-data] in pyproject.toml "
                          "(or MANIFEST.in for the sdist).")
    print(f"  {kind}: {len(expected)} package files present, regular and equal to the repository's")


def wheel_members(wheel: Path) -> tuple[dict[str, bytes | None], str, str]:
    with zipfile.ZipFile(wheel) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    meta_path = next(p for p in members if p.endswith(".dist-info/METADATA"))
    entry_path = next(p for p in members if p.endswith(".dist-info/entry_points.txt"))
    return members, members[meta_path].decode(), members[entry_path].decode()


def sdist_members(sdist: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    with tarfile.open(sdist) as tf:
        for info in tf.getmembers():
            parts = info.name.split("/", 1)
            if len(parts) < 2 or info.isdir():
                continue
            fh = tf.extractfile(info) if info.isfile() else None
            out[parts[1]] = fh.read() if fh is not None else None
    return out


def check_metadata(metadata: str, entry_points: str) -> None:
    meta = Parser().parsestr(metadata)
    if meta["Name"] != DIST_NAME:
        raise CheckFailed(f"the wheel's distribution name is {meta['Name']!r}, not {DIST_NAME!r}")
    if meta["License-Expression"] != "MIT":
        raise CheckFailed(f"License-Expression is {meta['License-Expression']!r}, not 'MIT'")
    if "perception = perception.cli.app:main" not in entry_points:
        raise CheckFailed("the wheel declares no 'perception' console script")
    print(f"  metadata: {meta['Name']} {meta['Version']}, licence {meta['License-Expression']}, "
          "console script perception")


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise CheckFailed(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n"
                          f"{result.stderr}")
    return result.stdout


def check_install(wheel: Path, tmp: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MPLBACKEND"] = "Agg"
    started = time.perf_counter()
    venv.EnvBuilder(with_pip=True, clear=True).create(tmp / "venv")
    bin_dir = tmp / "venv" / ("Scripts" if os.name == "nt" else "bin")
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", str(wheel)], tmp, env)
    print(f"  installed {wheel.name} in a new virtualenv ({time.perf_counter() - started:.0f} s)")
    print("  " + run([str(bin_dir / "perception"), "--version"], tmp, env).strip())
    out = tmp / "figures"
    run([str(bin_dir / "perception"), "figures", "--demo", "--out", str(out)], tmp, env)
    written = sorted(p.name for p in out.iterdir())
    if "report.html" not in written or not any(n.endswith(".png") for n in written):
        raise CheckFailed(f"perception figures --demo wrote {written}, without report.html "
                          "and PNG figures")
    print(f"  perception figures --demo: {len(written)} files, report.html among them")
    smoke = run([str(bin_dir / "python"), "-I", "-c", SMOKE], tmp, env)
    print("  " + smoke.strip().replace("\n", "\n  "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    wheels = sorted(args.dist.glob("*.whl"))
    sdists = sorted(args.dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"check_wheel: expected one wheel and one sdist in {args.dist}, found "
              f"{[p.name for p in wheels + sdists]}", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="perception-wheel-"))
    try:
        expected = package_files()
        members, metadata, entry_points = wheel_members(wheels[0])
        check_members(f"wheel {wheels[0].name}", members, expected)
        check_metadata(metadata, entry_points)
        sdist = sdist_members(sdists[0])
        check_members(f"sdist {sdists[0].name}", sdist, expected)
        check_install(wheels[0].resolve(), tmp)
    except CheckFailed as exc:
        print(f"check_wheel: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("check_wheel: the wheel and the sdist are complete; the wheel installs and runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
