"""The version is written in one place, pyproject.toml, and read from the installed
distribution by ``pc.__version__`` and ``perception --version``."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import perception as pc
from perception.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_version_is_the_installed_distributions():
    project = _project()
    # a stale install (pyproject.toml changed since) fails here: `make test` reinstalls
    assert pc.__version__ == metadata.version(project["name"]) == project["version"]
    assert project["name"] == pc._DISTRIBUTION


def test_cli_prints_the_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"perception {pc.__version__}\n"


def test_no_copy_of_the_version_in_the_package():
    quoted = f'"{_project()["version"]}"'
    copies = [str(path.relative_to(ROOT)) for path in (ROOT / "perception").rglob("*.py")
              if quoted in path.read_text(encoding="utf-8")]
    assert copies == []
