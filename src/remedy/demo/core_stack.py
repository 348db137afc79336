"""template.yaml as a plain CloudFormation template moto can deploy.

moto's CloudFormation does not expand the SAM transform, so the few ``AWS::Serverless::``
resources are translated the way SAM would, keeping every plain ``AWS::`` resource as
written:

- ``AWS::Serverless::Function`` becomes an ``AWS::Lambda::Function`` with the template's
  handler, runtime, memory, timeout and key, the ``Globals`` environment merged with its
  own, its code from the artifact the demo uploaded (as ``sam deploy`` uploads it), and
  its ``Role`` or, for ``Policies``, a role of its own with those statements (as SAM
  generates it). Its ``Events`` are not deployed: the demo is the SQS event source mapping
  and the HTTP API (`FunctionSource` says what each function is fed from), because moto
  would invoke the functions itself without running them.
- ``AWS::Serverless::HttpApi`` (which moto's CloudFormation cannot model either) and
  ``AWS::SecretsManager::Secret`` (not modelled) are created with the API from their
  properties before the stack (`ApiResource`), and the template's ``!Ref`` and ``${...}``
  to them replaced by their id or ARN. Any other ``AWS::Serverless::`` type stops the
  translation with a message rather than being left out.

One more moto gap is bridged: a rule's ``EventBusName: !Ref Bus`` resolves to moto's bus
object instead of its name, so ``!GetAtt Bus.Name`` (the same value on AWS) is used. moto
skips the other types it does not model (bus, queue and topic policies, alarms) with a
warning; none of them changes what the demo exercises, and tests/test_templates.py
asserts them on the template.

Values only the deployed stack knows (function names, the environment after ``!Ref``) are
read back as stack outputs the translation adds, so moto resolves every intrinsic.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from remedy.errors import RemedyError

SERVERLESS = "AWS::Serverless::"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_SUB_NAME = re.compile(r"\$\{([^}!]+)\}")


class TemplateError(RemedyError):
    """template.yaml uses something this translation does not handle."""


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref``, ``!Sub``, ``!GetAtt`` ...)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return data


@dataclass(frozen=True, slots=True)
class FunctionSource:
    """What feeds a function: an SQS queue (with its batch size) or an HTTP API route."""

    kind: str  # "SQS" | "HttpApi"
    queue_output: str = ""
    batch_size: int = 10
    method: str = ""
    path: str = ""
    api: str = ""


@dataclass(frozen=True, slots=True)
class ApiResource:
    """A resource moto's CloudFormation does not model, which the demo creates with the
    API before the stack: a secret, or the HTTP API. References to it in the template
    become its ARN (secret) or id (API). ``kms_output`` names the stack output holding a
    secret's resolved ``KmsKeyId``, set on it once the stack exists."""

    logical_id: str
    kind: str
    name: str
    description: str
    kms_output: str | None = None


@dataclass
class CoreTemplate:
    body: dict[str, Any]
    #: function logical id -> its handler, e.g. ``remedy.handlers.findings.handler``
    handlers: dict[str, str] = field(default_factory=dict)
    #: output key -> (function logical id, environment variable)
    env_outputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: function logical id -> output keys of its name and its role ARN
    name_outputs: dict[str, str] = field(default_factory=dict)
    role_outputs: dict[str, str] = field(default_factory=dict)
    sources: dict[str, list[FunctionSource]] = field(default_factory=dict)
    #: function logical id -> (timeout in seconds, memory in MB)
    limits: dict[str, tuple[int, int]] = field(default_factory=dict)

    def environment(self, outputs: dict[str, str]) -> dict[str, dict[str, str]]:
        env: dict[str, dict[str, str]] = {name: {} for name in self.handlers}
        for key, (function, variable) in self.env_outputs.items():
            env[function][variable] = outputs[key]
        return env


def api_resources(template: dict[str, Any], parameters: dict[str, str]) -> list[ApiResource]:
    """The secrets and HTTP APIs of `template`, names resolved from the stack parameters."""
    found = []
    for logical, resource in template["Resources"].items():
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        if kind == "AWS::SecretsManager::Secret":
            found.append(
                ApiResource(
                    logical_id=logical,
                    kind=kind,
                    name=_sub(props.get("Name", logical), parameters, f"{logical}.Name"),
                    description=str(props.get("Description", "")),
                    kms_output=f"DemoSecret{logical}KmsKeyId" if "KmsKeyId" in props else None,
                )
            )
        elif kind == "AWS::Serverless::HttpApi":
            found.append(ApiResource(logical, kind, logical, str(props.get("Description", ""))))
    return found


