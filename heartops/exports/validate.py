"""The last gate of a public export: look at what would be written, as an outsider would.

:func:`check_public` re-derives everything from the layers about to be written, not from the
suppression step's own bookkeeping, so a bug there cannot wave its own output through:

* no point geometry in any layer (and no ``lat``/``lon`` columns);
* no column that holds names, free text or record ids;
* every table is rebuilt from its count columns (the row total last) and its totals row,
  and must publish no count from 1 to 10 and let none be derived
  (:func:`heartops.exports.suppression.disclosure_problems`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from heartops.exports.model import DisclosureError, Layer
from heartops.exports.suppression import HIGH, LOW, disclosure_problems

__all__ = ["FORBIDDEN_PUBLIC_COLUMNS", "check_public", "public_problems"]

FORBIDDEN_PUBLIC_COLUMNS = frozenset({
    "address", "notes", "destination", "caller", "caller_name",
    "caller_phone", "phone", "call_id", "unit_ids", "unit_id", "lat", "lon", "author",
})
"""Columns that identify a person, a record or a point; never in a public export."""

_POINT_TYPES = frozenset({0, 4})  # shapely type ids of Point and MultiPoint


def check_public(layers: Sequence[Layer], *, low: int = LOW, high: int = HIGH) -> None:
    """Raise unless ``layers`` are safe to publish.

    Raises
    ------
    DisclosureError
        Naming the layer and the first problems found.
    """
    problems = public_problems(layers, low=low, high=high)
    if problems:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DisclosureError(f"public export refused, nothing written: {shown}{more}")


def public_problems(layers: Sequence[Layer], *, low: int = LOW,
                    high: int = HIGH) -> list[str]:
    """Return every reason ``layers`` are not safe to publish (empty when they are)."""
    problems: list[str] = []
    for layer in layers:
        frame = layer.frame
        where = f"layer {layer.kind}"
        geoms = np.asarray(frame.geometry.array, dtype=object)
        present = geoms[~shapely.is_missing(geoms)]
        if present.size and np.isin(shapely.get_type_id(present), list(_POINT_TYPES)).any():
            problems.append(f"{where} has point geometries")
        bad = sorted(FORBIDDEN_PUBLIC_COLUMNS & {str(c).lower() for c in frame.columns})
        if bad:
            problems.append(f"{where} has columns that identify people or points: "
                            f"{', '.join(bad)}")
        if layer.count_columns:
            problems.extend(f"{where}: {p}" for p in _table_problems(layer, low, high))
    return problems


def _table_problems(layer: Layer, low: int, high: int) -> list[str]:
    frame = layer.frame
    missing = [c for c in layer.count_columns if c not in frame.columns]
    if missing:
        return [f"count columns missing: {', '.join(missing)}"]
    totals = frame.index[frame["zone_id"] == layer.total_row_id]
    if len(totals) != 1:
        return [f"needs exactly one totals row {layer.total_row_id!r}, found {len(totals)}"]
    order = [*frame.index.difference(totals), totals[0]]
    published = _as_float(frame.loc[order, list(layer.count_columns)])
    rows = [str(z) for z in frame.loc[order, "zone_id"]]
    named = []
    for line in disclosure_problems(published, low=low, high=high):
        named.append(_name_cells(line, rows, layer.count_columns))
    return named


def _as_float(table: pd.DataFrame) -> npt.NDArray[np.float64]:
    values = table.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _name_cells(line: str, rows: list[str], columns: Sequence[str]) -> str:
    """Replace ``(r, c)`` cell positions in ``line`` by zone and column names."""
    for r, zone in enumerate(rows):
        for c, column in enumerate(columns):
            line = line.replace(f"({r}, {c})", f"({zone}, {column})")
    return line
