"""accounts.yaml by organizational unit and account tag, resolved through AWS Organizations.

An organisation on moto: the management account (moto's default) with nested units
Root/Workloads/Prod, Root/Workloads/Dev and Root/Sandbox, member accounts in them, tags on
some, and a core account whose identity may only assume the read-only role in the
management account. Time is a clock the tests move; nothing sleeps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode
from moto import mock_aws
from moto.core import enable_iam_authentication

from conftest import fake_aws_credentials
from notify_support import (
    SIGNING_SECRET,
    TABLE,
    Ledger,
    click_body,
    create_at,
    create_table,
    finding_from,
    put_entry,
    sign,
    slack_client,
)
from policy_support import DEFAULT_ONLY_ACCOUNTS, finding, policy_dir
from remedy.cli import main
from remedy.devtools.slack_server import SlackServer
from remedy.errors import PolicyError
from remedy.ledger.base import State
from remedy.ledger.dynamodb import DynamoDBLedgerStore
from remedy.model import Action, Severity
from remedy.notify.slack import SlackNotifier
from remedy.notify.slack_message import QUARANTINE_ACTION
from remedy.policy import Policy, decide, load_policy
from remedy.policy.accounts import OrgUnit
from remedy.policy.organizations import (
    OrganizationsUnavailable,
    OrgDirectory,
    attach,
    load_resolved_policy,
)
from remedy.settings import Settings
from template_support import CORE as CORE_TEMPLATE

REGION = "us-east-1"
MANAGEMENT = "123456789012"
OUTSIDE = "555555555555"
ROLE_NAME = "remedy-organizations-read"
ROLE_ARN = f"arn:aws:iam::{MANAGEMENT}:role/{ROLE_NAME}"
EXTERNAL_ID = "remedy-tests-external-id-0001"
READ_ONLY = [
    "organizations:ListParents",
    "organizations:DescribeOrganizationalUnit",
    "organizations:ListTagsForResource",
    "organizations:DescribeAccount",
    "organizations:ListAccounts",
]

ACCOUNTS = """\
version: 1
aggregators: ["999999999999"]
default:
  name: unlisted account
  environment: unknown
  owners: [cloud-security@example.com]
  slack: {{channel: "#sec-findings"}}
  approvers: {{usergroup: S0SECAPPROVE}}
accounts:
  "{listed}":
    name: listed-in-file
    environment: staging
organizational_units:
  Root/Workloads:
    owners: [workloads@example.com]
    slack: {{channel: "#workloads", channels_by_severity: {{CRITICAL: "#workloads-oncall"}}}}
  Root/Workloads/Prod:
    environment: prod
    approvers: {{users: [U0PRODPATH1]}}
  {prod}:
    approvers: {{users: [U0PRODBYID1]}}
  {sandbox}:
    environment: dev
organizations:
  cache_minutes: 10
  tags: {{owners: "team:owners"}}
  environments: [pci]
"""


class Clock:
    """Epoch seconds the test moves by hand; starts now (STS's expiry times are real)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


@dataclass
class Org:
    client: Any
    root: str
    ous: dict[str, str]
    accounts: dict[str, str]
    folder: Path
    calls: list[str] = field(default_factory=list)

    def directory(self, clock: Clock) -> OrgDirectory:
        return OrgDirectory(lambda: self.client, max_age=10 * 60, clock=clock)

    def policy(self, clock: Clock, folder: Path | None = None) -> Policy:
        policy = load_policy(folder or self.folder)
        return replace(policy, accounts=policy.accounts.attached(self.directory(clock)))

    def tag(self, name: str, **tags: str) -> None:
        self.client.tag_resource(
            ResourceId=self.accounts[name], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )

    def take_calls(self) -> list[str]:
        taken, self.calls[:] = list(self.calls), []
        return taken


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Org]:
    fake_aws_credentials(monkeypatch, REGION)
    monkeypatch.delenv("REMEDY_ORG_ROLE_ARN", raising=False)
    with mock_aws():
        client = boto3.client("organizations", region_name=REGION)
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]

        def unit(parent: str, name: str) -> str:
            ou = client.create_organizational_unit(ParentId=parent, Name=name)
            return str(ou["OrganizationalUnit"]["Id"])

        workloads = unit(root, "Workloads")
        ous = {
            "workloads": workloads,
            "prod": unit(workloads, "Prod"),
            "dev": unit(workloads, "Dev"),
            "sandbox": unit(root, "Sandbox"),
        }
        accounts = {}
        for name, where in (
            ("payments", "prod"),
            ("ledger", "prod"),
            ("listed", "prod"),
            ("analytics", "dev"),
            ("lab", "sandbox"),
            ("core", None),
        ):
            status = client.create_account(Email=f"{name}@example.com", AccountName=name)
            account = status["CreateAccountStatus"]["AccountId"]
            accounts[name] = account
            if where is not None:
                client.move_account(
                    AccountId=account, SourceParentId=root, DestinationParentId=ous[where]
                )
        folder = policy_dir(
            tmp_path,
            accounts=ACCOUNTS.format(
                listed=accounts["listed"], prod=ous["prod"], sandbox=ous["sandbox"]
            ),
        )
        world = Org(client, root, ous, accounts, folder)
        client.meta.events.register(
            "before-call.organizations.*",
            lambda model, **_: world.calls.append(model.name),
        )
        yield world


