"""What a finding that reached Security Hub (ASFF or OCSF) is, when another source has it too.

Macie's copies keep Macie's own type and the native finding's key; GuardDuty's keep
GuardDuty's own type, and ``Object:S3/MaliciousFile`` its object's scan-result key. Any other
finding is keyed on what Security Hub keeps across updates: its product ARN (spelt one way
for both formats) and its id, and its account when the product is not AWS's own.
Trust in `product` is the caller's: it must come from AWS's own product ARN.
"""

from __future__ import annotations

from typing import NamedTuple

from remedy.model import Resource
from remedy.normalise.guardduty import own_type
from remedy.normalise.keys import asff_key, imported_key
from remedy.normalise.macie import PRODUCT as MACIE
from remedy.normalise.macie import category_of, copy_key, macie_type
from remedy.normalise.malware import MALICIOUS_FILE, MALWARE, is_malicious_file, malicious_file_key
from remedy.normalise.products import AWS_PRODUCTS, is_custom, one_spelling

GUARDDUTY = AWS_PRODUCTS["guardduty"]


# A NamedTuple: immutable, and one is built per copied finding (a frozen dataclass costs
# several times more to construct).
class Identity(NamedTuple):
    type: str
    category: str | None
    key: str


def identity(
    product: str,
    types: list[str],
    *,
    account: str,
    region: str,
    resources: tuple[Resource, ...],
    product_arn: str,
    finding_id: str,
    default_type: str,
) -> Identity:
    """The canonical type, category and dedupe key of one copied finding; the key is the
    same whichever format (ASFF ``product/``, OCSF ``productv2/``) carried it."""
    product_arn = one_spelling(product_arn)
    if product == MACIE:
        found = macie_type(types)
        if found is not None:
            key = copy_key(account, region, resources, found)
            return Identity(found, category_of(found), key or asff_key(product_arn, finding_id))
    elif product == GUARDDUTY:
        if is_malicious_file(types):
            key = malicious_file_key(account, region, resources)
            return Identity(MALICIOUS_FILE, MALWARE, key or asff_key(product_arn, finding_id))
        return Identity(own_type(types) or default_type, None, asff_key(product_arn, finding_id))
    if is_custom(product):
        return Identity(default_type, None, imported_key(product_arn, finding_id, account))
    return Identity(default_type, None, asff_key(product_arn, finding_id))
