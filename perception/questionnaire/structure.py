"""The top level of a questionnaire file: its keys, format, id, languages, title, the
modules and the list of variable entries, the repeat tables and the choice columns.

Examples
--------
>>> from perception.questionnaire.problems import Problems
>>> p = Problems("q.yaml")
>>> languages_of(p, {"languages": ["fr", "en"]})
('fr', 'en')
>>> modules, entries = modules_and_entries(p, ("en",), {"variables": [
...     {"name": "a", "type": "text", "label": "A", "module": "id"}]})
>>> list(modules), [m for m, _ in entries]
(['id'], ['id'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .fields import code_of, labels_of, text_field
from .problems import Problems, did_you_mean

__all__ = [
    "FORMAT",
    "TOP_KEYS",
    "REPEAT_KEYS",
    "check_top_level",
    "id_of",
    "languages_of",
    "modules_and_entries",
    "repeat_entries",
    "choice_columns_of",
]

#: identifier of the file format
FORMAT = "perception-questionnaire/1"
TOP_KEYS = (
    "format",
    "id",
    "version",
    "title",
    "description",
    "languages",
    "defaults",
    "missing_sets",
    "code_lists",
    "choice_columns",
    "modules",
    "variables",
    "repeats",
    "consistency",
    "derived",
    "list_experiments",
    "waves",
)
MODULE_KEYS = ("name", "label", "variables", "note")
REPEAT_KEYS = ("name", "label", "parent", "count", "modules", "variables", "note")


def check_top_level(p: Problems, data: Mapping[str, Any]) -> None:
    """Unknown top-level keys and the format."""
    for key in data:
        if key not in TOP_KEYS:
            p.fail(f"top level, key {key!r}", f"unknown key{did_you_mean(key, TOP_KEYS)}",
                   f"use only {', '.join(TOP_KEYS)}")
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        p.fail("top level, key 'format'", f"unsupported format {fmt!r}",
               f"write format: {FORMAT}")


def id_of(p: Problems, data: Mapping[str, Any]) -> str:
    qid = data.get("id")
    if not isinstance(qid, str) or not qid.strip():
        p.fail("top level, key 'id'", f"missing or not text ({qid!r})", "add id: <name>")
        return "questionnaire"
    return qid


def languages_of(p: Problems, data: Mapping[str, Any]) -> tuple[str, ...]:
    langs = data.get("languages", ["en"])
    if (
        not isinstance(langs, list)
        or not langs
        or not all(isinstance(x, str) and x for x in langs)
        or len(set(langs)) != len(langs)
    ):
        p.fail("top level, key 'languages'",
               f"must be a non-empty list of distinct language codes, got {langs!r}",
               "write e.g. languages: [fr, en]")
        return ("en",)
    return tuple(langs)


def _module_blocks(
    p: Problems, languages: Sequence[str], raw_modules: Any, modules: dict[str, dict[str, str]],
    entries: list[tuple[str, Any]], where: str,
) -> bool:
    """Read ``modules``; return whether they list their variables."""
    if not isinstance(raw_modules, list):
        p.fail(f"{where}, key 'modules'", f"must be a list, got {type(raw_modules).__name__}",
               "write modules: [- name: ..., label: ..., variables: [...]]")
        return False
    nested = False
    for i, mod in enumerate(raw_modules):
        if not isinstance(mod, Mapping) or not isinstance(mod.get("name"), str):
            p.fail(f"modules, entry {i + 1}", "each module needs a name", "write - name: <module>")
            continue
        name = mod["name"]
        for key in mod:
            if key not in MODULE_KEYS:
                p.fail(f"module {name!r}, key {key!r}",
                       f"unknown key{did_you_mean(key, MODULE_KEYS)}",
                       f"use only {', '.join(MODULE_KEYS)}")
        if name in modules:
            p.fail(f"module {name!r}", "duplicate module name", "give every module a unique name")
        modules[name] = labels_of(p, languages, mod.get("label"),
                                  f"module {name!r}, field 'label'", optional=True)
        variables = mod.get("variables")
        if variables is None:
            continue
        nested = True
        if not isinstance(variables, list):
            p.fail(f"module {name!r}, field 'variables'", "must be a list of variables",
                   "write variables: [- name: ...]")
            continue
        entries.extend((name, v) for v in variables)
    return nested


def modules_and_entries(
    p: Problems, languages: Sequence[str], data: Mapping[str, Any], where: str = "top level"
) -> tuple[dict[str, dict[str, str]], list[tuple[str, Any]]]:
    """The modules (name -> label) and the variable entries with their module, in order:
    from ``modules: [- name, variables: [...]]`` or a flat ``variables`` list."""
    modules: dict[str, dict[str, str]] = {}
    entries: list[tuple[str, Any]] = []
    nested = _module_blocks(p, languages, data.get("modules", []), modules, entries, where)
    flat = data.get("variables")
    if flat is not None:
        if nested:
            p.fail(f"{where}, key 'variables'",
                   "variables are listed both inside modules and at the top level",
                   "use one style: modules with variables, or a top-level variables list "
                   "whose entries name their module")
        elif not isinstance(flat, list):
            p.fail(f"{where}, key 'variables'", "must be a list", "write variables: [- name: ...]")
        else:
            for v in flat:
                module = v.get("module", "main") if isinstance(v, Mapping) else "main"
                modules.setdefault(str(module), {})
                entries.append((str(module), v))
    if not entries:
        p.fail(where, "the questionnaire declares no variables" if where == "top level"
               else "the repeat declares no variables", "add modules with variables")
    return modules, entries


def repeat_entries(p: Problems, data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``repeats`` section: one entry per repeat table, names checked, parents known."""
    raw = data.get("repeats", [])
    if not isinstance(raw, list):
        p.fail("top level, key 'repeats'", "must be a list of repeat tables",
               "write repeats: [- name: members, label: ..., variables: [...]]")
        return []
    found: list[Mapping[str, Any]] = []
    names: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"repeat number {i + 1}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            p.fail(where, "each repeat needs a name", "write - name: <repeat>")
            continue
        name = entry["name"]
        where = f"repeat {name!r}"
        for key in entry:
            if key not in REPEAT_KEYS:
                p.fail(f"{where}, key {key!r}", f"unknown key{did_you_mean(key, REPEAT_KEYS)}",
                       f"use only {', '.join(REPEAT_KEYS)}")
        if name in names:
            p.fail(where, "duplicate repeat name", "give every repeat a unique name")
            continue
        parent = entry.get("parent")
        if parent is not None and parent not in names:
            p.fail(f"{where}, key 'parent'",
                   f"{parent!r} is not a repeat declared before it{did_you_mean(parent, names)}",
                   "name an earlier repeat, or leave parent out for a repeat of the main table")
        text_field(p, entry, "count", f"{where}, key 'count'")
        names.add(name)
        found.append(entry)
    return found


