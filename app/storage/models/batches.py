"""ingest_batches: the Idempotency-Keys already counted, with the body hash and the first answer."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class IngestBatch(Model):
    idempotency_key = fields.CharField(max_length=200, primary_key=True)
    body_sha256 = fields.CharField(max_length=64)
    answer = fields.TextField()  # the JSON answer given the first time
    # Indexed: the retention purge deletes the keys received before a date.
    received_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "ingest_batches"
