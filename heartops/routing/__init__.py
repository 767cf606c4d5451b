"""heartops.routing layer."""
