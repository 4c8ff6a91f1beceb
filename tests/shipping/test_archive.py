"""Archives: compression told by magic bytes, content digests, numbered batches, the progress."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest

from app.shipping.archive import archive_batches, open_archive, read_digest
from app.shipping.batches import import_key
from app.shipping.progress import Progress, render_bar

CONTENT = b"".join(f"line {i}\n".encode() for i in range(25)) + b"last, no newline"


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("access.log", lambda data: data),
        ("access.log.1.gz", gzip.compress),
        ("access.log.2", gzip.compress),  # no suffix: the magic bytes tell
        ("access.log.gz", lambda data: data),  # a misleading suffix
        ("two-members.gz", lambda data: gzip.compress(data[:50]) + gzip.compress(data[50:])),
        ("access.log.bz2", bz2.compress),
        ("access.log.xz", lzma.compress),
    ],
)
def test_reads_plain_and_compressed_files_by_their_content(
    tmp_path: Path, name: str, compress: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / name
    path.write_bytes(compress(CONTENT))
    with open_archive(path) as stream:
        assert stream.read() == CONTENT
    plain = tmp_path / "plain.log"
    plain.write_bytes(CONTENT)
    assert read_digest(path) == read_digest(plain)
    assert read_digest(path)[1] == 26


def test_batches_are_numbered_by_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(CONTENT))
    digest, _ = read_digest(path)
    batches = list(archive_batches(path, digest, 10))
    assert [(b.start, b.end, b.lines) for b in batches] == [(1, 10, 10), (11, 20, 10), (21, 26, 6)]
    assert [b.key for b in batches] == [import_key(digest, n) for n in (1, 2, 3)]
    assert b"".join(b.body for b in batches) == CONTENT


def test_an_empty_file_has_no_line(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert read_digest(path)[1] == 0
    assert list(archive_batches(path, read_digest(path)[0], 10)) == []


def test_the_bar_shows_the_lines_sent() -> None:
    assert render_bar("a.gz", 0, 200) == "a.gz [..............................]   0% 0/200 lines"
    assert (
        render_bar("a.gz", 100, 200) == "a.gz [###############...............]  50% 100/200 lines"
    )
    assert render_bar("empty", 0, 0) == "empty [##############################] 100% 0/0 lines"


def test_without_a_terminal_progress_is_a_line_now_and_then() -> None:
    stream = io.StringIO()
    now = [0.0]
    progress = Progress(stream, "a.gz", 300, clock=lambda: now[0])
    progress.advance(100)  # too soon after the start
    now[0] = 6.0
    progress.advance(100)
    now[0] = 7.0
    progress.advance(100)  # too soon after the last line
    progress.finish()
    assert stream.getvalue().splitlines() == [
        render_bar("a.gz", 200, 300),
        render_bar("a.gz", 300, 300),
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    stream = Terminal()
    now = [0.0]
    progress = Progress(stream, "a.gz", 200, clock=lambda: now[0])
    now[0] = 0.5
    progress.advance(100)
    progress.finish()
    assert stream.getvalue() == (
        f"\r{render_bar('a.gz', 100, 200)}\r{render_bar('a.gz', 100, 200)}\n"
    )
