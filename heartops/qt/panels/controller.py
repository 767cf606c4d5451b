"""The board controller: runs the live shift and keeps every panel and the map in step.

ARCHITECTURE.md, "How live data flows", as done here:

* a ``QTimer`` (every :data:`TICK_MS`) calls ``session.advance(wall_dt)``; the board announces
  one merged :class:`~heartops.core.board.BoardChange` per advance (its subscribers hear it);
* the controller applies it once: each table model gets the board's rows and repaints only
  the rows whose cells changed (a structural change is one ``layoutChanged``), the map gets
  ONE ``set_units`` (only if a unit changed) and ONE ``set_calls`` (if a call changed or a
  call's age in minutes, which its label shows, moved), and the recommendation is marked stale
  and recomputed (at most every :data:`RECOMPUTE_MS`) if a ranked unit moved or changed, or a
  left-out unit became free;
* commands (assign, status, note, close, acknowledge) go through the session; their board
  changes arrive through the same subscription and are applied the same way, at once.

Only the main thread touches the board. Rankings are computed on the window's worker thread
(:func:`~heartops.qt.panels.recommendation.run_recommendation`) from an immutable request; a
result that does not answer the newest request is dropped.

Selection is shared: a call picked in the queue, on the map or from an alert is the current
call everywhere (queue row, map halo, recommendation, call detail); a unit picked on the board
or the map is highlighted in both. Programmatic selection never echoes back (the map's
``select_*`` emit nothing and the panels are told quietly).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from PySide6 import QtCore, QtWidgets

from heartops.core.board import (
    NO_CHANGE,
    AlertKind,
    BoardAlert,
    BoardChange,
    QueueRow,
    RecommendationResult,
    UnitRow,
    compute_recommendation,
)
from heartops.core.errors import HeartopsError, OverrideReasonRequired
from heartops.core.geo import GeoPoint
from heartops.core.recommend import Recommendation
from heartops.qt.coverage_snapshot import coverage_snapshot
from heartops.qt.map_layers import FLASH_INTERVAL_MS, CallMarker, UnitMarker
from heartops.qt.map_view import MapView
from heartops.qt.panels.alerts import AlertBanner, AlertsPanel
from heartops.qt.panels.call_detail import CallDetailPanel
from heartops.qt.panels.command_line import CommandLinePanel
from heartops.qt.panels.ports import CommandPort, OverrideRequest, ReasonProvider, SessionPort
from heartops.qt.panels.queue import QueuePanel
from heartops.qt.panels.recommendation import (
    RecommendationPanel,
    RecommendationSignals,
    RouteResult,
    run_coverage_costs,
    run_recommendation,
)
from heartops.qt.panels.style import format_timer, short_call_id
from heartops.qt.panels.units import UnitBoardPanel
from heartops.qt.ports import CoveragePort

log = logging.getLogger(__name__)

#: Live tick: how often the shift advances and the board repaints.
TICK_MS = 250
#: Call markers move only when calls change; their age labels (whole minutes) are redrawn at
#: most this often (simulated), not on every tick: 200 markers cost 3 ms a redraw.
CALL_AGES_REFRESH = timedelta(seconds=30)
#: A ranking made stale by moving units is recomputed at most this often.
RECOMPUTE_MS = 750
#: A stall longer than this (a debugger, a suspended laptop) is not replayed in one jump.
MAX_TICK_S = 1.0
#: A unit keeps its heading tick this long (simulated) after its last move: at 1x a unit
#: reports once a second, so most ticks see no new fix, and the tick must not flicker.
HEADING_HOLD_S = 5.0

Submit = Callable[..., Any]
"""Runs ``fn(*args)`` on the window's worker thread."""


@dataclass(slots=True)
class _Heading:
    position: GeoPoint
    heading: float | None
    moved_at: datetime


