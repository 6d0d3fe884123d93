"""MkDocs hooks that assemble the documentation site from the repository (``make docs``).

- The home page is ``README.md``, the architecture page ``ARCHITECTURE.md`` and the
  changes page ``CHANGELOG.md``, read at build time so the site and the repository never
  disagree; the README's tour is shown
  on its own page (``docs/tour.md``, kept equal to the README by ``tests/test_docs.py``).
- The API reference is generated from the docstrings: one page per section of
  :data:`API_SECTIONS`, listing every public name of ``perception.__all__`` that its
  modules define. A new module adds one line there; a public name whose module is in no
  section stops the build with a message that says which line to add.
- Links are written as they resolve in the repository (``docs/weighting.md`` from the
  README, ``../questionnaires/...`` from a docs page) and are rewritten to the pages of
  the site; other repository files they point to are copied into the site under
  ``repo/``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from pathlib import Path, PurePosixPath

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent

#: sections of the API reference: (page name, title, modules). The order is the order
#: of the pages; within a page, each module's names of ``perception.__all__`` in source
#: order. A module none of whose names is in ``__all__`` (a namespace such as
#: ``perception.datasets``, used as ``pc.datasets.load``) is documented whole.
API_SECTIONS: list[tuple[str, str, list[str]]] = [
    ("questionnaires", "Questionnaires and waves",
     ["perception.questionnaire.model", "perception.questionnaire.loading",
      "perception.waves.validation", "perception.waves.reading", "perception.waves.repeats",
      "perception.waves.cleaning",
      "perception.demo.simulator"]),
    ("designs", "Designs", ["perception.survey.design"]),
    ("estimates", "Estimates",
     ["perception.survey.estimators", "perception.survey.quantiles",
      "perception.survey.covariance"]),
    ("models", "Models, tests and contrasts",
     ["perception.survey.models", "perception.survey.ordinal", "perception.survey.effects",
      "perception.survey.term_tests", "perception.survey.group_tests",
      "perception.survey.chisquare", "perception.survey.contrasts"]),
    ("weighting", "Weighting", ["perception.survey.weighting", "perception.survey.margins"]),
    ("before_after", "Before and after",
     ["perception.analysis.changes", "perception.analysis.diff_in_diff",
      "perception.analysis.panel", "perception.analysis.power"]),
    ("scales", "Scales and indices", ["perception.analysis.scales"]),
    ("imputation", "Multiple imputation",
     ["perception.analysis.imputation", "perception.analysis.rubin"]),
    ("list_experiments", "Sensitive questions: list experiments",
     ["perception.analysis.list_experiments", "perception.analysis.list_diagnostics",
      "perception.analysis.list_models"]),
    ("small_areas", "Small areas", ["perception.analysis.small_area"]),
    ("sampling", "Sampling",
     ["perception.sampling.allocation", "perception.sampling.selection",
      "perception.sampling.sampford", "perception.sampling.demo_frame"]),
    ("larger_than_memory", "Data larger than memory",
     ["perception.survey.outofcore", "perception.survey.dask_design"]),
    ("files_protection", "Files and protection",
     ["perception.questionnaire.xlsform", "perception.disclosure.suppression",
      "perception.disclosure.pii", "perception.disclosure.anonymise"]),
    ("datasets", "Data sets", ["perception.datasets"]),
    ("errors", "Errors", ["perception.errors"]),
]

#: repository markdown files shown as pages of their own (repository path -> site path)
REPO_PAGES = {"README.md": "index.md", "ARCHITECTURE.md": "architecture.md",
              "CHANGELOG.md": "changelog.md"}
TOUR_HEADING = "## A five-minute tour"
REFERENCE_DIR = "reference"
COPIED_DIR = "repo"

_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
_ROLE = re.compile(r":(?:\w+:)?\w+:`~?([^`]+)`")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


# ---------------------------------------------------------------------------------------
# API reference


def public_names() -> dict[str, tuple[str, bool]]:
    """Map every name of ``perception.__all__`` to (the module that documents it, whether
    the name is that module itself: a submodule such as ``pc.datasets`` is documented
    whole), in the order of their definitions in the source.
    """
    pc = importlib.import_module("perception")
    found = []
    for name in pc.__all__:
        obj = getattr(pc, name)
        if isinstance(obj, types.ModuleType):
            found.append((0, name, obj.__name__, True))
        else:
            found.append((inspect.getsourcelines(obj)[1], name, obj.__module__, False))
    return {name: (module, whole) for _, name, module, whole in sorted(found)}


def _summary(name: str) -> str:
    """First line of a public name's docstring, for the index of the reference."""
    return _first_line(getattr(importlib.import_module("perception"), name))


