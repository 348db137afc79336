"""The operators' views of the ledger: ``remedy status``, ``remedy history``, ``remedy report``.

Each module computes its view as plain data from boto3 reads (the ledger's indexes, SQS),
and renders it; the ``remedy.cli`` modules only parse arguments and print.
"""
