"""Domain errors.

Every error a user can cause derives from :class:`HeartopsError`; its message is one line that
names the problem and where it is, so the CLI prints it as is (no traceback) and exits non-zero.
"""

from __future__ import annotations


class HeartopsError(Exception):
    """A problem the user can fix: bad input, a missing file, an unknown name."""


class InputFileError(HeartopsError):
    """An input file is missing, unreadable, corrupt or holds nothing usable."""


class NetworkError(HeartopsError):
    """A road network cannot be built, found or loaded."""


class SnapError(HeartopsError):
    """A point is too far from any road to be routed to or from."""


class ZoneError(HeartopsError):
    """A zone layer cannot be imported, found or used."""


class TableError(HeartopsError):
    """A code table (statuses, call types, programs, ...) is malformed or inconsistent."""


class UnknownCodeError(HeartopsError, KeyError):
    """A code (status, call type, program, flag, ...) is not in its data table."""

    def __str__(self) -> str:
        # KeyError quotes its message; a one-line message reads better without the quotes.
        return str(self.args[0]) if self.args else ""


class NaiveDatetimeError(HeartopsError, ValueError):
    """A datetime without a time zone was given where an aware one is required."""


# The three names below are the ones the dispatch issue and the other layers use; they read as
# verdicts ("invalid transition"), so they keep them rather than gain an Error suffix.
class InvalidTransition(HeartopsError):  # noqa: N818
    """A unit status change or call lifecycle step that the rules forbid."""


class AssignmentRefused(HeartopsError):  # noqa: N818
    """A unit cannot be assigned to a call (it was left out of the recommendation)."""


class OverrideReasonRequired(HeartopsError):  # noqa: N818
    """A unit other than the top-ranked one was assigned without saying why."""


class FeedError(HeartopsError):
    """An AVL or CAD feed cannot be opened: a bad, busy or privileged port, an unknown host."""


class StoreError(HeartopsError):
    """The database cannot be reached, opened or used (bad URL, server down, foreign file)."""


class NotFound(HeartopsError, LookupError):  # noqa: N818
    """A unit, call, assignment or follow-up id is not in the store."""


class Conflict(HeartopsError):  # noqa: N818
    """Another desk changed the same thing first; reload and decide again."""


class VersionConflict(Conflict):
    """A unit changed since the desk read it (optimistic locking on its version)."""


class AssignmentConflict(Conflict):
    """The unit is already assigned to a call (another desk's assignment won).

    Attributes
    ----------
    unit_id
        The unit both desks tried to assign.
    call_id
        The call the unit is now assigned to (the winner), when known.
    """

    def __init__(self, message: str, *, unit_id: str = "", call_id: str | None = None) -> None:
        super().__init__(message)
        self.unit_id = unit_id
        self.call_id = call_id


class LocalTimeError(HeartopsError, ValueError):
    """A local wall-clock time that a DST change makes ambiguous or non-existent, or a bad zone."""


class AmbiguousTimeError(LocalTimeError):
    """A local wall-clock time that happens twice (the hour repeated when clocks go back)."""


class NonexistentTimeError(LocalTimeError):
    """A local wall-clock time that never happens (the hour skipped when clocks go forward)."""


class MappingError(HeartopsError):
    """A CSV column-mapping file is malformed or does not fit the CSV it is used with."""
