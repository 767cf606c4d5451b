"""The dispatch board's panels: queue, unit board, recommendation, alerts, call detail, commands.

Each panel is a plain widget that shows board rows and emits what the dispatcher asked for;
:class:`~heartops.qt.panels.controller.BoardController` runs the live shift, applies the
board's changes to the panels and the map, and carries the requests to the session. The main
window puts each panel in a dock.
"""

from heartops.qt.panels.controller import BoardController
from heartops.qt.panels.ports import CommandPort, OverrideRequest, ReasonProvider, SessionPort

__all__ = ["BoardController", "CommandPort", "OverrideRequest", "ReasonProvider", "SessionPort"]
