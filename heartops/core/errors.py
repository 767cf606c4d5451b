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