def _first_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    first = _ROLE.sub(r"`\1`", doc.split("\n", 1)[0])     # Sphinx roles as code
    return first.replace("|", "\\|")


def reference_pages() -> dict[str, str]:
    """The API reference: page path -> markdown, one page per section and an index."""
    names = public_names()
    known = {m for _, _, modules in API_SECTIONS for m in modules}
    orphans = sorted(f"{n} ({m})" for n, (m, _) in names.items() if m not in known)
    if orphans:
        raise PluginError(
            "public names whose module is in no section of the API reference: "
            + ", ".join(orphans)
            + ". Fix: add the module to a section of API_SECTIONS in docs/_site.py."
        )
    pages: dict[str, str] = {}
    rows = []
    for slug, title, modules in API_SECTIONS:
        blocks = []
        for module in modules:
            members = [n for n, (m, _) in names.items() if m == module]
            if not members:
                # a module reached as a namespace (pc.datasets.load): documented whole
                try:
                    importlib.import_module(module)
                except ImportError as exc:
                    raise PluginError(
                        f"module {module} of the API reference section {title!r} cannot be "
                        f"imported ({exc}). Fix: correct or remove its line in API_SECTIONS "
                        "in docs/_site.py."
                    ) from exc
                blocks.append(f"::: {module}\n")
                rows.append((module.lower(), f"| [`{module.removeprefix('perception.')}`]"
                             f"({slug}.md#{module}) | {title} | "
                             f"{_first_line(importlib.import_module(module))} |"))
            for name in members:
                path = module if names[name][1] else f"{module}.{name}"
                blocks.append(f"::: {path}\n")
                rows.append((name.lower(), f"| [`{name}`]({slug}.md#{path}) | {title} | "
                             f"{_summary(name)} |"))
        shown = [m for m in modules if not m.rsplit(".", 1)[-1].startswith("_")]
        pages[f"{REFERENCE_DIR}/{slug}.md"] = (
            f"# {title}\n\n"
            + f"Module{'s' if len(shown) > 1 else ''}: "
            + ", ".join(f"`{m}`" for m in shown)
            + ". The names below are reached from `import perception as pc` "
            "(`pc.<name>`).\n\n"
            + "\n".join(blocks)
        )
    pages[f"{REFERENCE_DIR}/index.md"] = (
        "# API reference\n\n"
        "Built from the docstrings of the public names (`perception.__all__`). The "
        "[public API contract](../api.md) says what each area promises; these pages "
        "give every argument, return value and error.\n\n"
        "| name | section | what it does |\n|---|---|---|\n"
        + "\n".join(row for _, row in sorted(rows)) + "\n"
    )
    return pages


# ---------------------------------------------------------------------------------------
# Pages from repository files, and links


def home_page(readme: str) -> str:
    """The README with its tour replaced by a link to the tour page."""
    start = readme.find(TOUR_HEADING + "\n")
    if start < 0:
        raise PluginError(f"README.md has no '{TOUR_HEADING}' section; docs/_site.py "
                          "replaces it on the home page by a link to docs/tour.md")
    end = readme.find("\n## ", start + len(TOUR_HEADING))
    end = len(readme) if end < 0 else end + 1
    return (readme[:start] + TOUR_HEADING + "\n\nThe tour has its own page: "
            "[A five-minute tour](docs/tour.md).\n\n" + readme[end:])


def _is_external(target: str) -> bool:
    return target.startswith(("http://", "https://", "mailto:", "#"))


