"""Turn an XLSForm (the Excel form of KoboToolbox / ODK) into a perception questionnaire.

An XLSForm has a ``survey`` sheet (one row per question: ``type``, ``name``,
``label::<language>``, ``relevant``, ``constraint``, ``required`` ...), a ``choices``
sheet (``list_name``, ``name``, ``label::<language>``) and an optional ``settings``
sheet (``form_id``, ``form_title``, ``version``, ``default_language``).
:func:`convert_xlsform` maps it onto the YAML questionnaire format
(``docs/questionnaire_format.md``); :func:`questionnaire_from_xlsform` returns the loaded
:class:`~perception.Questionnaire` and :func:`xlsform_to_yaml` the YAML text, headed by
notes on everything that needs a human look.

Mapping
-------
============================  ==================================================
XLSForm                        questionnaire
============================  ==================================================
``select_one L``               ``categorical`` with ``codes: L`` (``binary`` when
                               the valid codes are exactly 0 and 1)
``select_multiple L``          ``select_multiple`` with ``codes: L``
``integer`` / ``decimal``      ``integer`` / ``numeric``
``range`` (start, end)         ``integer`` or ``numeric`` with ``range``
``text``, ``barcode``,         ``text``
``hidden``, ``acknowledge``
``date``                       ``date`` (``datetime``, ``time``: ``text``, noted)
``geopoint``/``geotrace``/     ``text`` with ``pii: true`` (locations identify
``geoshape``; ``image``,       people; pictures and recordings too)
``audio``, ``video``, ``file``
``calculate``                  ``derived: true``, not required; ``numeric`` when the
                               calculation is arithmetic the package can parse,
                               otherwise ``text`` (noted)
``begin group`` / ``end``      modules: the outermost group is the module of its
                               questions; a group's ``relevant`` is joined with
                               ``and`` to the ``relevant`` of every question in it
``begin repeat``               skipped, with its questions (repeats are exported as
                               separate tables), noted
``note``; metadata (``start``, skipped: notes hold no data; metadata columns are
``end``, ``today``,            kept aside by :func:`perception.waves.files.read_table`
``deviceid`` ...)
============================  ==================================================

- ``label::French (fr)`` / ``label::fr`` / ``label::French`` give language ``fr``; a
  plain ``label`` column belongs to the ``default_language`` of the settings (or fills
  in a translation that is missing, noted). Every label needs every language: a
  missing translation is filled from another language and noted.
- ``required``: ``yes``/``true``/``true()``/``1``. A dynamic ``required`` (an
  expression) becomes ``false`` (noted). ``constraint_message`` keeps the default
  language's text.
- ``relevant`` and ``constraint`` are kept when they are in the package's safe
  expression language (:mod:`perception.questionnaire.expressions`) and refer only to earlier questions
  that are kept; otherwise they are dropped and noted -- a dropped ``relevant`` also
  makes the question not required, so validation does not demand skipped answers.
- Extra columns perception understands (ignored by ODK tools): in ``choices``,
  ``missing`` (``yes`` marks a missing-value code such as 8 "refused", 9 "don't know");
  in ``survey``, ``pii`` and ``sensitive`` (``yes``/``no``) and ``role`` (``id``,
  ``wave``, ``stratum``, ``psu``, ``weight``, ``treated``). Choices whose label looks
  like a missing value but are not marked are noted.
- Anything that cannot be represented (an unknown type, a name that is not a valid
  column name, a duplicate name or code, an undefined choice list ...) is an error; all
  of them are reported at once in one :class:`~perception.QuestionnaireError` naming
  the sheet, the row and the fix.

Examples
--------
A form exported from KoboToolbox or ODK (a file of your own, hence not run here):

>>> q = questionnaire_from_xlsform("form.xlsx")           # doctest: +SKIP
>>> print(xlsform_to_yaml("form.xlsx"))                   # doctest: +SKIP
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import QuestionnaireError
from ..filecheck import check_file, open_workbook, sheet_rows
from .expressions import BinOp, Call, Negate, Number, parse_expression
from .model import FORMAT, ROLES, Questionnaire

__all__ = [
    "XLSFormConversion",
    "convert_xlsform",
    "questionnaire_from_xlsform",
    "xlsform_to_yaml",
    "MAX_XLSFORM_BYTES",
]

#: largest XLSForm accepted by default (bytes, file and uncompressed content)
MAX_XLSFORM_BYTES = 20_000_000

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT_RE = re.compile(r"^-?\d+$")
_TRUE = frozenset({"yes", "true", "true()", "1", "y", "oui"})
_FALSE = frozenset({"", "no", "false", "false()", "0", "n", "non"})

_SIMPLE_TYPES: dict[str, str] = {
    "integer": "integer",
    "int": "integer",
    "decimal": "numeric",
    "text": "text",
    "string": "text",
    "barcode": "text",
    "hidden": "text",
    "acknowledge": "text",
    "date": "date",
}
_TEXT_NOTED = {"datetime": "date and time", "time": "time of day", "dateTime": "date and time"}
_PII_TYPES = frozenset(
    {"geopoint", "geotrace", "geoshape", "image", "audio", "video", "file", "background-audio",
     "signature"}
)
_METADATA_TYPES = frozenset(
    {"start", "end", "today", "deviceid", "subscriberid", "simserial", "phonenumber",
     "username", "email", "audit", "start-geopoint", "instanceid", "instancename"}
)
_SKIPPED_TYPES = frozenset({"note", "trigger", "xml-external", "csv-external", "image-map"})
_LANGUAGE_CODES = {
    "french": "fr", "francais": "fr", "français": "fr", "english": "en", "anglais": "en",
    "bambara": "bm", "bamanankan": "bm", "fulfulde": "ff", "fula": "ff", "peul": "ff",
    "pulaar": "ff", "songhay": "ses", "sonrhai": "ses", "dogon": "dgo", "arabic": "ar",
    "arabe": "ar", "tamasheq": "taq", "spanish": "es", "portuguese": "pt", "default": "en",
}
# choice labels that look like missing-value codes (accents, case and punctuation ignored)
_MISSING_LABEL = re.compile(
    r"\b(ne sait pas|nsp|refus|refuse|refused|don t know|dont know|dk|not applicable|"
    r"non applicable|sans reponse|no answer|prefer not|pas de reponse|ne veut pas)\b"
)


@dataclass(frozen=True)
class XLSFormConversion:
    """The result of :func:`convert_xlsform`.

    Attributes
    ----------
    data : dict
        The questionnaire as the YAML structure (``format``, ``id``, ``languages``,
        ``code_lists``, ``missing_sets``, ``modules`` ...).
    notes : tuple of str
        Everything skipped, guessed or changed, each naming the sheet row: review them.
    source : str
        The XLSForm file.
    """

    data: dict[str, Any]
    notes: tuple[str, ...] = ()
    source: str = "<xlsform>"

    def questionnaire(self) -> Questionnaire:
        """Load the converted structure as a :class:`~perception.Questionnaire`."""
        return Questionnaire.from_dict(self.data, source=f"{self.source} (converted XLSForm)")

    def to_yaml(self) -> str:
        """The questionnaire as YAML text, headed by the notes as comments."""
        head = [
            f"# Converted from the XLSForm {Path(self.source).name} by `perception "
            "questionnaire import`.",
            "# Format: docs/questionnaire_format.md. Review the notes below, then the types",
            "# (ordinal scales are imported as categorical), missing codes, pii and roles.",
        ]
        if self.notes:
            head.append("#")
            head.append(f"# Notes ({len(self.notes)}):")
            for note in self.notes:
                head.extend(_comment_lines(note))
        body = yaml.dump(
            _flowed(self.data, self.data.get("languages", [])), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100,
            default_flow_style=False,
        )
        return "\n".join(head) + "\n\n" + body


def _comment_lines(note: str) -> list[str]:
    words = note.split()
    lines, current = [], "#  -"
    for word in words:
        if len(current) + 1 + len(word) > 96 and current not in ("#  -", "#   "):
            lines.append(current)
            current = "#   "
        current += " " + word
    lines.append(current)
    return lines


class _FlowMap(dict):
    """A small mapping (labels) written on one line."""


class _Dumper(yaml.SafeDumper):
    """Safe dumper: no aliases (the loader refuses them), labels on one line."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(
    _FlowMap, lambda dumper, data: dumper.represent_mapping(
        "tag:yaml.org,2002:map", data.items(), flow_style=True)
)


