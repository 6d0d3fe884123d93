"""Protecting respondents: small-cell suppression of result tables, personal data
(dropped or hashed) and anonymised exports.

``EXPORTS`` is the public API (re-exported by :mod:`perception`); ``SHARED`` lists the
names the other subpackages of perception use (not meant for users). Both map a name
to the module of this subpackage that defines it.
"""

from __future__ import annotations

from ..exports import lazy_exports

#: the public API: name -> module
EXPORTS: dict[str, str] = {
    "disclosure_check": "suppression",
    "suppress_small_cells": "suppression",
    "protect_table": "suppression",
    "drop_pii": "pii",
    "hash_pii": "pii",
    "k_anonymity": "anonymise",
    "anonymise_wave": "anonymise",
}
#: names the other subpackages use: name -> module
SHARED: dict[str, str] = {
    "MIN_KEY_BYTES": "pii",
    "hash_value": "pii",
    "DEFAULT_K": "suppression",
    "DEFAULT_MIN_CELL": "suppression",
    "DEFAULT_MAX_CV": "suppression",
    "check_count": "suppression",
    "DEFAULT_MIN_COUNT": "suppression",
    "publishable": "suppression",
}

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {**EXPORTS, **SHARED})