def test_an_account_inherits_from_its_closest_unit_then_default(org: Org) -> None:
    policy = org.policy(Clock())
    resolution = policy.accounts.resolve(org.accounts["payments"])
    info = resolution.info
    prod, workloads = org.ous["prod"], org.ous["workloads"]
    assert info.ous == (
        OrgUnit(prod, "Root/Workloads/Prod"),
        OrgUnit(workloads, "Root/Workloads"),
    )
    assert (info.name, info.environment, info.owners, info.listed) == (
        "payments",
        "prod",
        ("workloads@example.com",),
        False,
    )
    assert info.channel_for(Severity.HIGH) == "#workloads"
    assert info.channel_for(Severity.CRITICAL) == "#workloads-oncall"
    # The same unit named by id and by path: the id's block wins.
    assert info.approvers.users == ("U0PRODBYID1",)
    assert info.approvers.usergroup is None
    assert resolution.sources == {
        "name": "organizations: the account's name",
        "environment": 'accounts.yaml organizational_units["Root/Workloads/Prod"]',
        "owners": 'accounts.yaml organizational_units["Root/Workloads"]',
        "slack": 'accounts.yaml organizational_units["Root/Workloads"]',
        "approvers": f'accounts.yaml organizational_units["{prod}"]',
    }
    assert resolution.problems == ()
    # A unit the file does not describe passes straight through to its parent and default.
    analytics = policy.accounts.resolve(org.accounts["analytics"])
    assert analytics.info.environment == "unknown"
    assert analytics.sources["environment"] == "accounts.yaml default"
    assert analytics.sources["owners"] == 'accounts.yaml organizational_units["Root/Workloads"]'
    assert analytics.info.approvers.usergroup == "S0SECAPPROVE"


def test_precedence_is_account_entry_then_tags_then_units_then_default(org: Org) -> None:
    org.tag(
        "listed",
        **{
            "team:owners": "lead@example.com oncall@example.com",
            "remedy:owners": "ignored@example.com",  # the configured key is team:owners
            "remedy:environment": "pci",  # the file's entry names one: it wins
            "remedy:slack-channel": "payments-alerts",
            "remedy:approvers": "U0TAGLEAD1 S0TAGGROUP1",
            "remedy:name": "tagged-name",
        },
    )
    resolution = org.policy(Clock()).accounts.resolve(org.accounts["listed"])
    info = resolution.info
    account = org.accounts["listed"]
    assert (info.name, info.environment, info.listed) == ("listed-in-file", "staging", True)
    assert info.owners == ("lead@example.com", "oncall@example.com")
    # A tag's channel is a whole slack block, as an entry's is: no unit's CRITICAL channel.
    assert {info.channel_for(s) for s in Severity} == {"#payments-alerts"}
    assert (info.approvers.users, info.approvers.usergroup) == (("U0TAGLEAD1",), "S0TAGGROUP1")
    assert resolution.sources == {
        "name": f'accounts.yaml accounts["{account}"]',
        "environment": f'accounts.yaml accounts["{account}"]',
        "owners": f"tag team:owners on {account}",
        "slack": f"tag remedy:slack-channel on {account}",
        "approvers": f"tag remedy:approvers on {account}",
    }
    # A tag names the environment of an account with no entry, if accounts.yaml knows it.
    org.tag("lab", **{"remedy:environment": "pci", "remedy:name": "lab-tagged"})
    lab = org.policy(Clock()).accounts.resolve(org.accounts["lab"])
    assert (lab.info.name, lab.info.environment) == ("lab-tagged", "pci")
    assert lab.sources["environment"] == f"tag remedy:environment on {org.accounts['lab']}"


