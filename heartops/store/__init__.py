"""heartops.store layer."""
