"""Exception types raised by perception.

Every error a user can cause is a ``PerceptionError`` (a ``ValueError``) whose message
names the column, the rows and the fix. The command line maps these to a one-line
message on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations


class PerceptionError(ValueError):
    """Base class for every user-facing error of the package."""


class QuestionnaireError(PerceptionError):
    """A questionnaire file or definition is invalid."""


class WaveValidationError(PerceptionError):
    """A survey wave fails its questionnaire's schema.

    ``report`` holds the :class:`perception.ValidationReport` with every failure.
    """

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class FileReadError(WaveValidationError):
    """A data file cannot be read: missing, too large, not what its extension says,
    not UTF-8, or corrupt. The message names the file and the fix; ``.report`` is None."""


class DesignError(PerceptionError):
    """A survey design cannot be built from the given columns or options."""


class EstimationError(PerceptionError):
    """An estimate cannot be computed (missing values, unknown column, empty domain...)."""


class WeightingError(PerceptionError):
    """Post-stratification, raking, calibration or trimming cannot be carried out."""


class DisclosureError(PerceptionError):
    """An output would reveal a respondent (PII or a small cell)."""


class SamplingError(PerceptionError):
    """A sample cannot be allocated or drawn from the given frame or options."""


def format_rows(rows, limit: int = 10) -> str:
    """Format row labels for an error message: ``'3, 17, 42 (and 5 more)'``.

    Examples
    --------
    >>> format_rows([3, 17, 42])
    '3, 17, 42'
    """
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f" (and {len(rows) - limit} more)"
    return shown
