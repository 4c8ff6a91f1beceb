"""ingest_ledger: each counted batch's merged counters, until the folder adds them to the tables."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class LedgerRow(Model):
    """One batch's aggregates (never a line): written with its Idempotency-Key in the request's
    transaction, deleted by the fold that adds them to usage_daily and the summaries."""

    # The order batches were counted in, which the folder follows.
    id = fields.BigIntField(primary_key=True)
    received_at = fields.DatetimeField()
    lines = fields.IntField()  # the batch's accepted lines: what is waiting, in lines
    counters = fields.TextField()  # app/ingest/ledger.py's encoding

    class Meta:
        table = "ingest_ledger"
