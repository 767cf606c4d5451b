"""Printing report rows as an aligned text table, CSV or JSON (the CLI's ``--format``)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FORMATS", "Column", "render", "to_csv", "to_table"]

FORMATS = ("table", "csv", "json")
"""Output formats every analysis command offers."""


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the text table.

    Attributes
    ----------
    key
        Key in the row mappings.
    title
        Header text.
    digits
        Decimals for floats (``None``: print as is).
    thousands
        Group thousands of integers (``5,161``).
    """

    key: str
    title: str
    digits: int | None = None
    thousands: bool = False


def _cell(value: Any, column: Column) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and column.thousands:
        return f"{value:,}"
    if isinstance(value, float) and column.digits is not None:
        return f"{value:,.{column.digits}f}"
    return str(value)


def to_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Return ``rows`` as an aligned text table (text columns left, numbers right)."""
    cells = [[_cell(row.get(c.key), c) for c in columns] for row in rows]
    widths = [max([len(c.title), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [any(isinstance(row.get(c.key), int | float) and not isinstance(row.get(c.key),
                                                                            bool)
                   for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line([c.title for c in columns]), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return ``rows`` as CSV with a header of their keys (lists joined with ``;``)."""
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list | tuple) else
                         ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def render(fmt: str, *, rows: Sequence[Mapping[str, Any]], columns: Sequence[Column],
           document: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    """Return a report in ``fmt``.

    Parameters
    ----------
    fmt
        ``table`` (``columns`` of ``rows``, then ``notes``), ``csv`` (every key of ``rows``) or
        ``json`` (``document``, which should include the rows).
    rows, columns, document, notes
        The report.

    Raises
    ------
    ValueError
        On an unknown format.
    """
    if fmt == "table":
        return "\n".join([to_table(rows, columns), *notes])
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "json":
        return json.dumps(_json_safe(document), indent=2)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
