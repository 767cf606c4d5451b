"""heartops.qt layer."""
