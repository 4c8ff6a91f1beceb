"""ingest_quarantine: ledger rows the folder set aside, their counters kept until put back."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class QuarantineRow(Model):
    """A ledger row that failed to fold on its own for a lasting reason (docs/ingest.md): moved
    here in the transaction that deletes it from ingest_ledger, so it is never lost nor counted
    twice; `usage-metrics fold --retry-quarantined` moves it back."""

    # The ledger row's own id: put back, it keeps its place in the folding order.
    id = fields.BigIntField(primary_key=True, generated=False)
    received_at = fields.DatetimeField()
    lines = fields.IntField()
    counters = fields.TextField()  # as the ledger held it (app/ingest/ledger.py)
    reason = fields.CharField(max_length=32)  # a FoldFailure code (app/ingest/failures.py)
    quarantined_at = fields.DatetimeField()

    class Meta:
        table = "ingest_quarantine"
