"""Writing a chart to PNG or SVG and its data to CSV, atomically.

pyqtgraph's exporters write straight to the named file (a failure halfway leaves a broken
file, and ImageExporter does not report a failed ``QImage.save``). Here the picture is
rendered to memory first (pyqtgraph's ``ImageExporter`` with ``toBytes=True`` for PNG, Qt's
SVG generator for SVG: see :func:`_svg_bytes`), and the bytes go to a temporary file next to
the target that replaces it in one ``os.replace`` (:func:`heartops.atomic.atomic_path`), so
the target is either the old file, the complete new one, or absent. Every failure becomes an
:class:`ExportError` with a one-line message for the user.
"""

from __future__ import annotations

import enum
from pathlib import Path

import pandas as pd
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6 import QtCore, QtGui, QtSvg

from heartops.atomic import atomic_path

__all__ = ["ExportError", "ExportFormat", "default_file_name", "export_chart", "write_csv",
           "write_png", "write_svg"]


class ExportFormat(enum.StrEnum):
    """The formats a chart exports to (the value is the file suffix without the dot)."""

    PNG = "png"
    SVG = "svg"
    CSV = "csv"


class ExportError(Exception):
    """An export failed; ``str()`` is a one-line message for the user."""


def _fail(path: Path, error: BaseException | str) -> ExportError:
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return ExportError(f"Could not write {path.name} to {path.parent}: {reason}")


def write_png(scene: pg.GraphicsScene, path: Path, *, width: int | None = None) -> None:
    """Render ``scene`` (a chart's whole scene: plots, legend, colour bar) to a PNG file.

    Parameters
    ----------
    scene
        The ``GraphicsLayoutWidget``'s scene.
    path
        Target file.
    width
        Image width in pixels (height follows the aspect); the on-screen size by default.

    Raises
    ------
    ExportError
        If rendering or writing fails.
    """
    try:
        exporter = ImageExporter(scene)
        if width is not None:
            exporter.parameters()["width"] = int(width)
        image = exporter.export(toBytes=True)
        if not isinstance(image, QtGui.QImage) or image.isNull():
            raise ExportError(f"Could not render {path.name}: the chart has no size")
        with atomic_path(path, suffix=".png") as tmp:
            if not image.save(str(tmp)):  # the temporary name ends in .png: PNG
                raise ExportError(f"Could not write {path.name} to {path.parent}")
    except ExportError:
        raise
    except Exception as error:  # pyqtgraph raises bare Exception; OSError from the file system
        raise _fail(path, error) from error


def _svg_bytes(scene: pg.GraphicsScene) -> bytes:
    """Render the scene's visible area with Qt's SVG generator.

    Not pyqtgraph's ``SVGExporter``: with Qt 6.11 it fails on every path item (scatter
    symbols, legend samples) because it parses Qt's SVG path text by a format Qt no longer
    writes (pyqtgraph issue #3485). Qt's generator paints what the screen shows, as vectors.
    """
    view = scene.views()[0]
    source = view.mapToScene(view.viewport().rect()).boundingRect()
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    generator = QtSvg.QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QtCore.QSize(int(source.width()), int(source.height())))
    generator.setViewBox(QtCore.QRectF(0, 0, source.width(), source.height()))
    generator.setTitle("heartops chart")
    painter = QtGui.QPainter(generator)
    try:
        painter.fillRect(QtCore.QRectF(0, 0, source.width(), source.height()),
                         view.backgroundBrush())
        scene.render(painter, QtCore.QRectF(0, 0, source.width(), source.height()), source)
    finally:
        painter.end()
    return bytes(buffer.data().data())


def write_svg(scene: pg.GraphicsScene, path: Path) -> None:
    """Render ``scene`` to an SVG file.

    Raises
    ------
    ExportError
        If rendering or writing fails.
    """
    try:
        data = _svg_bytes(scene)
        if not data:
            raise ExportError(f"Could not render {path.name}: the chart has no size")
        with atomic_path(path, suffix=".svg") as tmp:
            tmp.write_bytes(data)
    except ExportError:
        raise
    except Exception as error:
        raise _fail(path, error) from error


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write a chart's data table to CSV (no index column; UTF-8).

    Raises
    ------
    ExportError
        If writing fails.
    """
    try:
        with atomic_path(path, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
    except Exception as error:
        raise _fail(path, error) from error


def export_chart(scene: pg.GraphicsScene, table: pd.DataFrame, path: Path,
                 fmt: ExportFormat) -> None:
    """Export a chart as ``fmt``: the picture of ``scene`` or the rows of ``table``.

    Raises
    ------
    ExportError
        If the export fails (nothing is left at ``path`` that was not there before).
    """
    if fmt is ExportFormat.PNG:
        write_png(scene, path)
    elif fmt is ExportFormat.SVG:
        write_svg(scene, path)
    else:
        write_csv(table, path)


def default_file_name(chart: str, fmt: ExportFormat) -> str:
    """Return a suggested file name: ``heartops-<chart>-<YYYY-MM-DD>.<fmt>``."""
    today = QtCore.QDate.currentDate().toString("yyyy-MM-dd")
    return f"heartops-{chart}-{today}.{fmt.value}"
