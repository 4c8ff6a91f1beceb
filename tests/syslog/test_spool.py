"""The spool on a real directory: atomic private files, kept across restarts, sent oldest first,
bounded by dropping the oldest batches with a warning that counts their lines."""

from __future__ import annotations

import gzip
import stat
from pathlib import Path

import pytest

from app.syslog.spool import Spool, SpoolError, decode_header, default_spool_path
from tests.syslog.serving import spooled

LINE = b'<190>Jan  9 12:00:00 df: ["portal.example","https://client.example/"]\n'


def body(lines: int) -> bytes:
    return gzip.compress(LINE * lines, mtime=0)


def test_a_batch_file_holds_its_key_and_line_count_and_only_its_owner_reads_it(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "spool"
    with Spool(directory, 10_000_000, print) as spool:
        batch = spool.add("um-syslog-aa.1", 3, body(3))
        assert batch.path == directory / "000000000001.batch"
        assert decode_header(batch.path.read_bytes()) == ("um-syslog-aa.1", 3)
        assert gzip.decompress(spool.read(batch)) == LINE * 3
        assert stat.S_IMODE(batch.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert sorted(p.name for p in directory.iterdir()) == [".lock", "000000000001.batch"]
        assert (spool.batches, spool.lines, batch.size) == (1, 3, batch.path.stat().st_size)


def test_batches_survive_a_restart_and_come_back_oldest_first_with_their_keys(
    tmp_path: Path,
) -> None:
    with Spool(tmp_path, 10_000_000, print) as spool:
        for number, lines in ((1, 5), (2, 1), (3, 2)):
            spool.add(f"um-syslog-first.{number}", lines, body(lines))
        first = spool.oldest()
        assert first is not None
        spool.remove(first)  # delivered
    with Spool(tmp_path, 10_000_000, print) as restarted:
        assert restarted.describe() == "2 batch(es), 3 lines in the spool"
        added = restarted.add("um-syslog-second.1", 4, body(4))
        assert added.number == 4  # numbers only grow: the new batch goes after the old ones
        sent = []
        while (batch := restarted.oldest()) is not None:
            sent.append((batch.key, batch.lines, gzip.decompress(restarted.read(batch))))
            restarted.remove(batch)
    assert sent == [
        ("um-syslog-first.2", 1, LINE),
        ("um-syslog-first.3", 2, LINE * 2),
        ("um-syslog-second.1", 4, LINE * 4),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


def test_past_its_bound_the_spool_drops_the_oldest_batches_and_counts_their_lines(
    tmp_path: Path,
) -> None:
    warnings: list[str] = []
    with Spool(tmp_path, 10_000_000, warnings.append) as probe:
        first = probe.add("um-syslog-x.0", 10, body(10))
        probe.remove(first)
    size = first.size
    with Spool(tmp_path, 3 * size, warnings.append) as spool:
        for number in range(1, 4):
            spool.add(f"um-syslog-x.{number}", 10, body(10))
        assert warnings == []
        spool.add("um-syslog-x.4", 10, body(10))
        assert [key for key, _ in spooled(tmp_path)] == [f"um-syslog-x.{n}" for n in (2, 3, 4)]
    assert warnings == [
        f"warning: the spool {tmp_path} is full ({3 * size} bytes, --spool-max-mb): dropped its "
        "1 oldest batch(es), 10 lines, to keep the newest"
    ]
    assert not (tmp_path / "000000000001.batch").exists()


def test_the_batch_being_sent_is_not_dropped(tmp_path: Path) -> None:
    warnings: list[str] = []
    with Spool(tmp_path, 1, warnings.append) as spool:  # every batch is past the bound
        spool.add("um-syslog-y.1", 2, body(2))
        sending = spool.oldest()
        spool.add("um-syslog-y.2", 3, body(3))
        spool.add("um-syslog-y.3", 4, body(4))
        assert spooled(tmp_path) == [("um-syslog-y.1", 2), ("um-syslog-y.3", 4)]
        assert sending is not None and sending.key == "um-syslog-y.1"
    assert [w.split(": ")[-1] for w in warnings] == [
        "dropped its 1 oldest batch(es), 3 lines, to keep the newest"
    ]


def test_a_second_receiver_cannot_use_the_same_spool(tmp_path: Path) -> None:
    with Spool(tmp_path, 1000, print), pytest.raises(SpoolError) as refused:
        Spool(tmp_path, 1000, print).__enter__()
    assert refused.value.message == (
        f"another usage-metrics syslog uses the spool {tmp_path}: give each receiver its own "
        "--spool"
    )
    with Spool(tmp_path, 1000, print):  # free again once the first one stopped
        pass


def test_a_write_cut_short_is_removed_and_a_foreign_file_left_aside(tmp_path: Path) -> None:
    (tmp_path / ".000000000001.batch.4242.tmp").write_bytes(b'{"key"')
    (tmp_path / "000000000002.batch").write_bytes(b"not a batch")
    (tmp_path / "notes.txt").write_text("kept")
    warnings: list[str] = []
    with Spool(tmp_path, 1000, warnings.append) as spool:
        assert spool.batches == 0
        assert spool.add("um-syslog-z.1", 1, body(1)).number == 1
    assert warnings == [
        f"warning: {tmp_path / '000000000002.batch'} is not a batch file: left aside, not sent"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".lock",
        "000000000001.batch",
        "000000000002.batch",
        "notes.txt",
    ]


def test_the_default_spool_is_under_the_xdg_state_directory_one_per_socket() -> None:
    socket_path = "/run/usage-metrics/syslog.sock"
    with_xdg = default_spool_path(socket_path, {"XDG_STATE_HOME": "/var/lib/um/state"})
    assert with_xdg.parent == Path("/var/lib/um/state/usage-metrics/syslog")
    assert with_xdg.name.startswith("syslog.sock-") and len(with_xdg.name) == 24
    home = default_spool_path(socket_path, {"HOME": "/home/um"})
    assert home == Path("/home/um/.local/state/usage-metrics/syslog") / with_xdg.name
    udp = default_spool_path("udp-127.0.0.1:5140", {"HOME": "/home/um"})
    assert udp.name.startswith("udp-127.0.0.1_5140-") and udp != home
