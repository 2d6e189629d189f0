"""The package version (one home: ppkgtool/__init__.py re-exports it; the builder stamps it into NOTES)."""

__version__ = "0.1.0"
