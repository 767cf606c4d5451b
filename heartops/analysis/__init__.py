"""heartops.analysis layer."""
