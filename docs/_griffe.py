"""Griffe extension used by ``make docs``: reads the package's docstrings as they are written.

The docstrings follow the numpy layout, with two habits of their own that numpydoc
reads differently, so the API reference would show descriptions in its *Type* column:

- a parameter (or attribute) is often ``name : what it is`` with the description on the
  same line (``na_rm : leave out rows with a missing value``), where numpydoc expects
  ``name : type``;
- a *Returns* section is often prose (``DataFrame with the by columns, ...``), where
  numpydoc expects one ``type`` line per returned value;
- cross-references use Sphinx roles (``:func:`perception.mean```).

This extension rewrites the docstring text before it is parsed: a ``name : text`` whose
text is prose becomes ``name`` with the text as its description (the type then comes
from the signature), a prose *Returns* section is shown as written (in a box titled *Return value*), and roles become
code. Docstrings written the numpydoc way pass through unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ITEM_SECTIONS = {"Parameters", "Other Parameters", "Attributes", "Keyword Arguments"}
_PROSE_TITLES = {"Returns": "Return value", "Yields": "Yielded values"}
_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|exc|obj|py:\w+):`~?([^`]+)`")
_ITEM = re.compile(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*) : (.+)$")


def is_prose(text: str) -> bool:
    """Whether the text after ``name :`` (or a *Returns* line) reads as prose, not a type."""
    text = text.strip()
    return (text.endswith((".", ":", ";", ",")) or "``" in text or "`" in text
            or ";" in text or len(text.split()) > 5)


def _sections(lines: list[str]) -> list[tuple[str, int, int]]:
    """(title, first line of the body, end) of every numpy section of a docstring."""
    heads = [i for i in range(len(lines) - 1)
             if lines[i].strip() and set(lines[i + 1].strip()) == {"-"}
             and not lines[i].startswith(" ")]
    return [(lines[h].strip(), h + 2, (heads[k + 1] if k + 1 < len(heads) else len(lines)))
            for k, h in enumerate(heads)]


def rewrite(docstring: str) -> str:
    """The docstring with prose types, prose *Returns* sections and roles rewritten."""
    docstring = _ROLE.sub(lambda m: f"``{m.group(1)}``", docstring)
    lines = docstring.splitlines()
    out = list(lines)
    # from the last section back, so earlier line numbers stay valid
    for title, start, end in reversed(_sections(lines)):
        body = lines[start:end]
        if title in _ITEM_SECTIONS:
            new = []
            for line in body:
                m = _ITEM.match(line)
                if m and is_prose(m.group(2)):
                    new += [m.group(1), "    " + m.group(2)]
                else:
                    new.append(line)
            out[start:end] = new
        elif title in _PROSE_TITLES:
            first = next((ln for ln in body if ln.strip()), "")
            if first and not first.startswith(" ") and is_prose(first) and not _ITEM.match(first):
                # a title numpydoc does not know: shown as a box holding the text as written
                out[start - 2:start] = [_PROSE_TITLES[title], "-" * len(_PROSE_TITLES[title])]
    return "\n".join(out)


class ProseDocstrings(griffe.Extension):
    """Rewrite each docstring once, when its object is created."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
