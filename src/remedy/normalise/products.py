"""Which product a finding comes from: AWS's own product ARN decides, never a name.

Anyone in a member account who may call ``securityhub:BatchImportFindings`` can import a
finding under their own custom product (``arn:aws:securityhub:<region>:<account>:product/
<account>/default``) and write any ``ProductName`` they like, ``Macie`` included. Only AWS
can publish under ``product/aws/<name>`` (no account in the ARN), so a finding is Macie,
GuardDuty, Inspector... only when its product ARN is that. Every normaliser that reads a
product (ASFF ``ProductArn``, OCSF ``metadata.product.uid``) asks `aws_product`.

Any other product (a custom integration, a partner) keeps the name it gives itself behind
`CUSTOM_PREFIX` (``custom: Macie``): people still see what it claims to be, and no rule
written for an AWS product (``product: [Macie]``, ``[Guard*]``) can match it by accident.
Rules match such products on purpose with ``custom_product`` or ``product_arn``.
"""

from __future__ import annotations

from functools import lru_cache

#: ``.../product/aws/<name>`` of the AWS products remedy knows, to the name rules match.
AWS_PRODUCTS = {
    "guardduty": "GuardDuty",
    "inspector": "Inspector",
    "access-analyzer": "IAM Access Analyzer",
    "config": "Config",
    "securityhub": "Security Hub",
    "macie": "Macie",
}

#: The product that names Security Hub's controls (``Compliance.SecurityControlId``):
#: only its own findings do; another product's Compliance is that product's to write.
SECURITY_HUB = AWS_PRODUCTS["securityhub"]

#: Begins the product name of every finding whose product ARN is not AWS's own.
CUSTOM_PREFIX = "custom: "

_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov"})
#: ASFF uses ``product/``; the new Security Hub's OCSF findings may say ``productv2/``.
_PRODUCT_PREFIXES = frozenset({"product", "productv2"})


# Pure, and most findings name one of a few products: cached (bounded: a member writes it).
@lru_cache(maxsize=256)
def aws_product(product_arn: str) -> str | None:
    """The AWS product's name when `product_arn` is AWS's own product ARN, else None.

    AWS's product ARNs have an empty account field and the company ``aws``:
    ``arn:aws:securityhub:us-east-1::product/aws/macie``. An AWS product remedy has no
    name for is named by its ARN's last part (``product/aws/health`` -> ``health``).
    """
    parts = product_arn.split(":", 5)
    if len(parts) != 6:
        return None
    prefix, partition, service, _region, account, resource = parts
    if prefix != "arn" or partition not in _PARTITIONS or service != "securityhub" or account:
        return None
    kind, _, rest = resource.partition("/")
    company, _, name = rest.partition("/")
    if kind not in _PRODUCT_PREFIXES or company != "aws" or not name or "/" in name:
        return None
    return AWS_PRODUCTS.get(name, name)


def one_spelling(product_arn: str) -> str:
    """`product_arn` as ASFF spells it: the new Security Hub names the same product
    ``.../productv2/aws/guardduty`` where ASFF says ``.../product/aws/guardduty``, so a
    finding that arrives both ways keys on this, not on either spelling."""
    head, found, tail = product_arn.partition(":productv2/")
    return f"{head}:product/{tail}" if found else product_arn


def custom_product(own_name: str) -> str:
    """The product name of a custom or partner product that calls itself `own_name`."""
    return CUSTOM_PREFIX + own_name


def is_custom(product: str) -> bool:
    """Whether `product` (a `Finding.product`) is a custom or partner product."""
    return product.startswith(CUSTOM_PREFIX)
