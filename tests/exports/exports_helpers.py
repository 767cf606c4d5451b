"""Personal details planted in the export tests' history, which only internal exports may hold."""

from __future__ import annotations

import datetime as dt

START = dt.datetime(2025, 6, 2, 5, tzinfo=dt.UTC)
PERSONAL_NAME = "Jordan Q. Testperson"
PERSONAL_PHONE = "919-555-0142"
PERSONAL_ADDRESS = "1207 Example Street"
TRACKED_UNITS = 2
