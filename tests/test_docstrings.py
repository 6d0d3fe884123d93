"""Every public docstring follows the numpy layout, and agrees with its signature.

- ``name : type`` on one line, the description indented below it: a line such as
  ``na_rm : leave out rows with a missing value`` (prose where the type goes) fails;
- every parameter of the signature is documented, in order, and no other (numpydoc's
  PR01-PR03), each with a type and a description (PR04, PR07), types written with
  Python's names (PR06: ``bool``, not ``boolean``), none ending with a period (PR05);
- a *Returns* section for every function that returns something, its first line a type
  with the description indented below (RT01-RT03);
- a result class documents each of its fields under *Attributes* (``name : type``), and
  documents no attribute it does not have;
- every public function has an Example (run by ``pytest --doctest-modules perception``).

"Public" is every name of ``perception.__all__``, the public methods of its classes,
and the functions of the namespaces it exports (``pc.datasets``).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
from collections.abc import Iterator

import pytest
from numpydoc.validate import validate

import perception as pc

#: numpydoc's checks that concern what a docstring says about the signature and the
#: layout of its sections (its style checks, such as a capital letter at the start of
#: every description, are not the package's habits)
CHECKS = {"GL08", "PR01", "PR02", "PR03", "PR04", "PR05", "PR06", "PR07", "PR10",
          "RT01", "RT02", "RT03"}
#: classes users build themselves: their *Parameters* are checked against ``__init__``;
#: the others are results, whose fields are checked under *Attributes*
CONSTRUCTED = {"SurveyDesign", "ReplicateDesign"}

ITEM_SECTIONS = ("Parameters", "Other Parameters", "Attributes")
ITEM = re.compile(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*)(?: : (.*))?$")
#: the words a type may use besides class names (capitalised) and dotted names
TYPE_WORDS = {"str", "int", "float", "bool", "bytes", "object", "list", "tuple", "dict",
              "set", "sequence", "mapping", "iterable", "callable", "ndarray", "or", "of",
              "to", "optional", "default", "None", "True", "False"}


def _public() -> Iterator[tuple[str, object, str]]:
    """(dotted path, object, kind) of every public object: kind is "function",
    "class", "method" or "property"."""
    for name in sorted(pc.__all__):
        obj = getattr(pc, name)
        if inspect.ismodule(obj):
            for member in obj.__all__:
                yield f"{obj.__name__}.{member}", getattr(obj, member), "function"
            continue
        path = f"{obj.__module__}.{obj.__qualname__}"
        if not inspect.isclass(obj):
            yield path, obj, "function"
            continue
        yield path, obj, "class"
        for member, value in vars(obj).items():
            if member.startswith("_"):
                continue
            if isinstance(value, property):
                yield f"{path}.{member}", value, "property"
            elif inspect.isfunction(value) or isinstance(value, classmethod | staticmethod):
                yield f"{path}.{member}", value, "method"


PUBLIC = list(_public())


def _doc(obj: object) -> str:
    if isinstance(obj, classmethod | staticmethod):
        obj = obj.__func__
    return inspect.cleandoc(getattr(obj, "__doc__", None) or "")


def _sections(doc: str) -> dict[str, list[str]]:
    """The numpy sections of a docstring: title -> its lines."""
    lines = doc.splitlines()
    heads = [i for i in range(len(lines) - 1)
             if lines[i].strip() and not lines[i].startswith(" ")
             and set(lines[i + 1].strip()) == {"-"}]
    return {lines[h].strip(): lines[h + 2:(heads[k + 1] if k + 1 < len(heads) else None)]
            for k, h in enumerate(heads)}


def is_type(text: str) -> bool:
    """Whether ``text`` reads as a type (``str or sequence of str``, ``{"drop", "hash"}``,
    ``SurveyDesign or ReplicateDesign``, ``(n, k) ndarray``), not as prose."""
    # choices {"a", "b"} and shapes or tuples (n, k) are types; other quotes are not
    stripped = re.sub(r"\{[^}]*\}|\(\s*[\w.]*\s*(?:,\s*[\w.]*\s*)*\)", " ", text)
    words = [w for w in re.split(r"[\s,]+", stripped) if w]
    return bool(text.strip()) and all(
        w in TYPE_WORDS or re.fullmatch(r"[A-Z][\w.]*|\w+(\.\w+)+|[\d.]+", w) for w in words)


def layout_problems(doc: str) -> list[str]:
    """Lines of the item sections and of *Returns* that are not ``name : type`` (or a
    type) followed by an indented description."""
    problems = []
    for title, lines in _sections(doc).items():
        if title in ITEM_SECTIONS:
            heads = [i for i, line in enumerate(lines) if line.strip() and not line[0].isspace()]
            for i in heads:
                match = ITEM.match(lines[i])
                if match is None or match.group(2) is None or not is_type(match.group(2)):
                    problems.append(f"{title}: {lines[i]!r} is not 'name : type'")
                elif i + 1 >= len(lines) or not lines[i + 1].startswith(" "):
                    problems.append(f"{title}: {lines[i]!r} has no description below it")
        elif title in ("Returns", "Yields"):
            heads = [i for i, line in enumerate(lines) if line.strip() and not line[0].isspace()]
            for i in heads:
                match = ITEM.match(lines[i])
                kind = match.group(2) if match and match.group(2) else lines[i]
                if not is_type(kind):
                    problems.append(f"{title}: {lines[i]!r} is not a type (or 'name : type')")
                elif i + 1 >= len(lines) or not lines[i + 1].startswith(" "):
                    problems.append(f"{title}: {lines[i]!r} has no description below it")
    return problems


def _documented(doc: str, title: str) -> list[str]:
    names = []
    for line in _sections(doc).get(title, []):
        match = ITEM.match(line) if line.strip() and not line[0].isspace() else None
        if match:
            names += [n.strip() for n in match.group(1).split(",")]
    return names


def _attributes(cls: type) -> tuple[set[str], set[str]]:
    """(the attributes a result class must document, every attribute it has)."""
    if dataclasses.is_dataclass(cls):
        fields = {f.name for f in dataclasses.fields(cls)}
    else:
        fields = set(getattr(cls, "_fields", ()))
    fields = {f for f in fields if not f.startswith("_")}
    every = set(fields) | {n for n in dir(cls) if not n.startswith("_")}
    # attributes set by the constructor of a plain class
    source = textwrap.dedent(inspect.getsource(cls))
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "self" and isinstance(node.ctx, ast.Store)):
            every.add(node.attr)
    return fields, every


@pytest.mark.parametrize(("path", "obj", "kind"), PUBLIC, ids=[p for p, _, _ in PUBLIC])
def test_numpy_layout(path, obj, kind):
    assert _doc(obj), f"{path} has no docstring"
    assert layout_problems(_doc(obj)) == []


SIGNED = [p for p in PUBLIC
          if p[2] in ("function", "method") or (p[2] == "class" and p[1].__name__ in CONSTRUCTED)]


@pytest.mark.parametrize(("path", "obj", "kind"), SIGNED, ids=[p[0] for p in SIGNED])
def test_docstring_agrees_with_the_signature(path, obj, kind):
    found = [f"{code}: {message}" for code, message in validate(path)["errors"]
             if code in CHECKS]
    assert found == []


def _choices(doc: str) -> dict[str, str]:
    """The parameters documented with a set of choices: name -> the first choice."""
    found = {}
    for line in _sections(doc).get("Parameters", []):
        match = ITEM.match(line) if line.strip() and not line[0].isspace() else None
        if match and match.group(2) and match.group(2).startswith("{"):
            first = match.group(2)[1:].split(",")[0].rstrip("}").strip()
            for name in match.group(1).split(", "):
                found[name] = first
    return found


@pytest.mark.parametrize(("path", "obj", "kind"), SIGNED, ids=[p[0] for p in SIGNED])
def test_the_first_choice_is_the_default(path, obj, kind):
    """The API reference (mkdocstrings) shows the first of ``{"a", "b"}`` as the default."""
    function = obj.__func__ if isinstance(obj, classmethod | staticmethod) else obj
    parameters = inspect.signature(function).parameters
    wrong = {}
    for name, first in _choices(_doc(obj)).items():
        default = parameters[name].default
        if default is not inspect.Parameter.empty:
            shown = f'"{default}"' if isinstance(default, str) else repr(default)
            if shown != first:
                wrong[name] = (first, shown)
    assert wrong == {}, "(first choice, default)"


@pytest.mark.parametrize(("path", "obj", "kind"), [p for p in PUBLIC if p[2] == "function"],
                         ids=[p[0] for p in PUBLIC if p[2] == "function"])
def test_every_public_function_has_an_example(path, obj, kind):
    assert any(">>>" in line for line in _sections(_doc(obj)).get("Examples", []))


RESULTS = [p for p in PUBLIC if p[2] == "class" and p[1].__name__ not in CONSTRUCTED
           and not issubclass(p[1], Exception)]


@pytest.mark.parametrize(("path", "cls", "kind"), RESULTS, ids=[p[0] for p in RESULTS])
def test_result_classes_document_their_fields(path, cls, kind):
    doc = _doc(cls)
    documented = _documented(doc, "Attributes")
    required, every = _attributes(cls)
    assert sorted(required - set(documented)) == [], "fields missing under Attributes"
    assert sorted(set(documented) - every) == [], "attributes documented but absent"


# ------------------------------------------------------ the checks can fail --
def test_the_layout_check_catches_prose_and_missing_descriptions():
    prose = """Summary.

    Parameters
    ----------
    na_rm : leave out rows with a missing value
    level : float
        Confidence level.
    by : str

    Returns
    -------
    DataFrame with the by columns.
    """
    problems = layout_problems(inspect.cleandoc(prose))
    assert problems == [
        "Parameters: 'na_rm : leave out rows with a missing value' is not 'name : type'",
        "Parameters: 'by : str' has no description below it",
        "Returns: 'DataFrame with the by columns.' is not a type (or 'name : type')",
    ]
    assert is_type('str or sequence of str') and is_type('{"drop", "hash"}')
    assert is_type("SurveyDesign or ReplicateDesign") and is_type("(n, k) ndarray")
    assert not is_type("SurveyDesign holding every wave")


def _wrong(design, variables, *, by=None):
    """Mean.

    Parameters
    ----------
    design : SurveyDesign
        The design.
    var : str
        Column.

    Returns
    -------
    DataFrame
        Estimates.

    Examples
    --------
    >>> 1
    1
    """


def test_the_signature_check_catches_unknown_and_missing_parameters():
    codes = {code for code, _ in validate(f"{__name__}._wrong")["errors"]} & CHECKS
    assert {"PR01", "PR02"} <= codes
