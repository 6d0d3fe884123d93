"""The architecture of the package, checked on its source (ARCHITECTURE.md draws it).

Every import of every module is read from the syntax tree (also imports inside
functions), and:

- a subpackage imports only the subpackages :data:`ALLOWED` lists, and the base modules;
- no two modules import each other, directly or round a longer loop (imports under
  ``if TYPE_CHECKING:`` do not run, so they do not count as loops);
- no private name (``_x``) crosses a subpackage boundary: not imported, not reached as
  ``module._x`` or ``obj._x`` of another subpackage's class, not through
  ``getattr(obj, "_x")``; a name imported from another subpackage is one its
  ``__init__`` lists (``EXPORTS`` or ``SHARED``), with its module;
- no module is named like a public function of ``perception.__all__`` (importing it
  would hide the function behind the module);
- ``import perception.<subpackage>.<module>`` gives that module.

The checker runs on a small package with one violation of each kind as well, so each
rule is seen to fail.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import perception as pc

ROOT = Path(__file__).resolve().parent.parent

#: modules below every subpackage: everyone may import them; they import only each other
BASE = frozenset({
    "perception.errors",
    "perception.deprecation",
    "perception.exports",
    "perception.tables",
    "perception.filecheck",
})

#: subpackage -> the subpackages it may import (besides itself and the base modules);
#: ``sampling`` is the room of sample drawing and allocation
ALLOWED: dict[str, frozenset[str]] = {
    "datasets": frozenset(),
    "questionnaire": frozenset(),
    "disclosure": frozenset({"questionnaire"}),
    "survey": frozenset({"questionnaire"}),
    "waves": frozenset({"questionnaire", "disclosure"}),
    "analysis": frozenset({"survey", "disclosure", "questionnaire"}),
    "sampling": frozenset({"analysis", "survey", "waves", "questionnaire"}),
    "demo": frozenset({"survey", "questionnaire", "waves"}),
    "outputs": frozenset({"analysis", "survey", "disclosure", "questionnaire", "waves",
                          "demo"}),
    "cli": frozenset({"datasets", "questionnaire", "disclosure", "survey", "waves",
                      "analysis", "sampling", "demo", "outputs", "perception"}),
}


# ------------------------------------------------------------------- the reading --
@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (a package for a name it re-exports)
    names: tuple[str, ...]  # names taken from the target (``from target import ...``)
    line: int
    typing_only: bool  # under ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        what = f"from {self.target} import {', '.join(self.names)}" if self.names else (
            f"import {self.target}")
        return f"{self.module}:{self.line}: {what}"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module


def read_modules(root: Path, package: str = "perception") -> dict[str, Module]:
    """Every module of ``package`` under ``root``, by dotted name."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        modules[name] = Module(name, path, is_package, ast.parse(path.read_text("utf-8")))
    return modules


