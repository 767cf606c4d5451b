"""A small dispatch history on the demo city, shared by the export tests (read only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from exports_helpers import PERSONAL_ADDRESS, PERSONAL_NAME, PERSONAL_PHONE, START, TRACKED_UNITS

from heartops.core.avl import AvlFix
from heartops.core.calls import new_call
from heartops.core.geo import GeoPoint


@pytest.fixture(scope="session")
def export_db(demo_city_dirs: tuple[Path, Path],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a SQLite file with one simulated day, two hand-made calls with personal details,
    and AVL tracks of two units."""
    from heartops.history import simulate_history
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import load_network
    from heartops.routing.posts import load_posts
    from heartops.store import open_store

    cache, data = demo_city_dirs
    db = tmp_path_factory.mktemp("exports") / "history.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(cache))
        patch.setenv("HEARTOPS_DATA_DIR", str(data))
        posts = load_posts("demo")
        engine = TravelTimeEngine(load_network("demo"))
        with open_store(str(db)) as store:
            simulate_history(store, network="demo", days=1.0, seed=11, start=START)
            for i, post in enumerate(posts[:2]):
                call = new_call(f"HAND-{i}", call_type="welfare_check", location=post.location,
                                received_at=START + dt.timedelta(hours=3, minutes=i),
                                address=PERSONAL_ADDRESS)
                store.create_call(call, desk="test", operator="tester")
                store.add_note(call.call_id, f"caller {PERSONAL_NAME} at {PERSONAL_PHONE}",
                               START + dt.timedelta(hours=3, minutes=i + 1), desk="test",
                               operator="tester")
            units = [record.unit.unit_id for record in store.units()][:TRACKED_UNITS]
            fixes = []
            for k, unit_id in enumerate(units):
                route = engine.route(posts[k].location, posts[k + 2].location)
                picks = np.linspace(0, len(route.lon) - 1, num=12).round().astype(int)
                for j, p in enumerate(picks):
                    fixes.append(AvlFix(unit_id, GeoPoint(float(route.lat[p]),
                                                          float(route.lon[p])),
                                        START + dt.timedelta(hours=4, seconds=30 * j)))
            recorded = store.record_fixes(fixes)
            assert recorded.stored == len(fixes)
    return db
