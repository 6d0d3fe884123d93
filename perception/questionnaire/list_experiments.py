"""List experiments declared in a questionnaire (the ``list_experiments:`` section).

A list experiment (item-count technique) asks a random part of the respondents how
many of J non-sensitive statements apply to them (the control list), and the others
how many of the same statements plus one sensitive statement (the treatment list). The
questionnaire declares, for each experiment, its count column, the column saying which
list the respondent heard, the statements (their wording in every language) and,
optionally, the direct question on the same sensitive item::

    list_experiments:
      - name: abuse_list
        count: le_count            # integer: how many statements apply
        assignment: le_list        # binary: 0 control list, 1 treatment list
        direct: abuse_hh           # optional: the same item asked directly
        label: {fr: "...", en: "..."}          # optional: the question read out
        control_items:
          - {fr: "...", en: "..."}
          - ...
        sensitive_item: {fr: "...", en: "..."}

:func:`list_experiments_of` checks the section while the questionnaire is built (a step of
:func:`~perception.questionnaire.building.build_parts`: every problem reported with the
others); the rules that check the counts of a wave (0..J on
the control list, 0..J+1 on the treatment list, the list heard given wherever a count
is) are compiled with the other checks (:mod:`perception.questionnaire.schema`).

Examples
--------
>>> from perception.questionnaire import Questionnaire
>>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
...     {"name": "n_items", "type": "integer", "label": "How many?"},
...     {"name": "list", "type": "binary", "label": "List heard"}],
...     "list_experiments": [{"name": "le", "count": "n_items", "assignment": "list",
...         "control_items": ["Radio", "Market", "Travel"],
...         "sensitive_item": "Mistreated by the police"}]})
>>> q.list_experiments[0].n_control_items
3
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .fields import labels_of
from .problems import Problems

#: a variable as the builder checked it: its fields (``name``, ``type``, ``min`` ...)
Fields = Mapping[str, Any]

__all__ = ["ListExperiment", "list_experiments_of", "LIST_EXPERIMENT_KEYS"]

#: the keys of an entry of the ``list_experiments`` section
LIST_EXPERIMENT_KEYS = ("name", "count", "assignment", "direct", "label", "control_items",
                        "sensitive_item", "note")
_REQUIRED = ("name", "count", "assignment", "control_items", "sensitive_item")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Labels = Mapping[str, str]


@dataclass(frozen=True)
class ListExperiment:
    """One list experiment of the questionnaire. Immutable.

    Attributes
    ----------
    name : str
        Its name.
    count, assignment : str
        The count column (integer) and the column of the list heard (binary: 0 control
        list, 1 treatment list).
    control_items : tuple of Mapping[str, str]
        The J non-sensitive statements, each worded in every language.
    sensitive_item : Mapping[str, str]
        The sensitive statement added to the treatment list.
    direct : str or None
        The variable asking the sensitive item directly, if any.
    label : Mapping[str, str]
        The question read out (may be empty).

    Examples
    --------
    >>> le = ListExperiment("le", "n", "t", ({"en": "a"}, {"en": "b"}), {"en": "s"})
    >>> le.n_control_items, le.count_range("control"), le.count_range("treatment")
    (2, (0, 2), (0, 3))
    """

    name: str
    count: str
    assignment: str
    control_items: tuple[Labels, ...]
    sensitive_item: Labels
    direct: str | None = None
    label: Labels = field(default_factory=dict)
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "control_items", tuple(
            MappingProxyType(dict(item)) for item in self.control_items))
        object.__setattr__(self, "sensitive_item", MappingProxyType(dict(self.sensitive_item)))
        object.__setattr__(self, "label", MappingProxyType(dict(self.label)))

    def __hash__(self) -> int:
        return hash((self.name, self.count, self.assignment, len(self.control_items)))

    @property
    def n_control_items(self) -> int:
        """J, the number of control items."""
        return len(self.control_items)

    def count_range(self, list_heard: str) -> tuple[int, int]:
        """The valid counts of the ``"control"`` (0..J) or ``"treatment"`` list (0..J+1)."""
        return (0, self.n_control_items + (list_heard == "treatment"))


def list_experiments_of(
    p: Problems,
    languages: Sequence[str],
    raw: Any,
    variables: Sequence[Fields],
) -> list[ListExperiment]:
    """Check the ``list_experiments`` section and build its experiments.

    Parameters
    ----------
    p : Problems
        The builder's problems: every problem is collected and reported with the others.
    languages : sequence of str
        The questionnaire's languages (every statement is worded in each).
    raw : object
        The section as read from the file (``None`` when absent).
    variables : sequence of mapping
        The fields of the questionnaire's variables (the columns the section names).

    Returns
    -------
    list of ListExperiment
        The experiments whose entries have no problem.
    """
    fail = p.fail

    def label(raw: Any, where: str, *, optional: bool = False) -> dict[str, str]:
        return labels_of(p, languages, raw, where, optional=optional)

    if raw is None:
        return []
    if not isinstance(raw, list):
        fail("top level, key 'list_experiments'", f"must be a list of experiments, got {raw!r}",
             "write list_experiments: [{name: ..., count: ..., assignment: ..., "
             "control_items: [...], sensitive_item: ...}]")
        return []
    index = {v["name"]: v for v in variables}
    out: list[ListExperiment] = []
    counts: dict[str, str] = {}  # count column -> the experiment using it
    for number, entry in enumerate(raw, start=1):
        where = f"list_experiments, entry {number}"
        if not isinstance(entry, Mapping):
            fail(where, f"must be a mapping, got {entry!r}",
                 "write {name: ..., count: ..., assignment: ..., control_items: [...], "
                 "sensitive_item: ...}")
            continue
        name = entry.get("name")
        if isinstance(name, str) and _NAME_RE.match(name):
            where = f"list experiment {name!r}"
        experiment = _experiment_of(entry, where, index, label, fail)
        if experiment is None:
            continue
        if experiment.name in {e.name for e in out}:
            fail(where, "duplicate name", "give every list experiment its own name")
            continue
        if experiment.count in counts:
            fail(f"{where}, field 'count'",
                 f"{experiment.count!r} is already the count of list experiment "
                 f"{counts[experiment.count]!r}",
                 "give each list experiment its own count column")
            continue
        counts[experiment.count] = experiment.name
        out.append(experiment)
    return out


def _experiment_of(entry: Mapping[str, Any], where: str, index: Mapping[str, Fields],
                   label_of: Callable[..., dict[str, str]],
                   fail: Callable[[str, str, str], None]) -> ListExperiment | None:
    ok = True
    for key in entry:
        if key not in LIST_EXPERIMENT_KEYS:
            fail(f"{where}, key {key!r}", "unknown key",
                 f"use only {', '.join(LIST_EXPERIMENT_KEYS)}")
            ok = False
    for key in _REQUIRED:
        if key not in entry:
            fail(where, f"no {key!r}", f"add {key}: ... (see docs/questionnaire_format.md)")
            ok = False
    if not ok:
        return None
    name = entry["name"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        fail(f"{where}, field 'name'", f"{name!r} is not a valid name",
             "use letters, digits and underscores, starting with a letter")
        ok = False
    count = _column(entry["count"], "count", ("integer",), where, index, fail)
    assignment = _column(entry["assignment"], "assignment", ("binary",), where, index, fail)
    direct = None
    if entry.get("direct") is not None:
        direct = _column(entry["direct"], "direct", ("binary",), where, index, fail)
        ok &= direct is not None
    items_raw = entry["control_items"]
    items: list[dict[str, str]] = []
    if not isinstance(items_raw, list) or not items_raw:
        fail(f"{where}, field 'control_items'",
             f"must be a non-empty list of statements, got {items_raw!r}",
             "list the J control statements, each with its wording in every language")
        ok = False
    else:
        for i, item in enumerate(items_raw, start=1):
            items.append(label_of(item, f"{where}, control item {i}"))
    sensitive = label_of(entry["sensitive_item"], f"{where}, field 'sensitive_item'")
    label = label_of(entry.get("label"), f"{where}, field 'label'", optional=True)
    note = entry.get("note")
    if count is None or assignment is None or not ok:
        return None  # (count is an integer, assignment a binary: never the same column)
    J = len(items)
    low, high = index[count].get("min"), index[count].get("max")
    if (low is not None and low > 0) or (high is not None and high < J + 1):
        fail(f"variable {count!r}, field 'range'",
             f"its range does not allow every count of list experiment {name!r} (0 to "
             f"J + 1 = {J + 1})",
             f"write range: {{min: 0, max: {J + 1}}}")
        return None
    return ListExperiment(name, count, assignment, tuple(items), sensitive, direct, label,
                          note if isinstance(note, str) else None)


def _column(raw: Any, key: str, types: tuple[str, ...], where: str,
            index: Mapping[str, Fields], fail: Callable[[str, str, str], None]
            ) -> str | None:
    """The name of a declared variable of one of ``types``, or None (and a problem)."""
    if not isinstance(raw, str) or raw not in index:
        fail(f"{where}, field {key!r}", f"{raw!r} is not a variable of the questionnaire",
             f"name the {key} column, declared among the variables")
        return None
    if index[raw]["type"] not in types:
        fail(f"{where}, field {key!r}",
             f"variable {raw!r} has type {index[raw]['type']!r}",
             f"declare {raw!r} with type: {' or '.join(types)}")
        return None
    return raw
