"""Staging posts: where teams wait between calls.

Posts are a short, hand-edited list, so they are kept as a CSV (``post_id,name,lat,lon``) per
city under the user data dir, which a shift commander can open in any spreadsheet.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from heartops.atomic import atomic_path
from heartops.core.errors import InputFileError
from heartops.core.geo import GeoPoint
from heartops.paths import data_dir

FIELDS = ("post_id", "name", "lat", "lon")


@dataclass(frozen=True, slots=True)
class Post:
    """A staging post."""

    post_id: str
    name: str
    location: GeoPoint


def posts_path(city: str) -> Path:
    """Return the posts file of ``city`` (a network name)."""
    path = data_dir() / "posts"
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{city}.csv"


def save_posts(city: str, posts: list[Post]) -> Path:
    """Write the posts of ``city`` atomically."""
    target = posts_path(city)
    with atomic_path(target, suffix=".csv") as tmp, tmp.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        for post in posts:
            writer.writerow([post.post_id, post.name, f"{post.location.lat:.7f}",
                             f"{post.location.lon:.7f}"])
    return target


def read_posts_csv(path: Path) -> list[Post]:
    """Read posts from a CSV with columns ``post_id,name,lat,lon``.

    Raises
    ------
    InputFileError
        Naming the file, row and problem when a row is unusable.
    """
    if not path.is_file():
        raise InputFileError(f"{path}: no such posts file")
    posts = []
    with path.open(newline="") as source:
        reader = csv.DictReader(source)
        missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise InputFileError(f"{path}: missing column(s) {', '.join(missing)}; "
                                 f"expected {','.join(FIELDS)}")
        for row_number, row in enumerate(reader, start=2):
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
                if not (math.isfinite(lat) and math.isfinite(lon)):
                    raise ValueError("not a finite number")
                location = GeoPoint(lat, lon)
            except ValueError as exc:
                raise InputFileError(f"{path}: row {row_number}: bad lat/lon ({exc})") from None
            posts.append(Post(row["post_id"].strip(), row["name"].strip(), location))
    if not posts:
        raise InputFileError(f"{path}: no posts in this file")
    return posts


def load_posts(city: str) -> list[Post]:
    """Return the posts of ``city`` (empty when none were saved)."""
    path = posts_path(city)
    return read_posts_csv(path) if path.exists() else []