def _flowed(data: Any, languages: Sequence[str]) -> Any:
    """Mark label mappings (language -> text) to be written on one line."""
    if isinstance(data, Mapping):
        if data and all(k in languages and isinstance(v, str) for k, v in data.items()):
            return _FlowMap(data)
        return {k: _flowed(v, languages) for k, v in data.items()}
    if isinstance(data, list):
        return [_flowed(v, languages) for v in data]
    return data


# ----------------------------------------------------------------- reading sheets --


@dataclass
class _Sheet:
    name: str
    rows: list[tuple[int, dict[str, Any]]]  # (excel row number, {column: value})
    columns: list[str]


def _column_key(header: Any) -> str:
    text = str(header).strip()
    if "::" in text:
        base, lang = text.split("::", 1)
        return f"{base.strip().lower()}::{lang.strip()}"
    if ":" in text and text.split(":", 1)[0].strip().lower() in ("label", "hint", "constraint_message"):
        base, lang = text.split(":", 1)  # older single-colon form
        return f"{base.strip().lower()}::{lang.strip()}"
    return text.lower()


def _read_sheets(path: Path, max_bytes: int) -> dict[str, _Sheet]:
    sheets: dict[str, _Sheet] = {}
    with open_workbook(path, max_bytes, QuestionnaireError) as workbook:
        for name in workbook.sheetnames:
            key = name.strip().lower()
            if key not in ("survey", "choices", "settings"):
                continue
            _, rows = sheet_rows(path, workbook, name, QuestionnaireError)
            if not rows:
                sheets[key] = _Sheet(name, [], [])
                continue
            columns = [_column_key(h) if h is not None else "" for h in rows[0]]
            body = []
            for number, row in enumerate(rows[1:], start=2):
                record = {
                    col: (value.strip() if isinstance(value, str) else value)
                    for col, value in zip(columns, row, strict=False)
                    if col and value is not None and not (isinstance(value, str) and not value.strip())
                }
                if record:
                    body.append((number, record))
            sheets[key] = _Sheet(name, body, [c for c in columns if c])
    return sheets


