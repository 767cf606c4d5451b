"""heartops: operations and dispatch desktop GIS for alternative crisis response."""

__version__ = "0.1.0"
