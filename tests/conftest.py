"""Shared fixtures: where the conformance corpus and the project's samples live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"
EVENTS = ROOT / "events"
POLICIES = ROOT / "policies"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.fail(
            f"conformance corpus not found at {CONFORMANCE}: clone ../shared beside the project"
        )
    return CONFORMANCE
