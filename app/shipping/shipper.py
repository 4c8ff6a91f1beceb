"""`usage-metrics ship`: follow a log file and post its new lines so that each counts once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.errors import UsageMetricsError
from app.shipping.answers import Tally
from app.shipping.deliver import Deliverer
from app.shipping.follow import Follower
from app.shipping.signals import StopSignal
from app.shipping.state import ShipState, load_state, save_state


@dataclass(frozen=True)
class ShipOptions:
    path: Path
    state_path: Path
    once: bool
    batch_lines: int
    interval_s: float
    ranges_dir: Path  # where each file's sent ranges are kept, shared with import


def ship(
    options: ShipOptions, deliverer: Deliverer, stop: StopSignal, notify: Callable[[str], None]
) -> int:
    """Post every whole line past the saved offset, then (unless --once) the lines to come.

    Write-ahead: the batch's range is saved before it is posted and the new offset after the
    server's 200, so a restart re-sends an unanswered batch with the same bytes and key.
    """
    if options.once and not options.path.exists():
        raise UsageMetricsError(f"{options.path}: no such file")
    saved = load_state(options.state_path)
    where = f"byte {saved.offset}" if saved else "its first line (no state yet)"
    notify(f"following {options.path} from {where}; state file {options.state_path}")
    follower = Follower(
        options.path, saved, settle=options.once, notify=notify, ranges_dir=options.ranges_dir
    )
    tally = Tally()
    try:
        while not stop.requested:
            batch = follower.next_batch(options.batch_lines)
            if batch is None:
                saved = _save_if_changed(options, follower.state(), saved)
                if options.once or stop.wait(options.interval_s):
                    break
                continue
            _save(options, follower.state(pending=batch))
            answer = deliverer.post(batch)
            if answer is None:
                break  # stopped while waiting to retry: the restart sends this batch again
            follower.acknowledge(batch)
            saved = _save(options, follower.state())
            tally.add(batch.lines, answer)
            notify(f"bytes {batch.start}-{batch.end}, {batch.lines} lines: {answer.describe()}")
            # A full batch goes at once; a partial one means we caught up: wait for more lines.
            if batch.lines < options.batch_lines and not options.once:
                stop.wait(options.interval_s)
    finally:
        follower.close()
    notify(f"{'done' if options.once else 'stopped'}: {tally.describe()}")
    return 0


def _save(options: ShipOptions, state: ShipState | None) -> ShipState | None:
    if state is not None:
        save_state(options.state_path, state, options.path)
    return state


def _save_if_changed(
    options: ShipOptions, state: ShipState | None, saved: ShipState | None
) -> ShipState | None:
    # After a rotation the follower reads another file: remember it before any batch of it.
    return _save(options, state) if state != saved else saved
