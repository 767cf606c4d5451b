"""The dispatcher's command line: typed commands parsed against the board, and completion.

:func:`parse_command` turns a line (``assign CRT-2 C-1041 closer to the scene``, ``st CRT-2 S``,
``note C-1041 caller on the porch``, ``close C-1041 resolved_by_phone``, ``ack check_in:CRT-2``)
into a typed :data:`Command` or a one-line :class:`CommandError`; :func:`complete` gives
completion candidates. Both only read the :class:`~heartops.core.board.Board`, so every desk
(and the Qt command line) uses them as they are; a session runs the parsed command.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from heartops.core.board import Board
from heartops.core.codes import CallLink, CodeTables
from heartops.core.errors import UnknownCodeError


@dataclass(frozen=True, slots=True)
class AssignCommand:
    """``assign UNIT CALL [reason...]``: dispatch a unit (a reason overrides the top one)."""

    unit_id: str
    call_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StatusCommand:
    """``status UNIT STATUS``: change a unit's status (code, label or key letter)."""

    unit_id: str
    status: str


@dataclass(frozen=True, slots=True)
class NoteCommand:
    """``note CALL text...``: add a line to a call's narrative."""

    call_id: str
    text: str


@dataclass(frozen=True, slots=True)
class CloseCommand:
    """``close CALL DISPOSITION... [to DESTINATION...]``: close a call."""

    call_id: str
    dispositions: tuple[str, ...]
    destination: str | None = None


@dataclass(frozen=True, slots=True)
class CheckInCommand:
    """``checkin UNIT``: the unit on scene reported that all is well (resets its timer)."""

    unit_id: str


@dataclass(frozen=True, slots=True)
class AckCommand:
    """``ack KEY``: acknowledge a standing alert."""

    key: str


Command = (AssignCommand | StatusCommand | NoteCommand | CloseCommand | CheckInCommand
           | AckCommand)
"""A parsed command line."""


@dataclass(frozen=True, slots=True)
class CommandError:
    """Why a command line could not be parsed (one line, naming the offending word)."""

    message: str

    def __str__(self) -> str:
        return self.message


VERBS: Mapping[str, str] = {
    "assign": "assign", "a": "assign",
    "status": "status", "st": "status",
    "note": "note", "n": "note",
    "close": "close", "cl": "close",
    "checkin": "checkin", "ci": "checkin",
    "ack": "ack", "k": "ack",
}
"""Command words and their short forms."""

USAGE: Mapping[str, str] = {
    "assign": "assign UNIT CALL [reason...]",
    "status": "status UNIT STATUS",
    "note": "note CALL text...",
    "close": "close CALL DISPOSITION... [to DESTINATION...]",
    "checkin": "checkin UNIT",
    "ack": "ack KEY",
}

_DESTINATION_WORD = "to"


class _ParseError(Exception):
    """Raised inside the parser; becomes a :class:`CommandError`."""


def parse_command(text: str, board: Board) -> Command | CommandError:
    """Parse a dispatcher's command line against what is on the board.

    Unit ids, call ids, statuses and dispositions are matched without regard to case; a unit
    id may drop its dash (``crt2``) and a call may be named by its number (``41`` for
    ``C-1041`` when no other open call ends the same way). ``assign`` takes the call and the
    unit in either order. Statuses are codes (``on_scene``), labels or key letters (``S``).

    Returns
    -------
    Command or CommandError
        The command, or a one-line error naming what was wrong (``unknown unit 'CRT-9' — did
        you mean 'CRT-2'?``).
    """
    words = text.split(maxsplit=1)
    if not words:
        return CommandError(f"empty command; commands: {', '.join(USAGE.values())}")
    verb = VERBS.get(words[0].lower())
    if verb is None:
        return CommandError(_unknown("command", words[0], list(USAGE)))
    rest = words[1] if len(words) > 1 else ""
    try:
        return _PARSERS[verb](rest, board)
    except _ParseError as exc:
        return CommandError(str(exc))


def _parse_assign(rest: str, board: Board) -> Command:
    parts = rest.split(maxsplit=2)
    if len(parts) < 2:
        raise _ParseError(f"assign needs a unit and a call: {USAGE['assign']}")
    first, second = parts[0], parts[1]
    if _try_call(first, board) is not None and _try_unit(second, board) is not None:
        first, second = second, first  # "assign C-1041 CRT-2" means the same
    unit_id = _unit(first, board)
    call_id = _call(second, board)
    reason = parts[2].strip() if len(parts) > 2 else None
    return AssignCommand(unit_id, call_id, reason or None)