def test_unusable_tags_are_reported_and_the_next_layer_decides(org: Org) -> None:
    org.tag(
        "payments",
        **{
            "team:owners": "payments@example.com not-an-email",
            "remedy:environment": "prodd",
            "remedy:approvers": "U0LEAD1234 S0GROUPA12 S0GROUPB12",
            "remedy:slack-channel": "Payments Alerts",
        },
    )
    account = org.accounts["payments"]
    resolution = org.policy(Clock()).accounts.resolve(account)
    fix = "ignored, fix the tag in AWS Organizations"
    assert resolution.problems == (
        f"tag remedy:environment on account {account}: 'prodd' is not an environment "
        f"accounts.yaml names (known: dev, pci, prod, staging, unknown); {fix}",
        f"tag team:owners on account {account}: 'not-an-email' is not an email address "
        f"(separate addresses by spaces); {fix}",
        f"tag remedy:slack-channel on account {account}: 'Payments Alerts' is not a Slack "
        f"channel id (C0123ABCD) or name (security); {fix}",
        f"tag remedy:approvers on account {account}: names 2 user groups (S0GROUPA12, "
        f"S0GROUPB12); at most one; {fix}",
    )
    info = resolution.info
    assert (info.environment, info.owners, info.approvers.users) == (
        "prod",
        ("workloads@example.com",),
        ("U0PRODBYID1",),
    )
    assert info.channel_for(Severity.LOW) == "#workloads"


def test_an_account_outside_the_organization_resolves_from_the_file(org: Org) -> None:
    accounts = org.policy(Clock()).accounts
    outside = accounts.resolve(OUTSIDE)
    assert outside.info == accounts.default
    assert set(outside.sources.values()) == {"accounts.yaml default"}


def test_without_the_role_everything_comes_from_the_file(org: Org) -> None:
    settings = Settings.from_env()
    assert settings.org_role_arn == ""
    policy = load_resolved_policy(replace(settings, policy_dir=str(org.folder)))
    assert policy.accounts.organization is None
    listed = policy.accounts.get(org.accounts["listed"])
    assert (listed.name, listed.environment, listed.ous) == ("listed-in-file", "staging", ())
    assert policy.accounts.get(org.accounts["payments"]) == policy.accounts.default
    assert org.take_calls() == []


def test_cache_is_warm_for_its_age_and_a_moved_account_is_picked_up_after(org: Org) -> None:
    clock = Clock()
    policy = org.policy(clock)
    payments, ledger = org.accounts["payments"], org.accounts["ledger"]
    assert policy.accounts.get(payments).environment == "prod"
    # The account, then each unit up to the root (name and parent), tags and name.
    assert org.take_calls() == [
        "ListParents",
        "DescribeOrganizationalUnit",
        "ListParents",
        "DescribeOrganizationalUnit",
        "ListParents",
        "ListTagsForResource",
        "DescribeAccount",
    ]
    # Another account in a unit already read: its units come from the cache.
    assert policy.accounts.get(ledger).environment == "prod"
    assert org.take_calls() == ["ListParents", "ListTagsForResource", "DescribeAccount"]
    # Warm: deciding many findings makes no call at all.
    for _ in range(100):
        decide(finding(account=payments, envelope_account=payments), policy)
        decide(finding(account=ledger, envelope_account=ledger), policy)
    assert org.take_calls() == []

    org.client.move_account(
        AccountId=payments, SourceParentId=org.ous["prod"], DestinationParentId=org.ous["sandbox"]
    )
    org.take_calls()
    clock.advance(minutes=9.9)
    assert policy.accounts.get(payments).environment == "prod"  # within the age: as read
    assert org.take_calls() == []
    clock.advance(minutes=0.1)
    moved = policy.accounts.resolve(payments)
    assert moved.info.ous == (OrgUnit(org.ous["sandbox"], "Root/Sandbox"),)
    assert moved.info.environment == "dev"
    sandbox = org.ous["sandbox"]
    assert moved.sources["environment"] == f'accounts.yaml organizational_units["{sandbox}"]'
    assert moved.info.owners == ("cloud-security@example.com",)


