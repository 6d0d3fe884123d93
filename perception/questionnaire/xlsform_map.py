"""Mapping pyxform's parsed survey onto the questionnaire structure (the YAML of
``docs/questionnaire_format.md``): tables, modules, variables, code lists.

:func:`map_survey` walks the survey pyxform parsed
(:func:`~perception.questionnaire.xlsform_parse.parse_xlsform`) in form order:

- a group's questions go to the module named after the outermost group; the group's
  ``relevant`` is joined with ``and`` to the ``relevant`` of every question inside;
- a repeat group becomes a repeat table (``repeats:``), its own groups its modules;
  ``repeat_count`` its ``count``; a loop (``begin loop over L``) is expanded, one copy of
  its questions per choice of ``L`` (``<choice>_<question>``);
- each question becomes a variable by its pyxform type (``select one`` -> categorical or
  binary, ``select all that apply`` -> select_multiple, ``int`` -> integer, ``decimal`` ->
  numeric, ``date`` -> date, the rest text), with its labels in every language, its
  ``required``, ``relevant``, ``constraint``, ``choice_filter`` when they are in the
  expression language, and the inferences of :mod:`~perception.questionnaire.inference`
  (missing codes, personal data, code types);
- metadata that times the interview (``start``, ``end``, ``today``) stays out (the readers
  keep it aside as paradata); device and SIM metadata becomes ``pii`` variables.

Nothing is refused: what the questionnaire cannot represent is left out or simplified,
and reported once per kind with its sheet rows (:class:`~perception.questionnaire.
inference.Notes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .entries import DISCLOSURE_ROLES, ROLES
from .expressions import ExpressionError, parse_expression
from .inference import (
    Notes,
    code_type_of,
    is_missing_choice,
    language_code,
    pii_reason,
)
from .structure import FORMAT
from .xlsform_parse import ParsedForm

__all__ = ["map_survey"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = frozenset({"yes", "true", "true()", "1", "y", "t", "oui", "vrai"})
_FALSE = frozenset({"", "no", "false", "false()", "0", "n", "f", "non", "faux"})
_FILE_LIST = re.compile(r"\.(csv|xml|geojson)$", re.IGNORECASE)
_PARENT_PATH = re.compile(r"\.\./([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*/)")
_CHOICE_KEYS = frozenset({"name", "label", "media", "image", "audio", "video", "big-image",
                          "missing", "list_name", "list name"})
_TIMING_TYPES = frozenset({"start", "end", "today"})
_SKIPPED_TYPES = frozenset({"note", "audit", "background-audio", "xml-external",
                            "csv-external", "trigger"})
_TEXT_NOTED = {"dateTime": "date-and-time", "time": "time-of-day", "odk:rank": "rank",
               "geotrace": "location", "geoshape": "location", "geopoint": "location"}


@dataclass
class _Table:
    name: str | None  # None: the main table
    parent: str | None
    label: dict[str, str]
    count: str | None
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    modules: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [e["name"] for _, e in self.entries]


@dataclass
class _Scope:
    table: _Table
    module: str | None
    relevants: tuple[str, ...] = ()
    dropped_relevant: bool = False
    loop: Mapping[str, str] | None = None
    path: tuple[str, ...] = ()


@dataclass
class _List:
    name: str
    codes: list[Any]
    labels: dict[Any, dict[str, str]]
    missing: list[Any]
    columns: dict[str, dict[Any, Any]]
    code_type: str
    rows: dict[Any, int]
    inferred: list[Any] = field(default_factory=list)  # missing codes no column marked


class _Mapper:
    def __init__(self, form: ParsedForm) -> None:
        self.form = form
        self.survey = form.survey
        self.notes = Notes()
        self.tables: list[_Table] = []
        self.row_cursor: dict[str, int] = {}
        self.lists: dict[str, _List] = {}
        self.used_lists: dict[str, str] = {}  # list name -> source list in the form
        self.filter_columns: dict[str, set[str]] = {}
        self.taken: set[str] = set()
        self.filled: list[str] = []
        self.pii: list[str] = []
        self.languages = self._languages()

    # ------------------------------------------------------------ languages, labels
    def _languages(self) -> list[str]:
        default = str(self.survey.get("default_language") or "default")
        names: list[str] = []

        def visit(label: Any) -> None:
            if isinstance(label, Mapping):
                for key in label:
                    if key not in names:
                        names.append(str(key))

        def walk(children: Sequence[Mapping[str, Any]]) -> None:
            for child in children:
                visit(child.get("label"))
                walk(child.get("children", []))
        walk(self.survey.get("children", []))
        for items in self.survey.get("choices", {}).values():
            for item in items:
                visit(item.get("label"))
        self.default_name = default
        self.default_code = language_code(default) if default != "default" else None
        codes: list[str] = []
        if self.default_code:
            codes.append(self.default_code)
        for name in names:
            code = self.default_code if name == "default" else language_code(name)
            if code and code not in codes:
                codes.append(code)
        if not codes:
            codes = ["en"]
            self.notes.add("the form's labels name no language: taken as 'en' (change "
                           "languages: in the YAML if they are in another language)", "")
        return codes

    def labels(self, raw: Any, fallback: str, what: str) -> dict[str, str]:
        """A label in every language; a missing translation filled from another one."""
        texts: dict[str, str] = {}
        plain = None
        if isinstance(raw, str):
            plain = raw.strip() or None
        elif isinstance(raw, Mapping):
            for name, text in raw.items():
                text = str(text).strip()
                if not text:
                    continue
                if name == "default" and self.default_code is None:
                    plain = text
                    continue
                code = self.default_code if name == "default" else language_code(str(name))
                texts.setdefault(str(code), text)
        if plain is not None and len(self.languages) == 1:
            texts.setdefault(self.languages[0], plain)
        out: dict[str, str] = {}
        missing: list[str] = []
        for lang in self.languages:
            if texts.get(lang):
                out[lang] = texts[lang]
            else:
                missing.append(lang)
        for lang in missing:
            out[lang] = plain or next((texts[x] for x in self.languages if x in texts), fallback)
        if missing:
            self.filled.append(what)
        return out

    def text_in_default(self, raw: Any) -> str | None:
        """A text (constraint message) in the first language, else in any."""
        if isinstance(raw, str):
            return raw.strip() or None
        if not isinstance(raw, Mapping):
            return None
        by_code = {(self.default_code if k == "default" else language_code(str(k))): str(v)
                   for k, v in raw.items() if str(v).strip()}
        return by_code.get(self.languages[0]) or next(iter(by_code.values()), None)

    # ---------------------------------------------------------------- rows
    def row_of(self, name: str | None) -> int | None:
        """The sheet row of the next element named ``name`` (form order)."""
        if not name:
            return None
        rows = self.form.survey_rows.get(name, [])
        start = self.row_cursor.get(name, 0)
        if start < len(rows):
            self.row_cursor[name] = start + 1
            return rows[start]
        return rows[-1] if rows else None

    @staticmethod
    def at(row: int | None, name: str) -> str:
        return f"row {row} ({name})" if row else name

    # ---------------------------------------------------------------- choices
    def choice_list(self, list_name: str, items: Sequence[Mapping[str, Any]]) -> _List:
        names = [str(item.get("name", "")).strip() for item in items]
        code_type = code_type_of(names)
        codes: list[Any] = []
        labels: dict[Any, dict[str, str]] = {}
        missing: list[Any] = []
        columns: dict[str, dict[Any, Any]] = {}
        rows: dict[Any, int] = {}
        inferred: list[Any] = []
        for item, text in zip(items, names, strict=True):
            if not text:
                continue
            code: Any = int(text) if code_type == "integer" else text
            row = self.form.choice_rows.get((list_name, text))
            if code in labels:
                self.notes.add("choices whose name appears twice in a list (allowed by "
                               "allow_choice_duplicates): the first kept",
                               f"list {list_name!r}, {self.at(row, text)}")
                continue
            codes.append(code)
            rows[code] = row or 0
            labels[code] = self.labels(item.get("label"), text,
                                       f"choice {text!r} of list {list_name!r}")
            flag = _flag(item.get("missing"))
            marked = flag if flag is not None and "missing" in item else None
            if marked is True:
                missing.append(code)
            elif marked is None and is_missing_choice(text, labels[code], names):
                missing.append(code)
                inferred.append(code)
            for key, value in item.items():
                if key not in _CHOICE_KEYS and not str(key).startswith(("label", "media")):
                    columns.setdefault(str(key), {})[code] = value
        if len(missing) == len(codes):
            missing, inferred = [], []
        return _List(list_name, codes, labels, missing, columns, code_type, rows, inferred)

    def list_for(self, node: Mapping[str, Any]) -> _List | None:
        list_name = str(node.get("list_name") or node.get("itemset") or "")
        items = self.survey.get("choices", {}).get(list_name) or node.get("choices")
        if not items:
            return None
        own = node.get("choices")
        key = list_name
        if own and [c.get("name") for c in own] != [c.get("name") for c in items]:
            items, key = own, f"{list_name}_{node.get('name')}"  # or_other adds 'other'
        if key not in self.lists:
            self.lists[key] = self.choice_list(list_name, items)
        return self.lists[key]

    # ---------------------------------------------------------------- expressions
    def known(self, scope: _Scope) -> set[str]:
        """The variables an expression of ``scope`` may use: the earlier ones of its table
        and those of the tables it is repeated in."""
        tables = {t.name: t for t in self.tables}
        names = set(scope.table.names)
        table = scope.table
        while table.name is not None:
            table = tables[table.parent]
            names.update(table.names)
        return names

    def expression(self, raw: Any, kind: str, scope: _Scope, row: int | None, name: str, *,
                   current: bool = False, choices: _List | None = None) -> str | None:
        if raw is None or not str(raw).strip():
            return None
        text = " ".join(str(raw).split())
        if scope.loop:
            text = text.replace("%(name)s", scope.loop["name"]).replace(
                "%(label)s", scope.loop["label"])
        text = _PARENT_PATH.sub(r"${\1}", text)
        where = self.at(row, name)
        try:
            expr = parse_expression(text, choice_filter=choices is not None)
        except ExpressionError as exc:
            self.notes.add(f"{kind} using {exc.feature}, outside the expression language: "
                           "dropped", where)
            return None
        unknown = sorted(expr.variables - self.known(scope))
        if unknown:
            self.notes.add(f"{kind} referring to a question the questionnaire does not hold "
                           "before it (metadata, a note, a later question, a question of a "
                           "repeat): dropped", f"{where}: {', '.join(unknown)}")
            return None
        if expr.uses_current and not current:
            self.notes.add(f"{kind} using '.' outside a constraint: dropped", where)
            return None
        if choices is not None:
            absent = sorted(expr.choice_columns - {"name"} - set(choices.columns))
            if absent:
                self.notes.add("choice_filter reading columns the choices sheet does not "
                               "have: dropped", f"{where}: {', '.join(absent)}")
                return None
            self.filter_columns.setdefault(choices.name, set()).update(
                expr.choice_columns - {"name"})
        return text

    # ---------------------------------------------------------------- walking
    def run(self) -> None:
        main = _Table(None, None, {}, None)
        self.tables.append(main)
        self.walk(self.survey.get("children", []), _Scope(main, None))

    def walk(self, children: Sequence[Mapping[str, Any]], scope: _Scope) -> None:
        for child in children:
            kind = str(child.get("type", ""))
            if kind == "group":
                self.group(child, scope)
            elif kind == "repeat":
                self.repeat(child, scope)
            elif kind == "loop":
                self.loop(child, scope)
            else:
                self.question(child, scope)

    def group_relevant(self, node: Mapping[str, Any], scope: _Scope, row: int | None,
                       what: str) -> tuple[tuple[str, ...], bool]:
        raw = (node.get("bind") or {}).get("relevant")
        relevant = self.expression(raw, f"{what} relevant", scope, row, str(node.get("name")))
        dropped = scope.dropped_relevant or (raw is not None and relevant is None)
        return (*scope.relevants, *([relevant] if relevant else [])), dropped

    def group(self, node: Mapping[str, Any], scope: _Scope) -> None:
        name = str(node.get("name") or "group")
        row = self.row_of(name)
        if name == "meta" and (node.get("control") or {}).get("bodyless"):
            for child in node.get("children", []):
                self.notes.add("form metadata (meta/instanceID ...): kept aside as paradata "
                               "by the readers", str(child.get("name")))
            return
        relevants, dropped = self.group_relevant(node, scope, row, "group")
        module = scope.module or name
        if scope.module is None and module not in scope.table.modules:
            scope.table.modules[module] = self.labels(node.get("label"), module,
                                                      f"group {module!r}")
        self.walk(node.get("children", []), _Scope(
            scope.table, module, relevants, dropped, scope.loop, (*scope.path, name)))

    def repeat(self, node: Mapping[str, Any], scope: _Scope) -> None:
        name = self.unique(str(node.get("name") or "repeat"), scope, None, "repeat")
        row = self.row_of(str(node.get("name")))
        relevants, dropped = self.group_relevant(node, scope, row, "repeat")
        count_raw = (node.get("control") or {}).get("jr:count")
        table = _Table(name, scope.table.name, self.labels(node.get("label"), name,
                       f"repeat {name!r}"), None)
        if count_raw is not None:
            table.count = self.expression(count_raw, "repeat_count", scope, row, name)
        self.tables.append(table)
        table.modules[name] = table.label
        self.notes.add("repeat groups imported as repeat tables (read them with "
                       "pc.read_repeat)", self.at(row, name))
        self.walk(node.get("children", []), _Scope(
            table, name, relevants, dropped, scope.loop, (*scope.path, name)))

    def loop(self, node: Mapping[str, Any], scope: _Scope) -> None:
        row = self.row_of(str(node.get("name")))
        for column in node.get("columns", []):
            code = str(column.get("name"))
            label = column.get("label")
            text = label if isinstance(label, str) else next(iter((label or {}).values()), code)
            self.walk(node.get("children", []), _Scope(
                scope.table, scope.module or str(node.get("name")), scope.relevants,
                scope.dropped_relevant, {"name": code, "label": str(text)},
                (*scope.path, str(node.get("name")), code)))
        self.notes.add("loops (begin loop over) expanded: one copy of their questions per "
                       "choice, named <choice>_<question>", self.at(row, str(node.get("name"))))

    def unique(self, name: str, scope: _Scope, row: int | None, what: str) -> str:
        """A valid column name, unique in the questionnaire (renamed and noted if not)."""
        wanted = name
        if scope.loop:
            wanted = f"{scope.loop['name']}_{name}"
        if not _NAME_RE.match(wanted):
            clean = re.sub(r"[^A-Za-z0-9_]", "_", wanted)
            clean = clean if _NAME_RE.match(clean) else f"q_{clean}"
            self.notes.add("names that are not column names here (letters, digits, _): "
                           "renamed", f"{self.at(row, name)} -> {clean}")
            wanted = clean
        if wanted in self.taken:
            groups = [p for p in scope.path if p]
            base = f"{groups[-1]}_{wanted}" if groups else wanted
            candidate, n = base, 2
            while candidate in self.taken:
                candidate, n = f"{base}_{n}", n + 1
            self.notes.add(f"{what} names used twice in different groups (allowed in "
                           "XLSForm): the later one renamed after its group",
                           f"{self.at(row, name)} -> {candidate}")
            wanted = candidate
        self.taken.add(wanted)
        return wanted

    # ---------------------------------------------------------------- questions
    def question(self, node: Mapping[str, Any], scope: _Scope) -> None:
        from pyxform.question_type_dictionary import QUESTION_TYPE_DICT

        raw_name = str(node.get("name") or "")
        kind = str(node.get("type", ""))
        row = self.row_of(raw_name)
        where = self.at(row, raw_name)
        info = QUESTION_TYPE_DICT.get(kind, {})
        bind = info.get("bind", {}) or {}
        preload = bind.get("jr:preload")
        if kind in _SKIPPED_TYPES or (kind == "calculate" and raw_name == "instanceID"):
            return
        if kind in _TIMING_TYPES or preload in ("timestamp", "date"):
            self.notes.add("metadata timing the interview (start, end, today): not "
                           "variables; the readers keep such columns aside as paradata", where)
            return
        name = self.unique(raw_name, scope, row, "question")
        entry: dict[str, Any] = {"name": name}
        fallback = name
        label = self.labels(node.get("label"), fallback, f"question {name!r}")
        if scope.loop:
            label = {k: v.replace("%(label)s", scope.loop["label"]).replace(
                "%(name)s", scope.loop["name"]) for k, v in label.items()}
        if preload == "property":
            entry.update(type="text", label=label, pii=True)
            self.pii.append(f"{name} (device or SIM metadata, row {row})")
            self.add(scope, entry, module="metadata")
            return
        choices = self.typed(node, kind, info, entry, where)
        if entry.get("type") is None:
            return
        entry["label"] = label
        self.logic(node, scope, row, name, entry, choices)
        self.flags(node, kind, bind.get("type"), row, name, label, entry, where)
        self.add(scope, entry)

    def typed(self, node: Mapping[str, Any], kind: str, info: Mapping[str, Any],
              entry: dict[str, Any], where: str) -> _List | None:
        """Set the variable's type (and codes); return its choice list, if any."""
        bind_type = (info.get("bind") or {}).get("type")
        tag = (info.get("control") or {}).get("tag")
        itemset = str(node.get("itemset") or "")
        if tag in ("select1", "select") and itemset and _FILE_LIST.search(itemset):
            entry["type"] = "text"
            self.notes.add("choices from a file (select_one_from_file ...): imported as text, "
                           "answers not checked against the file", where)
            return None
        if kind == "select one external":
            entry["type"] = "text"
            self.notes.add("external selects: imported as text", where)
            return None
        if tag in ("select1", "select"):
            choices = self.list_for(node)
            if choices is None:
                entry["type"] = "text"
                self.notes.add("selects without choices: imported as text", where)
                return None
            valid = [c for c in choices.codes if c not in choices.missing]
            if tag == "select":
                entry["type"] = "select_multiple"
            elif choices.code_type == "integer" and sorted(valid) == [0, 1]:
                entry["type"] = "binary"
            else:
                entry["type"] = "categorical"
            key = next(k for k, v in self.lists.items() if v is choices)
            self.used_lists[key] = choices.name
            entry["codes"] = key
            if choices.code_type == "text":
                entry["code_type"] = "text"
            if choices.missing:
                entry["missing"] = key
            return choices
        if kind == "calculate":
            calculation = " ".join(str((node.get("bind") or {}).get("calculate", "")).split())
            entry.update(type=_calculation_type(calculation), derived=True,
                         note=f"XLSForm calculation: {calculation}" if calculation
                         else "XLSForm calculation")
            self.notes.add("calculations: imported as derived variables (numeric when the "
                           "calculation is arithmetic, else text)", where)
            return None
        if kind == "range":
            entry.update(_range_entry(node.get("parameters")))
            return None
        if bind_type == "int":
            entry["type"] = "integer"
        elif bind_type == "decimal":
            entry["type"] = "numeric"
        elif bind_type == "date":
            entry["type"] = "date"
        else:
            entry["type"] = "text"
            noted = _TEXT_NOTED.get(str(bind_type))
            if noted and noted != "location":
                self.notes.add(f"{noted} questions: imported as text", where)
            elif bind_type is None and kind not in ("hidden", "acknowledge"):
                self.notes.add("question types pyxform knows but the questionnaire does not: "
                               "imported as text", f"{where}: {kind}")
        return None

    def logic(self, node: Mapping[str, Any], scope: _Scope, row: int | None, name: str,
              entry: dict[str, Any], choices: _List | None) -> None:
        bind = node.get("bind") or {}
        own_raw = bind.get("relevant")
        own = self.expression(own_raw, "relevant", scope, row, name)
        conditions = [*scope.relevants, *([own] if own else [])]
        if conditions:
            entry["relevant"] = conditions[0] if len(conditions) == 1 else " and ".join(
                f"({c})" for c in conditions)
        dropped = scope.dropped_relevant or (own_raw is not None and own is None)
        required = _flag(bind.get("required"))
        where = self.at(row, name)
        if required is None:
            self.notes.add("dynamic required (an expression): imported as not required",
                           f"{where}: {bind.get('required')}")
            required = False
        if required and dropped:
            required = False
            self.notes.add("questions inside a relevant that was dropped: imported as not "
                           "required (validation does not demand answers it cannot know "
                           "were asked)", where)
        if required and not entry.get("derived"):
            entry["required"] = True
        constraint = self.expression(bind.get("constraint"), "constraint", scope, row, name,
                                     current=True)
        if constraint:
            entry["constraint"] = constraint
            text = self.text_in_default(bind.get("jr:constraintMsg"))
            if text:
                entry["constraint_message"] = text
        if choices is not None and node.get("choice_filter"):
            kept = self.expression(node.get("choice_filter"), "choice_filter", scope, row, name,
                                   choices=choices)
            if kept:
                entry["choice_filter"] = kept

    def flags(self, node: Mapping[str, Any], kind: str, bind_type: str | None,
              row: int | None, name: str, label: Mapping[str, str], entry: dict[str, Any],
              where: str) -> None:
        cells = self.form.survey_columns.get(row or -1, {})
        for flag in ("pii", "sensitive"):
            value = _flag(cells.get(flag))
            if flag in cells and value is None:
                self.notes.add(f"{flag} cells that are neither yes nor no: ignored",
                               f"{where}: {cells[flag]}")
            elif value:
                entry[flag] = True
        reason = pii_reason(kind, name, label, bind_type)
        if "pii" in cells and _flag(cells.get("pii")) is False:
            entry.pop("pii", None)
        elif entry.get("pii"):
            self.pii.append(f"{name} (the form's pii column, row {row})")
        elif reason:
            entry["pii"] = True
            self.pii.append(f"{name} ({reason}, row {row})")
        role = cells.get("role")
        if role is not None:
            role = str(role).strip().lower()
            if role in (*ROLES, *DISCLOSURE_ROLES) and not entry.get("pii"):
                entry["role"] = role
            else:
                self.notes.add("role cells that are not a design or disclosure role (or on "
                               "personal data): ignored", f"{where}: {role}")

    def add(self, scope: _Scope, entry: dict[str, Any], module: str | None = None) -> None:
        module = module or scope.module or (scope.table.name or "main")
        if module == "metadata" and module not in scope.table.modules:
            scope.table.modules[module] = {}
        scope.table.entries.append((module, entry))

    # ---------------------------------------------------------------- assembling
    def assemble(self) -> dict[str, Any]:
        survey = self.survey
        data: dict[str, Any] = {"format": FORMAT, "id": str(survey.get("id_string") or "form")}
        if survey.get("version"):
            data["version"] = str(survey["version"])
        title = survey.get("title")
        if title:
            data["title"] = (self.labels(title, str(title), "the form title")
                             if isinstance(title, Mapping) else {self.languages[0]: str(title)})
        data["languages"] = list(self.languages)
        code_lists: dict[str, Any] = {}
        missing_sets: dict[str, Any] = {}
        choice_columns: dict[str, Any] = {}
        inferred: list[str] = []
        text_lists: list[str] = []
        for key in self.used_lists:
            lst = self.lists[key]
            code_lists[key] = {c: lst.labels[c] for c in lst.codes if c not in lst.missing}
            if lst.missing:
                missing_sets[key] = {c: lst.labels[c] for c in lst.missing}
            if lst.inferred:
                shown = "; ".join(
                    f"{c} {next(iter(lst.labels[c].values()), '')}".strip()
                    + (f" (choices row {lst.rows[c]})" if lst.rows.get(c) else "")
                    for c in lst.inferred)
                inferred.append(f"list {key!r}: {shown}")
            if lst.code_type == "text":
                numeric = [c for c in lst.codes if re.fullmatch(r"-?\d+(\.\d+)?", str(c))]
                text_lists.append(f"{key!r}" + (f" (numbers kept as text: "
                                                 f"{', '.join(map(str, numeric[:6]))})"
                                                 if numeric else ""))
            columns = sorted(self.filter_columns.get(lst.name, set()))
            if columns:
                choice_columns[key] = {col: {c: lst.columns[col].get(c) for c in lst.codes
                                             if lst.columns[col].get(c) is not None}
                                       for col in columns}
        if code_lists:
            data["code_lists"] = code_lists
        if missing_sets:
            data["missing_sets"] = missing_sets
        if choice_columns:
            data["choice_columns"] = choice_columns
        main = self.tables[0]
        data.update(_table_body(main))
        repeats = []
        for table in self.tables[1:]:
            block: dict[str, Any] = {"name": table.name, "label": table.label}
            if table.parent is not None:
                block["parent"] = table.parent
            if table.count:
                block["count"] = table.count
            if table.entries:
                block.update(_table_body(table))
                repeats.append(block)
            else:
                self.notes.add("repeats holding no question with data: left out", table.name
                               or "")
        if repeats:
            data["repeats"] = repeats
        if inferred:
            self.notes.add("missing codes inferred from the choice names and labels "
                           "(don't know, refused, prefer not to say, -99, 98/99 beside a "
                           "short scale ...): confirm them, or move a code back from "
                           "missing_sets to code_lists", "")
            self.notes.groups[self.notes.order[-1]].extend(inferred)
        if self.pii:
            self.notes.add("personal data flagged pii: true (dropped or hashed on reading; "
                           "write pii: false in the YAML, or no in the form's pii column, "
                           "where it is not)", "")
            self.notes.groups[self.notes.order[-1]].extend(self.pii)
        if text_lists:
            self.notes.add("code types: lists with text codes (code_type: text; the others "
                           "have integer codes)", "")
            self.notes.groups[self.notes.order[-1]].extend(text_lists)
        if self.filled:
            self.notes.add("labels with no text in some language, filled from another "
                           "language (or the name)", "")
            self.notes.groups[self.notes.order[-1]].extend(self.filled)
        return data


