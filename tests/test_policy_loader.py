"""The live policy in a function (`remedy.policy_live.loader`) against a bucket on moto.

A cold start reads the live bundle; a warm invocation within the minute makes no call,
one after it a conditional GET; a pushed version takes effect at the next check; a bundle
damaged in the bucket never takes effect: the function keeps the last good one, logs the
version and why, and emits PolicyLoadFailed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from live_policy_support import (
    BUCKET,
    OWN_IDS,
    Clock,
    Refusals,
    live_bucket,
    policy_folder,
    versions,
)
from remedy import policy_files
from remedy.cli import main
from remedy.model import Severity
from remedy.policy_live import loader
from remedy.policy_live.bucket import KEY, PolicyBucket
from remedy.policy_live.bundle import content_hash
from remedy.settings import Settings
from template_support import properties, seen_by

CHANNEL = "#payments-security"
NEW_CHANNEL = "#payments-sec-2"
#: 111111111111 in the shipped accounts.yaml, made deployable.
PAYMENTS = OWN_IDS["111111111111"]


class Calls:
    """Every S3 request the loader's client makes, by operation."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.s3", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names


_s3 = pytest.fixture(name="s3")(live_bucket)
_folder = pytest.fixture(name="folder")(policy_folder)


def live(s3: Any, tmp_path: Path, clock: Clock, refused: Refusals) -> loader.LivePolicy:
    return loader.LivePolicy(
        PolicyBucket(s3, BUCKET), workdir=tmp_path / "work", clock=clock, refused=refused
    )


def change_channel(folder: Path, channel: str) -> None:
    accounts = folder / "accounts.yaml"
    text = accounts.read_text(encoding="utf-8")
    assert f'channel: "{CHANNEL}"' in text
    accounts.write_text(text.replace(f'channel: "{CHANNEL}"', f'channel: "{channel}"'), "utf-8")


def channel(policy: Any) -> str:
    return str(policy.account(PAYMENTS).channel_for(Severity.LOW))


def corrupt(s3: Any, body: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return versions(s3)[0]


def test_warm_invocations_cost_no_call_and_a_push_takes_effect_within_a_minute(
    s3: Any, folder: Path, tmp_path: Path
) -> None:
    assert main(["policy", "push", str(folder)]) == 0
    first = versions(s3)[0]
    clock, refused = Clock(), Refusals()
    policy = live(s3, tmp_path, clock, refused)
    calls = Calls(s3)
    assert channel(policy.get()) == CHANNEL
    assert policy.version == first
    assert calls.take() == ["GetObject"]
    clock.now += 59
    assert policy.refresh() is False
    assert calls.take() == []
    clock.now += 1
    assert policy.refresh() is False  # 304: nothing new
    assert calls.take() == ["GetObject"]

    change_channel(folder, NEW_CHANNEL)
    assert main(["policy", "push", str(folder)]) == 0
    clock.now += 30
    assert policy.refresh() is False and channel(policy.get()) == CHANNEL
    clock.now += 30
    assert policy.refresh() is True
    assert channel(policy.get()) == NEW_CHANNEL
    assert policy.version == versions(s3)[0]
    # The actions' guard lists come from the same version's folder.
    assert policy_files.default_dir() == policy.get().directory
    assert (policy.get().directory / "accounts.yaml").read_text(encoding="utf-8") == (
        folder / "accounts.yaml"
    ).read_text(encoding="utf-8")
    assert refused == []


BROKEN = {
    "not-json": "not a policy bundle (not JSON: ",
    "edited-in-bucket": "changed in the bucket, not by remedy policy push",
    "fails-validation": "remediation.yaml:rules: {} is not of type 'array'",
}


def _broken(case: str, folder: Path) -> bytes:
    files = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.yaml")}
    if case == "not-json":
        return b"{not json"
    if case == "edited-in-bucket":
        stated = content_hash(files)
        files["accounts.yaml"] = files["accounts.yaml"].replace(CHANNEL, "#attacker")
        return json.dumps({"format": 1, "sha256": stated, "files": files}).encode()
    files["remediation.yaml"] = "version: 1\nrules: {}\n"
    return json.dumps({"format": 1, "sha256": content_hash(files), "files": files}).encode()


@pytest.mark.parametrize("case", ["not-json", "edited-in-bucket", "fails-validation"])
def test_a_bundle_damaged_in_the_bucket_is_refused_and_the_last_good_one_kept(
    case: str, s3: Any, folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["policy", "push", str(folder)]) == 0
    good = versions(s3)[0]
    clock, refused = Clock(), Refusals()
    policy = live(s3, tmp_path, clock, refused)
    before = policy.get()
    bad = corrupt(s3, _broken(case, folder))
    clock.now += 60
    with caplog.at_level(logging.ERROR, logger="remedy.policy_live.loader"):
        assert policy.refresh() is False
    assert policy.get() is before and policy.version == good
    ((version, reason),) = refused
    assert version == bad
    where = f"s3://{BUCKET}/{KEY}?versionId={bad}"
    if case == "fails-validation":
        assert reason.startswith(f"{where}/")
    else:
        assert reason.startswith(f"{where}: ")
    assert BROKEN[case] in reason
    assert caplog.messages == [f"policy version {bad} refused, keeping version {good}: {reason}"]
    # While it stays live each check says so again (the alarm stays up) without reading it.
    calls = Calls(s3)
    clock.now += 60
    assert policy.refresh() is False
    assert calls.take() == ["GetObject"]
    assert len(refused) == 2 and refused[1] == (bad, reason)
    # A cold start meanwhile takes the newest good version, as warm functions kept it.
    cold = live(s3, tmp_path, Clock(), Refusals())
    assert cold.version is None
    assert channel(cold.get()) == CHANNEL and cold.version == good


def test_the_refusal_is_the_policy_load_failed_metric(
    s3: Any, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "push", str(folder)]) == 0
    clock = Clock()
    policy = loader.LivePolicy(PolicyBucket(s3, BUCKET), workdir=tmp_path / "w", clock=clock)
    policy.get()
    corrupt(s3, b"garbage")
    capsys.readouterr()
    clock.now += 60
    policy.refresh()
    # Exactly what PolicyLoadFailedAlarm selects: namespace, name and dimensions.
    assert seen_by("PolicyLoadFailedAlarm", capsys.readouterr().out) == [1.0]