def _sub(value: Any, parameters: dict[str, str], where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in parameters:
                raise TemplateError(f"template.yaml:{where}: ${{{name}}} is not a parameter")
            return parameters[name]

        return _SUB_NAME.sub(one, value["Fn::Sub"])
    raise TemplateError(f"template.yaml:{where}: expected a string or !Sub of parameters")


def translate(
    template: dict[str, Any],
    *,
    code: dict[str, str],
    created: dict[str, str],
    api: list[ApiResource],
) -> CoreTemplate:
    """`template` (SAM) as a plain template; `code` is ``{S3Bucket, S3Key}`` of the
    artifact, `created` the ARN or id of each of the `api` resources, by logical id."""
    body = copy.deepcopy(template)
    body.pop("Transform", None)
    function_globals = (body.pop("Globals", None) or {}).get("Function", {})
    resources: dict[str, Any] = body["Resources"]
    outputs: dict[str, Any] = body.setdefault("Outputs", {})
    out = CoreTemplate(body)

    for logical in list(resources):
        resource = resources[logical]
        kind = resource.get("Type", "")
        if kind == "AWS::Serverless::Function":
            _function(out, logical, resource, function_globals, code)
        elif kind == "AWS::Events::Rule":
            _bus_by_name(resource, resources)
        elif kind.startswith(SERVERLESS) and logical not in created:
            raise TemplateError(f"template.yaml:Resources.{logical}: {kind} is not translated")

    for resource in api:
        props = resources.pop(resource.logical_id).get("Properties") or {}
        if resource.kms_output:
            outputs[resource.kms_output] = {"Value": props["KmsKeyId"]}
    body["Resources"] = _replace_refs(resources, created)
    body["Outputs"] = _replace_refs(outputs, created)
    if _references(body, set(created)):
        raise TemplateError(
            f"template.yaml uses one of {', '.join(sorted(created))} other than by !Ref or "
            "${...} in !Sub; not translated"
        )
    return out


def _function(
    out: CoreTemplate,
    logical: str,
    resource: dict[str, Any],
    function_globals: dict[str, Any],
    code: dict[str, str],
) -> None:
    props = {**function_globals, **(resource.get("Properties") or {})}
    env = {
        **((function_globals.get("Environment") or {}).get("Variables") or {}),
        **(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
    }
    role = props.get("Role")
    resources = out.body["Resources"]
    if role is None:
        role_id = f"{logical}Role"
        resources[role_id] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": LAMBDA_TRUST,
                "Policies": [
                    {
                        "PolicyName": f"{logical}Policy{i}",
                        "PolicyDocument": {"Version": "2012-10-17", **_statement(logical, p)},
                    }
                    for i, p in enumerate(props.get("Policies") or [])
                ],
            },
        }
        role = {"Fn::GetAtt": [role_id, "Arn"]}
    function: dict[str, Any] = {
        "Handler": props["Handler"],
        "Runtime": props["Runtime"],
        "Role": role,
        "Code": dict(code),
        "Environment": {"Variables": env},
    }
    for name in ("Description", "MemorySize", "Timeout", "Architectures", "KmsKeyArn"):
        if name in props:
            function[name] = props[name]
    resources[logical] = {"Type": "AWS::Lambda::Function", "Properties": function}

    outputs = out.body.setdefault("Outputs", {})
    out.handlers[logical] = str(props["Handler"])
    out.limits[logical] = (int(props.get("Timeout", 3)), int(props.get("MemorySize", 128)))
    out.name_outputs[logical] = f"DemoName{logical}"
    outputs[f"DemoName{logical}"] = {"Value": {"Ref": logical}}
    out.role_outputs[logical] = f"DemoRole{logical}"
    outputs[f"DemoRole{logical}"] = {"Value": role}
    for i, (variable, value) in enumerate(env.items()):
        key = f"DemoEnv{logical}{i}"
        outputs[key] = {"Value": value}
        out.env_outputs[key] = (logical, variable)
    sources = []
    for j, event in enumerate((props.get("Events") or {}).values()):
        event_props = event.get("Properties") or {}
        if event.get("Type") == "SQS":
            key = f"DemoQueue{logical}{j}"
            outputs[key] = {"Value": event_props["Queue"]}
            sources.append(
                FunctionSource("SQS", queue_output=key, batch_size=event_props.get("BatchSize", 10))
            )
        elif event.get("Type") == "HttpApi":
            sources.append(
                FunctionSource(
                    "HttpApi",
                    method=event_props["Method"].upper(),
                    path=event_props["Path"],
                    api=str((event_props.get("ApiId") or {}).get("Ref", "")),
                )
            )
    out.sources[logical] = sources


def _statement(logical: str, policy: Any) -> dict[str, Any]:
    if isinstance(policy, dict) and set(policy) == {"Statement"}:
        return policy
    raise TemplateError(
        f"template.yaml:Resources.{logical}.Properties.Policies: only inline "
        f"{{Statement: [...]}} items are translated, not {json.dumps(policy)[:80]}"
    )


def _bus_by_name(rule: dict[str, Any], resources: dict[str, Any]) -> None:
    props = rule.get("Properties") or {}
    bus = props.get("EventBusName")
    if isinstance(bus, dict) and set(bus) == {"Ref"}:
        target = resources.get(bus["Ref"]) or {}
        if target.get("Type") == "AWS::Events::EventBus":
            props["EventBusName"] = {"Fn::GetAtt": [bus["Ref"], "Name"]}


def _references(node: Any, names: set[str]) -> bool:
    if isinstance(node, dict):
        if node.get("Ref") in names:
            return True
        att = node.get("Fn::GetAtt")
        if isinstance(att, list) and att and att[0] in names:
            return True
        sub = node.get("Fn::Sub")
        text = sub if isinstance(sub, str) else sub[0] if isinstance(sub, list) and sub else ""
        if isinstance(text, str) and any(m.split(".")[0] in names for m in _SUB_NAME.findall(text)):
            return True
        return any(_references(v, names) for v in node.values())
    if isinstance(node, list):
        return any(_references(v, names) for v in node)
    return False


def _replace_refs(node: Any, values: dict[str, str]) -> Any:
    """``!Ref X`` and ``${X}`` in ``!Sub`` become ``values[X]``."""

    def text(template: str) -> str:
        return _SUB_NAME.sub(lambda m: values.get(m.group(1), m.group(0)), template)

    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        sub = node.get("Fn::Sub")
        if set(node) == {"Fn::Sub"} and isinstance(sub, str):
            return {"Fn::Sub": text(sub)}
        if set(node) == {"Fn::Sub"} and isinstance(sub, list) and sub:
            return {"Fn::Sub": [text(sub[0]), *_replace_refs(sub[1:], values)]}
        return {k: _replace_refs(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_refs(v, values) for v in node]
    return node
