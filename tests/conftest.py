"""Shared fixtures: where the conformance corpus and the project's samples live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remedy.model import Finding

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"
EVENTS = ROOT / "events"
POLICIES = ROOT / "policies"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def event(name: str) -> dict[str, Any]:
    """The project's sample event ``events/<name>``."""
    data: dict[str, Any] = load_json(EVENTS / name)
    return data


def one(raw: dict[str, Any]) -> Finding:
    """The one finding `raw` is read into."""
    from remedy.normalise import normalise

    (finding,) = normalise(raw)
    return finding


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    """Fake credentials in `region` for moto; no profile or account override may leak in."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.fail(
            f"conformance corpus not found at {CONFORMANCE}: clone ../shared beside the project"
        )
    return CONFORMANCE