def _language(text: str) -> tuple[str, str]:
    """'French (fr)' -> ('fr', 'French (fr)'); 'fr' -> ('fr', 'fr')."""
    text = text.strip()
    match = re.search(r"\(([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?)\)\s*$", text)
    if match:
        return match.group(1).lower().replace("-", "_"), text
    bare = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().strip()
    if re.fullmatch(r"[a-z]{2,3}", bare):
        return bare, text
    if bare in _LANGUAGE_CODES:
        return _LANGUAGE_CODES[bare], text
    return re.sub(r"[^a-z0-9]+", "_", bare).strip("_") or "default", text


def _flag(value: Any) -> bool | None:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = "1" if value == 1 else "0" if value == 0 else text
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _code(value: Any) -> int | str:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    return int(text) if _INT_RE.match(text) else text


def _normalised(text: str) -> str:
    bare = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in bare if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", bare).split())


# ----------------------------------------------------------------- the converter --


@dataclass
class _Choice:
    code: int | str
    labels: dict[str, str]
    missing: bool
    row: int


@dataclass
class _Converter:
    path: Path
    sheets: dict[str, _Sheet]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    default_language: str | None = None
    plain_language: str | None = None
    filled: dict[str, list[str]] = field(default_factory=dict)

    def where(self, sheet: str, row: int) -> str:
        return f"sheet {sheet!r}, row {row}"

    def fail(self, where: str, problem: str, fix: str) -> None:
        self.problems.append(f"{where}: {problem}. Fix: {fix}.")

    def note(self, where: str, text: str) -> None:
        self.notes.append(f"{where}: {text}")

    # -- languages and labels
    def find_languages(self) -> None:
        settings = self.sheets.get("settings")
        default = None
        if settings and settings.rows:
            raw = settings.rows[0][1].get("default_language")
            if raw:
                default = _language(str(raw))[0]
        found: list[str] = []
        has_plain = False
        for key in ("survey", "choices"):
            sheet = self.sheets.get(key)
            for column in sheet.columns if sheet else []:
                base, _, lang = column.partition("::")
                if base in ("label", "hint", "constraint_message") and lang:
                    code = _language(lang)[0]
                    if code not in found:
                        found.append(code)
                elif column == "label":
                    has_plain = True
        if default and default not in found and (has_plain or not found):
            found.insert(0, default)
        if not found:
            found = [default or "en"]
        if default in found:
            found.remove(default)
            found.insert(0, default)
        self.languages = found
        self.default_language = found[0]
        if has_plain:
            self.plain_language = default if default else (found[0] if len(found) == 1 else None)

    def texts(self, record: Mapping[str, Any], base: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for column, value in record.items():
            b, _, lang = column.partition("::")
            if b != base:
                continue
            text = str(value).strip()
            if not text:
                continue
            if lang:
                out.setdefault(_language(lang)[0], text)
            elif self.plain_language is not None:
                out.setdefault(self.plain_language, text)
        plain = record.get(base)
        if plain is not None and self.plain_language is None:
            out.setdefault("", str(plain).strip())
        return out

    def labels(self, record: Mapping[str, Any], what: str, fallback: str) -> dict[str, str]:
        """A label in every language, missing translations filled (and noted)."""
        texts = self.texts(record, "label")
        plain = texts.pop("", None)
        out: dict[str, str] = {}
        for lang in self.languages:
            if texts.get(lang):
                out[lang] = texts[lang]
        for lang in self.languages:
            if lang in out:
                continue
            source = plain or next((out[x] for x in self.languages if x in out), None)
            out[lang] = source or fallback
            self.filled.setdefault(lang, []).append(what)
        return out

    # -- choices
    def choice_lists(self) -> dict[str, list[_Choice]]:
        sheet = self.sheets.get("choices")
        lists: dict[str, list[_Choice]] = {}
        if sheet is None:
            return lists
        list_column = "list_name" if "list_name" in sheet.columns else "list name"
        for row, record in sheet.rows:
            where = self.where(sheet.name, row)
            list_name = record.get(list_column)
            name = record.get("name")
            if list_name is None or name is None:
                self.fail(where, "a choice needs a list_name and a name",
                          "fill both cells or delete the row")
                continue
            list_name = str(list_name).strip()
            code = _code(name)
            if isinstance(code, str) and (not code or re.search(r"\s", code)):
                self.fail(where, f"choice name {name!r} of list {list_name!r} is empty or has "
                          "spaces", "use a number or a single word")
                continue
            choices = lists.setdefault(list_name, [])
            if any(c.code == code for c in choices):
                self.fail(where, f"choice {code!r} appears twice in list {list_name!r}",
                          "keep one row per choice")
                continue
            missing_flag = _flag(record.get("missing"))
            if missing_flag is None:
                self.fail(where, f"missing must be yes or no, got {record.get('missing')!r}",
                          "write yes for a missing-value code, or leave the cell empty")
                missing_flag = False
            labels = self.labels(record, f"choice {code!r} of list {list_name!r}", str(code))
            choices.append(_Choice(code, labels, missing_flag, row))
        return lists

    # -- expressions
    def expression(self, text: Any, where: str, kind: str, known: Sequence[str],
                   allow_current: bool) -> str | None:
        if text is None:
            return None
        text = str(text).strip()
        if not text:
            return None
        try:
            expr = parse_expression(text)
        except QuestionnaireError as exc:
            reason = str(exc).splitlines()[0]
            self.note(where, f"{kind} {text!r} dropped: outside the safe expression language "
                      f"({reason})")
            return None
        unknown = sorted(v for v in expr.variables if v not in known)
        if unknown:
            self.note(where, f"{kind} {text!r} dropped: it refers to "
                      f"{', '.join(unknown)}, not an earlier question kept in the questionnaire")
            return None
        if expr.uses_current and not allow_current:
            self.note(where, f"{kind} {text!r} dropped: '.' only has a meaning in a constraint")
            return None
        return text

    # -- main
    def convert(self) -> dict[str, Any]:
        survey = self.sheets.get("survey")
        if survey is None:
            raise QuestionnaireError(
                f"{self.path}: not an XLSForm: no sheet named 'survey'. Fix: give the Excel "
                "form with its survey, choices and settings sheets."
            )
        for needed in ("type", "name"):
            if needed not in survey.columns:
                raise QuestionnaireError(
                    f"{self.path}: sheet {survey.name!r} has no {needed!r} column. Fix: add "
                    "the XLSForm columns type, name and label."
                )
        self.find_languages()
        lists = self.choice_lists()
        used_lists: dict[str, str] = {}  # list name -> "codes"/"both"
        variables: list[tuple[str, dict[str, Any]]] = []
        names: dict[str, int] = {}
        stack: list[dict[str, Any]] = []
        modules: dict[str, dict[str, str]] = {}
        skipped_meta: list[str] = []
        for row, record in survey.rows:
            where = self.where(survey.name, row)
            raw_type = str(record.get("type", "")).strip()
            if not raw_type:
                if record.get("name"):
                    self.fail(where, f"question {record.get('name')!r} has no type",
                              "fill the type cell")
                continue
            tokens = raw_type.split()
            head = tokens[0].lower()
            if head in ("select", "begin", "end") and len(tokens) > 1 and tokens[1].lower() in (
                "one", "multiple", "group", "repeat"
            ):
                head = f"{head}_{tokens[1].lower()}"
                tokens = [head, *tokens[2:]]
            name = record.get("name")
            name = None if name is None else str(name).strip()

            if head == "begin_group":
                relevant = self.expression(record.get("relevant"), where, "group relevant",
                                           [n for n in names], False)
                stack.append({"name": name or f"group_row{row}", "relevant": relevant,
                              "repeat": False, "row": row,
                              "label": self.texts(record, "label")})
                continue
            if head == "begin_repeat":
                stack.append({"name": name, "relevant": None, "repeat": True, "row": row})
                self.note(where, f"repeat group {name!r} skipped with its questions: repeats "
                          "are exported as separate tables (analyse them with their own "
                          "questionnaire)")
                continue
            if head in ("end_group", "end_repeat"):
                if not stack:
                    self.fail(where, f"{raw_type!r} without a matching begin",
                              "delete the row or add the begin row")
                else:
                    stack.pop()
                continue
            if any(g["repeat"] for g in stack):
                continue
            if head in _SKIPPED_TYPES:
                continue
            if head.lower() in _METADATA_TYPES:
                skipped_meta.append(name or head)
                continue
            if not name:
                self.fail(where, f"a {raw_type!r} question has no name", "fill the name cell")
                continue
            if not _NAME_RE.match(name):
                self.fail(where, f"name {name!r} is not a valid column name",
                          "use letters, digits and underscores, starting with a letter")
                continue
            if name in names:
                self.fail(where, f"name {name!r} already used on row {names[name]}",
                          "give every question a unique name")
                continue

            module = next((g["name"] for g in stack if not g["repeat"]), "main")
            if stack and module not in modules:
                modules[module] = stack[0].get("label", {})
            known = [e["name"] for _, e in variables]
            entry = self.variable(record, where, raw_type, head, tokens, name, lists,
                                  used_lists, known)
            if entry is None:
                continue
            group_relevant = [g["relevant"] for g in stack if g.get("relevant")]
            own = entry.pop("relevant", None)
            conditions = [*group_relevant, *([own] if own else [])]
            if conditions:
                entry["relevant"] = (
                    conditions[0] if len(conditions) == 1
                    else " and ".join(f"({c})" for c in conditions)
                )
            names[name] = row
            variables.append((module, entry))
        for group in stack:
            self.fail(self.where(survey.name, group["row"]),
                      f"group {group['name']!r} is never closed", "add an 'end group' row")
        if skipped_meta:
            self.notes.append(
                f"sheet {survey.name!r}: metadata question(s) {', '.join(skipped_meta)} not "
                "in the questionnaire: read_table keeps such columns aside as paradata"
            )
        for lang, whats in self.filled.items():
            shown = ", ".join(whats[:8]) + (f" (and {len(whats) - 8} more)" if len(whats) > 8 else "")
            self.notes.append(
                f"{len(whats)} label(s) had no {lang!r} text and were filled from another "
                f"language: {shown}"
            )
        if not variables and not self.problems:
            self.fail(f"sheet {survey.name!r}", "the form has no question with data",
                      "add questions (notes and groups hold no data)")
        if self.problems:
            listed = self.problems[:50]
            more = len(self.problems) - len(listed)
            raise QuestionnaireError(
                f"{self.path}: cannot convert the XLSForm ({len(self.problems)} problem"
                f"{'s' if len(self.problems) != 1 else ''}):\n  - " + "\n  - ".join(listed)
                + (f"\n  - ... and {more} more" if more else "")
            )
        return self.assemble(variables, modules, lists, used_lists)

    def variable(self, record, where, raw_type, head, tokens, name, lists, used_lists,
                 known) -> dict[str, Any] | None:
        entry: dict[str, Any] = {"name": name}
        label = self.labels(record, f"question {name!r}", name)
        derived = False
        if head in ("select_one", "select_multiple"):
            if len(tokens) < 2:
                self.fail(where, f"{raw_type!r} names no choice list",
                          f"write '{head} <list_name>'")
                return None
            list_name = tokens[1]
            if len(tokens) > 2 and tokens[2].lower() == "or_other":
                self.note(where, f"{name!r}: 'or_other' stores the answer 'other' and the text "
                          f"in {name}_other; add an explicit 'other' choice to {list_name!r} "
                          "(e.g. 96 Autre/Other) for these answers to validate")
            if list_name not in lists:
                self.fail(where, f"choice list {list_name!r} is not on the choices sheet",
                          "add its choices or correct the list name")
                return None
            choices = lists[list_name]
            valid = [c for c in choices if not c.missing]
            if not valid:
                self.fail(where, f"every choice of list {list_name!r} is marked missing",
                          "mark only refused/don't know choices as missing")
                return None
            if head == "select_one":
                kinds = {type(c.code) for c in choices}
                if len(kinds) > 1:
                    self.fail(where, f"the choices of list {list_name!r} mix numbers and text "
                              f"({', '.join(str(c.code) for c in choices)})",
                              "use only numeric or only text choice names")
                    return None
                binary = sorted(str(c.code) for c in valid) == ["0", "1"]
                entry["type"] = "binary" if binary else "categorical"
            else:
                entry["type"] = "select_multiple"
            entry["label"] = label
            entry["codes"] = list_name
            if any(c.missing for c in choices):
                entry["missing"] = list_name
            used_lists[list_name] = "used"
        elif head in ("select_one_from_file", "select_multiple_from_file"):
            entry["type"] = "text"
            entry["label"] = label
            self.note(where, f"{name!r}: choices from an external file are not checked "
                      "(imported as text)")
        elif head in _SIMPLE_TYPES:
            entry["type"] = _SIMPLE_TYPES[head]
            entry["label"] = label
        elif head in _TEXT_NOTED or head.lower() in _TEXT_NOTED:
            entry["type"] = "text"
            entry["label"] = label
            self.note(where, f"{name!r}: a {_TEXT_NOTED.get(head, head)} is imported as text")
        elif head.lower() in _PII_TYPES:
            entry["type"] = "text"
            entry["label"] = label
            entry["pii"] = True
        elif head == "range":
            params = _parameters(record.get("parameters"))
            try:
                start = float(params.get("start", 1))
                end = float(params.get("end", 10))
                step = float(params.get("step", 1))
            except ValueError:
                self.fail(where, f"range parameters {record.get('parameters')!r} are not numbers",
                          "write e.g. start=0 end=10 step=1")
                return None
            whole = all(float(x).is_integer() for x in (start, end, step))
            entry["type"] = "integer" if whole else "numeric"
            entry["label"] = label
            entry["range"] = {"min": int(start) if whole else start,
                              "max": int(end) if whole else end}
            if start > end:
                entry["range"] = {"min": entry["range"]["max"], "max": entry["range"]["min"]}
        elif head == "calculate":
            derived = True
            calculation = str(record.get("calculation", "")).strip()
            entry["type"] = "numeric" if _is_arithmetic(calculation) else "text"
            entry["label"] = label
            entry["derived"] = True
            entry["note"] = f"XLSForm calculation: {calculation}" if calculation else "XLSForm calculation"
            if entry["type"] == "text":
                self.note(where, f"{name!r}: calculation {calculation!r} imported as text "
                          "(change the type if it is a number)")
        else:
            self.fail(where, f"unknown question type {raw_type!r}",
                      "use an XLSForm type (select_one, select_multiple, integer, decimal, "
                      "text, date, geopoint, calculate, begin group, end group, note ...)")
            return None

        required = _flag(record.get("required"))
        if required is None:
            self.note(where, f"{name!r}: dynamic required {record.get('required')!r} imported "
                      "as not required")
            required = False
        relevant_text = record.get("relevant")
        relevant = self.expression(relevant_text, where, "relevant", known, False)
        if relevant_text and relevant is None and required:
            required = False
            self.note(where, f"{name!r}: not required, because its relevant was dropped")
        constraint = self.expression(record.get("constraint"), where, "constraint",
                                     [*known, name], True)
        if required and not derived:
            entry["required"] = True
        if relevant:
            entry["relevant"] = relevant
        if constraint:
            entry["constraint"] = constraint
            messages = self.texts(record, "constraint_message")
            message = messages.get(self.default_language or "") or messages.get("") or next(
                iter(messages.values()), None)
            if message:
                entry["constraint_message"] = message
        for flag in ("pii", "sensitive"):
            if flag in record:
                value = _flag(record[flag])
                if value is None:
                    self.fail(where, f"{flag} must be yes or no, got {record[flag]!r}",
                              f"write yes or no in the {flag} column")
                elif value:
                    entry[flag] = True
        role = record.get("role")
        if role is not None:
            role = str(role).strip().lower()
            if role not in ROLES:
                self.fail(where, f"unknown role {role!r}", f"use one of {', '.join(ROLES)}")
            else:
                entry["role"] = role
        if not entry.get("pii") and re.search(
            r"(^|_)(nom|name|phone|tel|telephone|gps|lat|lon|latitude|longitude|adresse|address)(_|$)",
            name.lower(),
        ):
            self.note(where, f"{name!r} looks like personal data: mark it pii: yes if it "
                      "identifies a person")
        return entry

    def assemble(self, variables, modules, lists, used_lists) -> dict[str, Any]:
        settings = self.sheets.get("settings")
        options = settings.rows[0][1] if settings and settings.rows else {}
        form_id = str(options.get("form_id") or self.path.stem).strip()
        data: dict[str, Any] = {"format": FORMAT, "id": form_id}
        if options.get("version") is not None:
            data["version"] = str(options["version"]).strip()
        titles = self.texts(options, "form_title")
        title = {lang: t for lang, t in titles.items() if lang in self.languages}
        default = self.default_language  # set by find_languages
        if "" in titles and default is not None and default not in title:
            title[default] = titles[""]
        if title:
            data["title"] = title
        data["languages"] = list(self.languages)
        code_lists: dict[str, dict[Any, dict[str, str]]] = {}
        missing_sets: dict[str, dict[Any, dict[str, str]]] = {}
        for list_name in used_lists:
            for choice in lists[list_name]:
                target = missing_sets if choice.missing else code_lists
                target.setdefault(list_name, {})[choice.code] = choice.labels
                if not choice.missing and _MISSING_LABEL.search(
                    _normalised(" ".join(choice.labels.values()))
                ):
                    self.notes.append(
                        f"sheet 'choices', row {choice.row}: choice {choice.code!r} of list "
                        f"{list_name!r} ({' / '.join(choice.labels.values())}) looks like a "
                        "missing-value code: mark it missing: yes (choices column 'missing') "
                        "so that it is not counted as an answer"
                    )
        if code_lists:
            data["code_lists"] = code_lists
        if missing_sets:
            data["missing_sets"] = missing_sets
        order = list(dict.fromkeys(m for m, _ in variables))
        contiguous = all(
            [m for m, _ in variables].count(mod) == (
                max(i for i, (m, _) in enumerate(variables) if m == mod)
                - min(i for i, (m, _) in enumerate(variables) if m == mod) + 1
            )
            for mod in order
        )
        if contiguous:
            data["modules"] = []
            for mod in order:
                block: dict[str, Any] = {"name": mod}
                label = {k: v for k, v in modules.get(mod, {}).items() if k in self.languages}
                if label:
                    block["label"] = label
                block["variables"] = [e for m, e in variables if m == mod]
                data["modules"].append(block)
        else:
            data["modules"] = [
                {"name": mod, **({"label": lab} if (lab := {k: v for k, v in modules.get(mod, {}).items() if k in self.languages}) else {})}
                for mod in order
            ]
            data["variables"] = [{**e, "module": m} for m, e in variables]
        return data


def _parameters(text: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in re.split(r"[\s;,]+", str(text or "").strip()):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip().lower()] = value.strip()
    return out


def _is_arithmetic(calculation: str) -> bool:
    """Whether a calculation is arithmetic in the package's expression language."""
    if not calculation:
        return False
    try:
        root = parse_expression(calculation).root
    except QuestionnaireError:
        return False
    if isinstance(root, Number | Negate):
        return True
    if isinstance(root, BinOp):
        return root.op in ("+", "-", "*", "div", "mod")
    if isinstance(root, Call):
        return root.name == "count-selected"
    return False


# ------------------------------------------------------------------------ public --


def convert_xlsform(
    path: str | Path, *, max_bytes: int = MAX_XLSFORM_BYTES
) -> XLSFormConversion:
    """Convert an XLSForm into the questionnaire structure, with notes to review.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` form (sheets ``survey``, ``choices``, ``settings``).
    max_bytes : int
        Largest form accepted (file and uncompressed content).

    Returns
    -------
    XLSFormConversion
        ``.data`` (the YAML structure), ``.notes``, ``.to_yaml()``,
        ``.questionnaire()``.

    Raises
    ------
    QuestionnaireError
        If the file is not a readable XLSForm, or lists every problem that prevents the
        conversion (sheet, row, fix).

    Examples
    --------
    >>> conversion = convert_xlsform("form.xlsx")          # doctest: +SKIP
    >>> conversion.notes                                    # doctest: +SKIP

    Notes
    -----
    No R equivalent in ``survey``; R users read XLSForms with ``readxl`` and build
    labels by hand.
    """
    path = Path(path)
    check_file(path, max_bytes, "an XLSForm (.xlsx)", QuestionnaireError)
    if path.suffix.lower() != ".xlsx":
        raise QuestionnaireError(
            f"{path}: an XLSForm must be an .xlsx workbook, not {path.suffix or 'a file without extension'!r}. "
            "Fix: save the form as .xlsx (old .xls forms: open and save as .xlsx)."
        )
    sheets = _read_sheets(path, max_bytes)
    converter = _Converter(path, sheets)
    data = converter.convert()
    return XLSFormConversion(data=data, notes=tuple(converter.notes), source=str(path))


def xlsform_to_yaml(path: str | Path, *, max_bytes: int = MAX_XLSFORM_BYTES) -> str:
    """The YAML questionnaire text of an XLSForm, headed by the notes to review.

    Examples
    --------
    >>> text = xlsform_to_yaml("form.xlsx")                  # doctest: +SKIP
    """
    return convert_xlsform(path, max_bytes=max_bytes).to_yaml()


def questionnaire_from_xlsform(
    path: str | Path, *, max_bytes: int = MAX_XLSFORM_BYTES
) -> Questionnaire:
    """Read an XLSForm as a :class:`~perception.Questionnaire`.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` form.
    max_bytes : int
        Largest form accepted.

    Returns
    -------
    Questionnaire
        Checked like a YAML questionnaire. Review ``convert_xlsform(path).notes``
        (or the head of ``perception questionnaire import``'s YAML) for what the
        conversion skipped or guessed.

    Examples
    --------
    >>> q = questionnaire_from_xlsform("form.xlsx")          # doctest: +SKIP
    >>> q.variables[["name", "type", "label_fr"]]            # doctest: +SKIP

    Notes
    -----
    No R equivalent in ``survey``.
    """
    return convert_xlsform(path, max_bytes=max_bytes).questionnaire()
