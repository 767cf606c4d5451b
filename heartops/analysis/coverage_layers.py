"""Coverage as map layers: demand cells with their coverage, as a GeoDataFrame or GeoPackage.

One row per cell (lon/lat hexagon, EPSG:4326 like every other heartops layer): the cell id,
its expected calls, and per threshold ``covered_<T>`` and ``minutes_<T>`` (modelled minutes to
scene from the nearest source, empty where uncovered) and ``source_<T>`` (index of that
source). The Qt dock can draw the same frame; the CLI writes it with ``--out``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from heartops.analysis.coverage import Coverage
from heartops.analysis.demand_grid import HexGrid
from heartops.atomic import atomic_path

__all__ = ["coverage_cells", "write_coverage_gpkg"]

LAYER = "coverage"


def coverage_cells(grid: HexGrid, coverages: Sequence[Coverage], *,
                   labels: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """Return the cells with their demand and coverage at each threshold (EPSG:4326).

    Parameters
    ----------
    grid
        The cells.
    coverages
        One :class:`Coverage` per threshold, all of the same demand.
    labels
        Names of the sources (``source_<T>`` then holds the name, not the index).
    """
    columns: dict[str, object] = {"cell": np.arange(grid.size)}
    if coverages:
        columns["expected_calls"] = coverages[0].demand
    for cover in coverages:
        tag = f"{cover.minutes:g}".replace(".", "_")
        columns[f"covered_{tag}"] = cover.covered
        columns[f"minutes_{tag}"] = np.where(cover.covered, np.round(cover.to_scene_min, 2),
                                             np.nan)
        source = cover.nearest
        if labels is not None:
            names = np.asarray([*labels, ""], dtype=object)
            columns[f"source_{tag}"] = names[np.where(source >= 0, source, len(labels))]
        else:
            columns[f"source_{tag}"] = source
    polygons = gpd.GeoSeries(grid.polygons(), crs=grid.crs).to_crs(4326)
    return gpd.GeoDataFrame(pd.DataFrame(columns), geometry=shapely.make_valid(
        polygons.to_numpy()), crs=4326)


def write_coverage_gpkg(frame: gpd.GeoDataFrame, path: Path, *, layer: str = LAYER) -> Path:
    """Write the cells as one GeoPackage layer, atomically (the file is replaced)."""
    with atomic_path(path, suffix=".gpkg") as tmp:
        frame.to_file(tmp, layer=layer, driver="GPKG")
    return path
