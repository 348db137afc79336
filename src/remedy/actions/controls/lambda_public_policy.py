"""Lambda.1: the statements of a function's resource policy that grant public access,
removed one by one; every other statement is kept.

A statement grants public access, as AWS Config's ``lambda-function-public-access-prohibited``
(the rule behind Lambda.1) reads it, when it allows a principal that is empty or has a
wildcard (``"*"``, ``{"AWS": "*"}``), or Amazon S3 (a bucket of any account), and no
condition pins the caller to fixed values (``AWS:SourceAccount``, ``AWS:SourceArn``,
``aws:PrincipalOrgID`` and the like, without a wildcard or a policy variable).

Each removed statement is recorded whole (its Sid and JSON), and release adds exactly
those back with ``lambda:AddPermission``. That call cannot make every statement (only one
action, the function itself as resource, ``"*"`` or S3 as principal, no condition for a
public one), so a public statement it could not make again as it is, is not removed: the outcome
names it, to be removed by hand. Every call names the function by its ARN in the
finding's own account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from remedy.actions import aws_errors
from remedy.actions.controls.base import (
    ControlRemediation,
    Missing,
    Refused,
    Setting,
    Step,
    all_or_nothing,
)
from remedy.actions.registry import register
from remedy.model import Action, Finding

#: Condition keys that, with fixed values, confine who may call the function.
_CONFINING = frozenset(
    {
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceowner",
        "aws:principalorgid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgpaths",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:userid",
    }
)
#: Service principals any account can use: a bucket of any account may invoke the function
#: unless a condition pins the source (AWS Config: NON_COMPLIANT without one).
_OPEN_SERVICES = frozenset({"s3.amazonaws.com"})
#: The keys of a statement ``lambda:AddPermission`` makes with a public principal.
_ADDABLE = frozenset({"Sid", "Effect", "Principal", "Action", "Resource"})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    return []


def _fixed(value: str) -> bool:
    return not any(mark in value for mark in ("*", "?", "${"))


def confined(condition: Any) -> bool:
    """Whether a condition pins the caller to fixed values of a confining key; negated,
    ``IfExists`` and ``ForAllValues:`` operators confine nothing (a request without the key
    passes), nor does ``Null`` (it asks only whether the key is there)."""
    if not isinstance(condition, Mapping):
        return False
    for operator, tests in condition.items():
        if (
            "Not" in operator
            or operator.endswith("IfExists")
            or operator.startswith(("ForAllValues:", "Null"))
            or not isinstance(tests, Mapping)
        ):
            continue
        for key, values in tests.items():
            found = _strings(values)
            if key.lower() in _CONFINING and found and all(_fixed(v) for v in found):
                return True
    return False


def public(statement: Mapping[str, Any]) -> bool:
    """Whether a policy statement grants public access (see the module docstring)."""
    if statement.get("Effect") != "Allow":
        return False
    principals = _strings(statement.get("Principal", ""))
    open_to_all = not principals or any(
        p == "" or "*" in p or p in _OPEN_SERVICES for p in principals
    )
    return open_to_all and not confined(statement.get("Condition"))


@register("lambda-policy-not-public")
class LambdaPolicyNotPublic(ControlRemediation):
    """Remove the statements of a function's policy that grant public access."""

    controls = ("Lambda.1",)
    mode = Action.APPROVE
    service = "lambda"
    noun = "Lambda function"
    arn = ("lambda", ("function:",))
    types = frozenset({"AwsLambdaFunction", "AWS::Lambda::Function"})
    id_prefix = ""
    permissions = frozenset(
        {
            "lambda:GetPolicy",
            "lambda:RemovePermission",
            # release: add exactly the removed statements back.
            "lambda:AddPermission",
        }
    )

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        try:
            text = client.get_policy(FunctionName=self._function(client, id, finding))["Policy"]
        except ClientError as error:
            if aws_errors.code(error) != "ResourceNotFoundException":
                raise
            # Lambda answers both "no such function" and "no policy" with this code.
            if aws_errors.message(error).startswith("Function not found"):
                raise Missing from error
            return {"public": [], "others": []}
        statements = json.loads(text).get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        found = [s for s in statements if public(s)]
        return {
            "public": sorted(found, key=lambda s: json.dumps(s, sort_keys=True)),
            # The Sids of the rest: release must not add a statement whose Sid is taken.
            "others": sorted(str(s.get("Sid", "")) for s in statements if not public(s)),
        }

    def fixed(self, id: str, setting: Setting, options: Mapping[str, Any]) -> Setting:
        kept = [s for s in setting["public"] if not self._addable(s, id)]
        if kept and kept == setting["public"]:
            raise Refused(
                f"lambda:AddPermission could not put back exactly {_sids(kept)}, so remedy "
                "removes nothing; remove by hand what should go"
            )
        return {**setting, "public": kept}

    def restored(self, current: Setting, before: Setting, after: Setting) -> Setting | None:
        """The removed statements added back, and statements added since kept, unless the
        public ones changed or a removed statement's Sid is now taken by another."""
        removed = {s["Sid"] for s in before["public"] if s not in after["public"]}
        if current["public"] != after["public"] or removed & set(current["others"]):
            return None
        return {**current, "public": before["public"]}

    def note(self, client: Any, id: str, before: Setting, after: Setting, finding: Finding) -> str:
        if not after["public"]:
            return ""
        return (
            f"left public {_sids(after['public'])}, which lambda:AddPermission could not put "
            "back exactly; remove by hand what should go"
        )

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        function = self._function(client, id, finding)

        def add(statement: Mapping[str, Any]) -> Any:
            return lambda: client.add_permission(
                FunctionName=function,
                StatementId=statement["Sid"],
                Action=statement["Action"],
                Principal=_principal(statement),
            )

        def remove(statement: Mapping[str, Any]) -> Any:
            return lambda: client.remove_permission(
                FunctionName=function, StatementId=statement["Sid"]
            )

        steps: list[Step] = [(remove(s), add(s)) for s in old["public"] if s not in new["public"]]
        steps += [(add(s), remove(s)) for s in new["public"] if s not in old["public"]]
        all_or_nothing(steps)

    def _function(self, client: Any, id: str, finding: Finding) -> str:
        return self.own_arn(client, finding, f"function:{id}")

    def _addable(self, statement: Mapping[str, Any], id: str) -> bool:
        """Whether ``lambda:AddPermission`` makes this statement again exactly as it is."""
        return (
            set(statement) == _ADDABLE
            and _principal(statement) is not None
            and isinstance(statement["Action"], str)
            and isinstance(statement["Sid"], str)
            and bool(statement["Sid"])
            and str(statement["Resource"]).endswith(f":function:{id}")
        )


def _principal(statement: Mapping[str, Any]) -> str | None:
    """The ``Principal`` of ``lambda:AddPermission`` that makes the statement's principal
    again: ``*`` or an open service's; None for any other."""
    principal = statement.get("Principal")
    if principal == "*":
        return "*"
    if isinstance(principal, Mapping) and set(principal) == {"Service"}:
        service = principal["Service"]
        if isinstance(service, str) and service in _OPEN_SERVICES:
            return service
    return None


def _sids(statements: list[Mapping[str, Any]]) -> str:
    names = ", ".join(str(s.get("Sid", "(no Sid)")) for s in statements)
    return f"statement{'s' if len(statements) != 1 else ''} {names}"
