"""heartops.feeds layer."""
