"""The simulated Central Mali survey (a finite population with a known truth).

``EXPORTS`` is the public API (re-exported by :mod:`perception`); ``SHARED`` lists the
names the other subpackages of perception use (not meant for users). Both map a name
to the module of this subpackage that defines it.
"""

from __future__ import annotations

from ..exports import lazy_exports

#: the public API: name -> module
EXPORTS: dict[str, str] = {
    "questionnaire_path": "simulator",
    "demo_survey": "simulator",
    "DemoSurvey": "simulator",
}
#: names the other subpackages use: name -> module
SHARED: dict[str, str] = {
}

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {**EXPORTS, **SHARED})
