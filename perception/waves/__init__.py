"""Reading wave files (CSV, XLSX, SPSS, Stata, KoboToolbox/ODK) and validating them
against the questionnaire.

``EXPORTS`` is the public API (re-exported by :mod:`perception`); ``SHARED`` lists the
names the other subpackages of perception use (not meant for users). Both map a name
to the module of this subpackage that defines it.
"""

from __future__ import annotations

from ..exports import lazy_exports

#: the public API: name -> module
EXPORTS: dict[str, str] = {
    "ValidationReport": "validation",
    "validate": "validation",
    "read_wave": "reading",
    "recode_missing": "validation",
    "read_repeat": "repeats",
    "attach_repeat": "repeats",
    "apply_cleaning_log": "cleaning",
}
#: names the other subpackages use: name -> module
SHARED: dict[str, str] = {
    "MAX_WAVE_BYTES": "files",
    "read_table": "files",
    "read_parquet_dataset": "partitions",
    "dataset_bytes": "partitions",
    "changed_columns": "cleaning",
    "read_cleaning_log": "cleaning",
    "identifying_paradata": "cleaning",
    "REDACTED": "cleaning",
}

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {**EXPORTS, **SHARED})