def test_rules_match_units_by_id_or_path_glob(org: Org, tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path / "ou-rules",
        [
            {"id": "prod-by-glob", "match": {"ou": ["Root/*/Prod"]}, "action": "quarantine"},
            {"id": "sandbox-by-id", "match": {"ou": [org.ous["sandbox"]]}, "action": "notify"},
            {"id": "under-workloads", "match": {"ou": ["Root/Workloads"]}, "action": "approve"},
        ],
        accounts=(org.folder / "accounts.yaml").read_text(encoding="utf-8"),
    )
    policy = org.policy(Clock(), folder)

    def rule_for(account: str) -> tuple[Action, str]:
        decision = decide(finding(account=account, envelope_account=account), policy)
        return decision.action, decision.rule

    assert rule_for(org.accounts["payments"]) == (Action.QUARANTINE, "prod-by-glob")
    assert rule_for(org.accounts["lab"]) == (Action.NOTIFY, "sandbox-by-id")
    # In a unit below Root/Workloads: the unit's ancestors count too.
    assert rule_for(org.accounts["analytics"]) == (Action.APPROVE, "under-workloads")
    # Directly under the root, and outside the organization: no unit to match.
    assert rule_for(org.accounts["core"]) == (Action.IGNORE, "builtin:no-match")
    assert rule_for(OUTSIDE) == (Action.IGNORE, "builtin:no-match")
    # Without the organization no account is in any unit.
    file_only = load_policy(folder)
    assert decide(finding(account=org.accounts["payments"]), file_only).rule == "builtin:no-match"


def test_a_spoofed_finding_never_reads_organizations(org: Org) -> None:
    policy = org.policy(Clock())
    decision = decide(finding(account=org.accounts["payments"], envelope_account=OUTSIDE), policy)
    assert decision.action is Action.REJECT
    assert org.take_calls() == []


def _problems(folder: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(folder)
    return caught.value.problems


def test_bad_unit_and_organizations_config_is_reported_by_file_and_path(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        [{"id": "bad-ou", "match": {"ou": ["Workloads/*", "ou-1"]}, "action": "notify"}],
        accounts=DEFAULT_ONLY_ACCOUNTS
        + """\
organizational_units:
  Workloads/Prod: {environment: prod}
  Root/Sandbox: {name: sandbox}
  ou-ab12-cdef3456: {}
organizations:
  cache_minutes: 0
  tags: {owners: "aws:owners", colour: "remedy:colour"}
""",
    )
    accounts = folder / "accounts.yaml"
    remediation = folder / "remediation.yaml"
    expected_ou = (
        "is not an organizational unit id (ou-ab12-cdef3456) or path from the root "
        "(Root/Workloads/Prod)"
    )
    expected_glob = (
        "is not an organizational unit id (ou-ab12-cdef3456) or path glob from the root "
        "(Root/Workloads/*)"
    )
    assert _problems(folder) == [
        f"{accounts}:organizational_units: 'Workloads/Prod' {expected_ou}",
        f'{accounts}:organizational_units["Root/Sandbox"]: Additional properties are not '
        "allowed ('name' was unexpected)",
        f"{accounts}:organizational_units.ou-ab12-cdef3456: {{}} should be non-empty",
        f"{accounts}:organizations.cache_minutes: 0 is less than the minimum of 1",
        f"{accounts}:organizations.tags: Additional properties are not allowed ('colour' was "
        "unexpected)",
        f"{accounts}:organizations.tags.owners: 'aws:owners' is not an AWS tag key (1-128 "
        "characters of letters, digits, spaces and _ . : / = + - @; not starting with aws:)",
        f"{remediation}:rules[0].match.ou[0]: 'Workloads/*' {expected_glob}",
        f"{remediation}:rules[0].match.ou[1]: 'ou-1' {expected_glob}",
    ]


def test_rule_environments_may_be_ones_only_units_or_tags_name(org: Org, tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path / "envs",
        [
            {"id": "prod", "match": {"environment": ["prod"]}, "action": "notify"},
            {"id": "pci", "match": {"environment": ["pci"]}, "action": "notify"},
        ],
        accounts=(org.folder / "accounts.yaml").read_text(encoding="utf-8"),
    )
    assert load_policy(folder).rules.ids == ("prod", "pci")


def _iam_user(iam: Any, name: str, statement: dict[str, Any]) -> dict[str, Any]:
    """An IAM user allowed `statement` alone; its access key."""
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="only",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    key: dict[str, Any] = iam.create_access_key(UserName=name)["AccessKey"]
    return key


def _core_session(org: Org) -> tuple[boto3.Session, list[dict[str, Any]]]:
    """The core account's identity: allowed to assume the read-only role and nothing else;
    every AssumeRole it makes is recorded."""
    core = org.accounts["core"]
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{core}:role/OrganizationAccountAccessRole",
        RoleSessionName="remedy-tests",
    )["Credentials"]
    admin = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    key = _iam_user(
        admin.client("iam"),
        "remedy-findings",
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN},
    )
    session = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )
    assumed: list[dict[str, Any]] = []
    session.events.register(
        "before-parameter-build.sts.AssumeRole", lambda params, **_: assumed.append(dict(params))
    )
    return session, assumed