def _parse_status(rest: str, board: Board) -> Command:
    parts = rest.split(maxsplit=1)
    if len(parts) < 2:
        raise _ParseError(f"status needs a unit and a status: {USAGE['status']}")
    unit_id = _unit(parts[0], board)
    try:
        code = resolve_status(parts[1], board.tables)
    except UnknownCodeError as exc:
        raise _ParseError(str(exc)) from None
    return StatusCommand(unit_id, code)


def _parse_note(rest: str, board: Board) -> Command:
    parts = rest.split(maxsplit=1)
    if len(parts) < 2 or not parts[1].strip():
        raise _ParseError(f"note needs a call and text: {USAGE['note']}")
    return NoteCommand(_call(parts[0], board), parts[1].strip())


def _parse_close(rest: str, board: Board) -> Command:
    parts = rest.split(maxsplit=1)
    if len(parts) < 2:
        raise _ParseError(f"close needs a call and a disposition: {USAGE['close']}")
    call_id = _call(parts[0], board)
    words = re.split(r"[\s,]+", parts[1].strip())
    destination = None
    lowered = [w.lower() for w in words]
    if _DESTINATION_WORD in lowered:
        cut = lowered.index(_DESTINATION_WORD)
        destination = " ".join(words[cut + 1:]).strip() or None
        if destination is None:
            raise _ParseError(f"'{_DESTINATION_WORD}' must be followed by the destination")
        words = words[:cut]
    codes = [_disposition(word, board.tables) for word in words if word]
    if not codes:
        raise _ParseError(f"close needs a disposition: {USAGE['close']}")
    return CloseCommand(call_id, tuple(dict.fromkeys(codes)), destination)


def _parse_ack(rest: str, board: Board) -> Command:
    parts = rest.split()
    if len(parts) != 1:
        raise _ParseError(f"ack needs one alert key: {USAGE['ack']}")
    word = parts[0]
    keys = [alert.key for alert in board.alerts()]
    exact = [k for k in keys if k.lower() == word.lower()]
    if exact:
        return AckCommand(exact[0])
    about = [k for k in keys if k.split(":", 1)[-1].lower() == word.lower()]
    if len(about) == 1:
        return AckCommand(about[0])  # "ack CRT-2" when CRT-2 has one alert
    if about:
        raise _ParseError(f"{word!r} has {len(about)} alerts; name one: {', '.join(about)}")
    raise _ParseError(_unknown("alert", word, keys))


def _parse_check_in(rest: str, board: Board) -> Command:
    words = rest.split()
    if len(words) != 1:
        raise _ParseError(f"checkin needs one unit: {USAGE['checkin']}")
    return CheckInCommand(_unit(words[0], board))


_PARSERS: Mapping[str, Callable[[str, Board], Command]] = {
    "assign": _parse_assign, "status": _parse_status, "note": _parse_note,
    "close": _parse_close, "checkin": _parse_check_in, "ack": _parse_ack,
}


def resolve_status(word: str, tables: CodeTables) -> str:
    """Return the status code that ``word`` names: a code, a label or a key letter.

    Raises
    ------
    UnknownCodeError
        Naming the word and the closest status.
    """
    text = word.strip()
    wanted = _squash(text)
    for status in tables.statuses.values():
        if wanted in (_squash(status.code), _squash(status.label)):
            return status.code
    if len(text) == 1:
        try:
            return tables.status_for_key(text).code
        except UnknownCodeError:
            pass
    keys = ", ".join(f"{s.key} {s.code}" for s in tables.statuses.values())
    hint = _did_you_mean(text, list(tables.statuses))
    raise UnknownCodeError(f"unknown status {text!r}{hint}; statuses: {keys}")


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.lower())


def _try_unit(word: str, board: Board) -> str | None:
    exact = [u for u in board.unit_ids if u.lower() == word.lower()]
    if exact:
        return exact[0]
    loose = [u for u in board.unit_ids if _squash(u) == _squash(word)]
    return loose[0] if len(loose) == 1 else None


def _unit(word: str, board: Board) -> str:
    found = _try_unit(word, board)
    if found is None:
        raise _ParseError(_unknown("unit", word, list(board.unit_ids)))
    return found


