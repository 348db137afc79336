"""Telling people what happened: Slack, the account owners (SNS) and Security Hub."""
