"""The alerts list and the status-bar banner.

The board keeps one alerts list, most urgent first (a unit in EMERGENCY, the on-scene check-in
ladder, calls waiting too long, units too long in a status, stale AVL, overdue follow-ups).
The panel lists them all; the banner in the status bar shows the most urgent one that nobody
has acknowledged, in its level's colour. An emergency cannot be missed: the banner flashes red
(twice a second, under the 3 Hz photosensitivity limit) until it is acknowledged, and stays red
while any unit is in emergency; the map blinks the unit too.

Acknowledging (the button, Space or Enter in the list, Ctrl+K for the banner's alert) goes
through the session, which records who and when; an alert that escalates after that needs a
new acknowledgement.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from heartops.core.board import AlertKind, BoardAlert, TimerLevel
from heartops.qt.panels.models import AlertModel
from heartops.qt.panels.style import FLASH_OFF, FLASH_ON, LEVEL_STYLES, alert_text, set_style_sheet
from heartops.qt.panels.views import BoardTable


class AlertsPanel(QtWidgets.QWidget):
    """Every standing alert, with acknowledgement.

    Parameters
    ----------
    zone
        Time zone of the times shown.
    parent
        The parent widget.
    """

    #: An alert key to acknowledge.
    acknowledge_requested = QtCore.Signal(str)
    #: The dispatcher selected an alert (its unit and call can be shown).
    alert_selected = QtCore.Signal(object)

    def __init__(self, zone: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsPanel")
        self.model = AlertModel(zone, self)
        self.view = BoardTable("alertsView", self)
        self.view.setModel(self.model)
        self.view.set_column_widths({0: 92, 2: 58})
        self.view.set_stretch_column(1)
        # Alert texts are sentences: wrap them over two lines. Rows keep a fixed height:
        # sizing rows to their contents re-measures every row on every tick (200 waiting
        # calls cost 12 ms a tick that way).
        self.view.setWordWrap(True)
        lines = self.view.fontMetrics().lineSpacing()
        self.view.verticalHeader().setDefaultSectionSize(2 * lines + 6)
        self.view.enter_pressed.connect(lambda _i: self.acknowledge_selected())
        self.view.key_handler = None
        space = QtGui.QShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Space), self.view,
                                context=QtCore.Qt.ShortcutContext.WidgetShortcut)
        space.activated.connect(self.acknowledge_selected)
        self.view.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.ack_button = QtWidgets.QPushButton("Acknowledge")
        self.ack_button.setObjectName("acknowledgeButton")
        self.ack_button.setToolTip("Acknowledge the selected alert (Space or Enter)")
        self.ack_button.clicked.connect(self.acknowledge_selected)
        self.summary = QtWidgets.QLabel("No alerts")
        self.summary.setObjectName("alertSummary")
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.ack_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)

    def update_alerts(self, alerts: list[BoardAlert]) -> None:
        """Show the standing alerts (most urgent first)."""
        self.model.update(alerts)
        open_count = sum(1 for a in alerts if not a.acknowledged)
        self.summary.setText(f"{open_count} to acknowledge · {len(alerts)} standing"
                             if alerts else "No alerts")

    def selected_key(self) -> str | None:
        """Return the key of the selected alert, if any."""
        return self.view.selected_key()

    def select_alert(self, key: str | None) -> bool:
        """Select the alert ``key``."""
        return self.view.select_key(key)

    def acknowledge_selected(self) -> None:
        """Ask to acknowledge the selected alert (the first unacknowledged one if none is)."""
        key = self.selected_key()
        if key is None:
            key = next((a.key for a in self.model.rows if not a.acknowledged), None)
        if key is not None:
            self.acknowledge_requested.emit(key)

    def _on_current_changed(self, current: QtCore.QModelIndex,
                            _previous: QtCore.QModelIndex) -> None:
        if current.isValid():
            self.alert_selected.emit(self.model.row_at(current.row()))


class AlertBanner(QtWidgets.QLabel):
    """The status-bar banner: the most urgent unacknowledged alert, in its level's colour."""

    #: The banner was clicked (show the alert in the list).
    clicked = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertBanner")
        self.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.setMinimumWidth(1)
        self.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self.alert: BoardAlert | None = None
        self.emergency = False
        self._flash_on = True
        self._standing = 0
        self.setVisible(False)

    @property
    def flashing(self) -> bool:
        """Whether the banner flashes (an unacknowledged emergency)."""
        return self.alert is not None and self.alert.kind is AlertKind.EMERGENCY

    def show_alerts(self, alerts: list[BoardAlert]) -> None:
        """Show the most urgent unacknowledged alert; stay red while an emergency stands."""
        self.alert = next((a for a in alerts if not a.acknowledged), None)
        self.emergency = any(a.kind is AlertKind.EMERGENCY for a in alerts)
        self._standing = sum(1 for a in alerts if not a.acknowledged)
        shown = self.alert or next((a for a in alerts if a.kind is AlertKind.EMERGENCY), None)
        if shown is None:
            self.setVisible(False)
            self.setText("")
            return
        more = self._standing - (1 if self.alert is not None else 0)
        suffix = f"   (+{more} more)" if more > 0 else ""
        prefix = "⚠ " if self.alert is not None else "✓ acknowledged: "
        ack = "   — Ctrl+K acknowledges" if self.alert is not None else ""
        text = alert_text(shown.text, shown.call_id)
        self.setText(f"{prefix}{text}{suffix}{ack}")
        self.setToolTip(f"{shown.text}\nClick to show it in the alerts list")
        self.setVisible(True)
        self._paint()

    def set_flash(self, on: bool) -> None:
        """Set the flash phase (only an unacknowledged emergency flashes)."""
        self._flash_on = on
        self._paint()

    def _paint(self) -> None:
        shown = self.alert
        if shown is not None and shown.kind is AlertKind.EMERGENCY:
            style = FLASH_ON if self._flash_on else FLASH_OFF
        elif self.emergency:
            style = FLASH_ON  # acknowledged, still standing: steady red
        elif shown is not None:
            style = LEVEL_STYLES[TimerLevel.ALERT if shown.level is TimerLevel.ALERT
                                 else TimerLevel.WARNING]
        else:
            return
        set_style_sheet(
            self, f"QLabel#alertBanner {{ background-color: {style.background}; "
            f"color: {style.foreground}; font-weight: bold; padding: 2px 10px; "
            f"border-radius: 3px; }}")

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt's name
        """Show the alert in the list."""
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)
