"""A small organisation on the local AWS: the core account and three member accounts.

- The core account is the Security Hub / Macie administrator that policies/accounts.yaml
  lists as an aggregator; the members are the accounts it names (owners, channels,
  approvers). Every account is reached by assuming its admin role (`LocalAWS.session`).
- Core: template.yaml, translated for moto (`remedy.demo.core_stack`), deployed with
  CloudFormation like ``sam deploy`` does: the code artifact is uploaded to a deployment
  bucket first, the Slack secret is created with the API (moto's CloudFormation does not
  model it) and filled with the local Slack app's token and signing secret. Tickets go to
  a Jira site (`JIRA_SITE`): its secret is filled with the local Jira server's account.
- Members: member-account-template.yaml rolled out as a CloudFormation StackSet into the
  three members, and into the core account as well, since it is the Security Hub
  administrator: there with ``ForwardSecurityHub=true`` and ``ForwardSecurityHubV2=true`` (a
  stack instance parameter override), in the members ``false``, as the README's deployment
  steps say. The StackSet
  is SELF_MANAGED with explicit account ids: moto's SERVICE_MANAGED rollout targets
  accounts it creates in an OU, with random ids the policy does not list.
- moto's CloudFormation skips ``VersioningConfiguration`` and
  ``PublicAccessBlockConfiguration`` of a bucket; both are applied to the quarantine
  buckets afterwards, as the template states them.
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remedy.demo.core_stack import (
    SERVERLESS,
    CoreTemplate,
    api_resources,
    load_template,
    translate,
)
from remedy.demo.local_aws import LocalAWS
from remedy.errors import RemedyError

CORE = "999999999999"
MEMBERS: tuple[str, str, str] = ("111111111111", "222222222222", "333333333333")
PREFIX = "remedy"
CORE_STACK = f"{PREFIX}-core"
MEMBER_STACK_SET = f"{PREFIX}-member"
BREAK_GLASS_ROLE = "BreakGlass"
#: Stands in for every owner's mailbox: subscribed to the owner topic to count messages.
OWNER_MAILBOX = f"{PREFIX}-demo-owner-mailbox"
#: The core stack's JiraSite; the functions are pointed at the local Jira server instead
#: (`remedy.demo.lambda_runtime`), as they are at the local Slack.
JIRA_SITE = "https://remedy-demo.atlassian.net"
#: What the Lambda artifact leaves out (the SAM build should too).
NOT_SHIPPED = ("demo", "devtools")


class DeployError(RemedyError):
    """A stack did not deploy on the local AWS."""


@dataclass(frozen=True, slots=True)
class Function:
    logical_id: str
    name: str
    handler: str
    role_arn: str
    environment: dict[str, str]
    queue_arn: str = ""
    batch_size: int = 10
    #: ``METHOD /path`` of its HTTP API route (the first), and that API's id.
    route: str = ""
    api_id: str = ""
    timeout: int = 3
    memory: int = 128


@dataclass
class Organisation:
    aws: LocalAWS
    root: Path
    progress: Callable[[str], None]
    core: str = CORE
    members: tuple[str, str, str] = MEMBERS
    external_id: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    outputs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    slack_secret_arn: str = ""
    api_ids: dict[str, str] = field(default_factory=dict)
    owner_mailbox_url: str = ""

    @property
    def region(self) -> str:
        return self.aws.region

    def quarantine_bucket(self, account: str) -> str:
        return f"{PREFIX}-quarantine-{account}-{self.region}"

    # -- the core account ----------------------------------------------------------------------
    def deploy_core(self, slack_token: str, jira_secret: str) -> None:
        """`jira_secret`: the JSON the operator stores in the Jira secret."""
        session = self.aws.session(self.core)
        template = load_template(self.root / "template.yaml")
        parameters = {
            "Prefix": PREFIX,
            "ExternalId": self.external_id,
            "MemberAccountIds": ",".join(self.members),
            # The administrator runs the new Security Hub too: its OCSF findings are routed.
            "SecurityHubV2": "true",
            "JiraSite": JIRA_SITE,
        }
        names = {**parameters, "AWS::Region": self.region, "AWS::AccountId": self.core}
        sm = session.client("secretsmanager")
        api = api_resources(template, names)
        created = {}
        for resource in api:
            if resource.kind == "AWS::SecretsManager::Secret":
                created[resource.logical_id] = sm.create_secret(
                    Name=resource.name, Description=resource.description
                )["ARN"]
            else:
                created[resource.logical_id] = session.client("apigatewayv2").create_api(
                    Name=f"{CORE_STACK}-{resource.name}",
                    ProtocolType="HTTP",
                    Description=resource.description,
                )["ApiId"]
        translated = translate(template, code=self._upload_artifact(), created=created, api=api)
        self.outputs = self._create_stack(session, CORE_STACK, translated.body, parameters)
        for resource in api:
            if resource.kms_output:
                sm.update_secret(
                    SecretId=created[resource.logical_id],
                    KmsKeyId=self.outputs[resource.kms_output],
                )
        # The operator's step after deploying (README, Deploy): fill the secrets.
        values = {
            "SlackSecret": json.dumps(
                {"bot_token": slack_token, "signing_secret": self.signing_secret}
            ),
            "EmailLinkSecret": secrets.token_urlsafe(32),
            "JiraSecret": jira_secret,
        }
        for resource in api:
            if resource.logical_id in values:
                sm.put_secret_value(
                    SecretId=created[resource.logical_id],
                    SecretString=values[resource.logical_id],
                )
            elif resource.kind == "AWS::SecretsManager::Secret":
                self.progress(f"secret {resource.name} left empty: the demo does not fill it")
        self.slack_secret_arn = created["SlackSecret"]
        self.api_ids = {
            r.logical_id: created[r.logical_id] for r in api if r.kind.startswith(SERVERLESS)
        }
        self.functions = self._functions(translated)
        self.owner_mailbox_url = self._subscribe_mailbox(session)
        self.progress(
            f"core {self.core}: stack {CORE_STACK} ({len(translated.body['Resources'])} "
            f"resources), bus {self.outputs['CoreEventBusArn'].rsplit('/', 1)[-1]}, "
            f"ledger {self.outputs['LedgerTableName']}, Slack secret filled"
        )

    def _upload_artifact(self) -> dict[str, str]:
        """What the SAM build ships (the package without dev-only code, and the policies),
        uploaded to a deployment bucket as ``sam deploy`` does."""
        buffer = io.BytesIO()
        package = self.root / "src" / "remedy"
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(package.rglob("*")):
                relative = path.relative_to(package)
                if (
                    path.is_dir()
                    or "__pycache__" in relative.parts
                    or relative.parts[0] in NOT_SHIPPED
                ):
                    continue
                archive.write(path, str(Path("remedy") / relative))
            for path in sorted((self.root / "policies").rglob("*")):
                if path.is_file():
                    archive.write(path, str(path.relative_to(self.root)))
        bucket = f"{PREFIX}-demo-deploy-{self.core}-{self.region}"
        s3 = self.aws.session(self.core).client("s3")
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
        )
        s3.put_object(Bucket=bucket, Key="remedy.zip", Body=buffer.getvalue())
        return {"S3Bucket": bucket, "S3Key": "remedy.zip"}

    def _create_stack(
        self, session: Any, name: str, body: dict[str, Any], parameters: dict[str, str]
    ) -> dict[str, str]:
        cfn = session.client("cloudformation")
        cfn.create_stack(
            StackName=name,
            TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise DeployError(
                f"stack {name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}"
            )
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def _functions(self, translated: CoreTemplate) -> dict[str, Function]:
        env = translated.environment(self.outputs)
        functions = {}
        for logical, handler in translated.handlers.items():
            queue_arn, batch_size, route, api_id = "", 10, "", ""
            for source in translated.sources.get(logical, []):
                if source.kind == "SQS":
                    queue_arn = self.outputs[source.queue_output]
                    batch_size = source.batch_size
                elif source.kind == "HttpApi" and not route:
                    route = f"{source.method} {source.path}"
                    api_id = self.api_ids.get(source.api, "")
            functions[logical] = Function(
                logical_id=logical,
                name=self.outputs[translated.name_outputs[logical]],
                handler=handler,
                role_arn=self.outputs[translated.role_outputs[logical]],
                environment=env[logical],
                queue_arn=queue_arn,
                batch_size=batch_size,
                route=route,
                api_id=api_id,
                timeout=translated.limits[logical][0],
                memory=translated.limits[logical][1],
            )
        return functions

    def function(self, handler: str) -> Function:
        for function in self.functions.values():
            if function.handler == handler:
                return function
        known = ", ".join(f.handler for f in self.functions.values())
        raise DeployError(f"template.yaml has no function with handler {handler} ({known})")

    def _subscribe_mailbox(self, session: Any) -> str:
        sqs = session.client("sqs")
        url: str = sqs.create_queue(QueueName=OWNER_MAILBOX)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        session.client("sns").subscribe(
            TopicArn=self.outputs["OwnerTopicArn"],
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
        )
        return url

    # -- member accounts -----------------------------------------------------------------------
    def deploy_members(self) -> None:
        """The member template as a StackSet into the members and the core account."""
        body = (self.root / "member-account-template.yaml").read_text(encoding="utf-8")
        parameters = {
            "Prefix": PREFIX,
            "CoreAccountId": self.core,
            "CoreEventBusArn": self.outputs["CoreEventBusArn"],
            "CoreRemediatorRoleArn": self.outputs["RemediatorRoleArn"],
            "ExternalId": self.external_id,
            "BreakGlassRoleName": BREAK_GLASS_ROLE,
            "HomeRegion": self.region,
            "IamEventsRegion": self.region,
            "ForwardSecurityHub": "false",
        }

        def listed(values: dict[str, str]) -> list[dict[str, str]]:
            return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]

        # moto's default account plays the organisation's management account.
        cfn = self.aws.management_client("cloudformation")
        cfn.create_stack_set(
            StackSetName=MEMBER_STACK_SET,
            TemplateBody=body,
            Parameters=listed(parameters),
            Capabilities=["CAPABILITY_NAMED_IAM"],
            PermissionModel="SELF_MANAGED",
        )
        cfn.create_stack_instances(
            StackSetName=MEMBER_STACK_SET, Accounts=list(self.members), Regions=[self.region]
        )
        cfn.create_stack_instances(
            StackSetName=MEMBER_STACK_SET,
            Accounts=[self.core],
            Regions=[self.region],
            ParameterOverrides=listed(
                {**parameters, "ForwardSecurityHub": "true", "ForwardSecurityHubV2": "true"}
            ),
        )
        template = load_template(self.root / "member-account-template.yaml")
        bucket_props = template["Resources"]["QuarantineBucket"]["Properties"]
        for account in (*self.members, self.core):
            self._check_stacks(account)
            self._bridge_bucket(account, bucket_props)
        self.progress(
            f"members {', '.join(self.members)} and core {self.core} (Security Hub "
            f"administrator): StackSet {MEMBER_STACK_SET}; forwarding rules, role "
            f"{PREFIX}-remediation, bucket {PREFIX}-quarantine-<account>-{self.region}"
        )

    def _check_stacks(self, account: str) -> None:
        cfn = self.aws.session(account).client("cloudformation")
        for stack in cfn.describe_stacks()["Stacks"]:
            if stack["StackStatus"] != "CREATE_COMPLETE":
                raise DeployError(
                    f"stack {stack['StackName']} in {account} is {stack['StackStatus']}: "
                    f"{stack.get('StackStatusReason')}"
                )

    def _bridge_bucket(self, account: str, props: dict[str, Any]) -> None:
        s3 = self.aws.session(account).client("s3")
        bucket = self.quarantine_bucket(account)
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"]
        )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"],
        )

    def quarantine_key_arn(self, account: str) -> str:
        kms = self.aws.session(account).client("kms")
        arn: str = kms.describe_key(KeyId=f"alias/{PREFIX}-quarantine")["KeyMetadata"]["Arn"]
        return arn
