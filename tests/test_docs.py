"""The documentation: links stay inside the repository, and the tour runs as written.

The tour is ``docs/tour.md`` (a page of the site that ``make docs`` builds); the
README's "A five-minute tour" section holds the same text. Its Python blocks are run
in order, in one namespace, from an empty temporary folder, as a new user would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *(ROOT / "docs").glob("*.md")]
)
TOUR_HEADING = "## A five-minute tour"

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")


def _prose(text: str) -> str:
    """The markdown without its fenced code blocks (code is not a link)."""
    return _FENCE.sub("", text)


def links(text: str) -> list[str]:
    prose = _prose(text)
    return [m.group(1) for pattern in (_INLINE_LINK, _REFERENCE_LINK, _HTML_LINK)
            for m in pattern.finditer(prose)]


def code_blocks(text: str, language: str) -> list[str]:
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1) == language]


def readme_tour() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(TOUR_HEADING + "\n") + len(TOUR_HEADING) + 1
    end = readme.find("\n## ", start)
    return readme[start:end if end >= 0 else len(readme)].strip()


def page_tour() -> str:
    page = (ROOT / "docs" / "tour.md").read_text(encoding="utf-8")
    first, _, body = page.partition("\n")
    assert first == "# A five-minute tour", "docs/tour.md starts with '# A five-minute tour'"
    return body.strip()


def test_link_finder_sees_links_and_skips_code():
    text = ("See [the tour](docs/tour.md), ![a figure](img/a.png) and [R](https://r-project.org).\n"
            "[ref]: ../elsewhere.md\n<a href=\"x.html\">x</a>\n"
            "```python\nd[\"a\"](b)  # [not](a_link.md)\n```\n")
    assert links(text) == ["docs/tour.md", "img/a.png", "https://r-project.org",
                           "../elsewhere.md", "x.html"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_point_inside_the_repository(document):
    text = document.read_text(encoding="utf-8")
    broken = []
    for target in links(text):
        if target.startswith(("https://", "http://", "mailto:")):
            continue
        path = target.split("#", 1)[0]
        if not path:               # an anchor in the same page
            continue
        resolved = (document.parent / path).resolve()
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{target} (no such file in the repository)")
    assert not broken, (
        f"{document.relative_to(ROOT)} links to {broken}. Fix: link files of the repository "
        "(relative paths) or http(s) addresses only."
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_documents_do_not_point_outside_the_repository(document):
    text = document.read_text(encoding="utf-8")
    outside = sorted(set(re.findall(r"\.\./shared\b|/work/shared\b", text)))
    assert not outside, (
        f"{document.relative_to(ROOT)} mentions {outside}: a user of the package has only the "
        "repository. Fix: copy what is needed into docs/ and point there."
    )


def test_readme_tour_is_the_tour_page():
    assert readme_tour() == page_tour(), (
        "the README's 'A five-minute tour' section and docs/tour.md differ. Fix: edit one "
        "and copy it into the other (the README shows the tour, the site has it as a page)."
    )


def test_tour_has_python_to_run():
    blocks = code_blocks(page_tour(), "python")
    assert blocks and "import perception as pc" in blocks[0]


def test_tour_runs_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__tour__"}
    for i, block in enumerate(code_blocks(page_tour(), "python"), start=1):
        exec(compile(block, f"docs/tour.md, python block {i}", "exec"), namespace)
    printed = capsys.readouterr().out
    # what the tour's comments announce is what it shows: report.ok, then four tables
    assert printed.splitlines()[0] == "True"
    assert printed.count("estimate") == 4, printed
    assert list(tmp_path.iterdir()) == [], "the tour wrote files into the working folder"


def test_models_page_runs(tmp_path, monkeypatch):
    """docs/models.md's Python blocks run in order, in one namespace."""
    monkeypatch.chdir(tmp_path)
    page = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    blocks = code_blocks(page, "python")
    assert len(blocks) >= 6
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/models.md", "exec"), namespace)  # noqa: S102 - our page
    assert "did_fit" in namespace
