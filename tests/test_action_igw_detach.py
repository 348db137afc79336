"""detach-internet-gateway on moto: two member accounts, the role's policy enforced."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.stub import Stubber

from conftest import CONFORMANCE, load_json
from fixtures_guard import (
    MEMBERS,
    REGION,
    Core,
    admin,
    enforced,
    install_role,
    running_core,
)
from remedy.actions.igw_detach import DetachInternetGateway
from remedy.actions.reversible import ActionFailed
from remedy.ledger.base import State
from remedy.model import Finding
from remedy.normalise import normalise

_core = pytest.fixture(name="core")(running_core)

A, B = MEMBERS
PERMISSIONS = DetachInternetGateway.permissions


def attached_gateway(account: str) -> tuple[str, str]:
    ec2 = admin(account, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    return gateway, vpc


def attachments(account: str, gateway: str) -> list[str]:
    found = admin(account, "ec2").describe_internet_gateways(InternetGatewayIds=[gateway])
    return [a["VpcId"] for a in found["InternetGateways"][0]["Attachments"]]


def attach_call(account: str, gateway: str, vpc: str) -> Finding:
    """The recorded AttachInternetGateway event, pointed at our gateway and VPC."""
    event: dict[str, Any] = copy.deepcopy(
        load_json(CONFORMANCE / "cloudtrail-ec2-attachinternetgateway.json")
    )
    event["account"] = event["detail"]["recipientAccountId"] = account
    event["region"] = event["detail"]["awsRegion"] = REGION
    event["detail"]["requestParameters"] = {"internetGatewayId": gateway, "vpcId": vpc}
    [found] = normalise(event)
    return found


def test_detach_then_release_across_accounts(core: Core) -> None:
    for account in MEMBERS:
        install_role(account, PERMISSIONS)
    gateway_a, vpc_a = attached_gateway(A)
    gateway_b, vpc_b = attached_gateway(B)
    core.prime(A)
    action = DetachInternetGateway(core.sessions, core.settings)
    found = attach_call(A, gateway_a, vpc_a)

    with enforced():
        outcome = action.run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.QUARANTINED,
        f"detached internet gateway {gateway_a} from {vpc_a} in {A} {REGION}",
    )
    assert outcome.attrs == {"internet_gateway_id": gateway_a, "vpc_id": vpc_a, "region": REGION}
    assert attachments(A, gateway_a) == []
    assert attachments(B, gateway_b) == [vpc_b]

    with enforced():
        again = action.run(found, {}, resume=True)
    assert (again.state, again.reason) == (
        State.GONE,
        f"already fixed: internet gateway {gateway_a} in {A} {REGION} is not attached to {vpc_a}",
    )

    with enforced():
        undo = action.release(found, outcome.attrs)
    assert undo.reason == f"attached internet gateway {gateway_a} to {vpc_a} again"
    assert attachments(A, gateway_a) == [vpc_a]
    with enforced():
        undo = action.release(found, outcome.attrs)
    assert undo.reason == f"already restored: internet gateway {gateway_a} is on {vpc_a}"


def test_gateway_gone_and_moved(core: Core) -> None:
    install_role(A, PERMISSIONS)
    gateway, vpc = attached_gateway(A)
    core.prime(A)
    action = DetachInternetGateway(core.sessions, core.settings)
    with enforced():
        gone = action.run(attach_call(A, "igw-0123456789abcdef0", vpc), {}, resume=False)
    assert (gone.state, gone.reason) == (
        State.GONE,
        f"internet gateway igw-0123456789abcdef0 no longer exists in {A} {REGION}",
    )

    found = attach_call(A, gateway, vpc)
    with enforced():
        outcome = action.run(found, {}, resume=False)
    other = admin(A, "ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    admin(A, "ec2").attach_internet_gateway(InternetGatewayId=gateway, VpcId=other)
    with enforced():
        moved = action.run(found, {}, resume=False)
    assert moved.reason == (
        f"already fixed: internet gateway {gateway} in {A} {REGION} is not attached to {vpc} "
        f"(attached to {other})"
    )
    with enforced(), pytest.raises(ActionFailed) as caught:
        action.release(found, outcome.attrs)
    assert (caught.value.state, caught.value.reason) == (
        State.CHANGED,
        f"internet gateway {gateway} is now attached to {other}; not moving it back to {vpc}",
    )
    assert attachments(A, gateway) == [other]


@pytest.mark.parametrize("missing", sorted(PERMISSIONS - {"ec2:AttachInternetGateway"}))
def test_role_without_a_declared_permission_is_denied(core: Core, missing: str) -> None:
    install_role(A, PERMISSIONS - {missing})
    gateway, vpc = attached_gateway(A)
    core.prime(A)
    found = attach_call(A, gateway, vpc)
    with enforced():
        outcome = DetachInternetGateway(core.sessions, core.settings).run(found, {}, resume=False)
    assert (outcome.state, outcome.reason) == (
        State.DENIED,
        f"detaching internet gateway {gateway}: the remediation role in {A} may not call "
        f"{missing}; update the member stack so its role grants what the remediation actions "
        "declare",
    )
    assert attachments(A, gateway) == [vpc]


def test_release_needs_attach(core: Core) -> None:
    install_role(A, PERMISSIONS - {"ec2:AttachInternetGateway"})
    gateway, vpc = attached_gateway(A)
    core.prime(A)
    action = DetachInternetGateway(core.sessions, core.settings)
    found = attach_call(A, gateway, vpc)
    with enforced():
        outcome = action.run(found, {}, resume=False)
    with enforced(), pytest.raises(ActionFailed) as caught:
        action.release(found, outcome.attrs)
    assert (caught.value.state, caught.value.reason) == (
        State.DENIED,
        f"attaching internet gateway {gateway} again: the remediation role in {A} may not call "
        "ec2:AttachInternetGateway; update the member stack so its role grants what the "
        "remediation actions declare",
    )
    assert attachments(A, gateway) == []


def test_public_addresses_in_the_vpc_fail_with_what_to_do(core: Core) -> None:
    """moto does not model DependencyViolation; the Stubber answers as EC2 does."""
    gateway, vpc = attached_gateway(A)
    action = DetachInternetGateway(core.sessions, core.settings)
    client = core.sessions.client("ec2", A, REGION, finding_key="finding-1")
    message = (
        "Network vpc-x has some mapped public address(es). Please unmap those public "
        "address(es) before detaching the gateway."
    )
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_internet_gateways",
            {
                "InternetGateways": [
                    {
                        "InternetGatewayId": gateway,
                        "Attachments": [{"State": "available", "VpcId": vpc}],
                    }
                ]
            },
            {"InternetGatewayIds": [gateway]},
        )
        stubber.add_client_error(
            "detach_internet_gateway",
            service_error_code="DependencyViolation",
            service_message=message,
            expected_params={"InternetGatewayId": gateway, "VpcId": vpc},
        )
        outcome = action.run(attach_call(A, gateway, vpc), {}, resume=False)
        stubber.assert_no_pending_responses()
    assert (outcome.state, outcome.reason) == (
        State.FAILED,
        f"AWS refused to detach internet gateway {gateway} from {vpc} in {A} {REGION}: "
        f"{message}; release the VPC's public addresses (Elastic IPs, public IPv4) first, "
        "then retry",
    )
    assert attachments(A, gateway) == [vpc]