def _typing_blocks(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(module: Module, modules: dict[str, Module]) -> Iterator[Import]:
    """The imports of ``module`` into the package, module-level and inside functions."""
    root = module.name.split(".")[0]
    typing_lines = _typing_blocks(module.tree)
    here = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    for node in ast.walk(module.tree):
        typing_only = node_line(node) in typing_lines
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == root:
                    yield Import(module.name, alias.name, (), node.lineno, typing_only)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != root:
                continue
            names = []
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:  # a module taken by name
                    yield Import(module.name, f"{target}.{alias.name}", (), node.lineno,
                                 typing_only)
                else:
                    names.append(alias.name)
            if names:
                yield Import(module.name, target, tuple(names), node.lineno, typing_only)


def node_line(node: ast.AST) -> int:
    return getattr(node, "lineno", 0)


def room(name: str) -> str:
    """The subpackage of a module (``survey``), ``base`` or ``perception`` (the root)."""
    if name in BASE:
        return "base"
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


# ------------------------------------------------------------------- the rules --
def layering_violations(modules: dict[str, Module]) -> list[str]:
    bad = []
    for module in modules.values():
        mine = room(module.name)
        for imp in imports_of(module, modules):
            theirs = room(imp.target)
            if theirs in (mine, "base"):
                continue
            if mine == "base" or theirs not in ALLOWED.get(mine, frozenset()):
                bad.append(f"{imp} ({mine} may not import {theirs})")
    return bad


def import_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    """Module -> the modules it imports when it runs (typing-only imports left out)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module in modules.values():
        for imp in imports_of(module, modules):
            if not imp.typing_only and imp.target in modules and imp.target != module.name:
                graph[module.name].add(imp.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_attributes(module: Module) -> set[str]:
    """Private names a module defines on its classes and objects (``_x`` methods and
    class attributes, ``self._x = ...``)."""
    names = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    names.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if _private(n)}


def exported_tables(modules: dict[str, Module]) -> dict[str, dict[str, str]]:
    """Subpackage -> {name: module} of its ``EXPORTS`` and ``SHARED`` tables."""
    tables = {}
    for module in modules.values():
        if not module.is_package or module.name.count(".") != 1:
            continue
        table: dict[str, str] = {}
        for node in module.tree.body:
            if (isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict)):
                target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
                if isinstance(target, ast.Name) and target.id in ("EXPORTS", "SHARED"):
                    value = ast.literal_eval(node.value)
                    table.update({k: f"{module.name}.{v}" for k, v in value.items()})
        tables[room(module.name)] = table
    return tables


def boundary_violations(modules: dict[str, Module]) -> list[str]:
    """Private names crossing a subpackage boundary, and imported names a subpackage
    does not list."""
    defined: dict[str, set[str]] = {}  # room -> private attribute names defined there
    for module in modules.values():
        defined.setdefault(room(module.name), set()).update(_private_attributes(module))
    tables = exported_tables(modules)
    bad = []
    for module in modules.values():
        mine = room(module.name)
        foreign = set().union(*(names for r, names in defined.items() if r != mine))
        foreign -= defined.get(mine, set())
        module_aliases: dict[str, str] = {}
        for imp in imports_of(module, modules):
            theirs = room(imp.target)
            if theirs == mine:
                continue
            if any(_private(part) for part in imp.target.split(".")):
                bad.append(f"{imp}: private module of {theirs}")
            for name in imp.names:
                if _private(name):
                    bad.append(f"{imp}: private name {name}")
                elif theirs in tables:
                    listed = tables.get(theirs, {}).get(name)
                    if listed is None:
                        bad.append(f"{imp}: {name} is not in the EXPORTS or SHARED of {theirs}")
                    elif listed != imp.target:
                        bad.append(f"{imp}: {theirs} lists {name} in {listed}")
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                for alias in node.names:
                    module_aliases[alias.asname or alias.name.split(".")[0]] = alias.name
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = ast.unparse(node.value)
                if owner in ("self", "cls", "super()"):
                    continue
                if node.attr in foreign:
                    bad.append(f"{module.name}:{node.lineno}: {owner}.{node.attr} is private "
                               "to another subpackage")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant)
                    and isinstance(node.args[1].value, str) and node.args[1].value in foreign):
                bad.append(f"{module.name}:{node.lineno}: {node.func.id}(..., "
                           f"{node.args[1].value!r}) is private to another subpackage")
    return bad


def shadowing_modules(modules: dict[str, Module], public: set[str]) -> list[str]:
    """Modules named like a public function (or class) of the package."""
    return [name for name in modules if name.rsplit(".", 1)[-1] in public]


def check(root: Path, package: str = "perception") -> dict[str, list]:
    modules = read_modules(root, package)
    return {
        "layering": layering_violations(modules),
        "cycles": cycles(import_graph(modules)),
        "boundaries": boundary_violations(modules),
    }


# ------------------------------------------------------------------- the tests --
@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return read_modules(ROOT)


def test_subpackages_import_only_what_the_table_allows(modules):
    assert layering_violations(modules) == []


def test_no_import_cycle_between_modules(modules):
    assert cycles(import_graph(modules)) == []


def test_no_private_name_crosses_a_subpackage_boundary(modules):
    assert boundary_violations(modules) == []


def test_no_module_is_named_like_a_public_function(modules):
    public = {n for n in pc.__all__ if not isinstance(getattr(pc, n), types.ModuleType)}
    assert shadowing_modules(modules, public) == []


def test_every_module_imports_as_a_module(modules):
    for name in modules:
        module = importlib.import_module(name)
        assert isinstance(module, types.ModuleType) and module.__name__ == name
        parent, _, last = name.rpartition(".")
        if parent:
            assert getattr(sys.modules[parent], last) is module, name


def test_every_module_is_in_a_room(modules):
    rooms = {room(name) for name in modules}
    assert rooms <= {"base", "perception", *ALLOWED}, rooms - {"base", "perception", *ALLOWED}


def test_the_export_tables_name_what_their_modules_define(modules):
    tables = exported_tables(modules)
    for subpackage, table in tables.items():
        package = importlib.import_module(f"perception.{subpackage}")
        for name, module_name in table.items():
            value = getattr(importlib.import_module(module_name), name)
            assert getattr(package, name) is value, (subpackage, name)
            assert not isinstance(value, types.ModuleType), (subpackage, name)
    # the package's own table points at the subpackages' public names
    exports = {**vars(pc)["_EXPORTS"]}
    for name, module_name in exports.items():
        assert tables[room(module_name)].get(name) == module_name, name


def test_shared_names_are_used_by_another_subpackage(modules):
    """``SHARED`` lists exactly the names other subpackages import (no stale entry)."""
    used: set[tuple[str, str]] = set()
    for module in modules.values():
        for imp in imports_of(module, modules):
            if room(imp.target) != room(module.name):
                used.update((imp.target, name) for name in imp.names)
    for module in modules.values():
        if not module.is_package or module.name.count(".") != 1:
            continue
        for node in module.tree.body:
            if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "SHARED":
                shared = ast.literal_eval(node.value)
                unused = [n for n, m in shared.items() if (f"{module.name}.{m}", n) not in used]
                assert unused == [], f"{module.name}.SHARED lists names no one imports: {unused}"


def test_import_perception_loads_no_heavy_library():
    code = ("import sys, perception\n"
            "print(sorted(m for m in ('scipy', 'matplotlib', 'pandera', 'statsmodels', "
            "'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


#: libraries the first estimate must not load: slow to import (scipy.stats alone takes
#: most of a second, its docstrings parsed) and not needed by the estimators' arithmetic
HEAVY_FOR_ESTIMATES = ("scipy.stats", "scipy.optimize", "matplotlib", "statsmodels",
                       "pyxform", "pandera", "openpyxl", "docx", "reportlab", "dask")


def test_first_estimates_load_no_heavy_library():
    """Means, proportions (logit intervals) and a difference-in-differences on a small
    design take their distributions from scipy.special: a user's first call and every
    CLI command stay fast (the times themselves are measured in benchmarks/)."""
    code = textwrap.dedent(f"""
        import sys
        import pandas as pd
        import perception as pc
        data = pd.DataFrame({{"y": [1.0, 2, 3, 4, 2, 5, 3, 1],
                             "c": ["a", "b", "a", "b", "b", "a", "a", "b"],
                             "t": [0, 0, 1, 1, 0, 0, 1, 1], "p": [0, 1, 0, 1, 0, 1, 0, 1],
                             "s": [1, 1, 1, 1, 2, 2, 2, 2], "u": [1, 2, 3, 4, 5, 6, 7, 8],
                             "w": [1.0, 2, 1, 2, 1, 2, 1, 2]}})
        d = pc.SurveyDesign(data, weights="w", strata="s", psu="u")
        pc.mean(d, "y")
        pc.mean(d, "y", by="c")
        pc.proportion(d, "c")
        pc.did(d, "y", treated="t", period="p")
        print(sorted(m for m in {HEAVY_FOR_ESTIMATES!r} if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"


VIOLATIONS = {
    "toy/__init__.py": "",
    "toy/errors.py": "",
    "toy/survey/__init__.py": textwrap.dedent('''
        EXPORTS: dict[str, str] = {"mean": "estimators"}
        SHARED: dict[str, str] = {}
    '''),
    "toy/survey/extra.py": "from ..analysis import changes  # survey may not import analysis\n",
    "toy/survey/estimators.py": textwrap.dedent('''
        from .design import kernel
        def mean(d):
            return d._w
        class Design:
            def __init__(self):
                self._w = 1
    '''),
    "toy/survey/engine.py": textwrap.dedent('''
        def kernel():
            from . import estimators               # a loop through a lazy import
    '''),
    "toy/survey/design.py": "from .engine import kernel\n",
    "toy/analysis/__init__.py": "",
    "toy/analysis/changes.py": textwrap.dedent('''
        from ..survey.estimators import _helper     # a private name
        from ..survey.engine import kernel          # not listed by survey
        def change(d):
            return getattr(d, "_w"), d._w            # private attributes of survey
    '''),
    "toy/analysis/engine.py": "from ..survey.design import kernel\n",
}


def test_the_checker_sees_each_kind_of_violation(tmp_path, monkeypatch):
    for relative, text in VIOLATIONS.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "BASE", frozenset({"toy.errors"}))
    found = check(tmp_path, "toy")
    assert [v for v in found["layering"] if "survey may not import analysis" in v]
    assert ["toy.survey.design", "toy.survey.engine", "toy.survey.estimators"] in found["cycles"]
    boundaries = "\n".join(found["boundaries"])
    assert "private name _helper" in boundaries
    assert "kernel is not in the EXPORTS or SHARED of survey" in boundaries
    assert "d._w is private to another subpackage" in boundaries
    assert "getattr(..., '_w') is private to another subpackage" in boundaries
    assert shadowing_modules(read_modules(tmp_path, "toy"), {"changes"}) == [
        "toy.analysis.changes"]
