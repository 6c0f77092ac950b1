"""Exception hierarchy; each class carries the exit code of DESIGN.md §5.

Messages name the file or series and the fault, never a patient.
"""


class CordotomyError(Exception):
    """Base class of every expected failure; unexpected ones are bugs (exit 1)."""

    exit_code = 1


class UsageError(CordotomyError, ValueError):
    """The command was called wrongly (bad option pair, output exists, ...)."""

    exit_code = 2


class InputDataError(CordotomyError, ValueError):
    """The input data are invalid or inconsistent (unreadable file, missing slices, no gradients)."""

    exit_code = 3


class AnalysisError(CordotomyError):
    """Valid data on which the analysis cannot proceed (no contrast, cord not found, C1-C2 not in view)."""

    exit_code = 4