def _table_body(table: _Table) -> dict[str, Any]:
    """``modules`` holding their variables, or a flat ``variables`` list when a module's
    questions are not together in the form."""
    order = list(dict.fromkeys(m for m, _ in table.entries))
    positions = {m: [i for i, (x, _) in enumerate(table.entries) if x == m] for m in order}
    contiguous = all(p[-1] - p[0] + 1 == len(p) for p in positions.values())
    modules = []
    for mod in order:
        block: dict[str, Any] = {"name": mod}
        label = table.modules.get(mod)
        if label:
            block["label"] = label
        if contiguous:
            block["variables"] = [e for m, e in table.entries if m == mod]
        modules.append(block)
    if contiguous:
        return {"modules": modules}
    return {"modules": modules, "variables": [{**e, "module": m} for m, e in table.entries]}


def _flag(value: Any) -> bool | None:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _range_entry(parameters: Any) -> dict[str, Any]:
    params = parameters if isinstance(parameters, Mapping) else {}
    try:
        start = float(params.get("start", 1))
        end = float(params.get("end", 10))
        step = float(params.get("step", 1))
    except (TypeError, ValueError):
        return {"type": "numeric"}
    whole = all(float(x).is_integer() for x in (start, end, step))
    low, high = min(start, end), max(start, end)
    return {"type": "integer" if whole else "numeric",
            "range": {"min": int(low) if whole else low, "max": int(high) if whole else high}}


