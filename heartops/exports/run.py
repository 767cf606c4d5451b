"""Run one export: fetch, apply the profile, check a public export, write atomically.

:func:`export_layers` is what both the CLI and the app's File menu call (the app on a worker
thread, passing its own ``Store`` and a progress callback that emits a Qt signal).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import geopandas as gpd

from heartops.core.avl import AvlFix
from heartops.core.progress import Progress, no_progress
from heartops.exports.layers import (
    calls_layer,
    isochrones_layer,
    tracks_layer,
    units_layer,
    zones_layer,
)
from heartops.exports.model import (
    ExportError,
    ExportKind,
    ExportRequest,
    ExportResult,
    Layer,
    LayerSummary,
    Profile,
)
from heartops.exports.profiles import GRID_M, PUBLIC_KINDS, apply_profile
from heartops.exports.suppression import HIGH, LOW
from heartops.exports.validate import check_public
from heartops.exports.writers import write_layers
from heartops.routing.demo_setup import demo_layer
from heartops.store import Store

__all__ = ["export_layers"]

_STORE_KINDS = frozenset({ExportKind.CALLS, ExportKind.UNITS, ExportKind.TRACKS})


@dataclass(frozen=True)
class _Context:
    request: ExportRequest
    store: Store | None
    progress: Progress


def export_layers(request: ExportRequest, progress: Progress = no_progress, *,
                  store: Store | None = None) -> ExportResult:
    """Export the layers ``request`` asks for.

    Parameters
    ----------
    request
        What, how, for whom and where.
    progress
        Receives a step line and the fraction done.
    store
        An open store (the app's); without one, ``request.db`` is opened (and closed) when a
        kind needs the store.

    Returns
    -------
    ExportResult
        The files written and a summary per layer.

    Raises
    ------
    ExportError
        A kind the profile does not publish, or a failed write (nothing is left behind).
    DisclosureError
        A public export that fails its disclosure check; nothing is written.
    HeartopsError
        An unknown network or zone layer, an unreachable database.
    """
    if request.profile is Profile.PUBLIC:
        refused = [str(k) for k in request.kinds if k not in PUBLIC_KINDS]
        if refused:
            raise ExportError(f"the public profile does not publish {', '.join(refused)}: "
                              "they show where staff are; use --profile partner")
    with _store_for(request, store) as opened:
        ctx = _Context(request, opened, progress)
        zones = _zones(request) if _needs_zones(request) else None
        layers = []
        for i, kind in enumerate(request.kinds):
            progress(f"collecting {kind}", 0.6 * i / len(request.kinds))
            raw = _collect(kind, ctx, zones)
            layers.append(apply_profile(raw, request.profile, zones=zones))
    if request.profile is Profile.PUBLIC:
        progress("checking the public export for disclosure", 0.6)
        check_public(layers)
    paths = write_layers(layers, request.format, request.out, profile=request.profile,
                         progress=lambda step, f=None: progress(
                             step, None if f is None else 0.65 + 0.35 * f))
    progress("export written", 1.0)
    return ExportResult(paths=tuple(paths), layers=tuple(_summary(layer) for layer in layers),
                        profile=request.profile, format=request.format,
                        notes=_notes(request.profile))


@contextlib.contextmanager
def _store_for(request: ExportRequest, store: Store | None) -> Iterator[Store | None]:
    if store is not None or not _STORE_KINDS & set(request.kinds):
        yield store
        return
    from heartops.store import open_store

    with open_store(request.db) as opened:
        yield opened


def _needs_zones(request: ExportRequest) -> bool:
    return (ExportKind.ZONES in request.kinds
            or (request.profile is Profile.PUBLIC and ExportKind.CALLS in request.kinds))


def _zones(request: ExportRequest) -> gpd.GeoDataFrame:
    from heartops.routing.zones import load_zone_layer

    return load_zone_layer(request.zone_layer or demo_layer(request.network, "beats"))


def _collect(kind: ExportKind, ctx: _Context, zones: gpd.GeoDataFrame | None) -> Layer:
    request, store = ctx.request, ctx.store
    if kind is ExportKind.ZONES:
        assert zones is not None
        return zones_layer(zones)
    if kind is ExportKind.ISOCHRONES:
        return _isochrones(request, ctx.progress)
    assert store is not None  # _store_for opened one for these kinds
    if kind is ExportKind.CALLS:
        return calls_layer(store.calls(received_from=request.received_from,
                                       received_before=request.received_before))
    if kind is ExportKind.UNITS:
        return units_layer(store.units())
    fixes: dict[str, list[AvlFix]] = {}
    for record in store.units():
        unit_id = record.unit.unit_id
        fixes[unit_id] = store.fixes(unit_id, start=request.received_from,
                                     end=request.received_before)
    return tracks_layer(fixes)


def _isochrones(request: ExportRequest, progress: Progress) -> Layer:
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import load_network
    from heartops.routing.posts import load_posts

    posts = load_posts(request.network)
    if not posts:
        raise ExportError(f"network {request.network!r} has no staging posts to draw "
                          "isochrones around")
    engine = TravelTimeEngine(load_network(request.network))
    areas: list[tuple[Any, float, Any]] = []
    for i, post in enumerate(posts, start=1):
        progress(f"isochrones around post {post.post_id} ({i}/{len(posts)})", None)
        areas.extend((post, m, engine.isochrone(post.location, m)) for m in request.minutes)
    return isochrones_layer(posts, areas)


def _summary(layer: Layer) -> LayerSummary:
    return LayerSummary(kind=layer.kind, rows=len(layer.frame),
                        geometry_type=layer.geometry_type,
                        suppressed_cells=int(layer.frame.attrs.get("suppressed_cells", 0)))


def _notes(profile: Profile) -> tuple[str, ...]:
    if profile is Profile.PARTNER:
        return ("no names, phone numbers, addresses, notes or destinations; points moved to "
                f"the centre of their {GRID_M:g} m grid cell (about one street block)",)
    if profile is Profile.PUBLIC:
        return (f"calls counted per zone and priority; counts {LOW}-{HIGH} and the cells that "
                "would reveal them are left empty; no points, no free text",)
    return ("internal: exact points and every field; do not share outside the department",)


def kinds_from_text(text: str) -> tuple[ExportKind, ...]:
    """Parse ``calls,zones`` into kinds (for the CLI and settings files).

    Raises
    ------
    ExportError
        Naming an unknown kind and the known ones.
    """
    kinds: list[ExportKind] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        try:
            kinds.append(ExportKind(part))
        except ValueError:
            known = ", ".join(k.value for k in ExportKind)
            raise ExportError(f"unknown export kind {part!r}; choose from {known}") from None
    return tuple(dict.fromkeys(kinds))


def minutes_from_text(text: str) -> tuple[float, ...]:
    """Parse ``5,10,15`` into isochrone drive times.

    Raises
    ------
    ExportError
        On anything but positive numbers.
    """
    try:
        minutes = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ExportError(f"bad --minutes {text!r}: expected numbers like 5,10,15") from None
    if not minutes:
        raise ExportError("--minutes needs at least one drive time")
    return minutes


def window_from_dates(date_from: str | None, date_to: str | None, *,
                      network: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Return ``[start, end)`` for local dates ``date_from`` .. ``date_to`` (both included).

    Dates are days in the network's time zone (recorded when it was built; UTC when the
    network is unknown or records none), so "--to 2025-06-02" includes that evening's calls.

    Raises
    ------
    ExportError
        On a date not written YYYY-MM-DD, or an end before the start.
    """
    zone = _network_zone(network) if (date_from or date_to) else dt.UTC

    def at_midnight(text: str, what: str, *, next_day: bool) -> dt.datetime:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ExportError(f"bad {what} {text!r}: expected YYYY-MM-DD") from None
        if next_day:
            day += dt.timedelta(days=1)
        return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)

    start = None if date_from is None else at_midnight(date_from, "--from", next_day=False)
    end = None if date_to is None else at_midnight(date_to, "--to", next_day=True)
    if start is not None and end is not None and end <= start:
        raise ExportError(f"--to {date_to} is before --from {date_from}")
    return start, end


def _network_zone(network: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from heartops.core.errors import NetworkError
    from heartops.routing.network import read_meta

    try:
        name = read_meta(network).get("timezone")
        return ZoneInfo(str(name)) if name else dt.UTC
    except (NetworkError, ZoneInfoNotFoundError, ValueError):
        return dt.UTC
