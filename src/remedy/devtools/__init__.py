"""Tools for tests and ``remedy demo``: never imported by Lambda code."""
