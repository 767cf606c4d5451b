"""The routing benchmark runs end to end and reports identical drive times both ways."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from heartops.routing.build import build_network
from tests.conftest import REPO, require_shared


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" /
                                                  f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_routing_benchmark_on_durham_reports_ratios_and_no_difference() -> None:
    build_network(str(require_shared("durham/osm/durham_downtown_drive.graphml")), name="durham")
    result = _load("routing").run("durham", units=8, repeat=1, seed=3)
    for key in ("recommend_naive_s", "recommend_heartops_s", "recommend_ratio",
                "coverage_ratio", "isochrones_ratio", "snap_ratio", "load_ratio"):
        assert result[key] > 0, key
    assert result["max_abs_diff_s"] <= 0.01
    assert result["snap_agreement"] > 0.95


def test_metrics_benchmark_agrees_both_ways_and_imports_every_call() -> None:
    result = _load("metrics").run(5_000, import_calls=2_000, seed=5)
    assert result["table_naive_s"] > 0 and result["table_heartops_s"] > 0
    assert result["table_max_abs_diff"] < 1e-6
    assert result["table_programs"] == ["CCD", "COR", "CRT"]
    assert result["import_inserted"] == result["import_stored"] == 2_000
    assert result["import_sample_agrees"] and result["import_naive_sample_stored"] == 2_000
    assert result["import_naive_s"] > 0 and result["import_ratio"] > 0


def test_board_tick_benchmark_runs_both_ways(demo_city: object, qapp: object) -> None:
    import argparse

    args = argparse.Namespace(units=12, calls=20, repeat=2, seed=3)
    result = _load("board_tick").run(args)
    for key in ("tick_heartops_ms", "tick_naive_ms", "tick_paint_heartops_ms",
                "map_redraw_heartops_ms", "map_redraw_naive_ms"):
        assert result[key] > 0, key


def test_coverage_benchmark_agrees_with_per_pair_and_textbook_solve() -> None:
    build_network(str(require_shared("durham/osm/durham_downtown_drive.graphml")), name="durham")
    result = _load("coverage").run("durham", posts=6, candidates=20, cells=150, k=3,
                                   minutes=8.0, sample_cells=8, repeat=1, synthetic=True)
    for key in ("coverage_ratio", "matrix_ratio", "solve_ratio", "greedy_s"):
        assert result[key] > 0, key
    assert result["coverage_agree"] and result["matrix_agree"]
    assert result["solve_heartops_optimal"] and result["solve_textbook_optimal"]
    assert result["mclp_objective_diff"] < 1e-6
    assert result["mclp_share_greedy"] <= result["mclp_share_exact"] + 1e-12
