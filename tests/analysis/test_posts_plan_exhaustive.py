"""The exact post optimiser against exhaustive search, and its errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from heartops.analysis.coverage import PlanningError
from heartops.analysis.posts_plan import greedy_mclp, solve_mclp


def _instance(seed: int, cells: int = 40, candidates: int = 8) -> tuple[csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    cover = rng.random((cells, candidates)) < 0.22
    weights = rng.gamma(0.9, 2.0, cells) * (rng.random(cells) < 0.85)
    return csr_matrix(cover), weights


def _exhaustive(matrix: csr_matrix, weights: np.ndarray, k: int) -> float:
    dense = matrix.toarray()
    return max(float(weights[dense[:, list(chosen)].any(axis=1)].sum())
               for chosen in itertools.combinations(range(dense.shape[1]), k))


@pytest.mark.parametrize("seed", range(12))
def test_milp_equals_exhaustive_search(seed: int) -> None:
    matrix, weights = _instance(seed)
    k = 3
    exact = solve_mclp(matrix, weights, k)
    assert exact.optimal and len(exact.chosen) == k
    assert exact.covered == pytest.approx(_exhaustive(matrix, weights, k))
    greedy = greedy_mclp(matrix, weights, k)
    assert len(set(greedy.chosen)) == k
    assert greedy.covered <= exact.covered + 1e-9
    assert greedy.covered >= (1 - 1 / np.e) * exact.covered - 1e-9


def test_greedy_can_be_beaten_and_milp_finds_it() -> None:
    # c0 covers the two heavy cells (4), c1 and c2 one heavy and one light cell each (3):
    # greedy takes c0 first and ends at 5; c1 + c2 cover everything (6).
    cover = np.array([[1, 1, 0],
                      [0, 1, 0],
                      [1, 0, 1],
                      [0, 0, 1]], dtype=bool)
    weights = np.array([2.0, 1.0, 2.0, 1.0])
    matrix = csr_matrix(cover)
    assert greedy_mclp(matrix, weights, 2).covered == 5.0
    exact = solve_mclp(matrix, weights, 2)
    assert exact.covered == 6.0 and exact.chosen == (1, 2)


def test_k_larger_than_candidates_is_a_clear_error() -> None:
    matrix, weights = _instance(1)
    with pytest.raises(PlanningError, match="k=9 is more than the 8 candidate sites"):
        solve_mclp(matrix, weights, 9)
    with pytest.raises(PlanningError, match="at least 1"):
        greedy_mclp(matrix, weights, 0)


def test_nothing_to_cover_still_answers() -> None:
    matrix = csr_matrix(np.zeros((5, 4), dtype=bool))
    answer = solve_mclp(matrix, np.ones(5), 2)
    assert answer.covered == 0.0 and len(answer.chosen) == 2
