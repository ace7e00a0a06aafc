"""The one exception hierarchy of physiotrial.

Every error a user can cause is a :class:`PhysiotrialError`; each subclass also inherits the
builtin a Python caller would naturally catch (``ValueError``, ``LookupError``), so library users
need not learn our names. Messages are written for the person who has to act on them (a trial
coordinator, a data manager): what was wrong, where (file and key, row and item), what is allowed.

::

    PhysiotrialError
    ├── ProtocolError (ValueError)        a protocol file is unreadable or invalid
    ├── InstrumentError (LookupError)     an unknown instrument, score key or option
    ├── AnswerError (ValueError)          an answer outside what an item allows
    ├── InputFileError (ValueError)       a file of answers cannot be read
    ├── OutputFileError (OSError)         an export or report cannot be written where asked
    ├── EligibilityError (ValueError)     an answer of the wrong type, or an unknown criterion
    ├── RandomisationError (ValueError)   a factor level, seed or method that cannot be used
    ├── ScheduleError (ValueError)        a visit recorded as done after today
    ├── StoreError (RuntimeError)         the study database cannot be opened, read or written
    ├── NotFoundError (LookupError)       no such participant, visit, user, site or record
    ├── ConflictError (ValueError)        the write contradicts what is recorded (twice, order)
    ├── PermissionDeniedError (PermissionError)  the acting user's role may not do this
    ├── StudyLockedError (PermissionError)       a write while the database is locked
    └── ModelError (ValueError)           a model formula, data set or covariance structure that
                                          cannot be fitted (names the term, column or visit)

The CLI prints ``str(error)`` as one line and exits with status 1; it never shows a traceback
for these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class PhysiotrialError(Exception):
    """Base class of every error physiotrial raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a document, located by its key path (``visits[2].window_after``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProtocolError(PhysiotrialError, ValueError):
    """A protocol file that cannot be used; carries every problem found, not just the first."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{source}: {count} {noun}: {lines}")

    def report(self) -> str:
        """The problems one per line, for a terminal."""
        noun = "problem" if len(self.problems) == 1 else "problems"
        head = f"{self.source}: {len(self.problems)} {noun}"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class InstrumentError(PhysiotrialError, LookupError):
    """An instrument, score key, item or option that does not exist."""

    def __str__(self) -> str:
        # LookupError would quote the message like a dict key; show it as written.
        return str(self.args[0]) if self.args else ""


class AnswerError(PhysiotrialError, ValueError):
    """An answer that an instrument's item does not allow."""


class InputFileError(PhysiotrialError, ValueError):
    """A file of answers that cannot be read (missing, wrong format, bad JSON or CSV)."""


class OutputFileError(PhysiotrialError, OSError):
    """An export or report that cannot be written (no permission, a file where a folder goes)."""


class EligibilityError(PhysiotrialError, ValueError):
    """An eligibility answer of the wrong type, or an answer to a criterion the protocol lacks."""


class RandomisationError(PhysiotrialError, ValueError):
    """A randomisation request that cannot be honoured (unknown stratum level, bad seed, method)."""


class ScheduleError(PhysiotrialError, ValueError):
    """A visit date that cannot be right, such as a visit recorded as done after today."""


class StoreError(PhysiotrialError, RuntimeError):
    """The study database cannot be opened, read or written (wrong URL, not initialised)."""


class NotFoundError(PhysiotrialError, LookupError):
    """No participant, visit, user, site or record with that identifier."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConflictError(PhysiotrialError, ValueError):
    """A write that contradicts what is recorded: randomised twice, consent before screening."""


class PermissionDeniedError(PhysiotrialError, PermissionError):
    """The acting user's role (or site) may not do this."""


class StudyLockedError(PhysiotrialError, PermissionError):
    """A write while the study database is locked for analysis."""


class ModelError(PhysiotrialError, ValueError):
    """A statistical model that cannot be fitted as asked: an unknown column in a formula, a
    covariance structure with more parameters than the data can estimate, a fit that did not
    converge. The message names the term, column or visit and what would make it estimable."""
