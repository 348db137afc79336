"""The rails as the policy writes them: freeze windows (weekly and RFC 5545, across DST
changes, per environment, malware exempt), their load-time problems, dry run and managed
settings, and the defaults."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import EVENTS
from policy_support import DEFAULT_ONLY_ACCOUNTS, finding, policy_dir
from remedy.cli import main
from remedy.errors import PolicyError
from remedy.model import Mode
from remedy.policy import Policy, load_policy
from remedy.policy.accounts import OrgUnit, Placement
from remedy.policy.rails import Managed

QUARANTINE = {
    "id": "quarantine-credentials",
    "match": {"type": ["SensitiveData:S3Object/Credentials"]},
    "action": "quarantine",
}
MALWARE = {
    "id": "quarantine-malware",
    "match": {"type": ["Object:S3/MaliciousFile"]},
    "action": "quarantine",
}


def load(
    tmp_path: Path, rails: dict[str, Any], rules: list[dict[str, Any]] | None = None
) -> Policy:
    document = {"version": 1, "rules": rules or [QUARANTINE, MALWARE], "rails": rails}
    return load_policy(policy_dir(tmp_path, remediation=yaml.safe_dump(document)))


def frozen(policy: Policy, at: datetime, **changes: Any) -> str | None:
    found = finding(**changes)
    account = policy.accounts.get(found.account)
    for window in policy.rails.freezes:
        why = window.applies(found, account, at)
        if why is not None:
            return why
    return None


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_weekly_window_keeps_its_local_hours_across_the_spring_dst_change(
    tmp_path: Path,
) -> None:
    # New York moved to daylight time on Sunday 8 March 2026: Monday 09:00-17:00 local is
    # 14:00-22:00 UTC on 2 March and 13:00-21:00 UTC on 9 March.
    policy = load(
        tmp_path,
        {
            "freezes": [
                {
                    "name": "business-hours",
                    "zone": "America/New_York",
                    "weekly": {"days": ["MO"], "from": "09:00", "to": "17:00"},
                }
            ]
        },
    )
    before = {
        t: frozen(policy, utc(t)) is not None
        for t in ("2026-03-02T13:59", "2026-03-02T14:00", "2026-03-02T21:59", "2026-03-02T22:00")
    }
    after = {
        t: frozen(policy, utc(t)) is not None
        for t in ("2026-03-09T12:59", "2026-03-09T13:00", "2026-03-09T20:59", "2026-03-09T21:00")
    }
    assert list(before.values()) == [False, True, True, False]
    assert list(after.values()) == [False, True, True, False]
    assert frozen(policy, utc("2026-03-09T13:00")) == (
        "change freeze business-hours (MO 09:00-17:00, America/New_York) is on from "
        "2026-03-09 09:00 to 2026-03-09 17:00 local time"
    )


def test_an_rrule_window_over_the_autumn_dst_change(tmp_path: Path) -> None:
    # Saturday 22:00 to Sunday 04:00 London time; on 24-25 October 2026 the clocks go back,
    # so that night the window is 21:00 UTC to 04:00 UTC (seven hours).
    policy = load(
        tmp_path,
        {
            "freezes": [
                {
                    "name": "weekend-deploys",
                    "zone": "Europe/London",
                    "rrule": "FREQ=WEEKLY;BYDAY=SA",
                    "start": "2026-10-03T22:00",
                    "duration_hours": 6,
                }
            ]
        },
    )
    checks = {
        "2026-10-24T20:59": False,
        "2026-10-24T21:00": True,
        "2026-10-25T03:59": True,
        "2026-10-25T04:00": False,
        # A week before, in summer time: 21:00-03:00 UTC.
        "2026-10-17T21:00": True,
        "2026-10-18T02:59": True,
        "2026-10-18T03:00": False,
        # Before the first occurrence.
        "2026-09-26T22:00": False,
    }
    assert {t: frozen(policy, utc(t)) is not None for t in checks} == checks


def test_a_window_past_midnight_and_limited_to_an_environment(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        {
            "freezes": [
                {
                    "name": "night",
                    "zone": "UTC",
                    "weekly": {"days": ["FR"], "from": "22:00", "to": "02:00"},
                    "where": {"environment": ["prod"]},
                }
            ]
        },
    )
    friday_late, saturday_early = utc("2026-12-04T23:00"), utc("2026-12-05T01:59")
    assert frozen(policy, friday_late) is not None
    assert frozen(policy, saturday_early) is not None
    assert frozen(policy, utc("2026-12-05T02:00")) is None
    # 333333333333 is dev in the shipped accounts.yaml.
    assert frozen(policy, friday_late, account="333333333333") is None


def test_malware_quarantine_is_exempt_unless_the_window_says_so(tmp_path: Path) -> None:
    window = {
        "name": "all-week",
        "zone": "UTC",
        "weekly": {
            "days": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"],
            "from": "00:00",
            "to": "00:00",
        },
    }
    at = utc("2026-12-07T10:00")
    exempt = load(tmp_path / "a", {"freezes": [window]})
    assert frozen(exempt, at) is not None
    assert frozen(exempt, at, type="Object:S3/MaliciousFile") is None
    strict = load(tmp_path / "b", {"freezes": [{**window, "malware": "freeze"}]})
    assert frozen(strict, at, type="Object:S3/MaliciousFile") is not None


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        (
            {"zone": "Mars/Olympus", "weekly": {"days": ["MO"], "from": "09:00", "to": "17:00"}},
            "rails.freezes[0].zone: 'Mars/Olympus' is not a time zone (an IANA name such as "
            "Europe/Paris)",
        ),
        (
            {"zone": "UTC", "weekly": {"days": ["MO"], "from": "25:00", "to": "17:00"}},
            "rails.freezes[0].weekly.from: '25:00' is not a time of day (HH:MM)",
        ),
        (
            {
                "zone": "UTC",
                "rrule": "FREQ=SOMETIMES",
                "start": "2026-01-01T00:00",
                "duration_hours": 1,
            },
            "rails.freezes[0].rrule: 'FREQ=SOMETIMES' is not an RFC 5545 recurrence rule "
            "(invalid 'FREQ': SOMETIMES); e.g. FREQ=WEEKLY;BYDAY=FR",
        ),
        (
            {"zone": "UTC", "rrule": "FREQ=DAILY", "start": "tomorrow", "duration_hours": 1},
            "rails.freezes[0].start: 'tomorrow' is not a local date and time (2026-12-18T17:00)",
        ),
        (
            {
                "zone": "UTC",
                "rrule": "FREQ=DAILY",
                "start": "2026-01-01T00:00+01:00",
                "duration_hours": 1,
            },
            "rails.freezes[0].start: write the local time without an offset; zone says where",
        ),
    ],
)
def test_a_bad_window_is_refused_at_load_naming_where(
    tmp_path: Path, window: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PolicyError) as error:
        load(tmp_path, {"freezes": [{"name": "w", **window}]})
    (line,) = error.value.problems
    assert line == f"{tmp_path / 'policies' / 'remediation.yaml'}:{problem}"


def test_managed_and_breaker_limit_only_on_rules_that_remediate(tmp_path: Path) -> None:
    notify = {"id": "tell", "match": {}, "action": "notify", "managed": "act", "mode": "dry-run"}
    with pytest.raises(PolicyError) as error:
        load(tmp_path, {}, [QUARANTINE, notify])
    file = tmp_path / "policies" / "remediation.yaml"
    assert error.value.problems == [
        f"{file}:rules[1].mode: only a quarantine or approve rule takes mode (this rule's "
        "action is notify)",
        f"{file}:rules[1].managed: only a quarantine or approve rule takes managed (this "
        "rule's action is notify)",
    ]


def test_defaults_and_rule_settings(tmp_path: Path) -> None:
    rules = [
        {**QUARANTINE, "mode": "dry-run", "managed": "notify", "breaker_limit": 7},
        MALWARE,
    ]
    policy = load(tmp_path, {"breaker": {"overall": 500, "cooldown_minutes": 45}}, rules)
    limits = policy.rails.breaker
    assert (limits.per_rule, limits.per_account, limits.overall) == (20, 50, 500)
    assert limits.window == timedelta(hours=1) and limits.cooldown == timedelta(minutes=45)
    assert limits.for_rule("quarantine-credentials") == 7
    assert limits.for_rule("quarantine-malware") == 20
    rule = policy.rails.rule("quarantine-credentials")
    assert (rule.mode, rule.managed) == (Mode.DRY_RUN, Managed.NOTIFY)
    other = policy.rails.rule("quarantine-malware")
    assert (other.mode, other.managed) == (Mode.ACT, Managed.APPROVE)
    shipped = load_policy(Path(__file__).resolve().parent.parent / "policies")
    assert shipped.rails.breaker.cooldown is None and shipped.rails.freezes == ()


def test_explain_shows_the_freeze_on_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {
        "version": 1,
        "rules": [QUARANTINE],
        "rails": {
            "freezes": [
                {
                    "name": "year-end",
                    "zone": "Europe/Paris",
                    "rrule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=18",
                    "start": "2026-12-18T17:00",
                    "duration_hours": 72,
                    "where": {"environment": ["prod"]},
                }
            ]
        },
    }
    folder = policy_dir(tmp_path, remediation=yaml.safe_dump(document))
    event = str(EVENTS / "macie-classification-credentials.json")

    status = main(["explain", event, "--policy", str(folder), "--at", "2026-12-19T09:00Z"])

    assert status == 0
    (found,) = json.loads(capsys.readouterr().out)["events"][0]["findings"]
    assert found["decision"]["action"] == "quarantine"
    rails = found["rails"]
    assert rails["freezes"] == [
        "change freeze year-end (FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=18 from 2026-12-18T17:00 "
        "for 72 h, Europe/Paris) is on from 2026-12-18 17:00 to 2026-12-21 17:00 local time"
    ]
    assert rails["mode"] == "hold"
    assert rails["decision"]["action"] == "approve"
    # Held by a rail: the deadline only reminds, never approves in a person's place.
    assert rails["decision"]["deadline"] == {"hours": 24.0, "on_timeout": "keep-waiting"}
    assert rails["decision"]["reason"].endswith("waits for approval: " + rails["freezes"][0])
    assert "breaker" not in rails

    # Before the window: no freeze, and the breaker limits it counts against.
    main(["explain", event, "--policy", str(folder), "--at", "2026-12-18T15:59Z"])
    (found,) = json.loads(capsys.readouterr().out)["events"][0]["findings"]
    assert "freezes" not in found["rails"] and "decision" not in found["rails"]
    assert found["rails"]["breaker"] == (
        "counted: at most 20 by rule quarantine-credentials in 111111111111, 50 in the "
        "account and 200 in all per 60 minutes; past that it waits for approval"
    )


def test_explain_refuses_a_time_without_an_offset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "x.json", "--at", "2026-12-19T09:00"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "remedy explain: argument --at: '2026-12-19T09:00' has no offset: add one "
        "(Z or +01:00), times are compared in UTC (see remedy explain --help)\n"
    )


def test_dry_run_for_an_organizational_unit_and_the_accounts_below_it(tmp_path: Path) -> None:
    accounts = (
        DEFAULT_ONLY_ACCOUNTS.replace("accounts: {}\n", "")
        + 'accounts:\n  "222222222222": {name: trial, environment: unknown, mode: act}\n'
        + "organizational_units:\n  Root/Workloads/NewTeam:\n    mode: dry-run\n"
    )
    folder = policy_dir(
        tmp_path,
        remediation=yaml.safe_dump({"version": 1, "rules": [QUARANTINE]}),
        accounts=accounts,
    )
    policy = load_policy(folder)
    unit = (
        OrgUnit("ou-ab12-cdef3456", "Root/Workloads/NewTeam/Payments"),
        OrgUnit("ou-ab12-aaaa1111", "Root/Workloads/NewTeam"),
    )
    below = policy.accounts.resolve_placement(Placement("111111111111", ous=unit))
    assert below.info.mode is Mode.DRY_RUN
    assert below.sources["mode"] == 'accounts.yaml organizational_units["Root/Workloads/NewTeam"]'
    # The account's own entry wins over its unit.
    own = policy.accounts.resolve_placement(Placement("222222222222", ous=unit))
    assert own.info.mode is Mode.ACT
    assert policy.accounts.resolve_placement(Placement("333333333333")).info.mode is Mode.ACT
