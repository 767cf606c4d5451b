"""Small-count suppression for published tables, and the check an attacker's view must pass.

A table here is a 2-D array of counts *with its margins*: the last column holds row totals,
the last row column totals, the corner the grand total. Every row and every column of that
array is one additive relation (the interior cells sum to the margin cell), so the same rule
covers interior cells and totals alike.

Suppression (:func:`suppress`):

1. primary: every cell, totals included, with a count from 1 to ``high`` (10);
2. complementary, to a fixed point:

   * a relation with exactly one suppressed cell would give it away by subtraction, so the
     smallest unsuppressed non-zero cell of that relation is suppressed too (a zero is taken
     only when nothing else is left: hiding a zero beside a small count hides little);
   * a relation whose margin is published reveals the *sum* of its suppressed cells; when
     that sum is itself 1..``high`` another cell is suppressed (two 3s in a row would show
     "6 calls" otherwise);
   * finally, cells that subtraction across several relations still pins down (found with
     linear algebra, below) get a complement in one of their relations.

The check (:func:`disclosure_problems`) is independent of how the table was suppressed: it
sees only what is published (``NaN`` for a hidden cell) and asks, like an attacker with the
margins, whether any hidden cell has exactly one value consistent with every relation (its
coordinate is zero in every null-space vector of the relations restricted to hidden cells),
and whether any relation with a published margin reveals a hidden sum of 1..``high``.
Bounds reasoning (counts are not negative) can narrow a hidden cell to a range; exact recovery
and small revealed sums are what is checked.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

__all__ = ["HIGH", "LOW", "Relation", "disclosure_problems", "relations", "suppress"]

LOW = 1
HIGH = 10
_TOL = 1e-9

Relation = tuple[tuple[tuple[int, int], ...], tuple[int, int]]
"""``(interior cells, margin cell)``: the interior cells sum to the margin cell."""

IntTable = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


def relations(shape: tuple[int, int]) -> list[Relation]:
    """Return every additive relation of a table with margins of ``shape``.

    Parameters
    ----------
    shape
        ``(rows + 1, columns + 1)``: the last row and column are the totals.

    Returns
    -------
    list of Relation
        One per row (including the totals row) and one per column (including the totals
        column).
    """
    n_rows, n_cols = shape
    found: list[Relation] = []
    for r in range(n_rows):
        found.append((tuple((r, c) for c in range(n_cols - 1)), (r, n_cols - 1)))
    for c in range(n_cols):
        found.append((tuple((r, c) for r in range(n_rows - 1)), (n_rows - 1, c)))
    return found


def check_margins(table: IntTable) -> None:
    """Raise ``ValueError`` unless every margin equals the sum of its interior cells."""
    for cells, margin in relations(table.shape):
        if sum(int(table[cell]) for cell in cells) != int(table[margin]):
            raise ValueError(f"table margin {margin} does not equal the sum of its cells")


def suppress(table: IntTable, *, low: int = LOW, high: int = HIGH) -> Mask:
    """Return the mask of cells to hide so no small count is published or derivable.

    Parameters
    ----------
    table
        Non-negative counts with margins (see the module docstring).
    low, high
        The primary-suppression range, inclusive.

    Returns
    -------
    numpy.ndarray of bool
        ``True`` where the cell must be hidden.
    """
    check_margins(table)
    hidden: Mask = (table >= low) & (table <= high)
    rels = relations(table.shape)
    while True:
        if _apply_relation_rules(table, hidden, rels, low=low, high=high):
            continue
        exposed = _exactly_determined(hidden, rels)
        if not exposed or not _complement_for(table, hidden, rels, exposed[0]):
            return hidden


def disclosure_problems(published: npt.NDArray[np.float64], *, low: int = LOW,
                        high: int = HIGH) -> list[str]:
    """Return what an attacker could learn from a published table (empty when it is safe).

    Parameters
    ----------
    published
        Counts with margins as published; ``NaN`` marks a hidden cell.
    low, high
        The range of counts that must never be published or derivable.

    Returns
    -------
    list of str
        One line per problem, naming the cell (row, column) and how it leaks.
    """
    problems: list[str] = []
    hidden: Mask = np.isnan(published)
    shown = np.where(hidden, 0.0, published)
    for (r, c) in zip(*np.nonzero(~hidden), strict=True):
        value = float(shown[r, c])
        if value != round(value) or value < 0:
            problems.append(f"cell ({r}, {c}) holds {value:g}, not a count")
        elif low <= value <= high:
            problems.append(f"cell ({r}, {c}) publishes the small count {value:g}")
    rels = relations(published.shape)
    for cells, margin in rels:
        if hidden[margin]:
            continue
        hidden_cells = [cell for cell in cells if hidden[cell]]
        revealed = float(shown[margin]) - sum(float(shown[cell]) for cell in cells)
        if not hidden_cells:
            if abs(revealed) > _TOL:
                problems.append(f"margin {margin} does not equal the sum of its cells")
        elif low <= revealed <= high:
            problems.append(f"margin {margin} minus its published cells reveals "
                            f"{revealed:g} across hidden cells {hidden_cells}")
    for cell in _exactly_determined(hidden, rels):
        problems.append(f"hidden cell {cell} can be recovered exactly by subtraction")
    return problems


# -- internals ----------------------------------------------------------------------------


def _apply_relation_rules(table: IntTable, hidden: Mask, rels: list[Relation], *, low: int,
                          high: int) -> bool:
    """Apply the one-hidden-cell and small-revealed-sum rules once; return whether any fired."""
    changed = False
    for cells, margin in rels:
        members = (*cells, margin)
        n_hidden = sum(bool(hidden[cell]) for cell in members)
        if n_hidden == 0:
            continue
        leaks = n_hidden == 1
        if not leaks and not hidden[margin]:
            revealed = sum(int(table[cell]) for cell in cells if hidden[cell])
            leaks = low <= revealed <= high
        if leaks and _hide_smallest(table, hidden, members):
            changed = True
    return changed


def _hide_smallest(table: IntTable, hidden: Mask, members: tuple[tuple[int, int], ...]) -> bool:
    """Hide the smallest shown non-zero member (a zero only if no other is left)."""
    shown = [cell for cell in members if not hidden[cell]]
    if not shown:
        return False
    nonzero = [cell for cell in shown if table[cell] > 0]
    pick = min(nonzero or shown, key=lambda cell: (int(table[cell]), cell))
    hidden[pick] = True
    return True


def _complement_for(table: IntTable, hidden: Mask, rels: list[Relation],
                    cell: tuple[int, int]) -> bool:
    """Hide one more cell in a relation of ``cell``; return False when none is left."""
    for cells, margin in rels:
        members = (*cells, margin)
        if cell in members and _hide_smallest(table, hidden, members):
            return True
    return False


def _exactly_determined(hidden: Mask, rels: list[Relation]) -> list[tuple[int, int]]:
    """Return the hidden cells whose value the relations fix (in row-major order).

    The published cells move to the right-hand side, leaving ``A x = b`` over the hidden cells.
    A hidden cell is fixed exactly when every solution of ``A x = 0`` has a zero in its place.
    """
    unknown = [(int(r), int(c)) for r, c in zip(*np.nonzero(hidden), strict=True)]
    if not unknown:
        return []
    column = {cell: i for i, cell in enumerate(unknown)}
    rows = list(_coefficient_rows(rels, column))
    if not rows:
        return []
    matrix = np.array(rows, dtype=np.float64)
    _, singular, vt = np.linalg.svd(matrix, full_matrices=True)
    rank = int((singular > _TOL * max(1.0, float(singular.max(initial=0.0)))).sum())
    null = vt[rank:]
    if null.shape[0] == 0:
        return unknown
    free = np.abs(null).max(axis=0) > 1e-7
    return [cell for cell, is_free in zip(unknown, free, strict=True) if not is_free]


def _coefficient_rows(rels: list[Relation],
                      column: dict[tuple[int, int], int]) -> Iterator[list[float]]:
    for cells, margin in rels:
        row = [0.0] * len(column)
        touched = False
        for cell in cells:
            if cell in column:
                row[column[cell]] = 1.0
                touched = True
        if margin in column:
            row[column[margin]] = -1.0
            touched = True
        if touched:
            yield row
