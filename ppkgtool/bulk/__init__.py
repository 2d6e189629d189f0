"""Bulk: provision and package many devices from a CSV, resumably (issue 10)."""
