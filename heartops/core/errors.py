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
