"""s3-block-public-access on moto across two member accounts.

moto authorises bucket-level PublicAccessBlock calls as if they were ListBucket,
CreateBucket and DeleteBucket (its S3 action map misses the ``publicAccessBlock`` query),
so its policy enforcement cannot tell whether the declared permissions suffice. These
tests therefore run the calls on moto without enforcement, and refuse them with botocore's
Stubber (which checks the parameters against the real S3 model) to test access denied.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from botocore.stub import Stubber

from conftest import CONFORMANCE, POLICIES, load_json
from fixtures_guard import (
    MEMBERS,
    REGION,
    Core,
    admin,
    finding,
    resource,
    running_core,
)
from remedy.actions.reversible import ActionFailed
from remedy.actions.s3_block_public import ALL_ON, S3BlockPublicAccess
from remedy.errors import PolicyError
from remedy.ledger.base import State
from remedy.model import ResourceKind, Source
from remedy.normalise import normalise
from remedy.policy_files import load_allowlist

_core = pytest.fixture(name="core")(running_core)

A, B = MEMBERS
PERMISSIONS = S3BlockPublicAccess.permissions
PARTIAL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": False,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}


def make_bucket(account: str, name: str, config: dict[str, bool] | None = None) -> None:
    s3 = admin(account, "s3")
    s3.create_bucket(Bucket=name)
    if config is not None:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=config)


def config_of(account: str, bucket: str) -> dict[str, bool] | None:
    try:
        return admin(account, "s3").get_public_access_block(Bucket=bucket)[
            "PublicAccessBlockConfiguration"
        ]
    except admin(account, "s3").exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"
        return None


def policy_call(account: str, bucket: str) -> object:
    """The recorded public PutBucketPolicy event, for our bucket in `account`."""
    event = copy.deepcopy(load_json(CONFORMANCE / "cloudtrail-s3-putbucketpolicy-public.json"))
    event["account"] = event["detail"]["recipientAccountId"] = account
    event["region"] = event["detail"]["awsRegion"] = REGION
    event["detail"]["requestParameters"]["bucketName"] = bucket
    [found] = normalise(event)
    return found


def macie_finding(account: str, bucket: str) -> object:
    event = copy.deepcopy(
        load_json(CONFORMANCE / "macie-policy-awscli-s3bucketpublicreadaccess.json")
    )
    event["account"] = event["detail"]["accountId"] = account
    event["detail"]["resourcesAffected"]["s3Bucket"]["name"] = bucket
    event["detail"]["resourcesAffected"]["s3Bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    [found] = normalise(event)
    return found


@pytest.fixture
def policy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "public-bucket-allowlist.yaml").write_text(
        "version: 1\nallow:\n"
        f"  - accounts: ['{B}']\n    buckets: ['www.*']\n    why: static website\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.usefixtures("policy_dir")
def test_blocks_public_bucket_records_previous_and_release_restores(core: Core) -> None:
    make_bucket(A, "site-a", PARTIAL)
    make_bucket(B, "site-b")
    core.prime(A, B)
    action = S3BlockPublicAccess(core.sessions, core.settings)
    found_a, found_b = policy_call(A, "site-a"), macie_finding(B, "site-b")

    out_a = action.run(found_a, {}, resume=False)
    assert (out_a.state, out_a.reason) == (
        State.QUARANTINED,
        f"turned on all four Block Public Access settings for bucket site-a in {A} "
        "(before: BlockPublicAcls on)",
    )
    assert out_a.attrs == {"bucket": "site-a", "region": REGION, "previous": PARTIAL}
    assert config_of(A, "site-a") == ALL_ON
    assert config_of(B, "site-b") is None  # the other account untouched so far

    out_b = action.run(found_b, {}, resume=False)
    assert out_b.reason == (
        f"turned on all four Block Public Access settings for bucket site-b in {B} "
        "(before: no configuration)"
    )
    assert out_b.attrs["previous"] is None

    again = action.run(found_a, {}, resume=False)
    assert (again.state, again.reason) == (
        State.GONE,
        f"already fixed: all four Block Public Access settings are on for bucket site-a in {A}",
    )
    resumed = action.run(found_a, {}, resume=True)
    assert resumed.reason.endswith(
        "(an earlier attempt may have turned them on; the configuration before it was not recorded)"
    )

    assert action.release(found_a, out_a.attrs).reason == (
        "restored bucket site-a to BlockPublicAcls on"
    )
    assert config_of(A, "site-a") == PARTIAL
    assert action.release(found_b, out_b.attrs).reason == (
        "restored bucket site-b to no configuration"
    )
    assert config_of(B, "site-b") is None
    assert action.release(found_b, out_b.attrs).reason == (
        "already restored: bucket site-b has no configuration"
    )


@pytest.mark.usefixtures("policy_dir")
def test_allowlisted_bucket_is_left_public(core: Core) -> None:
    make_bucket(B, "www.example.com")
    make_bucket(A, "www.example.org")
    core.prime(A, B)
    action = S3BlockPublicAccess(core.sessions, core.settings)
    outcome = action.run(macie_finding(B, "www.example.com"), {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        f"left public: bucket www.example.com in {B} is on the public-bucket allow-list "
        "(static website)",
    )
    assert config_of(B, "www.example.com") is None
    # The allow-list entry is for account B only.
    other = action.run(macie_finding(A, "www.example.org"), {}, resume=False)
    assert other.state is State.QUARANTINED


def test_security_hub_control_finding_and_missing_bucket(core: Core) -> None:
    make_bucket(A, "data-a")
    core.prime(A)
    action = S3BlockPublicAccess(core.sessions, core.settings)
    control = finding(
        A,
        source=Source.SECURITYHUB,
        type="Software and Configuration Checks",
        resources=(resource(ResourceKind.S3_BUCKET, "arn:aws:s3:::data-a", bucket="data-a"),),
        parameters={"control_id": "S3.8"},
    )
    assert action.run(control, {}, resume=False).state is State.QUARANTINED
    gone = finding(
        A,
        source=Source.SECURITYHUB,
        type="x",
        resources=(resource(ResourceKind.S3_BUCKET, "arn:aws:s3:::nope-a", bucket="nope-a"),),
    )
    outcome = action.run(gone, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        f"bucket nope-a no longer exists in {A}",
    )


def test_empty_bucket_name_changes_nothing(core: Core) -> None:
    """AWS logged a PutBucketAcl with ``bucketName: ""``: there is nothing to act on."""
    event = load_json(CONFORMANCE / "cloudtrail-s3-putbucketacl.json")
    [found] = normalise(event)
    outcome = S3BlockPublicAccess(core.sessions, core.settings).run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        "the finding names no bucket; nothing changed",
    )
    core.prime(A)  # the fixture's ExternalId check needs one AssumeRole


def refusing(core: Core, account: str, operation: str, answers: dict[str, object]) -> Stubber:
    """A Stubber on the action's own client in `account`: `operation` is refused as S3
    refuses a role lacking its permission; the calls before it get `answers`."""
    client = core.sessions.client("s3", account, REGION, finding_key="finding-1")
    stubber = Stubber(client)
    for name, response in answers.items():
        stubber.add_response(name, response, {"Bucket": "site-a", "ExpectedBucketOwner": account})
    stubber.add_client_error(
        operation,
        service_error_code="AccessDenied",
        service_message="Access Denied",
        http_status_code=403,
    )
    return stubber


def test_every_call_pins_the_finding_account_as_owner(core: Core, policy_dir: Path) -> None:
    make_bucket(A, "site-a", PARTIAL)
    make_bucket(B, "www.example.com")
    action = S3BlockPublicAccess(core.sessions, core.settings)
    found = policy_call(A, "site-a")
    action.release(found, action.run(found, {}, resume=False).attrs)
    action.run(macie_finding(B, "www.example.com"), {}, resume=False)
    assert [(c.operation, c.account, c.pins) for c in core.s3_calls.calls] == [
        (operation, account, {"ExpectedBucketOwner": account})
        for operation, account in (
            ("GetPublicAccessBlock", A),
            ("PutPublicAccessBlock", A),
            ("GetPublicAccessBlock", A),
            ("PutPublicAccessBlock", A),
            # Allow-listed: read (which proves the owner), then left alone.
            ("GetPublicAccessBlock", B),
        )
    ]


def test_a_bucket_of_another_account_is_refused_not_changed(core: Core, policy_dir: Path) -> None:
    """A finding in A naming B's bucket (allow-listed for B only): S3 refuses the pinned
    read as it refuses any call whose ExpectedBucketOwner is not the bucket's owner, so
    nothing is changed and the allow-list is not consulted for A."""
    make_bucket(B, "www.example.com")
    action = S3BlockPublicAccess(core.sessions, core.settings)
    client = core.sessions.client("s3", A, REGION, finding_key="finding-1")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_public_access_block",
            service_error_code="AccessDenied",
            service_message="Access Denied",
            http_status_code=403,
            expected_params={"Bucket": "www.example.com", "ExpectedBucketOwner": A},
        )
        outcome = action.run(macie_finding(A, "www.example.com"), {}, resume=False)
        stubber.assert_no_pending_responses()
    assert (outcome.state, outcome.reason) == (
        State.DENIED,
        f"blocking public access to bucket www.example.com: the remediation role in {A} may "
        "not call s3:GetBucketPublicAccessBlock; update the member stack so its role grants "
        "what the remediation actions declare",
    )
    assert config_of(B, "www.example.com") is None


@pytest.mark.parametrize(
    ("operation", "answers", "permission"),
    [
        ("get_public_access_block", {}, "s3:GetBucketPublicAccessBlock"),
        (
            "put_public_access_block",
            {"get_public_access_block": {"PublicAccessBlockConfiguration": PARTIAL}},
            "s3:PutBucketPublicAccessBlock",
        ),
    ],
)
def test_refused_call_is_denied_and_names_the_permission(
    core: Core, operation: str, answers: dict[str, object], permission: str
) -> None:
    assert permission in PERMISSIONS
    make_bucket(A, "site-a", PARTIAL)
    action = S3BlockPublicAccess(core.sessions, core.settings)
    found = policy_call(A, "site-a")
    with refusing(core, A, operation, answers) as stubber:
        outcome = action.run(found, {}, resume=False)
        stubber.assert_no_pending_responses()
    assert (outcome.state, outcome.reason) == (
        State.DENIED,
        f"blocking public access to bucket site-a: the remediation role in {A} may not call "
        f"{permission}; update the member stack so its role grants what the remediation "
        "actions declare",
    )
    assert config_of(A, "site-a") == PARTIAL


def test_release_refuses_to_overwrite_a_later_change(core: Core) -> None:
    make_bucket(A, "site-a")
    core.prime(A)
    action = S3BlockPublicAccess(core.sessions, core.settings)
    found = policy_call(A, "site-a")
    outcome = action.run(found, {}, resume=False)
    admin(A, "s3").put_public_access_block(Bucket="site-a", PublicAccessBlockConfiguration=PARTIAL)
    with pytest.raises(ActionFailed) as caught:
        action.release(found, outcome.attrs)
    assert (caught.value.state, caught.value.reason) == (
        State.CHANGED,
        "bucket site-a's Block Public Access settings changed since remedy set them (now "
        "BlockPublicAcls on); nothing restored, to keep that change",
    )
    assert config_of(A, "site-a") == PARTIAL


def test_release_denied_names_put_permission(core: Core) -> None:
    """DeletePublicAccessBlock (releasing to "no configuration") needs the Put permission."""
    make_bucket(A, "site-a")
    action = S3BlockPublicAccess(core.sessions, core.settings)
    found = policy_call(A, "site-a")
    outcome = action.run(found, {}, resume=False)
    assert outcome.attrs["previous"] is None
    answers = {"get_public_access_block": {"PublicAccessBlockConfiguration": ALL_ON}}
    with (
        refusing(core, A, "delete_public_access_block", answers) as stubber,
        pytest.raises(ActionFailed) as caught,
    ):
        action.release(found, outcome.attrs)
    stubber.assert_no_pending_responses()
    assert (caught.value.state, caught.value.reason) == (
        State.DENIED,
        f"restoring public access settings of bucket site-a: the remediation role in {A} may "
        "not call s3:PutBucketPublicAccessBlock; update the member stack so its role grants "
        "what the remediation actions declare",
    )
    assert config_of(A, "site-a") == ALL_ON


def test_shipped_allowlist_loads_and_a_bad_one_names_file_and_path(tmp_path: Path) -> None:
    assert load_allowlist(POLICIES).reason(A, "anything") is None
    path = tmp_path / "public-bucket-allowlist.yaml"
    path.write_text(
        "version: 1\nallow:\n  - accounts: ['12345']\n    buckets: []\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as caught:
        load_allowlist(tmp_path)
    assert caught.value.problems == [
        f"{path}:allow[0]: 'why' is a required property",
        f"{path}:allow[0].accounts[0]: '12345' does not match '^([0-9]{{12}}|\\\\*)$'",
        f"{path}:allow[0].buckets: [] should be non-empty",
    ]


def test_unreadable_allowlist_fails_and_changes_nothing(
    core: Core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bucket(A, "site-a")
    core.prime(A)
    path = tmp_path / "public-bucket-allowlist.yaml"
    path.write_text("version: 2\nallow: []\n", encoding="utf-8")
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(tmp_path))
    outcome = S3BlockPublicAccess(core.sessions, core.settings).run(
        policy_call(A, "site-a"), {}, resume=False
    )
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"the allow-list cannot be read; nothing changed: {path}:version: 1 was expected",
    )
    assert config_of(A, "site-a") is None
