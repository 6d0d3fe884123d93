"""Parsing an XLSForm with pyxform, the reference implementation of the XLSForm standard
(maintained by ODK): the form as pyxform understands it, with the sheet rows of its
questions and choices.

pyxform reads ``.xls`` and ``.xlsx`` forms, knows every type alias (``gps``, ``photo``,
``imei``, ``select one from X``, ``begin loop over X`` ...), the translation column
forms (``label::French (fr)``, ``label:French``), ``bind::`` columns and legacy syntax.
:func:`parse_xlsform` runs its conversion (the steps of ``pyxform.convert``: the workbook
read into sheets, ``workbook_to_json``, the survey built and written as an XForm, without
the Java validator), so that a form pyxform refuses is refused here with pyxform's own
message, and returns pyxform's parsed survey (the JSON form of ``workbook_to_json``).

An ``.xlsx`` form is read by this module, not by pyxform's reader: pyxform reads in
openpyxl's read-only mode, trusting the size each sheet declares, and reads nothing of a
sheet that declares ``A1`` (R's writers do). The cells are read as
:mod:`perception.filecheck` reads any workbook, and put into the structure pyxform's own
reader gives, with its cell and header rules.

Examples
--------
>>> import openpyxl, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "form.xlsx"
>>> book = openpyxl.Workbook(); sheet = book.active; sheet.title = "survey"
>>> sheet.append(["type", "name", "label"]); sheet.append(["integer", "age", "Age"])
>>> book.save(path)
>>> parsed = parse_xlsform(path, 10_000_000)
>>> [c["name"] for c in parsed.survey["children"]][:1], parsed.survey_rows["age"]
(['age'], [2])
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import QuestionnaireError
from ..filecheck import check_file, describe_kind, open_workbook, sniff

__all__ = ["ParsedForm", "parse_xlsform", "PYXFORM_VERSION"]

#: the pyxform version the mapping is written for (pinned in pyproject.toml)
PYXFORM_VERSION = "4.5.0"
_ROW_IN_MESSAGE = re.compile(r"\[row : ?(\d+)\]")


@dataclass
class ParsedForm:
    """An XLSForm as pyxform parsed it.

    Attributes
    ----------
    survey : dict
        pyxform's JSON form of the survey (``workbook_to_json``): ``children`` (questions,
        groups, repeats, loops), ``choices``, ``title``, ``id_string``, ``version``,
        ``default_language``.
    survey_rows : dict
        Question name -> the sheet rows that hold it (in order).
    choice_rows : dict
        (list name, choice name) -> the sheet row.
    survey_columns : dict
        Sheet row -> the raw cells of that survey row (for the columns pyxform does not
        carry: ``pii``, ``sensitive``, ``role``).
    warnings : list of str
        pyxform's warnings.
    """

    survey: dict[str, Any]
    survey_rows: dict[str, list[int]] = field(default_factory=dict)
    choice_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    survey_columns: dict[int, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class _Cell:
    """What pyxform's row reader expects of a cell: its value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _workbook_dict(path: Path, max_bytes: int) -> dict[str, Any]:
    """The sheets of an XLSX form, as pyxform's own xlsx reader structures them."""
    from pyxform import constants
    from pyxform.xls2json_backends import (
        get_excel_column_headers,
        get_excel_rows,
        is_empty,
        xlsx_value_to_str,
    )

    from ..filecheck import sheet_rows

    def clean(cell: _Cell, row_n: int, key: str) -> str | None:
        value = cell.value.strip() if isinstance(cell.value, str) else cell.value
        return None if is_empty(value) else xlsx_value_to_str(value)

    book: dict[str, Any] = {"sheet_names": []}
    with open_workbook(path, max_bytes, QuestionnaireError) as workbook:
        names = list(workbook.sheetnames)
        for name in names:
            book["sheet_names"].append(name)
            key = name.lower()
            if key not in constants.SUPPORTED_SHEET_NAMES:
                if len(names) != 1:
                    continue
                key = constants.SURVEY
            _, rows = sheet_rows(path, workbook, name, QuestionnaireError)
            headers = get_excel_column_headers(rows[0] if rows else [])
            cells: Iterator[tuple[_Cell, ...]] = (
                tuple(_Cell(v) for v in row[: len(headers)]) for row in rows[1:]
            )
            book[key] = get_excel_rows(headers=headers, rows=cells, cell_func=clean)
            listed = [h for h in headers if h is not None]
            book[f"{key}_header"] = [{str(h): None for h in listed}] if listed else []
    return book


