"""The recommendation panel: ranked units for the selected call, and why the others are not.

Shows, for the selected pending call, the eligibility screen (which programs fit, and why not
the others), the units that can take it ranked by drive time (ETA minutes, kilometres, the
core's explanation line) and every unit left out with its reasons. Enter, a double-click or the
Assign button assigns the chosen unit (the top one unless the dispatcher picked another).

The ranking is computed off the UI thread (:func:`run_recommendation`, on the window's worker
thread): the request is the board's immutable
:class:`~heartops.core.board.RecommendationRequest`, the answer comes back as a queued signal
and is dropped unless it answers the newest request. The route of the top unit is computed
after the ranking, in the same job, so the ranking is never held up by it.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6 import QtCore, QtWidgets

from heartops.core.board import RecommendationRequest, RecommendationResult, compute_recommendation
from heartops.core.errors import HeartopsError
from heartops.core.recommend import LeftOutReason
from heartops.qt.panels.models import COVER_TITLE, KEY_ROLE, LeftOutModel, RankedModel
from heartops.qt.panels.ports import RoutePlanner
from heartops.qt.panels.style import DIM_TEXT, ERROR_TEXT, OK_TEXT
from heartops.qt.panels.views import BoardTable
from heartops.qt.ports import CoveragePort, CoverageSnapshot


@dataclass(frozen=True)
class RouteResult:
    """The drive of the top-ranked unit to the call (for the map).

    Attributes
    ----------
    serial, call_id, unit_id
        The request answered and the unit driven.
    lon, lat
        Route vertices (WGS 84), in order.
    """

    serial: int
    call_id: str
    unit_id: str
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]


class RecommendationSignals(QtCore.QObject):
    """Carries worker answers to the main thread (lives there, so connections are queued)."""

    ranked = QtCore.Signal(object)
    routed = QtCore.Signal(object)
    #: ``(serial, call_id, {unit_id: share} or None)``: the ranking's coverage costs.
    costed = QtCore.Signal(int, str, object)


def run_recommendation(request: RecommendationRequest, planner: RoutePlanner,
                       signals: RecommendationSignals,
                       is_wanted: Callable[[int], bool]) -> None:
    """Worker body: rank the units, then route the top one, unless a newer request came.

    A request already stale when its turn comes is skipped without routing; a drive-time
    failure comes back in the result (:attr:`RecommendationResult.error`).
    """
    if not is_wanted(request.serial):
        return
    try:
        result = compute_recommendation(request, planner)
        signals.ranked.emit(result)
        top = None if result.recommendation is None else result.recommendation.top
        origin = None if top is None else request.positions.get(top.unit_id)
        if top is None or origin is None or not is_wanted(request.serial):
            return
        route = planner.route(origin, request.call.location)
    except HeartopsError:
        return  # no road route: the ranking already says why, the map just draws none
    except Exception:
        sys.excepthook(*sys.exc_info())  # a bug: where slot errors go (a demo run fails)
        return
    signals.routed.emit(RouteResult(request.serial, request.call_id, top.unit_id,
                                    np.asarray(route.lon, dtype=float),
                                    np.asarray(route.lat, dtype=float)))


def run_coverage_costs(port: CoveragePort, snapshot: CoverageSnapshot, call_id: str,
                       signals: RecommendationSignals,
                       is_wanted: Callable[[int], bool]) -> None:
    """Worker body: each free unit's coverage cost, for the ranking ``snapshot.serial``.

    Runs after the ranking on the same worker, so a ranking is never held up by it; skipped
    when a newer ranking was asked for meanwhile. ``None`` (the service still loading, or a
    failure) leaves the column blank.
    """
    if not is_wanted(snapshot.serial):
        return
    try:
        costs = port.unit_costs(snapshot)
    except HeartopsError:
        costs = None
    except Exception:
        sys.excepthook(*sys.exc_info())  # a bug: where slot errors go (a demo run fails)
        costs = None
    signals.costed.emit(snapshot.serial, call_id, None if costs is None else dict(costs))


class RecommendationPanel(QtWidgets.QWidget):
    """Ranked units, left-out units and the eligibility screen of the selected call.

    Parameters
    ----------
    zone
        Time zone of the "as of" time.
    parent
        The parent widget.
    """

    #: ``unit_id``: assign this unit to the shown call.
    assign_requested = QtCore.Signal(str)

    def __init__(self, zone: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recommendationPanel")
        self._zone = zone
        self.call_id: str | None = None
        self.result: RecommendationResult | None = None
        self.latency_ms: float | None = None
        self.stale = False
        self.title = QtWidgets.QLabel("Select a call in the queue or on the map")
        self.title.setObjectName("recommendationTitle")
        self.title.setStyleSheet("QLabel#recommendationTitle { font-weight: bold; }")
        self.eligibility = QtWidgets.QLabel("")
        self.eligibility.setObjectName("eligibility")
        self.eligibility.setWordWrap(True)
        self.eligibility.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.ranked_model = RankedModel(self)
        self.ranked_view = self._ranked_view()
        self.assign_button = QtWidgets.QPushButton("Assign")
        self.assign_button.setObjectName("assignButton")
        self.assign_button.setEnabled(False)
        self.assign_button.setToolTip("Assign the chosen unit (Enter)")
        self.assign_button.clicked.connect(self._assign_chosen)
        self.state_label = QtWidgets.QLabel("")
        self.state_label.setObjectName("recommendationState")
        self.state_label.setWordWrap(True)
        self.left_out_label = QtWidgets.QLabel("Left out")
        self.left_out_model = LeftOutModel(self)
        self.left_out_view = BoardTable("leftOutView", self)
        self.left_out_view.setModel(self.left_out_model)
        self.left_out_view.set_column_widths({0: 62})
        self.left_out_view.setSelectionMode(
            QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self._layout()

    def _ranked_view(self) -> BoardTable:
        view = BoardTable("rankedView", self)
        view.setModel(self.ranked_model)
        view.set_column_widths({0: 26, 1: 62, 2: 44, 3: 40, 4: 74})
        # The coverage cost column shows once a coverage service is wired (show_cover_column).
        view.setColumnHidden(self.ranked_model.column_of(COVER_TITLE), True)
        view.enter_pressed.connect(lambda _i: self._assign_chosen())
        view.doubleClicked.connect(lambda _i: self._assign_chosen())
        view.selectionModel().currentRowChanged.connect(lambda *_: self._label_button())
        return view

    def _layout(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.eligibility)
        layout.addWidget(self.ranked_view, 3)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.assign_button)
        row.addWidget(self.state_label, 1)
        layout.addLayout(row)
        layout.addWidget(self.left_out_label)
        layout.addWidget(self.left_out_view, 2)

    def show_cover_column(self, visible: bool) -> None:
        """Show or hide the "Cover −%" column (shown when the desk has a coverage service)."""
        self.ranked_view.setColumnHidden(self.ranked_model.column_of(COVER_TITLE), not visible)

    # -- showing --

    def show_request(self, call_id: str, title: str, eligibility: list[str]) -> None:
        """Show a call whose ranking is being computed (the previous ranking is cleared)."""
        if call_id != self.call_id:
            self.ranked_model.update([])
            self.left_out_model.update([])
            self.result = None
        self.call_id = call_id
        self.title.setText(title)
        self.eligibility.setText(_eligibility_html(eligibility))
        if self.result is None:
            self._state("Ranking units…", DIM_TEXT)
        self._label_button()

    def show_result(self, result: RecommendationResult, latency_ms: float) -> None:
        """Show a computed ranking (the chosen unit stays chosen if it is still ranked)."""
        chosen = self.ranked_view.selected_key()
        self.result = result
        self.latency_ms = latency_ms
        self.stale = False
        ranking = result.recommendation
        if ranking is None:
            self.ranked_model.update([])
            self.left_out_model.update([])
            self._state(f"No ranking: {result.error}", ERROR_TEXT)
            self._label_button()
            return
        self.ranked_model.update(list(ranking.ranked))
        # Units of eligible programs first (busy, off shift: the ones a dispatcher weighs),
        # then the programs that do not take the call at all.
        self.left_out_model.update(sorted(
            ranking.left_out,
            key=lambda u: (u.reason is LeftOutReason.PROGRAM_NOT_ELIGIBLE, u.unit_id)))
        self.left_out_label.setText(f"Left out ({len(ranking.left_out)})")
        if chosen is None or not self.ranked_view.select_key(chosen):
            self.ranked_view.select_key(ranking.top.unit_id if ranking.top else None)
        when = result.at.astimezone(self._zone)
        if ranking.top is None:
            self._state("No unit can take this call now", ERROR_TEXT)
        else:
            self._state(f"as of {when:%H:%M:%S} · {latency_ms:.0f} ms", OK_TEXT)
        self._label_button()

    def mark_stale(self, why: str) -> None:
        """Say the ranking is out of date (a new one is on its way)."""
        if self.result is not None and not self.stale:
            self.stale = True
            # Calm: a newer ranking is at most a second away; the old one stays readable.
            self._state(f"updating ({why})…", DIM_TEXT)

    def show_assigned(self, call_id: str, title: str, text: str) -> None:
        """Show a call that already has its unit (nothing to rank)."""
        self.call_id = call_id
        self.result = None
        self.stale = False
        self.title.setText(title)
        self.eligibility.setText("")
        self.ranked_model.update([])
        self.left_out_model.update([])
        self.left_out_label.setText("Left out")
        self._state(text, OK_TEXT)
        self._label_button()

    def clear(self) -> None:
        """Show nothing (no call selected)."""
        self.call_id = None
        self.result = None
        self.stale = False
        self.title.setText("Select a call in the queue or on the map")
        self.eligibility.setText("")
        self.ranked_model.update([])
        self.left_out_model.update([])
        self._state("", DIM_TEXT)
        self._label_button()

    def _state(self, text: str, colour: str) -> None:
        self.state_label.setText(text)
        self.state_label.setStyleSheet(f"QLabel#recommendationState {{ color: {colour}; }}")

    # -- choosing --

    def chosen_unit(self) -> str | None:
        """Return the unit Enter would assign: the selected ranked one, else the top one."""
        selected = self.ranked_view.selected_key()
        if selected is not None:
            return selected
        if self.result is None or self.result.recommendation is None:
            return None
        top = self.result.recommendation.top
        return None if top is None else top.unit_id

    def choose(self, unit_id: str) -> bool:
        """Select ``unit_id`` among the ranked units; False if it is not ranked."""
        return self.ranked_view.select_key(unit_id)

    def ranked_units(self) -> list[str]:
        """Return the ranked unit ids, best first (what is shown)."""
        return [str(self.ranked_model.index(r, 0).data(KEY_ROLE))
                for r in range(self.ranked_model.rowCount())]

    def _label_button(self) -> None:
        unit = self.chosen_unit()
        self.assign_button.setEnabled(unit is not None)
        self.assign_button.setText(f"Assign {unit}  ⏎" if unit else "Assign")

    def _assign_chosen(self) -> None:
        unit = self.chosen_unit()
        if unit is not None:
            self.assign_requested.emit(unit)


def _eligibility_html(lines: list[str]) -> str:
    """Render ``CRT: eligible`` / ``CCD: no — reason`` lines compactly.

    The eligible programs share the first line; each program that does not fit gets a line
    with its reasons (the "why not HEART" a supervisor must be able to read).
    """
    eligible, refused = [], []
    for line in lines:
        program, _, verdict = line.partition(": ")
        if verdict == "eligible":
            eligible.append(f"<span style='color:{OK_TEXT}'>✓ <b>{html.escape(program)}</b>"
                            "</span>")
        else:
            why = verdict.removeprefix("no — ")
            refused.append(f"<span style='color:{DIM_TEXT}'>✗ {html.escape(program)}: "
                           f"{html.escape(why)}</span>")
    first = ("&nbsp;&nbsp;".join(eligible) if eligible
             else f"<span style='color:{ERROR_TEXT}'><b>No program can take this call now"
                  "</b></span>")
    return "<br>".join([first, *refused])