class BoardController(QtCore.QObject):
    """Drives the live board (see the module docstring).

    Parameters
    ----------
    session
        The live session (``heartops/app.py`` injects a :class:`heartops.live.LiveSession`).
    map_view
        The map; gets the live layers and shares the selection.
    submit
        Runs a function on the window's worker thread.
    commands
        The command line's parser and completer; ``None`` leaves the command line out.
    reason_provider
        Asks for an override reason (a dialog by default; tests inject one).
    priority_colours
        Priority badge colours for the queue (the map palette's).
    parent
        The Qt parent (the main window).
    tick_ms
        The live tick.
    """

    #: ``(text, is_error)``: feedback for the status bar.
    message = QtCore.Signal(str, bool)
    #: A ranking was shown (the :class:`RecommendationResult`).
    recommendation_shown = QtCore.Signal(object)
    #: The shift advanced (after the change was applied).
    ticked = QtCore.Signal()
    #: An emergency alert appeared (its key): the window brings the alerts forward.
    emergency_raised = QtCore.Signal(str)

    def __init__(self, session: SessionPort, map_view: MapView, *, submit: Submit,
                 commands: CommandPort | None = None,
                 reason_provider: ReasonProvider | None = None,
                 priority_colours: dict[str, str] | None = None,
                 parent: QtWidgets.QWidget | None = None, tick_ms: int = TICK_MS) -> None:
        super().__init__(parent)
        self.session = session
        self.map_view = map_view
        self._submit = submit
        self._parent_widget = parent
        self._reason_provider: ReasonProvider = reason_provider or self._ask_reason
        tables, zone = session.tables, session.tables.timezone
        self.queue = QueuePanel(tables, priority_colours or {})
        self.units = UnitBoardPanel(tables)
        self.recommendation = RecommendationPanel(zone)
        self.alerts = AlertsPanel(zone)
        self.banner = AlertBanner()
        self.call_detail = CallDetailPanel(tables, zone)
        self.command_line = None if commands is None else CommandLinePanel(commands)
        self.selected_call: str | None = None
        self.selected_unit: str | None = None
        self.last_latency_ms: float | None = None
        self.map_updates = {"units": 0, "calls": 0}
        self._pending = NO_CHANGE
        self._advancing = False
        self._closed = False
        self._wanted_serial = -1
        self._selected_at = 0.0
        self._asked_at = 0.0
        self._headings: dict[str, _Heading] = {}
        self._call_marks: tuple[tuple[str, bool, int], ...] | None = None
        self._calls_drawn_at: datetime | None = None
        self._emergencies: set[str] = set()
        self._flash_on = True
        self._signals = RecommendationSignals(self)
        self._signals.ranked.connect(self._on_ranked)
        self._signals.routed.connect(self._on_routed)
        self._signals.costed.connect(self._on_costed)
        self._coverage: CoveragePort | None = None
        self._timer = self._make_timer(tick_ms, self._on_timer)
        self._flash_timer = self._make_timer(FLASH_INTERVAL_MS, self._blink)
        self._recompute_timer = self._make_timer(RECOMPUTE_MS, self._request_recommendation)
        self._recompute_timer.setSingleShot(True)
        self._last_tick = time.monotonic()
        self._connect_panels()
        self._unsubscribe: Callable[[], None] | None = session.board.subscribe(self._on_change)
        self._apply(NO_CHANGE, all_units=True)

    def _make_timer(self, interval_ms: int, slot: Callable[[], None]) -> QtCore.QTimer:
        timer = QtCore.QTimer(self)
        timer.setInterval(interval_ms)
        timer.timeout.connect(slot)
        return timer

    def _connect_panels(self) -> None:
        self.queue.call_selected.connect(lambda c: self.select_call(c, origin="queue"))
        self.queue.assign_requested.connect(self.assign_chosen)
        self.queue.model.unit_dropped.connect(self.assign)
        self.units.unit_selected.connect(lambda u: self.select_unit(u, origin="units"))
        self.units.status_requested.connect(self.set_status)
        self.units.call_requested.connect(lambda c: self.select_call(c, origin="units"))
        self.units.assign_requested.connect(self._assign_to_selected_call)
        self.units.check_in_requested.connect(self.check_in)
        self.recommendation.assign_requested.connect(self._assign_from_panel)
        self.alerts.acknowledge_requested.connect(self.acknowledge)
        self.alerts.alert_selected.connect(self._on_alert_selected)
        self.call_detail.note_requested.connect(self.add_note)
        self.call_detail.close_requested.connect(self.close_call)
        self.map_view.call_selected.connect(lambda c: self.select_call(c, origin="map"))
        self.map_view.unit_selected.connect(lambda u: self.select_unit(u, origin="map"))
        if self.command_line is not None:
            self.command_line.ran.connect(self._on_command)

    # -- running the shift -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the live timer is advancing the shift."""
        return self._timer.isActive()

    def start(self) -> None:
        """Start (or resume) the live shift."""
        if not self._closed and not self._timer.isActive():
            self._last_tick = time.monotonic()
            self._timer.start()

    def pause(self) -> None:
        """Stop advancing the shift (the board stays as it is)."""
        self._timer.stop()

    def set_speed(self, speed: float) -> None:
        """Set the simulation speed (simulated seconds per wall second)."""
        self.session.speed = speed

    def step(self, wall_dt_s: float) -> BoardChange:
        """Advance the shift by ``wall_dt_s`` wall seconds and apply what changed.

        Returns
        -------
        BoardChange
            Everything the advance changed (as announced by the board).
        """
        self._advancing = True
        try:
            self.session.advance(wall_dt_s)
        finally:
            self._advancing = False
        change, self._pending = self._pending, NO_CHANGE
        self._apply(change)
        self.ticked.emit()
        return change

    def _on_timer(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        self.step(min(max(elapsed, 0.0), MAX_TICK_S))

    def _on_change(self, change: BoardChange) -> None:
        if self._advancing:
            self._pending = self._pending | change  # applied once, when the advance is done
        elif not self._closed:
            self._apply(change)

    def close(self) -> None:
        """Stop the timers, leave the board and drop any ranking still being computed."""
        self._closed = True
        for timer in (self._timer, self._flash_timer, self._recompute_timer):
            timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._wanted_serial = -1

    # -- applying changes --------------------------------------------------------------------

    def _apply(self, change: BoardChange, *, all_units: bool = False) -> None:
        board = self.session.board
        at = self.session.now
        queue_rows = board.queue(at)
        unit_rows = board.unit_rows(at)
        alerts = board.alerts(at)
        self.queue.update_rows(queue_rows, change.calls)
        self.units.update_rows(unit_rows, change.units)
        self.alerts.update_alerts(alerts)
        self.banner.show_alerts(alerts)
        self._watch_emergencies(alerts)
        if change.units or all_units:
            self._show_units(unit_rows, at)
        if change.calls or self._calls_drawn_at is None \
                or at - self._calls_drawn_at >= CALL_AGES_REFRESH:
            self._show_calls(queue_rows, at)
        self._follow_recommendation(change)
        self._follow_call_detail(change)

    def _show_units(self, rows: list[UnitRow], at: datetime) -> None:
        markers = []
        for row in rows:
            position = row.position
            if position is None:
                continue
            heading = row.heading_deg  # the AVL's own, else the bearing between fixes
            if heading is None:
                heading = self._heading(row.unit_id, position, at)
            markers.append(UnitMarker(row.unit_id, position.lat, position.lon, heading,
                                      row.status.code, row.unit_id, row.avl_stale))
        self.map_view.set_units(markers)
        self.map_updates["units"] += 1

    def _heading(self, unit_id: str, position: GeoPoint, at: datetime) -> float | None:
        held = self._headings.get(unit_id)
        if held is None:
            self._headings[unit_id] = _Heading(position, None, at)
            return None
        if position != held.position:
            held.heading = _bearing(held.position, position)
            held.position, held.moved_at = position, at
        elif (at - held.moved_at).total_seconds() > HEADING_HOLD_S:
            held.heading = None  # parked: no tick
        return held.heading

    def _show_calls(self, queue_rows: list[QueueRow], at: datetime) -> None:
        board = self.session.board
        tables = self.session.tables
        markers = [CallMarker(r.call_id, r.call.location.lat, r.call.location.lon,
                              r.priority.value, r.age_s, False,
                              tables.call_type(r.call.call_type).label) for r in queue_rows]
        markers += [CallMarker(r.call_id, r.call.location.lat, r.call.location.lon,
                               r.call.priority.value, r.age_s, True,
                               tables.call_type(r.call.call_type).label)
                    for r in board.active_calls(at)]
        self._calls_drawn_at = at
        # The map labels ages in whole minutes: redraw when one ticks over, or calls changed.
        marks = tuple((m.call_id, m.assigned, int(m.age_s // 60)) for m in markers)
        if marks == self._call_marks:
            return
        self._call_marks = marks
        self.map_view.set_calls(markers)
        self.map_updates["calls"] += 1

    def _watch_emergencies(self, alerts: list[BoardAlert]) -> None:
        keys = {a.key for a in alerts if a.kind is AlertKind.EMERGENCY}
        new = keys - self._emergencies
        self._emergencies = keys
        flashing = bool(keys) or bool(self.units.model.flashing_units())
        if flashing and not self._flash_timer.isActive() and not self._closed:
            self._flash_timer.start()
        elif not flashing and self._flash_timer.isActive():
            self._flash_timer.stop()
            self._set_flash(True)
        for key in sorted(new):
            self.emergency_raised.emit(key)

    def _blink(self) -> None:
        self._set_flash(not self._flash_on)

    def _set_flash(self, on: bool) -> None:
        self._flash_on = on
        self.units.model.set_flash(on)
        self.alerts.model.set_flash(on)
        self.banner.set_flash(on)

    @property
    def flash_timer(self) -> QtCore.QTimer:
        """The blink timer of emergency rows and the banner (runs only while one stands)."""
        return self._flash_timer

    # -- selection ---------------------------------------------------------------------------

    def select_call(self, call_id: str | None, *, origin: str = "") -> None:
        """Make ``call_id`` the current call everywhere (``origin`` is not told again)."""
        self.selected_call = call_id
        if origin != "queue":
            self.queue.select_call(call_id)
        self.map_view.select_call(call_id)
        self.map_view.clear_route()
        self._recompute_timer.stop()
        self._selected_at = time.perf_counter()
        self._show_call_detail()
        if call_id is None:
            self._wanted_serial = -1
            self.recommendation.clear()
            return
        self._request_recommendation()

    def select_unit(self, unit_id: str | None, *, origin: str = "") -> None:
        """Make ``unit_id`` the current unit on the board and the map."""
        self.selected_unit = unit_id
        if origin != "units":
            self.units.select_unit(unit_id)
        self.map_view.select_unit(unit_id)

    def _on_alert_selected(self, alert: BoardAlert) -> None:
        if alert.unit_id is not None:
            self.select_unit(alert.unit_id, origin="alerts")
        elif alert.call_id is not None and alert.call_id in self.session.board.calls:
            self.select_call(alert.call_id, origin="alerts")

    # -- recommendation ----------------------------------------------------------------------

    def _request_recommendation(self) -> None:
        call_id = self.selected_call
        board = self.session.board
        if self._closed or call_id is None:
            return
        if call_id not in board.calls:
            self.recommendation.show_assigned(call_id, f"#{short_call_id(call_id)}",
                                              "Closed: no longer on the board")
            return
        if not board.is_pending(call_id):
            self._show_assigned(call_id)
            return
        request = self.session.recommendation_request(call_id)
        self._wanted_serial = request.serial
        self._asked_at = time.perf_counter()
        tables = self.session.tables
        self.recommendation.show_request(call_id, self._call_title(call_id),
                                         request.eligibility.explain(tables=tables))
        self._submit(run_recommendation, request, self.session.engine, self._signals,
                     self._is_wanted)

    def _is_wanted(self, serial: int) -> bool:
        # Read from the worker thread: a plain int attribute read is atomic under the GIL.
        return serial == self._wanted_serial

    def _on_ranked(self, result: RecommendationResult) -> None:
        if self._closed or not self.session.is_current(result) or \
                result.call_id != self.selected_call:
            return  # stale: another call was picked, or the board moved on meanwhile
        now = time.perf_counter()
        if self.recommendation.result is None:  # the first ranking since the call was picked
            self.last_latency_ms = (now - self._selected_at) * 1000.0
        self.recommendation.show_result(result, (now - self._asked_at) * 1000.0)
        self._request_costs(result)
        self.recommendation_shown.emit(result)

    # -- coverage cost of each ranked unit ("Cover −%") ------------------------------------

    def set_coverage(self, port: CoveragePort | None) -> None:
        """Show each ranked unit's coverage cost, computed by ``port`` after each ranking."""
        self._coverage = port
        self.recommendation.ranked_model.set_costs(None, available=port is not None)
        self.recommendation.show_cover_column(port is not None)
        self.refresh_coverage_costs()

    def refresh_coverage_costs(self) -> None:
        """Ask for the shown ranking's coverage costs again (the service just loaded)."""
        result = self.recommendation.result
        if result is not None and result.serial == self._wanted_serial:
            self._request_costs(result)

    def _request_costs(self, result: RecommendationResult) -> None:
        if self._coverage is None or self._closed or result.recommendation is None:
            return
        # The snapshot is taken here, on the main thread, with the ranking it goes with.
        snapshot = coverage_snapshot(self.session.board, self.session.now, result.serial)
        self._submit(run_coverage_costs, self._coverage, snapshot, result.call_id,
                     self._signals, self._is_wanted)

    def _on_costed(self, serial: int, call_id: str, costs: object) -> None:
        if self._closed or serial != self._wanted_serial or call_id != self.selected_call:
            return  # stale: the ranking it belongs to was replaced
        self.recommendation.ranked_model.set_costs(
            costs if isinstance(costs, dict) else None, available=True)

    def _on_routed(self, route: RouteResult) -> None:
        if self._closed or route.serial != self._wanted_serial or \
                route.call_id != self.selected_call:
            return
        self.map_view.show_route(route.lon, route.lat)

    def _follow_recommendation(self, change: BoardChange) -> None:
        call_id = self.selected_call
        if call_id is None or not change:
            return
        board = self.session.board
        if call_id in change.calls and not board.is_pending(call_id):
            self.map_view.clear_route()
            self._wanted_serial = -1
            if call_id in board.calls:
                self._show_assigned(call_id)
            else:
                self.recommendation.show_assigned(call_id, self._call_title(call_id),
                                                  "Closed")
            return
        why = self._stale_reason(change)
        if why is not None:
            self.recommendation.mark_stale(why)
            if not self._recompute_timer.isActive():
                self._recompute_timer.start()

    def _stale_reason(self, change: BoardChange) -> str | None:
        """Why the shown ranking is out of date, or ``None`` if it still holds."""
        result = self.recommendation.result
        return None if result is None else result.stale_reason(change, self.session.board)

    def _show_assigned(self, call_id: str) -> None:
        board = self.session.board
        units = board.units_on(call_id)
        parts = []
        for unit_id in units:
            status = self.session.tables.status(board.state(unit_id).status).label
            assignment = board.assignment_of(unit_id)
            rank = "" if assignment is None else f" (rank {assignment.rank})"
            parts.append(f"{unit_id} {status.lower()}{rank}")
        self.recommendation.show_assigned(call_id, self._call_title(call_id),
                                          "Assigned: " + ", ".join(parts))

    def _call_title(self, call_id: str) -> str:
        call = self.session.board.calls.get(call_id)
        if call is None:
            return f"#{short_call_id(call_id)}"
        label = self.session.tables.call_type(call.call_type).label
        zone = f" · zone {call.zone_id}" if call.zone_id else ""
        return f"#{short_call_id(call_id)} · P{call.priority.value} · {label}{zone}"

    def _fresh_ranking(self, call_id: str) -> Recommendation | None:
        """Return the shown ranking of ``call_id`` if it is current, else ``None`` (recompute)."""
        result = self.recommendation.result
        if result is None or result.call_id != call_id or self.recommendation.stale:
            return None
        return result.recommendation

    # -- commands ----------------------------------------------------------------------------

    def assign_chosen(self, call_id: str) -> bool:
        """Assign the unit chosen in the recommendation panel (the top one) to ``call_id``."""
        unit_id = None
        if self.recommendation.call_id == call_id:
            unit_id = self.recommendation.chosen_unit()
        if unit_id is None:
            # Enter before the ranking arrived: rank now, here (milliseconds), not the worker.
            request = self.session.board.recommendation_request(call_id, 0)
            result = compute_recommendation(request, self.session.engine)
            top = None if result.recommendation is None else result.recommendation.top
            if top is None:
                self.message.emit(f"No unit can take call #{short_call_id(call_id)}"
                                  + (f": {result.error}" if result.error else ""), True)
                return False
            unit_id = top.unit_id
        return self.assign(unit_id, call_id)

    def _assign_from_panel(self, unit_id: str) -> None:
        if self.recommendation.call_id is not None:
            self.assign(unit_id, self.recommendation.call_id)

    def _assign_to_selected_call(self, unit_id: str) -> None:
        if self.selected_call is None:
            self.message.emit("Select a call first, then assign the unit to it", True)
            return
        self.assign(unit_id, self.selected_call)

    def assign(self, unit_id: str, call_id: str) -> bool:
        """Dispatch ``unit_id`` to ``call_id``; a non-top unit needs the dispatcher's reason.

        Returns
        -------
        bool
            Whether the unit was assigned (False if refused or the dispatcher cancelled).
        """
        ranking = self._fresh_ranking(call_id)
        try:
            try:
                done = self.session.assign(unit_id, call_id, recommendation=ranking)
            except OverrideReasonRequired as exc:
                top = None if ranking is None or ranking.top is None else ranking.top.unit_id
                reason = self._reason_provider(OverrideRequest(unit_id, call_id, top, str(exc)))
                if reason is None or not reason.strip():
                    self.message.emit(f"Not assigned: {unit_id} is not the recommended unit "
                                      "and no reason was given", True)
                    return False
                done = self.session.assign(unit_id, call_id, override_reason=reason.strip(),
                                           recommendation=ranking)
        except HeartopsError as exc:
            self.message.emit(str(exc).splitlines()[0], True)
            if call_id == self.selected_call:
                self._request_recommendation()
            return False
        eta = "" if done.eta_seconds is None else f", {done.eta_seconds / 60:.1f} min away"
        why = f" — override: {done.override_reason}" if done.override_reason else ""
        self.message.emit(f"{unit_id} assigned to #{short_call_id(call_id)} "
                          f"(rank {done.rank}{eta}){why}", False)
        return True

    def set_status(self, unit_id: str, status: str) -> bool:
        """Change a unit's status through the session; report a refusal."""
        try:
            state = self.session.set_status(unit_id, status)
        except HeartopsError as exc:
            self.message.emit(str(exc).splitlines()[0], True)
            return False
        label = self.session.tables.status(state.status).label
        self.message.emit(f"{unit_id}: {label}", False)
        return True

    def check_in(self, unit_id: str) -> bool:
        """Record that a team on a call reported in (its check-in timer starts again)."""
        try:
            self.session.check_in(unit_id)
        except HeartopsError as exc:
            self.message.emit(str(exc).splitlines()[0], True)
            return False
        self.message.emit(f"{unit_id} checked in", False)
        return True

    def acknowledge(self, key: str) -> bool:
        """Acknowledge an alert through the session (recorded with desk and operator)."""
        try:
            self.session.acknowledge(key)
        except HeartopsError as exc:
            self.message.emit(str(exc).splitlines()[0], True)
            return False
        self.message.emit(f"Acknowledged {key}", False)
        return True

    def acknowledge_top(self) -> bool:
        """Acknowledge the alert the banner shows (Ctrl+K)."""
        alert = self.banner.alert
        return False if alert is None else self.acknowledge(alert.key)

    def add_note(self, call_id: str, text: str) -> bool:
        """Add a note to a call through the session."""
        try:
            self.session.add_note(call_id, text)
        except (HeartopsError, ValueError) as exc:
            self.call_detail.set_feedback(str(exc).splitlines()[0], error=True)
            return False
        self.call_detail.note_added()
        self.call_detail.set_feedback("Note added", error=False)
        self._show_call_detail()
        return True

    def close_call(self, call_id: str, dispositions: list[str], destination: str | None) -> bool:
        """Close a call with its dispositions through the session."""
        if not dispositions:
            self.call_detail.set_feedback("Tick at least one disposition", error=True)
            return False
        try:
            closed = self.session.close_call(call_id, dispositions, destination)
        except (HeartopsError, ValueError) as exc:
            self.call_detail.set_feedback(str(exc).splitlines()[0], error=True)
            return False
        if call_id == self.selected_call:
            self.call_detail.mark_closed(closed)
        self.call_detail.set_feedback(f"#{short_call_id(call_id)} closed", error=False)
        self.message.emit(f"#{short_call_id(call_id)} closed", False)
        return True

    def _on_command(self, _line: str, message: str, ok: bool) -> None:
        self.message.emit(message.splitlines()[0], not ok)
        self._show_call_detail()

    def _ask_reason(self, request: OverrideRequest) -> str | None:
        text, ok = QtWidgets.QInputDialog.getText(
            self._parent_widget, "Override the recommendation",
            f"{request.message}\n\nWhy {request.unit_id}?")
        return text if ok else None

    # -- call detail -------------------------------------------------------------------------

    def _follow_call_detail(self, change: BoardChange) -> None:
        call_id = self.selected_call
        if call_id is None:
            return
        board = self.session.board
        units = set(board.units_on(call_id)) if call_id in board.calls else set()
        if call_id in change.calls or units & change.units or change.alerts_changed:
            self._show_call_detail()

    def _show_call_detail(self) -> None:
        call_id = self.selected_call
        board = self.session.board
        if call_id is None:
            self.call_detail.show_call(None)
            return
        call = board.calls.get(call_id)
        if call is None:
            self.call_detail.mark_closed()
            return
        self.call_detail.show_call(call, board=board, status=self._call_status(call_id))

    def _call_status(self, call_id: str) -> str:
        board = self.session.board
        units = board.units_on(call_id)
        if not units:
            age = board.call(call_id).age(self.session.now).total_seconds()
            return f"Waiting {format_timer(age)} — no unit yet"
        tables = self.session.tables
        return "Units: " + ", ".join(
            f"{u} {tables.status(board.state(u).status).label.lower()}" for u in units)


def _bearing(a: GeoPoint, b: GeoPoint) -> float:
    """Return the initial bearing from ``a`` to ``b`` in degrees clockwise from north."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlon = math.radians(b.lon - a.lon)
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return math.degrees(math.atan2(x, y)) % 360.0
