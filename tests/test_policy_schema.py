"""Loading the policy: every problem names the file and the path inside it, and fails loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from policy_support import SHIPPED, policy_dir
from remedy.actions import actions
from remedy.errors import PolicyError
from remedy.policy import default_dir, load_policy, shipped_dir
from remedy.policy.rules import check
from remedy.policy_files.schema import format_path

SCHEMAS = SHIPPED / "schema"


def problems(folder: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(folder)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


@pytest.mark.parametrize(
    "name",
    [
        "remediation.schema.json",
        "accounts.schema.json",
        "restricted-actions.schema.json",
        "public-bucket-allowlist.schema.json",
    ],
)
def test_schemas_are_valid_json_schemas(name: str) -> None:
    Draft202012Validator.check_schema(json.loads((SCHEMAS / name).read_text(encoding="utf-8")))


def test_shipped_policy_loads() -> None:
    policy = load_policy(SHIPPED)
    assert policy.directory == SHIPPED
    assert len(policy.rules.ids) == len(set(policy.rules.ids)) == 41
    assert policy.aggregators == {"999999999999"}


def test_shipped_dir_is_the_checkout_policies() -> None:
    assert shipped_dir() == SHIPPED


def test_default_dir_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REMEDY_POLICY_DIR", raising=False)
    assert default_dir() == SHIPPED
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(tmp_path))
    assert default_dir() == tmp_path


def test_a_broken_configured_policy_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = policy_dir(tmp_path, remediation="version: 2\nrules: []\n")
    monkeypatch.setenv("REMEDY_POLICY_DIR", str(folder))
    file = folder / "remediation.yaml"
    assert problems(default_dir()) == [
        f"{file}:rules: [] should be non-empty",
        f"{file}:version: 1 was expected",
    ]


REMEDIATION_CASES = [
    (
        "unknown severity",
        "version: 1\nrules:\n  - {id: a, match: {}, action: notify}\n"
        "  - {id: b, match: {}, action: notify}\n"
        "  - {id: c, match: {min_severity: SEVERE}, action: notify}\n",
        [
            "rules[2].match.min_severity: 'SEVERE' is not one of "
            "['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']"
        ],
    ),
    (
        "missing action and unknown key",
        "version: 1\nrules:\n  - {id: a, match: {}, when: always}\n",
        [
            "rules[0]: Additional properties are not allowed ('when' was unexpected)",
            "rules[0]: 'action' is a required property",
        ],
    ),
    (
        "bad account id in a rule",
        "version: 1\nrules:\n  - {id: a, match: {accounts: ['1234']}, action: ignore}\n",
        ["rules[0].match.accounts[0]: '1234' is not a 12-digit AWS account id"],
    ),
    (
        "unquoted account id in a rule",
        "version: 1\nrules:\n  - {id: a, match: {accounts: [111111111111]}, action: ignore}\n",
        [
            "rules[0].match.accounts[0]: 111111111111 is not of type 'string'; "
            "quote it in YAML ('111111111111')"
        ],
    ),
    (
        "a glob must be a list",
        "version: 1\nrules:\n  - {id: a, match: {bucket: 'logs-*'}, action: ignore}\n",
        ["rules[0].match.bucket: 'logs-*' is not of type 'array'"],
    ),
    (
        "unknown remediation",
        "version: 1\nrules:\n  - {id: a, match: {}, action: quarantine, remediation: s3-delete}\n",
        [
            "rules[0].remediation: 's3-delete' is not a registered remediation "
            f"(registered: {', '.join(sorted(actions()))})"
        ],
    ),
    (
        "option of the wrong type",
        "version: 1\nrules:\n"
        "  - {id: a, match: {}, action: approve, options: {purge_versions: 'yes'}}\n",
        ["rules[0].options.purge_versions: 'yes' is not of type 'boolean'"],
    ),
    (
        "option the remediation does not have",
        "version: 1\nrules:\n"
        "  - {id: a, match: {}, action: quarantine, remediation: s3-quarantine,"
        " options: {purge: true}}\n",
        ["rules[0].options: Additional properties are not allowed ('purge' was unexpected)"],
    ),
    (
        "a port that is not a number: the closest alternative says why",
        "version: 1\nrules:\n"
        "  - {id: a, match: {}, action: quarantine, remediation: revoke-open-ingress,"
        " options: {ports: [22, ssh]}}\n",
        ["rules[0].options.ports[1]: 'ssh' is not of type 'integer'"],
    ),
    (
        "ports neither a list nor all",
        "version: 1\nrules:\n"
        "  - {id: a, match: {}, action: quarantine, remediation: revoke-open-ingress,"
        " options: {ports: some}}\n",
        ["rules[0].options.ports: 'some' is not valid under any of the given schemas"],
    ),
    (
        "unknown containment",
        "version: 1\nrules:\n"
        "  - {id: a, match: {}, action: approve, remediation: iam-policy-guard,"
        " options: {contain_with: delete}}\n",
        ["rules[0].options.contain_with: 'delete' is not one of ['allow-nothing', 'deny-all']"],
    ),
    (
        "reject is not a policy action",
        "version: 1\nrules:\n  - {id: a, match: {}, action: reject}\n",
        ["rules[0].action: 'reject' is not one of ['quarantine', 'approve', 'notify', 'ignore']"],
    ),
    (
        "duplicate rule id",
        "version: 1\nrules:\n  - {id: a, match: {}, action: notify}\n"
        "  - {id: a, match: {}, action: ignore}\n",
        ["rules[1].id: 'a' is already the id of rules[0]"],
    ),
    (
        "options on a notify rule",
        "version: 1\nrules:\n  - {id: a, match: {}, action: notify, options: {}}\n",
        [
            "rules[0].options: only a quarantine or approve rule takes options "
            "(this rule's action is notify)"
        ],
    ),
    (
        "unknown environment",
        "version: 1\nrules:\n  - {id: a, match: {environment: [prod, prdo]}, action: notify}\n",
        [
            "rules[0].match.environment[1]: 'prdo' is not an environment in accounts.yaml "
            "(known: dev, prod, sample, staging, unknown)"
        ],
    ),
    (
        "approval keys on a quarantine rule",
        "version: 1\nrules:\n  - {id: a, match: {}, action: quarantine, on_timeout: quarantine,"
        " approval_deadline_hours: 2}\n",
        [
            "rules[0].approval_deadline_hours: only an approve rule takes "
            "approval_deadline_hours (this rule's action is quarantine)",
            "rules[0].on_timeout: only an approve rule takes on_timeout "
            "(this rule's action is quarantine)",
        ],
    ),
    (
        "unknown on_timeout",
        "version: 1\nrules:\n  - {id: a, match: {}, action: approve, on_timeout: remediate}\n",
        ["rules[0].on_timeout: 'remediate' is not one of ['quarantine', 'keep-waiting']"],
    ),
    (
        "a deadline that is no time at all",
        "version: 1\ndefaults: {approval_deadline_hours: 0}\n"
        "rules:\n  - {id: a, match: {}, action: approve, approval_deadline_hours: '4h'}\n",
        [
            "defaults.approval_deadline_hours: 0 is less than or equal to the minimum of 0",
            "rules[0].approval_deadline_hours: '4h' is not of type 'number'",
        ],
    ),
    ("empty file", "", [": the file is empty"]),
    ("not a mapping", "- 1\n", [":(root): [1] is not of type 'object'"]),
]


@pytest.mark.parametrize(
    ("case", "text", "expected"), REMEDIATION_CASES, ids=[c[0] for c in REMEDIATION_CASES]
)
def test_remediation_problems(tmp_path: Path, case: str, text: str, expected: list[str]) -> None:
    folder = policy_dir(tmp_path, remediation=text)
    file = folder / "remediation.yaml"
    assert problems(folder) == [
        f"{file}{line}" if line.startswith(":") else f"{file}:{line}" for line in expected
    ]


def _accounts_with(old: str, new: str) -> str:
    text = (SHIPPED / "accounts.yaml").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


ACCOUNTS_CASES = [
    (
        "unquoted account id",
        ('"222222222222":', "222222222222:"),
        ["accounts: 222222222222 is not of type 'string'; quote it in YAML ('222222222222')"],
    ),
    (
        "bad channel",
        ('channel: "#analytics-alerts"', "channel: analytics"),
        [
            "accounts[\"222222222222\"].slack.channel: 'analytics' is not a Slack channel id "
            "(C0123ABCD) or name (#security)"
        ],
    ),
    (
        "bad severity for a channel",
        ('        HIGH: "#payments-oncall"', '        URGENT: "#payments-oncall"'),
        [
            "accounts[\"111111111111\"].slack.channels_by_severity: 'URGENT' is not one of "
            "['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']"
        ],
    ),
    (
        "listed account without environment",
        ("    name: dev-sandbox\n    environment: dev\n", "    name: dev-sandbox\n"),
        ["accounts[\"333333333333\"]: 'environment' is a required property"],
    ),
    (
        "approver that is not a user id",
        ("users: [U0ANALYTIC1]", "users: [alice]"),
        [
            "accounts[\"222222222222\"].approvers.users[0]: 'alice' is not a Slack user id "
            "(U0123ABCD)"
        ],
    ),
    (
        "bad aggregator",
        ('  - "999999999999"', '  - "99999"'),
        ["aggregators[0]: '99999' is not a 12-digit AWS account id"],
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "expected"), ACCOUNTS_CASES, ids=[c[0] for c in ACCOUNTS_CASES]
)
def test_accounts_problems(
    tmp_path: Path, case: str, change: tuple[str, str], expected: list[str]
) -> None:
    folder = policy_dir(tmp_path, accounts=_accounts_with(*change))
    file = folder / "accounts.yaml"
    assert problems(folder) == [f"{file}:{line}" for line in expected]


def test_problems_of_both_files_come_together(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        remediation="version: 1\nrules:\n  - {id: a, match: {}, action: burn}\n",
        accounts=_accounts_with('  - "999999999999"', '  - "99999"'),
    )
    assert problems(folder) == [
        f"{folder / 'accounts.yaml'}:aggregators[0]: '99999' is not a 12-digit AWS account id",
        f"{folder / 'remediation.yaml'}:rules[0].action: 'burn' is not one of "
        "['quarantine', 'approve', 'notify', 'ignore']",
    ]


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path, remediation="version: 1\nrules:\n  - id: a\n   match: {}\n")
    assert problems(folder) == [
        f"{folder / 'remediation.yaml'}:4: while parsing a block collection; "
        "did not find expected '-' indicator (column 4)"
    ]


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        remediation="version: 1\nrules:\n  - id: a\n    match: {}\n    action: quarantine\n"
        "    action: notify\n",
    )
    assert problems(folder) == [
        f"{folder / 'remediation.yaml'}:6: duplicate key 'action' (first at line 5) (column 5)"
    ]


def test_missing_file(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path)
    (folder / "accounts.yaml").unlink()
    assert problems(folder) == [
        f"{folder / 'accounts.yaml'}: cannot read: No such file or directory"
    ]


# The files remediation actions read from the policy folder at run time are checked with
# the policy, so a broken one fails `remedy policy validate` and the cold start, not the
# first finding that needs it. (file, text, problems after "<file>:")
ACTION_FILE_CASES = [
    (
        "restricted-actions.yaml",
        "version: 1\nrestricted:\n"
        "  - why: escalation\n    actions: []\n"
        "  - actions: ['iam:PassRole']\n    resources: []\n    who: admins\n",
        [
            "restricted[0].actions: [] should be non-empty",
            "restricted[1]: Additional properties are not allowed ('who' was unexpected)",
            "restricted[1]: 'why' is a required property",
            "restricted[1].resources: [] should be non-empty",
        ],
    ),
    (
        "restricted-actions.yaml",
        "version: 1\nrestricted: []\n",
        ["restricted: [] should be non-empty"],
    ),
    (
        "public-bucket-allowlist.yaml",
        "version: 1\nallow:\n"
        "  - accounts: ['*']\n    buckets: www.example.com\n    why: ''\n"
        "  - {accounts: ['*', '*'], buckets: [site]}\n",
        [
            "allow[0].buckets: 'www.example.com' is not of type 'array'",
            "allow[0].why: '' should be non-empty",
            "allow[1]: 'why' is a required property",
            "allow[1].accounts: ['*', '*'] has non-unique elements",
        ],
    ),
    ("public-bucket-allowlist.yaml", "", [": the file is empty"]),
    (
        "public-bucket-allowlist.yaml",
        "version: 1\nallow:\n  - accounts: ['*']\n   buckets: [a]\n",
        [":4: while parsing a block collection; did not find expected '-' indicator (column 4)"],
    ),
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    ACTION_FILE_CASES,
    ids=[f"{c[0]}: {c[2][0]}" for c in ACTION_FILE_CASES],
)
def test_action_file_problems(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    folder = policy_dir(tmp_path)
    (folder / name).write_text(text, encoding="utf-8")
    before = _snapshot(folder)
    file = folder / name
    assert problems(folder) == [
        f"{file}{line}" if line.startswith(":") else f"{file}:{line}" for line in expected
    ]
    assert _snapshot(folder) == before


@pytest.mark.parametrize("name", ["restricted-actions.yaml", "public-bucket-allowlist.yaml"])
def test_missing_action_file(tmp_path: Path, name: str) -> None:
    folder = policy_dir(tmp_path)
    (folder / name).unlink()
    assert problems(folder) == [f"{folder / name}: cannot read: No such file or directory"]


def test_problems_of_all_four_files_come_together(tmp_path: Path) -> None:
    folder = policy_dir(
        tmp_path,
        remediation="version: 1\nrules:\n  - {id: a, match: {}, action: burn}\n",
        accounts=_accounts_with('  - "999999999999"', '  - "99999"'),
    )
    (folder / "restricted-actions.yaml").write_text("version: 2\nrestricted: []\n", "utf-8")
    (folder / "public-bucket-allowlist.yaml").write_text("version: 1\n", "utf-8")
    assert problems(folder) == [
        f"{folder / 'accounts.yaml'}:aggregators[0]: '99999' is not a 12-digit AWS account id",
        f"{folder / 'remediation.yaml'}:rules[0].action: 'burn' is not one of "
        "['quarantine', 'approve', 'notify', 'ignore']",
        f"{folder / 'restricted-actions.yaml'}:restricted: [] should be non-empty",
        f"{folder / 'restricted-actions.yaml'}:version: 1 was expected",
        f"{folder / 'public-bucket-allowlist.yaml'}:(root): 'allow' is a required property",
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (["rules", 2, "match", "min_severity"], "rules[2].match.min_severity"),
        (["accounts", "111111111111", "slack"], 'accounts["111111111111"].slack'),
        (["accounts", 111111111111], "accounts[111111111111]"),
        ([], "(root)"),
    ],
)
def test_format_path(path: list[str | int], text: str) -> None:
    assert format_path(path) == text


def test_remediation_names_and_options_come_from_the_action_registry() -> None:
    """Nothing about remediations is written in the schema file: the registry says it all."""
    document = {
        "rules": [
            {"id": "a", "match": {}, "action": "quarantine"},
            {"id": "b", "match": {}, "action": "approve", "remediation": "fix-it"},
            {"id": "c", "match": {}, "action": "quarantine", "options": {"level": 11}},
        ]
    }
    assert check(document, "f.yaml", None, {}) == [
        "f.yaml:rules[0].action: the default remediation 's3-quarantine' is not a registered "
        "remediation (registered: none)",
        "f.yaml:rules[1].remediation: 'fix-it' is not a registered remediation (registered: none)",
        "f.yaml:rules[2].action: the default remediation 's3-quarantine' is not a registered "
        "remediation (registered: none)",
    ]
    registered = actions()
    assert "s3-quarantine" in registered
    assert check(document, "f.yaml", None, registered) == [
        "f.yaml:rules[1].remediation: 'fix-it' is not a registered remediation "
        f"(registered: {', '.join(sorted(registered))})",
        "f.yaml:rules[2].options: Additional properties are not allowed ('level' was unexpected)",
    ]
    schema = json.loads((SCHEMAS / "remediation.schema.json").read_text(encoding="utf-8"))
    rule = schema["$defs"]["rule"]["properties"]
    assert rule["remediation"]["type"] == "string"
    assert "enum" not in rule["remediation"]
    assert rule["options"] == {"description": rule["options"]["description"], "type": "object"}
