"""Lazy export tables of the subpackages.

Each subpackage's ``__init__`` lists the names it offers as two tables, name -> the
module of the subpackage that defines it: ``EXPORTS`` (its public API, re-exported by
``perception``) and ``SHARED`` (names the other subpackages use, not meant for users).
:func:`lazy_exports` makes both reachable as attributes of the subpackage, each module
imported on first use, so importing a subpackage costs nothing and
``import perception.outputs.figures`` does not load the estimators.

Examples
--------
>>> getattr_, dir_ = lazy_exports("perception.survey", {"SurveyDesign": "design"})
>>> getattr_("SurveyDesign").__name__
'SurveyDesign'
>>> dir_()
['SurveyDesign']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for ``table``.

    Parameters
    ----------
    package : the subpackage's name (its ``__name__``).
    table : name -> module of ``package`` (relative, e.g. ``"design"``) defining it.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