def _repo_target(origin: str, target: str) -> tuple[str, str]:
    """Repository path of a relative link in the file ``origin``, and its anchor."""
    path, _, anchor = target.partition("#")
    resolved = (ROOT / origin).parent.joinpath(path).resolve()
    try:
        rel = resolved.relative_to(ROOT).as_posix()
    except ValueError:
        raise PluginError(f"{origin}: link {target!r} points outside the repository") from None
    if not resolved.is_file():
        raise PluginError(f"{origin}: link {target!r} points to no file of the repository "
                          f"({rel})")
    return rel, anchor


def _site_path(repo_path: str) -> str:
    if repo_path in REPO_PAGES:
        return REPO_PAGES[repo_path]
    if repo_path.startswith("docs/") and repo_path.endswith(".md"):
        return repo_path.removeprefix("docs/")
    return f"{COPIED_DIR}/{repo_path}"


def _links(markdown: str):
    """Relative links outside fenced code blocks: (match of the link)."""
    fences = [m.span() for m in _FENCE.finditer(markdown)]
    for m in _LINK.finditer(markdown):
        if any(a <= m.start() < b for a, b in fences) or _is_external(m.group(2)):
            continue
        yield m


def rewrite_links(markdown: str, origin: str, page_path: str) -> str:
    """Rewrite the repository-relative links of ``origin`` for the site page ``page_path``."""
    out, last = [], 0
    page_dir = PurePosixPath(page_path).parent
    for m in _links(markdown):
        repo_path, anchor = _repo_target(origin, m.group(2))
        target = _relative(_site_path(repo_path), page_dir)
        out += [markdown[last:m.start()], m.group(1), target + (f"#{anchor}" if anchor else ""),
                m.group(3)]
        last = m.end()
    return "".join(out) + markdown[last:]


def _relative(path: str, start: PurePosixPath) -> str:
    parts, base = PurePosixPath(path).parts, start.parts
    common = 0
    while common < min(len(parts) - 1, len(base)) and parts[common] == base[common]:
        common += 1
    return "/".join([".."] * (len(base) - common) + list(parts[common:]))


# ---------------------------------------------------------------------------------------
# MkDocs events

_ORIGINS: dict[str, str] = {}   # site page path -> repository file its links are relative to


def on_files(files: Files, config) -> Files:
    _ORIGINS.clear()
    sources: dict[str, str] = {}
    for file in list(files):
        if file.src_uri.endswith(".md"):
            _ORIGINS[file.src_uri] = f"docs/{file.src_uri}"
            sources[f"docs/{file.src_uri}"] = Path(file.abs_src_path).read_text(encoding="utf-8")
    for repo_path, page in REPO_PAGES.items():
        text = (ROOT / repo_path).read_text(encoding="utf-8")
        if repo_path == "README.md":
            text = home_page(text)
        files.append(File.generated(config, page, content=text))
        _ORIGINS[page] = repo_path
        sources[repo_path] = text
    for page, text in reference_pages().items():
        files.append(File.generated(config, page, content=text))   # links already site paths
    # repository files that pages link to (a questionnaire, a script) are copied
    copied = set()
    for origin, text in sources.items():
        for m in _links(text):
            repo_path, _ = _repo_target(origin, m.group(2))
            site = _site_path(repo_path)
            if site.startswith(COPIED_DIR + "/") and site not in copied:
                copied.add(site)
                files.append(File.generated(config, site, abs_src_path=str(ROOT / repo_path)))
    return files


def on_config(config):
    """Put the generated reference pages into the navigation, after 'API reference'."""
    nav = config["nav"]
    for i, entry in enumerate(nav):
        if isinstance(entry, dict) and entry.get("API reference") == f"{REFERENCE_DIR}/index.md":
            nav[i] = {"API reference": [f"{REFERENCE_DIR}/index.md"] + [
                {title: f"{REFERENCE_DIR}/{slug}.md"} for slug, title, _ in API_SECTIONS]}
            return config
    raise PluginError(f"mkdocs.yml nav needs an entry 'API reference: {REFERENCE_DIR}/index.md'")


def on_page_markdown(markdown: str, page, config, files) -> str:
    origin = _ORIGINS.get(page.file.src_uri)
    if origin is None:
        return markdown
    return rewrite_links(markdown, origin, page.file.src_uri)