def test_an_empty_bucket_means_the_policy_built_into_the_function(
    s3: Any, folder: Path, tmp_path: Path
) -> None:
    policy = loader.LivePolicy(
        PolicyBucket(s3, BUCKET), built_in=folder, workdir=tmp_path / "w", clock=Clock()
    )
    assert policy.get().directory == folder and policy.version == loader.BUILT_IN
    no_fallback = loader.LivePolicy(PolicyBucket(s3, BUCKET), workdir=tmp_path / "w")
    with pytest.raises(loader.NoGoodPolicy, match="holds no policy bundle yet"):
        no_fallback.get()


def test_a_cold_start_with_no_good_version_refuses_to_run(
    s3: Any, folder: Path, tmp_path: Path
) -> None:
    corrupt(s3, b"garbage")
    refused = Refusals()
    policy = live(s3, tmp_path, Clock(), refused)
    with pytest.raises(loader.NoGoodPolicy, match="no version of the policy bundle loads"):
        policy.get()
    assert len(refused) == 1


def test_functions_use_the_bucket_their_settings_name(
    s3: Any, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["policy", "push", str(folder)]) == 0
    settings = Settings.from_env()
    assert settings.policy_bucket == BUCKET
    policy = loader.current_policy(settings)
    assert channel(policy) == CHANNEL
    first = loader.version(check=True)  # within the minute: no call
    assert first == versions(s3)[0]
    change_channel(folder, NEW_CHANNEL)
    assert main(["policy", "push", str(folder)]) == 0
    assert loader._live is not None
    monkeypatch.setattr(loader._live, "_checked_at", loader._live._checked_at - 60)
    assert loader.version() == first
    assert loader.version(check=True) == versions(s3)[0] != first
    assert channel(loader.current_policy(settings)) == NEW_CHANNEL


def test_a_warm_function_rebuilds_its_pipeline_when_a_new_version_takes_effect(
    s3: Any, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools import Metrics

    from remedy.handlers.runtime import Runtime

    monkeypatch.setenv("REMEDY_POLICY_REFRESH_SECONDS", "0")
    monkeypatch.setenv("REMEDY_EXTERNAL_ID", "remedy-tests-external-id-0001")
    assert main(["policy", "push", str(folder)]) == 0
    runtime = Runtime(Metrics(namespace="remedy", service="remedy"))
    first = runtime.pipeline
    assert channel(first.policy) == CHANNEL
    assert runtime.pipeline is first  # nothing new: the same pieces
    change_channel(folder, NEW_CHANNEL)
    assert main(["policy", "push", str(folder)]) == 0
    second = runtime.pipeline
    assert second is not first
    assert channel(second.policy) == NEW_CHANNEL
    assert runtime.pipeline is second


def test_the_core_template_holds_the_bucket_private_versioned_and_encrypted() -> None:
    bucket = properties("PolicyBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["CoreKey", "Arn"]},
    }
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4


def _actions(policy: str) -> set[str]:
    found: set[str] = set()
    for statement in properties(policy)["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def test_functions_read_the_policy_and_pushers_add_versions_and_nothing_deletes() -> None:
    assert _actions("PolicyReadGrant") == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucketVersions",
        "kms:Decrypt",
    }
    roles = {r["Ref"] for r in properties("PolicyReadGrant")["Roles"]}
    assert roles == {
        "RemediatorRole",
        "InteractionsFunctionRole",
        "EmailApprovalFunctionRole",
        "SlackOutboxFunctionRole",
    }
    assert _actions("PolicyPusherPolicy") == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:ListBucketVersions",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "dynamodb:Query",
    }
