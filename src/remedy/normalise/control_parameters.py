"""A Security Hub control's parameters as a finding carries them, by name.

ASFF: ``Compliance.SecurityControlParameters``, a list of ``{"Name", "Value": [...]}``;
OCSF: ``compliance.control_parameters``, a list of key-value objects ``{"name", "value"}``
or ``{"name", "values": [...]}``. Both read into ``{name: [values]}`` under
``Finding.parameters["control_parameters"]``, for a remediation whose threshold is the
control's (``maxAccessKeyAge``). An entry of another shape is left out: the remediation
then uses the control's default, and says so.
"""

from __future__ import annotations

from typing import Any

#: ``Finding.parameters`` key of the control's parameters.
CONTROL_PARAMETERS = "control_parameters"


def read(entries: Any, name: str, values: tuple[str, ...]) -> dict[str, list[str]]:
    """The entries of a parameter list by their `name` field; each entry's value is the
    first of the fields `values` present (a string or a list of strings)."""
    found: dict[str, list[str]] = {}
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get(name), str):
            continue
        for field in values:
            value = entry.get(field)
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                found[entry[name]] = value
                break
    return found
