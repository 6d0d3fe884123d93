"""Checks across the variables of a questionnaire: design roles held once, expressions
that refer to declared and earlier variables without a cycle, and the ``consistency``
section.

The functions work on the checked fields of the variables (dicts, as
:func:`perception.questionnaire.entries.variable_fields` returns them) and record their
problems; :func:`consistency_fields` returns the fields of each consistency rule.

Examples
--------
>>> cycles({"a": ["b"], "b": ["a"], "c": []})
[['a', 'b']]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .entries import DISCLOSURE_ROLES
from .fields import code_of, expression_entry
from .problems import Problems, did_you_mean, where_variable

__all__ = ["check_roles", "check_references", "consistency_fields", "cycles",
           "CONSISTENCY_KEYS"]

CONSISTENCY_KEYS = ("name", "type", "from", "to", "map", "condition", "column", "message")
Fields = Mapping[str, Any]


def check_roles(p: Problems, variables: Sequence[Fields]) -> None:
    """Each design role is given to one variable (disclosure roles to any number); the
    coarser variables of the coarsening ladders are declared."""
    holders: dict[str, list[str]] = {}
    declared = {v["name"] for v in variables}
    for v in variables:
        for i, step in enumerate(v.get("coarsen", ())):
            if step.variable is not None and (step.variable not in declared
                                              or step.variable == v["name"]):
                p.fail(where_variable(v["name"], v["module"], "coarsen") + f", step {i + 1}",
                       f"variable {step.variable!r} is "
                       + ("the variable itself" if step.variable == v["name"] else
                          f"not declared{did_you_mean(step.variable, declared)}"),
                       "name a coarser variable of the questionnaire (the cercle of a commune)")
        if v["role"] and v["role"] not in DISCLOSURE_ROLES:
            holders.setdefault(v["role"], []).append(v["name"])
    for role, names in holders.items():
        if len(names) > 1:
            p.fail(f"role {role!r}", f"given to several variables ({', '.join(names)})",
                   "give each design role to one variable")


def check_references(
    p: Problems, variables: Sequence[Fields], outer: Sequence[str] = ()
) -> None:
    """Expressions refer to declared variables (of this table or of the tables it is
    repeated in, ``outer``); skip logic refers to earlier questions, without a cycle."""
    index = {v["name"]: v for v in variables}
    known = set(index) | set(outer)
    graph: dict[str, list[str]] = {}
    for v in variables:
        for fld in ("relevant", "constraint", "choice_filter"):
            expr = v.get(f"{fld}_expr")
            if expr is None:
                continue
            for ref in sorted(expr.variables):
                if ref not in known:
                    p.fail(
                        where_variable(v["name"], v["module"], fld),
                        f"{fld} {expr.text!r} refers to unknown variable {ref!r}"
                        f"{did_you_mean(ref, known)}",
                        "correct the name or declare the variable earlier in the questionnaire",
                    )
        if v.get("relevant_expr") is not None:
            graph[v["name"]] = sorted(r for r in v["relevant_expr"].variables if r in index)
    in_cycle: set[str] = set()
    for cycle in cycles(graph):
        in_cycle.update(cycle)
        first = index[cycle[0]]
        p.fail(where_variable(first["name"], first["module"], "relevant"),
               f"skip logic forms a cycle: {' -> '.join([*cycle, cycle[0]])}",
               "a question's relevant condition may only use answers given before it")
    for v in variables:
        if v.get("relevant_expr") is None or v["name"] in in_cycle:
            continue
        for ref in sorted(v["relevant_expr"].variables):
            if ref in index and index[ref]["position"] > v["position"]:
                p.fail(where_variable(v["name"], v["module"], "relevant"),
                       f"relevant {v['relevant']!r} refers to {ref!r}, which comes later in "
                       "the questionnaire",
                       f"move {ref!r} before {v['name']!r} or change the condition")


def cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """The distinct cycles of a directed graph (each once, by depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(list(cycle))
            elif state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if state.get(node) is None:
            visit(node)
    return found


# ---------------------------------------------------------------- consistency --


def consistency_fields(
    p: Problems, raw: Any, variables: Sequence[Fields]
) -> list[dict[str, Any]]:
    """The fields of each rule of the ``consistency`` section, checked."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        p.fail("top level, key 'consistency'", "must be a list of checks",
               "write consistency: [- name: ..., type: mapping, ...]")
        return []
    index = {v["name"]: v for v in variables}
    rules: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"consistency check number {i + 1}"
        if not isinstance(entry, Mapping):
            p.fail(where, f"must be a mapping, got {entry!r}",
                   "write - name: ..., type: mapping|rule")
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            p.fail(where, "no name", "add name: <short_name>")
            continue
        where = f"consistency check {name!r}"
        if name in names:
            p.fail(where, "duplicate name", "give every consistency check a unique name")
        names.add(name)
        before = len(p)
        for key in entry:
            if key not in CONSISTENCY_KEYS:
                p.fail(f"{where}, key {key!r}", f"unknown key{did_you_mean(key, CONSISTENCY_KEYS)}",
                       f"use only {', '.join(CONSISTENCY_KEYS)}")
        kind = entry.get("type")
        message = entry.get("message")
        if message is not None and not isinstance(message, str):
            p.fail(f"{where}, key 'message'", "must be text", "quote the message")
            message = None
        if kind == "mapping":
            rule = _mapping_rule(p, entry, where, index, name, message)
        elif kind == "rule":
            rule = _condition_rule(p, entry, where, index, name, message)
        else:
            p.fail(f"{where}, key 'type'", f"unknown type {kind!r}",
                   "use type: mapping or type: rule")
            continue
        if rule is not None and len(p) == before:
            rules.append(rule)
    return rules


def _mapping_rule(p: Problems, entry, where, index, name, message) -> dict[str, Any] | None:
    ends = {}
    for key in ("from", "to"):
        var_name = entry.get(key)
        var = index.get(var_name) if isinstance(var_name, str) else None
        if var is None:
            p.fail(f"{where}, key {key!r}",
                   f"unknown variable {var_name!r}{did_you_mean(var_name, index)}",
                   "name a variable of the questionnaire")
            return None
        if var["type"] not in ("categorical", "ordinal", "binary"):
            p.fail(f"{where}, key {key!r}", f"variable {var_name!r} is {var['type']}, not coded",
                   "map between categorical variables")
            return None
        ends[key] = var
    raw_map = entry.get("map")
    if not isinstance(raw_map, Mapping) or not raw_map:
        p.fail(f"{where}, key 'map'", "must be a non-empty mapping code -> code",
               "write map: {11: 1, 12: 1, ...}")
        return None
    src, dst = ends["from"], ends["to"]
    mapping: dict[Any, Any] = {}
    for key, value in raw_map.items():
        k = _code_like(p, key, src, f"{where}, key 'map'")
        v = _code_like(p, value, dst, f"{where}, key 'map'")
        if k is None or v is None:
            continue
        if k not in src["codes"]:
            p.fail(f"{where}, key 'map'", f"{k!r} is not a valid code of {src['name']!r}",
                   f"use codes of {src['name']}: {', '.join(map(str, src['codes']))}")
        if v not in dst["codes"]:
            p.fail(f"{where}, key 'map'", f"{v!r} (for {k!r}) is not a valid code of "
                   f"{dst['name']!r}",
                   f"use codes of {dst['name']}: {', '.join(map(str, dst['codes']))}")
        mapping[k] = v
    column = entry.get("column", src["name"])
    if column not in (src["name"], dst["name"]):
        p.fail(f"{where}, key 'column'", f"{column!r} is neither 'from' nor 'to'",
               "report on the from or the to variable")
        return None
    return {"name": name, "kind": "mapping", "column": column, "message": message,
            "source": src["name"], "target": dst["name"], "mapping": mapping}


def _code_like(p: Problems, raw: Any, var: Fields, where: str) -> Any:
    """A code written in a mapping, typed as the variable's codes are."""
    text = any(isinstance(c, str) for c in var["codes"])
    return code_of(p, raw, where, text=text)


def _condition_rule(p: Problems, entry, where, index, name, message) -> dict[str, Any] | None:
    expr = expression_entry(p, entry, "condition", where, "${a} <= ${b}",
                            "a consistency rule")
    if expr is None:
        return None
    unknown = sorted(r for r in expr.variables if r not in index)
    if unknown:
        p.fail(f"{where}, key 'condition'", f"refers to unknown variable(s) {', '.join(unknown)}",
               "correct the names")
        return None
    if not expr.variables:
        p.fail(f"{where}, key 'condition'", "refers to no variable", "use ${name} references")
        return None
    column = entry.get("column")
    if column is None:
        column = max(expr.variables, key=lambda n: index[n]["position"])
    elif column not in expr.variables:
        p.fail(f"{where}, key 'column'", f"{column!r} is not used in the condition",
               "report on one of the variables of the condition")
        return None
    return {"name": name, "kind": "rule", "column": column, "message": message,
            "condition": entry["condition"], "condition_expr": expr}
