"""heartops.core layer."""
