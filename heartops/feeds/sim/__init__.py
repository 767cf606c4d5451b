"""The shift simulator, split by concern (see :mod:`heartops.feeds.simulator` for the API)."""
