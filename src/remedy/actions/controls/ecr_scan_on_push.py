"""ECR.1: image scanning on push for a private repository.

Scanning reports vulnerabilities; it blocks no push or pull. Release turns it off again.
Every call names the finding's account as the registry.
"""

from __future__ import annotations

from typing import Any

from remedy.actions.controls.base import Setting, SettingRemediation, missing_on
from remedy.actions.registry import register
from remedy.model import Action, Finding


@register("ecr-scan-on-push")
class EcrScanOnPush(SettingRemediation):
    """Turn on ``scanOnPush`` for the repository."""

    controls = ("ECR.1",)
    mode = Action.QUARANTINE
    service = "ecr"
    noun = "ECR repository"
    arn = ("ecr", ("repository/",))
    types = frozenset({"AwsEcrRepository", "AWS::ECR::Repository"})
    setting = "scanOnPush"
    permissions = frozenset({"ecr:DescribeRepositories", "ecr:PutImageScanningConfiguration"})

    def bare(self, ref: str, type: str) -> str | None:
        return ref if ":" not in ref else None

    def read(self, client: Any, id: str, finding: Finding) -> Setting:
        with missing_on("RepositoryNotFoundException"):
            [found] = client.describe_repositories(
                registryId=finding.account, repositoryNames=[id]
            )["repositories"]
        return {self.setting: bool(found["imageScanningConfiguration"][self.setting])}

    def write(self, client: Any, id: str, old: Setting, new: Setting, finding: Finding) -> None:
        client.put_image_scanning_configuration(
            registryId=finding.account,
            repositoryName=id,
            imageScanningConfiguration={self.setting: new[self.setting]},
        )
