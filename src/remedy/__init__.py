"""remedy: multi-account central remediation for AWS findings."""

__version__ = "0.1.0"
