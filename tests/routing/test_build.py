"""Building networks: sources, the cache, reproducibility, and clear errors for bad input."""

from __future__ import annotations

import bz2
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from heartops.cli import main
from heartops.paths import networks_dir
from heartops.routing.build import build_network, drive_filter
from heartops.routing.network import RoadNetwork, load_network
from tests.conftest import REPO, require_shared

EAST_CAMPUS = "durham/osm/durham_downtown_eastcampus_2024-01-24.osm.bz2"

FOOTWAY_ONLY_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
  <node id="1" lat="36.0" lon="-78.9"/>
  <node id="2" lat="36.001" lon="-78.9"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>
</osm>
"""


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_drive_filter_is_osmnx_drive_query() -> None:
    keep = drive_filter()
    assert keep.accepts({"highway": "residential"})
    assert keep.accepts({"highway": "motorway_link", "access": "yes"})
    for tags in ({"highway": "footway"}, {"highway": "service"}, {"highway": "primary",
                 "access": "private"}, {"highway": "residential", "motor_vehicle": "no"},
                 {"building": "yes"}):
        assert not keep.accepts(tags), tags


def test_build_from_pbf_via_cli_writes_a_cache_that_round_trips(
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = require_shared("columbus/columbus.osm.pbf")
    code, out, err = _run_cli(["network", "build", str(source), "--name", "columbus"], capsys)
    assert code == 0, err
    assert "7,333 nodes" in out and "bounding box" in out and "built in" in out
    assert "keeping drivable roads" in err  # progress is shown
    network = load_network("columbus")
    assert network.node_count == 7333
    assert network.meta["speed_rule"] == "us-default"
    network.save(networks_dir() / "copy.npz")
    copy = RoadNetwork.load(networks_dir() / "copy.npz")
    assert np.array_equal(copy.fwd_time, network.fwd_time)
    assert np.array_equal(copy.rev_indices, network.rev_indices)
    code, out, _ = _run_cli(["network", "list"], capsys)
    assert "columbus" in out and "copy" in out
    code, out, _ = _run_cli(["network", "info", "columbus", "--json"], capsys)
    assert '"nodes": 7333' in out


def test_reverse_csr_is_the_transpose_of_the_forward_csr() -> None:
    source = require_shared(EAST_CAMPUS)
    network = build_network(str(source), name="east").network
    forward = set(zip(network.edge_tail.tolist(), network.fwd_indices.tolist(), strict=True))
    heads = np.repeat(np.arange(network.node_count), np.diff(network.rev_indptr))
    reverse = set(zip(network.rev_indices.tolist(), heads.tolist(), strict=True))
    assert forward == reverse
    assert np.array_equal(network.edge_tail[network.rev_edge], network.rev_indices)


def test_build_from_osm_xml_keeps_only_drivable_roads() -> None:
    network = build_network(str(require_shared(EAST_CAMPUS)), name="east").network
    # 1,722 drivable nodes before simplification; 203 after simplification + largest SCC,
    # exactly what osmnx's own graph_from_xml + drive filter + simplify give.
    assert network.node_count == 203
    assert network.meta["bbox"][0] == pytest.approx(-78.9347, abs=1e-3)


def test_builds_are_identical_whatever_the_hash_seed(tmp_path: Path) -> None:
    # Columbus has simplified edges that merge several highway/maxspeed values; without the
    # canonical list order its total travel time varies with PYTHONHASHSEED (STACK.md).
    source = require_shared("columbus/columbus.osm.pbf")
    script = (
        "import sys, hashlib; from heartops.routing.build import build_network;"
        "n = build_network(sys.argv[1], name='c').network;"
        "print(hashlib.sha256(n.fwd_time.tobytes() + n.fwd_indices.tobytes()).hexdigest())"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(source)], stdout=subprocess.PIPE,
                         text=True, env=dict(os.environ, PYTHONHASHSEED=seed,
                                             HEARTOPS_CACHE_DIR=str(tmp_path / seed)))
        for seed in ("1", "2")
    ]
    digests = {run.communicate(timeout=300)[0].strip() for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert len(digests) == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.osm.pbf", None, "no such file"),
        ("empty.osm", b"", "not a readable OSM file"),
        ("corrupt.osm.pbf", b"\x00\x01this is not protobuf" * 50, "not a readable OSM file"),
        ("corrupt.osm", b"<osm><node id='1' lat=", "not a readable OSM file"),
        ("corrupt.osm.bz2", b"BZh9 definitely not bzip2", "not a readable OSM file"),
        ("footways.osm", FOOTWAY_ONLY_OSM.encode(), "no drivable roads"),
        ("footways.osm.bz2", bz2.compress(FOOTWAY_ONLY_OSM.encode()), "no drivable roads"),
        ("broken.graphml", b"<graphml><graph", "not a readable osmnx GraphML file"),
        ("roads.shp", b"whatever", "unsupported file type"),
    ],
)
def test_bad_sources_give_one_line_errors_and_no_cache(
    name: str, content: bytes | None, message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, _, err = _run_cli(["network", "build", str(path), "--name", "bad"], capsys)
    assert code == 1
    error_lines = [line for line in err.splitlines() if line.startswith("heartops: error:")]
    assert len(error_lines) == 1 and message in error_lines[0] and name in error_lines[0]
    assert "Traceback" not in err
    assert list(networks_dir().iterdir()) == []  # nothing half-written


def test_unknown_network_and_bad_names_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run_cli(["network", "info", "atlantis"], capsys)
    assert code == 1 and "unknown network 'atlantis'" in err
    code, _, err = _run_cli(["network", "build", "x.osm", "--name", "../evil"], capsys)
    assert code == 1 and "invalid network name" in err


def test_place_name_offline_fails_fast_and_says_to_pass_a_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    def unreachable(*args: object, **kwargs: object) -> socket.socket:
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    code, _, err = _run_cli(["network", "build", "Durham, North Carolina, USA"], capsys)
    assert code == 1
    assert "unreachable" in err and "FILE.osm.pbf" in err


def test_help_and_version_do_not_import_qt() -> None:
    script = (
        "import sys, contextlib, io\n"
        "from heartops.cli import main\n"
        "for args in (['--version'], ['--help'], ['network', 'list']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(args)\n"
        "assert not [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]\n"
        "print('clean')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, check=False)
    assert done.stdout.strip() == "clean", done.stderr
    version = subprocess.run([sys.executable, "-m", "heartops.cli", "--version"],
                             capture_output=True, text=True, check=True)
    assert version.stdout.startswith("heartops 0.")


def test_hash_of_cache_file_is_stable(tmp_path: Path) -> None:
    source = require_shared(EAST_CAMPUS)
    first = build_network(str(source), name="one").path
    second = build_network(str(source), name="two").path
    assert first.read_bytes() != b""
    one, two = RoadNetwork.load(first), RoadNetwork.load(second)
    for field in ("node_osmid", "fwd_time", "geom_lon", "street_names"):
        assert hashlib.sha256(getattr(one, field).tobytes()).digest() == \
            hashlib.sha256(getattr(two, field).tobytes()).digest()
