"""IAM.3 and IAM.8 beyond the shared control tests (`test_action_controls.py`): which keys
each control condemns (IAM.3 by creation, IAM.8 by last use, or creation if never used),
the threshold the finding carries for its control in either format, the exact record and
outcome, the console password named and never removed, and release re-activating only
the deactivated keys or refusing, naming the key, when one changed since.

Keys are made months ago on moto by making moto's calls at that time (freezegun): moto
records a key's creation and each use signed with it at the time of the call, so
``GetAccessKeyLastUsed`` and ``ListAccessKeys`` answer as AWS would; no Stubber is needed.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from freezegun import freeze_time

from control_cases import CASES, MADE, USER, days_ago, new_key, user_keys
from control_events import asff_event, control_finding, ocsf_event
from fixtures_guard import MEMBERS, Core, admin, running_core
from remedy.actions.controls.iam_stale_access_keys import IamStaleAccessKeys
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State
from remedy.model import Finding
from remedy.normalise import normalise
from remedy.normalise.control_parameters import read

_core = pytest.fixture(name="core")(running_core)
A, B = MEMBERS
[CASE, _] = [c for c in CASES if c.remediation == "iam-stale-access-keys"]
LEAVER = "leaver"
PASSWORD_DAY = days_ago(365).date().isoformat()


def finding(account: str, control: str, fmt: str = "asff") -> Finding:
    asff, ocsf = CASE.resources(account)
    return control_finding(fmt, account, control, asff=asff, ocsf=ocsf)


def make(core: Core) -> IamStaleAccessKeys:
    for account in MEMBERS:
        CASE.setup(account)
    core.prime(*MEMBERS)
    return IamStaleAccessKeys(core.sessions, core.settings)


def leaver(account: str, *, old_key: bool) -> tuple[Finding, list[str]]:
    """A user made a year ago with a console password never used since (moto dates a login
    profile by its user's creation) and a young key, and an old one if `old_key`; the
    IAM.8 finding naming it, and its keys."""
    iam = admin(account, "iam")
    with freeze_time(days_ago(365)):
        iam.create_user(UserName=LEAVER)
        iam.create_login_profile(UserName=LEAVER, Password="Not-a-secret-1!")
    made = [new_key(account, created=200, user=LEAVER)] if old_key else []
    made.append(new_key(account, created=10, user=LEAVER))
    arn = f"arn:aws:iam::{account}:user/{LEAVER}"
    found = control_finding(
        "ocsf", account, "IAM.8", asff=("AwsIamUser", arn), ocsf=("AWS::IAM::User", "AIDA", arn)
    )
    return found, made


def keys(account: str) -> tuple[str, str]:
    return MADE[("old-key", account)], MADE[("young-key", account)]


def test_iam3_deactivates_keys_created_too_long_ago_and_records_each(core: Core) -> None:
    action = make(core)
    old, young = keys(A)
    outcome = action.run(finding(A, "IAM.3"), {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.QUARANTINED,
        f"fixed IAM.3: IAM user {USER} in {A} now has {old} Inactive, {young} Active "
        f"(before: {old} Active, {young} Active); deactivated the keys created more than 90 "
        "days ago (the control's default maxAccessKeyAge 90)",
    )
    assert outcome.attrs == {
        "resource": USER,
        "region": "us-east-1",
        "before": {old: "Active", young: "Active"},
        "after": {old: "Inactive", young: "Active"},
    }
    assert user_keys(A) == {old: "Inactive", young: "Active"}
    # The console password is IAM.8's, and never touched.
    assert admin(A, "iam").get_login_profile(UserName=USER)["LoginProfile"]["UserName"] == USER


def test_iam8_reads_last_use_and_names_the_stale_password_without_removing_it(
    core: Core,
) -> None:
    action = make(core)
    found, [old, young] = leaver(A, old_key=True)
    outcome = action.run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.QUARANTINED,
        f"fixed IAM.8: IAM user {LEAVER} in {A} now has {old} Inactive, {young} Active "
        f"(before: {old} Active, {young} Active); deactivated the keys last used, or created "
        "if never used, more than 90 days ago (the control's default maxCredentialUsageAge "
        f"90); console password unused since {PASSWORD_DAY}: not removed, a person must",
    )
    assert admin(A, "iam").get_login_profile(UserName=LEAVER)["LoginProfile"]["UserName"] == (
        LEAVER
    )


@pytest.mark.parametrize(
    "control,deactivated",
    [("IAM.3", {"old-key", "young-key"}), ("IAM.8", {"old-key"})],
)
def test_each_control_condemns_by_its_own_rule(
    core: Core, control: str, deactivated: set[str]
) -> None:
    # B's keys are both 300 days old; one was last used 120 days ago, the other 30.
    action = make(core)
    outcome = action.run(finding(B, control), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    expected = {
        MADE[(name, B)]: "Inactive" if name in deactivated else "Active"
        for name in ("old-key", "young-key")
    }
    assert user_keys(B) == expected == outcome.attrs["after"]


def with_parameter(event: dict[str, Any], fmt: str, name: str, value: str) -> dict[str, Any]:
    f = event["detail"]["findings"][0]
    if fmt == "asff":
        f["Compliance"]["SecurityControlParameters"] = [{"Name": name, "Value": [value]}]
    else:
        f["compliance"]["control_parameters"] = [{"name": name, "value": value}]
    return event


@pytest.mark.parametrize("fmt", ["asff", "ocsf"])
def test_the_threshold_the_finding_carries_for_its_control_is_used(core: Core, fmt: str) -> None:
    action = make(core)
    old, young = keys(A)
    arn = f"arn:aws:iam::{A}:user/{USER}"
    event = (
        asff_event(A, "IAM.3", "AwsIamUser", arn)
        if fmt == "asff"
        else ocsf_event(A, "IAM.3", "AWS::IAM::User", "AIDAEXAMPLEUSERID0001", arn)
    )
    [lenient] = normalise(with_parameter(event, fmt, "maxAccessKeyAge", "365"))
    outcome = action.run(lenient, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        f"already compliant: IAM user {USER} in {A} has {old} Active, {young} Active",
    )
    [strict] = normalise(with_parameter(event, fmt, "maxAccessKeyAge", "5"))
    outcome = action.run(strict, {}, resume=False)
    assert outcome.reason.endswith(
        "deactivated the keys created more than 5 days ago (maxAccessKeyAge 5 from the finding)"
    )
    assert user_keys(A) == {old: "Inactive", young: "Inactive"}


@pytest.mark.parametrize("value", ["0", "-3", "ninety", "٩٠", "36501", "99999999999999"])
def test_a_threshold_that_is_not_a_positive_number_of_days_falls_back_to_90(
    core: Core, value: str
) -> None:
    action = make(core)
    event = asff_event(A, "IAM.3", "AwsIamUser", f"arn:aws:iam::{A}:user/{USER}")
    [found] = normalise(with_parameter(event, "asff", "maxAccessKeyAge", value))
    outcome = action.run(found, {}, resume=False)
    assert outcome.reason.endswith("(the control's default maxAccessKeyAge 90)")


def test_a_stale_password_alone_is_refused_and_nothing_changes(core: Core) -> None:
    action = make(core)
    found, [young] = leaver(A, old_key=False)
    outcome = action.run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"IAM user {LEAVER} in {A}: no active access key is stale; console password unused "
        f"since {PASSWORD_DAY}: not removed, a person must; nothing changed",
    )
    [key] = admin(A, "iam").list_access_keys(UserName=LEAVER)["AccessKeyMetadata"]
    assert (key["AccessKeyId"], key["Status"]) == (young, "Active")
    assert admin(A, "iam").get_login_profile(UserName=LEAVER)["LoginProfile"]["UserName"] == (
        LEAVER
    )


def test_a_password_in_use_is_not_named(core: Core) -> None:
    action = make(core)
    outcome = action.run(finding(A, "IAM.8"), {}, resume=False)
    assert outcome.reason.endswith("(the control's default maxCredentialUsageAge 90)")


def test_iam8_leaves_a_key_used_recently_active(core: Core) -> None:
    action = make(core)
    # B's young key replaced by one made yesterday and used today: only the old one goes.
    admin(B, "iam").delete_access_key(UserName=USER, AccessKeyId=MADE[("young-key", B)])
    fresh = new_key(B, created=1, used=0)
    outcome = action.run(finding(B, "IAM.8"), {}, resume=False)
    assert outcome.state is State.QUARANTINED, outcome.reason
    assert user_keys(B) == {MADE[("old-key", B)]: "Inactive", fresh: "Active"}


def test_release_keeps_changes_to_keys_remedy_did_not_touch(core: Core) -> None:
    action = make(core)
    old, young = keys(A)
    outcome = action.run(finding(A, "IAM.3"), {}, resume=False)
    admin(A, "iam").delete_access_key(UserName=USER, AccessKeyId=young)
    undo = action.release(finding(A, "IAM.3"), outcome.attrs)
    assert undo.reason == f"restored IAM user {USER} in {A} to {old} Active"
    assert user_keys(A) == {old: "Active"}


@pytest.mark.parametrize("change", ["reactivated", "deleted"])
def test_release_refuses_naming_the_key_changed_since(core: Core, change: str) -> None:
    action = make(core)
    first, second = keys(B)
    outcome = action.run(finding(B, "IAM.3"), {}, resume=False)
    iam = admin(B, "iam")
    if change == "reactivated":
        iam.update_access_key(UserName=USER, AccessKeyId=first, Status="Active")
    else:
        iam.delete_access_key(UserName=USER, AccessKeyId=first)
    now = "Active" if change == "reactivated" else "unset"
    changed = user_keys(B)
    with pytest.raises(ActionFailed) as refused:
        action.release(finding(B, "IAM.3"), outcome.attrs)
    assert (refused.value.state, refused.value.reason) == (
        State.CHANGED,
        f"IAM user {USER} in {B} changed since remedy fixed it ({first} was Inactive as "
        f"remedy left it, now {now}); nothing restored, to keep that change",
    )
    assert user_keys(B) == changed
    assert changed[second] == "Inactive"


def test_a_finding_of_another_control_is_refused(core: Core) -> None:
    action = make(core)
    prior = user_keys(A)
    outcome = action.run(finding(A, "IAM.1"), {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"IAM user {USER} in {A}: the finding is of control IAM.1, not IAM.3 or IAM.8, so "
        "remedy cannot tell which access keys are stale; match this remediation to IAM.3 "
        "and IAM.8 only; nothing changed",
    )
    assert user_keys(A) == prior


def test_a_user_with_a_path_is_named_by_the_last_part_of_its_arn(core: Core) -> None:
    action = make(core)
    iam = admin(A, "iam")
    iam.create_user(UserName="deployer", Path="/ci/")
    with_path = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    arn = f"arn:aws:iam::{A}:user/ci/deployer"
    found = control_finding(
        "asff",
        A,
        "IAM.3",
        asff=("AwsIamUser", arn),
        ocsf=("AWS::IAM::User", "AIDAEXAMPLE", arn),
    )
    outcome = action.run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        f"already compliant: IAM user ci/deployer in {A} has {with_path} Active",
    )


def test_a_deleted_user_is_gone(core: Core) -> None:
    action = make(core)
    iam = admin(A, "iam")
    for key in user_keys(A):
        iam.delete_access_key(UserName=USER, AccessKeyId=key)
    iam.delete_login_profile(UserName=USER)
    iam.delete_user(UserName=USER)
    outcome = action.run(finding(A, "IAM.3"), {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.GONE,
        f"IAM user {USER} in {A} no longer exists; nothing changed",
    )


def test_control_parameters_are_read_by_name_and_odd_entries_left_out() -> None:
    entries = [
        {"Name": "maxAccessKeyAge", "Value": ["45"]},
        {"Name": "odd", "Value": [45]},
        {"Value": ["no name"]},
        "not an entry",
    ]
    assert read(entries, "Name", ("Value",)) == {"maxAccessKeyAge": ["45"]}
    assert read(
        [{"name": "a", "value": "1"}, {"name": "b", "values": ["2", "3"]}],
        "name",
        (
            "values",
            "value",
        ),
    ) == {"a": ["1"], "b": ["2", "3"]}
    assert read(None, "Name", ("Value",)) == {}


def test_a_custom_product_cannot_set_the_threshold() -> None:
    """A member account may import findings under its own product: a control's parameters
    are read, like its id, only from AWS's own products."""
    event = asff_event(A, "IAM.3", "AwsIamUser", f"arn:aws:iam::{A}:user/{USER}")
    event = with_parameter(event, "asff", "maxAccessKeyAge", "1")
    [ours] = normalise(copy.deepcopy(event))
    assert ours.parameters["control_parameters"] == {"maxAccessKeyAge": ["1"]}
    f = event["detail"]["findings"][0]
    f["ProductArn"] = f"arn:aws:securityhub:us-east-1:{A}:product/{A}/default"
    [theirs] = normalise(event)
    assert theirs.product.startswith("custom: ")
    assert "control_parameters" not in theirs.parameters
    assert "control_id" not in theirs.parameters
