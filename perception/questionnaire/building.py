"""Building a questionnaire from its parsed file: the steps, in order.

:func:`build_parts` checks the whole structure (``docs/questionnaire_format.md``) and
returns the checked fields of the questionnaire, of its variables, consistency rules and
repeat tables; :meth:`perception.questionnaire.model.Questionnaire.from_dict` turns them
into the immutable objects. Each step lives in a module of its own:

1. :mod:`~perception.questionnaire.structure` -- top-level keys, format, id, languages,
   the modules and their variable entries, the repeat tables, the choice columns;
2. :mod:`~perception.questionnaire.fields` -- labels, code lists, defaults;
3. :mod:`~perception.questionnaire.entries` -- each variable, field by field;
4. :mod:`~perception.questionnaire.logic` -- roles, references and cycles of the skip
   logic, the consistency section;
5. :mod:`~perception.questionnaire.derived` -- the derived variables (``derived:``);
6. :mod:`~perception.questionnaire.list_experiments` -- the list experiments section.

Every problem of every step is collected (:mod:`~perception.questionnaire.problems`) and
reported in one :class:`~perception.errors.QuestionnaireError`.

Examples
--------
>>> parts = build_parts({"id": "x", "languages": ["en"], "variables": [
...     {"name": "ok", "type": "binary", "label": "OK?"}]}, "<example>")
>>> parts["id"], [v["name"] for v in parts["variables"]]
('x', ['ok'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import QuestionnaireError
from .derived import derived_fields, place_derived
from .entries import Context, variable_fields
from .fields import codes_of, defaults_of, labels_of, named_sets
from .list_experiments import list_experiments_of
from .logic import check_references, check_roles, consistency_fields
from .problems import Problems, where_variable
from .structure import (
    check_top_level,
    choice_columns_of,
    id_of,
    languages_of,
    modules_and_entries,
    repeat_entries,
)

__all__ = ["build_parts"]


def build_parts(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The checked fields of a questionnaire: ``id``, ``languages``, ``title``,
    ``version``, ``modules``, ``variables`` (field dicts), ``consistency`` (field dicts),
    ``repeats`` (name -> the same structure for each repeat table, with ``parent`` and
    ``count``), ``list_experiments`` (the checked experiments of the section), ``waves``
    (how reports name the waves: code -> labels).

    Raises
    ------
    QuestionnaireError
        Listing every problem found, each naming the variable, field and fix.
    """
    if not isinstance(data, Mapping):
        raise QuestionnaireError(
            f"{source}: a questionnaire must be a mapping, not {type(data).__name__}. "
            "Fix: see docs/questionnaire_format.md."
        )
    p = Problems(source)
    check_top_level(p, data)
    qid = id_of(p, data)
    languages = languages_of(p, data)
    title = labels_of(p, languages, data.get("title", {}), "top level, key 'title'",
                      optional=True)
    code_lists = named_sets(p, languages, data.get("code_lists", {}), "code_lists")
    ctx = Context(
        languages=languages,
        defaults=defaults_of(p, data.get("defaults", {})),
        code_lists=code_lists,
        missing_sets=named_sets(p, languages, data.get("missing_sets", {}), "missing_sets"),
        choice_columns=choice_columns_of(p, data, code_lists),
    )
    modules, entries = modules_and_entries(p, languages, data)
    variables = _variables(p, ctx, entries, set())
    derived = derived_fields(p, ctx, data.get("derived"), variables)
    check_references(p, variables, [v["name"] for v in derived])
    variables = place_derived(variables, derived)
    check_roles(p, variables)
    consistency = consistency_fields(p, data.get("consistency", []), variables)
    experiments = list_experiments_of(p, languages, data.get("list_experiments"), variables)
    waves = (codes_of(p, languages, data["waves"], "top level, key 'waves'")
             if "waves" in data else {})
    repeats = _repeats(p, ctx, data, variables)
    p.raise_if_any()
    version = data.get("version")
    return {
        "id": qid,
        "languages": languages,
        "title": title,
        "version": None if version is None else str(version),
        "source": source,
        "modules": modules,
        "variables": variables,
        "consistency": consistency,
        "repeats": repeats,
        "list_experiments": experiments,
        "waves": waves,
    }


def _variables(
    p: Problems, ctx: Context, entries: Sequence[tuple[str, Any]], taken: set[str]
) -> list[dict[str, Any]]:
    """The fields of each entry; a name used twice (here or in another table) refused."""
    variables: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for position, (module, raw) in enumerate(entries):
        fields = variable_fields(p, ctx, raw, module, position)
        if fields is None:
            continue
        name = fields["name"]
        if name in seen or name in taken:
            also = (f"also variable number {seen[name] + 1}" if name in seen
                    else "also a variable of another table of the questionnaire")
            p.fail(where_variable(name, module, "name"), f"duplicate variable name ({also})",
                   "give every variable a unique name")
            continue
        seen[name] = position
        variables.append(fields)
    return variables


def _repeats(
    p: Problems, ctx: Context, data: Mapping[str, Any], main: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Each repeat table: its variables may refer to those of the tables it is in."""
    tables: dict[str, dict[str, Any]] = {}
    names_of: dict[str | None, list[str]] = {None: [v["name"] for v in main]}
    taken = {v["name"] for v in main}
    repeat_ctx = Context(languages=ctx.languages, defaults=ctx.defaults,
                         code_lists=ctx.code_lists, missing_sets=ctx.missing_sets,
                         choice_columns=ctx.choice_columns, in_repeat=True)
    for entry in repeat_entries(p, data):
        name, parent = entry["name"], entry.get("parent")
        where = f"repeat {name!r}"
        modules, entries = modules_and_entries(p, ctx.languages, entry, where)
        variables = _variables(p, repeat_ctx, entries, taken)
        taken.update(v["name"] for v in variables)
        outer: list[str] = []
        chain: str | None = parent
        while True:  # the tables this one is repeated in, up to the main table
            outer.extend(names_of.get(chain, []))
            if chain is None:
                break
            chain = tables[chain]["parent"] if chain in tables else None
        check_references(p, variables, outer)
        names_of[name] = [v["name"] for v in variables]
        tables[name] = {
            "id": name,
            "languages": ctx.languages,
            "title": labels_of(p, ctx.languages, entry.get("label"), f"{where}, key 'label'",
                               optional=True),
            "version": None,
            "modules": modules,
            "variables": variables,
            "consistency": [],
            "repeats": {},
            "parent": parent,
            "count": entry.get("count"),
        }
    return tables