def _try_call(word: str, board: Board) -> str | None:
    ids = list(board.calls)
    exact = [c for c in ids if c.lower() == word.lower()]
    if exact:
        return exact[0]
    if word.isdigit():
        # Dispatchers say "call 41": the open call whose number ends that way, if only one.
        number = int(word)
        tails = [c for c in ids if (t := _number_of(c)) is not None
                 and str(t).endswith(str(number))]
        exact_tail = [c for c in tails if _number_of(c) == number]
        if len(exact_tail) == 1:
            return exact_tail[0]
        if len(tails) == 1:
            return tails[0]
    return None


def _number_of(call_id: str) -> int | None:
    match = re.search(r"(\d+)$", call_id)
    return None if match is None else int(match.group(1))


def _call(word: str, board: Board) -> str:
    found = _try_call(word, board)
    if found is None:
        raise _ParseError(_unknown("open call", word, list(board.calls)))
    return found


def _disposition(word: str, tables: CodeTables) -> str:
    wanted = _squash(word)
    for code, row in tables.dispositions.items():
        if wanted in (_squash(code), _squash(row.label)):
            return code
    raise _ParseError(_unknown("disposition", word, list(tables.dispositions)))


def _unknown(what: str, word: str, known: Sequence[str]) -> str:
    hint = _did_you_mean(word, known)
    if hint:
        return f"unknown {what} {word!r}{hint}"
    if not known:
        return f"unknown {what} {word!r} (there are none)"
    listed = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    return f"unknown {what} {word!r}; known: {listed}"


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    by_squash: dict[str, str] = {}
    for item in known:
        by_squash.setdefault(_squash(item), item)
    close = difflib.get_close_matches(_squash(word), list(by_squash), n=1, cutoff=0.6)
    return f" — did you mean {by_squash[close[0]]!r}?" if close else ""


def complete(prefix: str, board: Board) -> list[str]:
    """Return completions of a partly typed command line, as whole lines.

    The last word is completed (a new word if the line ends with a space) from what fits
    there: command words, units (free ones first for ``assign``), pending calls in queue
    order, statuses the unit can take next, dispositions, standing alert keys. Each candidate
    ends with a space, ready for the next word.
    """
    words = prefix.split()
    if prefix and not prefix[-1].isspace() and words:
        current, done = words[-1], words[:-1]
    else:
        current, done = "", words
    head = "".join(f"{w} " for w in done)
    if not done:
        options = list(USAGE)
    else:
        verb = VERBS.get(done[0].lower())
        if verb is None:
            return []
        options = _options(verb, done[1:], board)
    low = current.lower()
    matches = [o for o in options if o.lower().startswith(low)
               or (low.isdigit() and (n := _number_of(o)) is not None
                   and str(n).startswith(str(int(low))))]
    return [f"{head}{option} " for option in matches]


def _options(verb: str, args: list[str], board: Board) -> list[str]:
    position = len(args)
    tables = board.tables
    if verb == "assign":
        if position == 0:
            free = [u for u in board.unit_ids
                    if tables.status(board.state(u).status).assignable]
            return free + [u for u in board.unit_ids if u not in free]
        if position == 1:
            return [row.call_id for row in board.queue()]
        return []
    if verb == "status":
        if position == 0:
            return list(board.unit_ids)
        if position == 1:
            unit_id = _try_unit(args[0], board)
            if unit_id is None:
                return list(tables.statuses)
            state = board.state(unit_id)
            # Without a call a unit cannot take a status that needs one (that is a dispatch).
            return [code for code in tables.next_statuses(state.status)
                    if state.call_id is not None
                    or tables.status(code).call is not CallLink.REQUIRED]
        return []
    if verb in ("note", "close") and position == 0:
        return [row.call_id for row in board.queue()] + \
            [row.call_id for row in board.active_calls()]
    if verb == "close" and position >= 1:
        given = {_squash(a) for a in args[1:]}
        return [code for code in tables.dispositions if _squash(code) not in given]
    if verb == "checkin" and position == 0:
        on_calls = [u for u in board.unit_ids if board.state(u).call_id is not None]
        return on_calls + [u for u in board.unit_ids if u not in on_calls]
    if verb == "ack" and position == 0:
        alerts = board.alerts()
        return [a.key for a in alerts if not a.acknowledged] + \
            [a.key for a in alerts if a.acknowledged]
    return []