def _calculation_type(calculation: str) -> str:
    """numeric when the calculation is arithmetic in the expression language."""
    if not calculation:
        return "text"
    try:
        expr = parse_expression(_PARENT_PATH.sub(r"${\1}", calculation))
    except ExpressionError:
        return "text"
    root = type(expr.root).__name__
    if root in ("Number", "Negate"):
        return "numeric"
    if root == "BinOp":
        return "numeric" if expr.root.op in ("+", "-", "*", "div", "mod") else "text"  # type: ignore[union-attr]
    if root == "Call":
        numeric = {"count-selected", "number", "int", "round", "abs", "pow", "min", "max",
                   "string-length"}
        return "numeric" if expr.root.name in numeric else "text"  # type: ignore[union-attr]
    return "text"


def map_survey(form: ParsedForm) -> tuple[dict[str, Any], list[str]]:
    """The questionnaire structure of a parsed form, and the notes of the import."""
    mapper = _Mapper(form)
    mapper.run()
    data = mapper.assemble()
    notes = mapper.notes.lines()
    if form.warnings:
        notes.append("pyxform's warnings: " + " | ".join(form.warnings[:10])
                     + (f" (and {len(form.warnings) - 10} more)" if len(form.warnings) > 10
                        else ""))
    return data, notes