def _refusal(path: Path, exc: Exception) -> QuestionnaireError:
    message = " ".join(str(exc).split())
    rows = _ROW_IN_MESSAGE.findall(message)
    where = f" (sheet row{'s' if len(rows) > 1 else ''} {', '.join(rows)})" if rows else ""
    return QuestionnaireError(
        f"{path}: pyxform {PYXFORM_VERSION}, the XLSForm reference, refuses the form"
        f"{where}: {message[:1500].rstrip('.')}. Fix: correct the form as pyxform says (the rules "
        "are at https://xlsform.org), then import it again."
    )


def _row_maps(book: Any) -> tuple[dict[str, list[int]], dict[tuple[str, str], int],
                                  dict[int, dict[str, str]]]:
    survey_rows: dict[str, list[int]] = {}
    columns: dict[int, dict[str, str]] = {}
    for i, row in enumerate(book.survey or []):
        number = i + 2  # pyxform keeps empty rows: list position + header row + 1
        columns[number] = dict(row)
        name = row.get("name")
        if name:
            survey_rows.setdefault(str(name).strip(), []).append(number)
    choice_rows: dict[tuple[str, str], int] = {}
    for i, row in enumerate(book.choices or []):
        list_name = row.get("list_name", row.get("list name"))
        if list_name and row.get("name") is not None:
            choice_rows.setdefault((str(list_name).strip(), str(row["name"]).strip()), i + 2)
    return survey_rows, choice_rows, columns


def parse_xlsform(path: Path, max_bytes: int) -> ParsedForm:
    """Parse an ``.xlsx``/``.xls`` XLSForm with pyxform (see the module docstring).

    Raises
    ------
    QuestionnaireError
        The file is missing, too large, not a workbook, or pyxform refuses the form
        (with pyxform's message and the sheet rows it names).
    """
    from pyxform.builder import create_survey_element_from_dict
    from pyxform.errors import PyXFormError
    from pyxform.xls2json import workbook_to_json
    from pyxform.xls2json_backends import get_xlsform

    check_file(path, max_bytes, "an XLSForm (.xlsx or .xls)", QuestionnaireError)
    with path.open("rb") as handle:
        kind = sniff(handle.read(8192))
    if kind not in ("zip", "xls"):
        raise QuestionnaireError(
            f"{path}: not an XLSForm workbook: its content is {describe_kind(kind)}. Fix: "
            "give the form as an Excel workbook (.xlsx or .xls) with a survey sheet."
        )
    warnings: list[str] = []
    try:
        if kind == "zip":
            book = get_xlsform(_workbook_dict(path, max_bytes))
            book.fallback_form_name = path.stem
        else:
            book = get_xlsform(str(path))
        survey_rows, choice_rows, columns = _row_maps(book)
        survey = workbook_to_json(
            workbook_dict=book, form_name=None, fallback_form_name=path.stem,
            default_language=None, warnings=warnings,
        )
        built = create_survey_element_from_dict(survey)
        built.to_xml(validate=False, warnings=warnings)
    except QuestionnaireError:
        raise
    except PyXFormError as exc:
        raise _refusal(path, exc) from None
    except Exception as exc:  # pyxform's readers raise what xlrd/openpyxl raise
        raise QuestionnaireError(
            f"{path}: unreadable XLSForm ({type(exc).__name__}: {str(exc)[:300]}). Fix: open "
            "the form in Excel or LibreOffice, save it again as .xlsx, and import it again."
        ) from None
    return ParsedForm(survey, survey_rows, choice_rows, columns,
                      list(dict.fromkeys(" ".join(w.split()) for w in warnings)))
