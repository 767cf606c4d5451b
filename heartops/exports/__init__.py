"""heartops.exports layer."""