def _management_role() -> Any:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(
        RoleName=ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    iam.put_role_policy(
        RoleName=ROLE_NAME,
        PolicyName="read-organizations",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": READ_ONLY, "Resource": "*"}],
            }
        ),
    )
    return iam


def test_the_core_reads_organizations_through_the_read_only_role(
    org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    iam = _management_role()
    session, assumed = _core_session(org)
    clock = Clock()
    settings = replace(
        Settings.from_env(), org_role_arn=ROLE_ARN, external_id=EXTERNAL_ID, policy_dir=None
    )
    policy = attach(load_policy(org.folder), settings, session=session, clock=clock)
    payments, ledger = org.accounts["payments"], org.accounts["ledger"]
    with enable_iam_authentication():
        # moto checks every request against the caller's policies: the core user may only
        # assume the role, and the role's read-only grant is enough to resolve an account.
        assert policy.accounts.get(payments).environment == "prod"
    # The role's credentials are the Organizations client's alone: the session the
    # function shares with its ledger and notifiers still acts as the function.
    core_identity = session.client("sts").get_caller_identity()["Arn"]
    assert core_identity == f"arn:aws:iam::{org.accounts['core']}:user/remedy-findings"
    assert assumed == [
        {
            "RoleArn": ROLE_ARN,
            "RoleSessionName": "remedy-organizations",
            "ExternalId": EXTERNAL_ID,
        }
    ]
    # The grant is taken away (or Organizations is down): what was read is used past its
    # age, with a warning; an account never read cannot be resolved, and says why.
    iam.delete_role_policy(RoleName=ROLE_NAME, PolicyName="read-organizations")
    clock.advance(minutes=11)
    with (
        enable_iam_authentication(),
        caplog.at_level(logging.WARNING, "remedy.policy.organizations"),
    ):
        assert policy.accounts.get(payments).environment == "prod"
        assert f"using what it said about {payments} before" in caplog.text
        with pytest.raises(OrganizationsUnavailable) as caught:
            policy.accounts.get(ledger)
    message = str(caught.value)
    # moto answers this JSON service's AccessDenied in its XML form, so botocore reads the
    # code as the HTTP status and the message as the body; AWS sends AccessDeniedException.
    assert message.startswith(
        f"cannot read account {ledger} from AWS Organizations through {ROLE_ARN}: 403: "
    )
    assert "\n" not in message
    assert "is not authorized to perform: organizations:ListParents" in message
    assert message.endswith(
        "check the core stack's OrganizationsRoleArn and that the role allows "
        "organizations:ListParents, DescribeOrganizationalUnit, ListTagsForResource, "
        "DescribeAccount and ListAccounts"
    )
    # Credentials are reused until shortly before they expire: no second AssumeRole.
    assert len(assumed) == 1


def test_explain_account_info_shows_each_field_and_its_layer(
    org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    _management_role()
    payments = org.accounts["payments"]
    args = ["explain", "--policy", str(org.folder), "--org-role", ROLE_ARN]
    assert main([*args, "--account-info", payments, "--account-info", OUTSIDE]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["events"] == []
    shown, outside = document["accounts"]
    assert shown["account"] == payments
    assert shown["ous"] == [
        {"id": org.ous["prod"], "path": "Root/Workloads/Prod"},
        {"id": org.ous["workloads"], "path": "Root/Workloads"},
    ]
    assert shown["slack"]["channels"]["CRITICAL"] == "#workloads-oncall"
    assert shown["sources"]["owners"] == 'accounts.yaml organizational_units["Root/Workloads"]'
    assert (outside["name"], outside["ous"]) == ("unlisted account", [])
    # Without a role: the file alone, and no AWS call.
    assert main(["explain", "--policy", str(org.folder), "--account-info", payments]) == 0
    alone = json.loads(capsys.readouterr().out)["accounts"][0]
    assert (alone["name"], alone["ous"], alone["sources"]["owners"]) == (
        "unlisted account",
        [],
        "accounts.yaml default",
    )
    assert main(["explain"]) == 2
    assert capsys.readouterr().err == (
        "remedy explain: nothing to explain: name event files or --account-info\n"
    )


def test_owners_sync_keeps_owners_for_every_account_of_the_organization(
    org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    _management_role()
    org.tag("lab", **{"team:owners": "lab-team@example.com"})
    sns = boto3.client("sns", region_name=REGION)
    arn = sns.create_topic(Name="remedy-owners")["TopicArn"]
    args = ["owners", "sync", "--policy", str(org.folder), "--topic-arn", arn]
    assert main([*args, "--org-role", ROLE_ARN]) == 0
    out, err = capsys.readouterr()
    lab, payments = org.accounts["lab"], org.accounts["payments"]
    assert f"account {lab} (lab): owners lab-team@example.com from tag team:owners on {lab}" in out
    assert (
        f"account {payments} (payments): owners workloads@example.com from accounts.yaml "
        'organizational_units["Root/Workloads"]'
    ) in out
    filters = {
        s["Endpoint"]: json.loads(
            sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"][
                "FilterPolicy"
            ]
        )
        for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    }
    in_workloads = sorted(org.accounts[n] for n in ("payments", "ledger", "listed", "analytics"))
    assert filters["workloads@example.com"] == {"account_id": in_workloads}
    assert filters["lab-team@example.com"] == {"account_id": [lab]}
    # The default owners: every account nobody else owns (the management and core accounts,
    # and any account that joins later).
    assert filters["cloud-security@example.com"] == {
        "account_id": [{"anything-but": sorted([*in_workloads, lab])}]
    }
    assert err.splitlines()[-1] == f"owners sync: made 3 change(s) on {arn}"


def test_only_the_resolving_functions_may_assume_only_that_role() -> None:
    template, errors = decode(str(CORE_TEMPLATE))
    assert not errors and template is not None, errors
    grant = template["Resources"]["OrganizationsReadGrant"]
    assert grant["Condition"] == "HasOrganizationsRole"
    assert template["Conditions"]["HasOrganizationsRole"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationsRoleArn"}, ""]}]
    }
    assert grant["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Sid": "AssumeOrganizationsReadRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": {"Ref": "OrganizationsRoleArn"},
        }
    ]
    assert grant["Properties"]["Roles"] == [
        {"Ref": "RemediatorRole"},
        {"Ref": "InteractionsFunctionRole"},
        {"Ref": "EmailApprovalFunctionRole"},
        {"Ref": "SlackOutboxFunctionRole"},
    ]
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["REMEDY_ORG_ROLE_ARN"] == {"Ref": "OrganizationsRoleArn"}
    assert template["Parameters"]["OrganizationsRoleArn"]["Default"] == ""


def test_a_slack_click_is_authorised_by_the_unit_s_approvers_through_the_deployed_handler(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interactions entry point as deployed, with OrganizationsRoleArn set: the message
    goes to the unit's channel, and only the unit's approvers (the id block's, which wins
    over the path block's) may decide."""
    from remedy.handlers import interactions as entry_point

    iam = _management_role()
    payments = org.accounts["payments"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb)
    store = DynamoDBLedgerStore(TABLE, dynamodb)
    item = replace(
        finding_from("macie-classification-personal.json"),
        account=payments,
        envelope_account=payments,
    )
    with SlackServer() as slack:
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="remedy/slack",
            SecretString=json.dumps({"bot_token": slack.token, "signing_secret": SIGNING_SECRET}),
        )["ARN"]
        for name, value in {
            "REMEDY_LEDGER_TABLE": TABLE,
            "REMEDY_SLACK_SECRET_ARN": secret,
            "REMEDY_REMEDIATOR_FUNCTION": "remedy-remediator",
            "REMEDY_SLACK_API_URL": slack.url,
            "REMEDY_POLICY_DIR": str(org.folder),
            "REMEDY_ORG_ROLE_ARN": ROLE_ARN,
            "REMEDY_EXTERNAL_ID": EXTERNAL_ID,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(entry_point, "_app", None)
        policy = load_resolved_policy(Settings.from_env())
        entry = put_entry(store, item)
        SlackNotifier(store, policy.accounts, slack_client(slack)).on_change(entry)
        pending = store.get(entry.key)
        assert pending is not None
        assert [c["channel"] for c in slack.calls("chat.postMessage")] == ["#workloads"]

        def click(user: str) -> int:
            body = click_body(pending.key, QUARANTINE_ACTION, user)
            event = {"headers": sign(body), "body": body.decode(), "isBase64Encoded": False}
            return int(entry_point.handler(event, None)["statusCode"])

        assert click("U0PRODPATH1") == 200
        (told,) = slack.ephemeral
        assert told["text"].startswith(f"You are not an approver for payments ({payments})")
        assert "<@U0PRODBYID1>" in told["text"]
        unchanged = store.get(pending.key)
        assert unchanged is not None and unchanged.version == pending.version
        assert click("U0PRODBYID1") == 200
        approved = store.get(pending.key)
        assert approved is not None and approved.state is State.APPROVED
        assert approved.attrs["decided_by"]["id"] == "U0PRODBYID1"

        # Organizations down, and a cold container that never read the account: the
        # approver is told, and nothing changes.
        iam.delete_role_policy(RoleName=ROLE_NAME, PolicyName="read-organizations")
        other = put_entry(store, replace(item, key="m-ledger", account=org.accounts["ledger"]))
        # moto checks policies only for identities it knows: the function becomes an IAM
        # user allowed everything; the read role cannot be used (its grant is gone, and
        # moto refuses to let this user assume it, so the failure is AssumeRole's).
        key = _iam_user(iam, "function", {"Effect": "Allow", "Action": "*", "Resource": "*"})
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.delenv("AWS_SESSION_TOKEN")
        monkeypatch.setattr(entry_point, "_app", None)
        slack.clear_requests()
        with enable_iam_authentication():
            body = click_body(other.key, QUARANTINE_ACTION, "U0PRODBYID1")
            event = {"headers": sign(body), "body": body.decode(), "isBase64Encoded": False}
            assert entry_point.handler(event, None)["statusCode"] == 200
        (told,) = slack.ephemeral
        assert told["text"] == (
            "Could not read this account's approvers from AWS Organizations; nothing was "
            "changed. Try again shortly."
        )
        assert store.get(other.key) == other


def test_status_history_and_report_name_accounts_and_approvers_as_organizations_does(
    org: Org, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operators' commands resolve accounts as the functions do: the unit's approvers
    (whom Slack would accept) and the account's name, not accounts.yaml's default."""
    _management_role()
    payments, lab = org.accounts["payments"], org.accounts["lab"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb)
    ledger = Ledger(DynamoDBLedgerStore(TABLE, dynamodb), dynamodb, TABLE)
    now = datetime.now(UTC)
    pending = State.PENDING_APPROVAL
    create_at(ledger, now, finding(account=payments), "k-payments", pending, "approve")
    create_at(ledger, now, finding(account=lab), "k-lab", State.NOTIFIED, "notify")
    for name in ("findings-dlq", "events-dlq", "remediator-dlq"):
        boto3.client("sqs", region_name=REGION).create_queue(QueueName=f"remedy-{name}")
    monkeypatch.setenv("REMEDY_LEDGER_TABLE", TABLE)
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(org.folder))
    monkeypatch.setenv("REMEDY_ORG_ROLE_ARN", ROLE_ARN)

    assert main(["status", "--json"]) == 1
    (pending,) = json.loads(capsys.readouterr().out)["pending_approvals"]
    assert (pending["account_name"], pending["approvers"]) == ("payments", ["U0PRODBYID1"])

    assert main(["history", "--json"]) == 0
    names = {s["key"]: s["account_name"] for s in json.loads(capsys.readouterr().out)}
    assert names == {"k-payments": "payments", "k-lab": "lab"}

    html = tmp_path / "report.html"
    assert main(["report", "--html", str(html)]) == 0
    capsys.readouterr()
    text = html.read_text(encoding="utf-8")
    assert f"payments ({payments})" in text and f"lab ({lab})" in text
    assert "unlisted account" not in text
