"""The interactive HTML export works offline: Leaflet inlined, nothing fetched from a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from exports_helpers import PERSONAL_NAME

from heartops.exports import ExportFormat, ExportKind, ExportRequest, Profile, export_layers

pytestmark = pytest.mark.usefixtures("demo_city")

EXTERNAL_SRC = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


@pytest.mark.parametrize("profile", [Profile.INTERNAL, Profile.PUBLIC])
def test_html_map_bundles_leaflet_and_references_no_cdn(
        export_db: Path, tmp_path: Path, profile: Profile) -> None:
    out = tmp_path / "map.html"
    kinds = (ExportKind.CALLS, ExportKind.ZONES)
    export_layers(ExportRequest(kinds=kinds, format=ExportFormat.HTML, profile=profile,
                                out=out, db=str(export_db)))
    html = out.read_text(encoding="utf-8")
    assert not EXTERNAL_SRC.search(html)
    assert not re.search(r"(?:cdn\.jsdelivr|cdnjs|unpkg|code\.jquery)\.[a-z]+/", html)
    assert "L.map(" in html and "Leaflet" in html  # the library itself is inlined
    assert '"FeatureCollection"' in html and "calls" in html and "zones" in html
    assert f"profile: {profile}" in html
    assert (PERSONAL_NAME in html) is (profile is Profile.INTERNAL)
    assert not re.search(r"\{z\}/\{x\}/\{y\}", html)  # no tile layer (it would need the web)
    assert 1_000_000 < out.stat().st_size < 10_000_000
