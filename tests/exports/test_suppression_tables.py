"""Small-count suppression with complementary cells, attacked by subtraction."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from heartops.exports.suppression import disclosure_problems, relations, suppress


def with_margins(interior: list[list[int]]) -> npt.NDArray[np.int64]:
    body = np.array(interior, dtype=np.int64)
    body = np.column_stack([body, body.sum(axis=1)])
    return np.vstack([body, body.sum(axis=0)])


def published(table: npt.NDArray[np.int64], hidden: npt.NDArray[np.bool_]
              ) -> npt.NDArray[np.float64]:
    return np.where(hidden, np.nan, table.astype(np.float64))


def peel_by_subtraction(shown: npt.NDArray[np.float64]) -> dict[tuple[int, int], float]:
    """The attacker: any relation with one unknown gives it away; repeat until stuck.

    Also returns, under the key (-1, -1), the smallest hidden sum any relation revealed.
    """
    known = shown.copy()
    recovered: dict[tuple[int, int], float] = {}
    progress = True
    while progress:
        progress = False
        for cells, margin in relations(known.shape):
            members = (*cells, margin)
            unknown = [cell for cell in members if np.isnan(known[cell])]
            if len(unknown) != 1:
                continue
            cell = unknown[0]
            interior = sum(known[c] for c in cells if c != cell)
            value = interior if cell == margin else known[margin] - interior
            known[cell] = value
            recovered[cell] = float(value)
            progress = True
    return recovered


def revealed_sums(shown: npt.NDArray[np.float64]) -> list[float]:
    """Hidden sums a published margin gives away (margin minus its published cells)."""
    sums = []
    for cells, margin in relations(shown.shape):
        hidden = [c for c in cells if np.isnan(shown[c])]
        if hidden and not np.isnan(shown[margin]):
            sums.append(float(shown[margin] - sum(shown[c] for c in cells if c not in hidden)))
    return sums


def test_a_lone_small_count_gets_complements_in_its_row_column_and_totals() -> None:
    table = with_margins([[3, 20, 15], [12, 40, 30], [25, 30, 14]])
    hidden = suppress(table)
    assert hidden[0, 0]  # the 3
    assert hidden[0].sum() >= 2 and hidden[:, 0].sum() >= 2
    shown = published(table, hidden)
    assert peel_by_subtraction(shown) == {}
    assert disclosure_problems(shown) == []


def test_totals_are_suppressed_too_and_protected() -> None:
    table = with_margins([[2, 0, 3], [0, 0, 0], [40, 50, 60]])  # row total 5 is small
    hidden = suppress(table)
    assert hidden[0, 3]  # the row total 5 itself
    shown = published(table, hidden)
    assert not any(1 <= v <= 10 for v in shown[~np.isnan(shown)])
    assert peel_by_subtraction(shown) == {}
    assert all(not 1 <= s <= 10 for s in revealed_sums(shown))


def test_two_small_cells_in_a_row_do_not_reveal_their_small_sum() -> None:
    table = with_margins([[3, 4, 50], [30, 40, 50], [20, 25, 60]])
    shown = published(table, suppress(table))
    assert all(not 1 <= s <= 10 for s in revealed_sums(shown))  # not "7 calls" across both


def test_primary_suppression_alone_is_caught_by_the_check() -> None:
    table = with_margins([[3, 20, 15], [12, 40, 30], [25, 30, 14]])
    shown = published(table, (table >= 1) & (table <= 10))
    assert peel_by_subtraction(shown)[(0, 0)] == 3
    problems = disclosure_problems(shown)
    assert any("recovered exactly" in p for p in problems)


def test_the_check_finds_a_cell_only_several_subtractions_recover() -> None:
    # A hidden cell bridging two hidden rectangles: every relation has two unknowns, so peeling
    # one relation at a time gets nowhere, yet the rows and columns together fix it.
    table = with_margins([
        [11, 12, 0, 0, 30],
        [13, 14, 5, 0, 30],
        [0, 0, 15, 16, 30],
        [0, 0, 17, 18, 30],
    ])
    hidden = np.zeros(table.shape, dtype=bool)
    for cell in [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 2), (2, 3), (3, 2), (3, 3)]:
        hidden[cell] = True
    shown = published(table, hidden)
    assert peel_by_subtraction(shown) == {}
    assert any("(1, 2) can be recovered" in p for p in disclosure_problems(shown))
    fixed = suppress(table)
    assert disclosure_problems(published(table, fixed)) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.one_of(st.integers(0, 3), st.integers(0, 12), st.integers(0, 60)),
                         min_size=2, max_size=5), min_size=2, max_size=6)
       .filter(lambda rows: len({len(r) for r in rows}) == 1))
def test_random_tables_publish_and_leak_no_small_count(interior: list[list[int]]) -> None:
    table = with_margins(interior)
    hidden = suppress(table)
    shown = published(table, hidden)
    values = shown[~np.isnan(shown)]
    assert not ((values >= 1) & (values <= 10)).any()
    recovered = peel_by_subtraction(shown)
    assert not recovered, f"recovered by subtraction: {recovered}"
    assert all(not 1 <= s <= 10 for s in revealed_sums(shown))
    assert disclosure_problems(shown) == []
    # published cells are the true ones
    assert np.array_equal(values, table[~hidden].astype(np.float64))
