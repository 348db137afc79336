"""The S3 owner-pin check the action tests rely on (`s3_owner`) can fail, and sees only
the remediation role."""

from __future__ import annotations

import pytest

from fixtures_guard import MEMBERS, REGION, Core, admin, running_core

_core = pytest.fixture(name="core")(running_core)

A, B = MEMBERS


def test_an_unpinned_call_by_the_role_is_reported(core: Core) -> None:
    admin(A, "s3").create_bucket(Bucket="pins-a")
    s3 = core.sessions.client("s3", A, REGION, finding_key="finding-1")
    s3.put_public_access_block(
        Bucket="pins-a",
        PublicAccessBlockConfiguration={"BlockPublicAcls": True},
        ExpectedBucketOwner=B,
    )
    s3.get_public_access_block(Bucket="pins-a")
    s3.get_public_access_block(Bucket="pins-a", ExpectedBucketOwner=A)
    s3.list_buckets()  # takes no owner
    assert core.s3_calls.operations() == [
        "PutPublicAccessBlock",
        "GetPublicAccessBlock",
        "GetPublicAccessBlock",
        "ListBuckets",
    ]
    assert core.s3_calls.unpinned() == [
        f"PutPublicAccessBlock in {A}: ExpectedBucketOwner is '{B}'",
        f"GetPublicAccessBlock in {A}: ExpectedBucketOwner is None",
    ]
    core.s3_calls.calls.clear()  # so the fixture's own check passes


def test_admin_calls_are_not_recorded(core: Core) -> None:
    core.prime(A)
    admin(A, "s3").create_bucket(Bucket="pins-admin")
    admin(A, "s3").get_bucket_location(Bucket="pins-admin")
    assert core.s3_calls.calls == []
