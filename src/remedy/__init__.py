"""remedy: multi-account central remediation for AWS findings."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # The version is pyproject.toml's, as installed: read on demand, so a cold start that
    # never asks does not pay for importlib.metadata.
    if name == "__version__":
        from importlib import metadata

        return metadata.version("remedy")
    raise AttributeError(f"module 'remedy' has no attribute {name!r}")