def choice_columns_of(
    p: Problems, data: Mapping[str, Any], code_lists: Mapping[str, Any]
) -> dict[str, dict[str, dict[Any, Any]]]:
    """The ``choice_columns`` section: code list -> column -> {code: value}, the columns
    of the choices sheet that ``choice_filter`` expressions read."""
    raw = data.get("choice_columns", {})
    if not isinstance(raw, Mapping):
        p.fail("top level, key 'choice_columns'", f"must be a mapping, got {raw!r}",
               "write choice_columns: {district: {state: {d1: s1, d2: s2}}}")
        return {}
    out: dict[str, dict[str, dict[Any, Any]]] = {}
    for list_name, columns in raw.items():
        where = f"choice_columns {list_name!r}"
        if list_name not in code_lists:
            p.fail(where, f"no code list named {list_name!r}{did_you_mean(list_name, code_lists)}",
                   "name a list of code_lists")
            continue
        if not isinstance(columns, Mapping):
            p.fail(where, "must be a mapping column -> {code: value}",
                   "write {state: {d1: s1, d2: s2}}")
            continue
        out[str(list_name)] = {}
        for column, values in columns.items():
            if not isinstance(values, Mapping):
                p.fail(f"{where}, column {column!r}", "must be a mapping code -> value",
                       "write {d1: s1, d2: s2}")
                continue
            out[str(list_name)][str(column)] = {
                code_of(p, k, f"{where}, column {column!r}", text=True): v
                for k, v in values.items()
            }
    return out
