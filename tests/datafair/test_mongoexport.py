"""Reading a mongoexport: both forms cut into the same documents, whatever the blocks the file
comes in; a document too long or too deep skipped alone; long lines and elements read in time
linear in their length, in bounded memory."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
from typing import Any

import pytest

from app.datafair.mongoexport import (
    MAX_DOCUMENT_BYTES,
    READ_BYTES,
    Document,
    documents,
    nesting_depth,
)
from app.datafair.skips import Skipped

ONE = {"_id": {"$oid": "65a0f0f0f0f0f0f0f0f0f0f0"}, "owner": {"type": "user", "id": "a"}}
TRICKY = {"title": 'a "},{" b \\ }]', "nested": [{"a": [1, {"b": "}"}]}, {}], "é": "€"}


class Trickle:
    """A stream that gives at most `size` bytes a read: every cut between blocks is met."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data = io.BytesIO(data)
        self._size = size

    def read(self, size: int = -1, /) -> bytes:
        return self._data.read(min(size, self._size))


def read(data: bytes, size: int = READ_BYTES) -> list[Any]:
    """What documents() finds: each document's value (BAD_JSON where it is not JSON, as the
    import finds it), or the skip."""
    found: list[Any] = []
    for item in documents(Trickle(data, size)):
        if isinstance(item, Skipped):
            found.append(item)
            continue
        assert isinstance(item, Document)
        try:
            found.append(json.loads(item.data))
        except json.JSONDecodeError:
            found.append(Skipped.BAD_JSON)
        if item.value is not None:
            assert item.value == found[-1]
    return found


FORMS = {
    "lines": lambda values: "\n".join(json.dumps(v) for v in values).encode(),
    "lines with CRLF and blank lines": lambda values: (
        "\r\n\r\n".join(json.dumps(v) for v in values) + "\r\n"
    ).encode(),
    "array": lambda values: json.dumps(values).encode(),
    "pretty array": lambda values: json.dumps(values, indent="\t", ensure_ascii=False).encode(),
    "array after a BOM": lambda values: b"\xef\xbb\xbf \n" + json.dumps(values).encode(),
}


@pytest.mark.parametrize("size", [5, 64, READ_BYTES])
@pytest.mark.parametrize("form", list(FORMS))
def test_both_forms_give_the_same_documents_whatever_the_blocks(form: str, size: int) -> None:
    values = [ONE, TRICKY, {"n": 1.5e300, "s": "x" * 300}, ONE]
    assert read(FORMS[form](values), size) == values


@pytest.mark.parametrize("size", [7, READ_BYTES])
def test_an_array_reads_elements_that_are_not_objects_and_skips_a_broken_one(size: int) -> None:
    data = b'[ 1, "a,]", [2, {"b": "]"}], null, {"a" 1}, {"c": 2}, ]'
    assert read(data, size) == [1, "a,]", [2, {"b": "]"}], None, Skipped.BAD_JSON, {"c": 2}]


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b'[{"a": 1}, {"b": "never ends}]', [{"a": 1}, Skipped.BAD_JSON]),
        (b'[{"a": 1}, {"b": [1, 2}', [{"a": 1}, Skipped.BAD_JSON]),
        (b'[{"a": 1}', [{"a": 1}]),  # no closing bracket: what came is read
        (b"[]", []),
        (b"", []),
        (b'{"a": 1}\n{"a": \n{"b": 2}', [{"a": 1}, Skipped.BAD_JSON, {"b": 2}]),
    ],
)
def test_what_cannot_be_read_is_said_and_the_rest_read(data: bytes, found: list[Any]) -> None:
    assert read(data, 3) == read(data) == found


class Repeated:
    """`head`, then `blocks` blocks of `filler`, then `tail`: a file never held whole."""

    def __init__(self, head: bytes, filler: bytes, blocks: int, tail: bytes) -> None:
        self._parts = [tail, *[filler * (READ_BYTES // len(filler))] * blocks, head]

    def read(self, size: int = -1, /) -> bytes:
        return self._parts.pop() if self._parts else b""


# 128 MiB: reading a long line was quadratic (256 MiB took 33 s); linear, it takes a fraction
# of a second. Many strings or escapes cost the scanner more per byte: 16 MiB of them.
@pytest.mark.parametrize(
    ("head", "filler", "blocks", "tail"),
    [
        (b'{"a": 1}\n{"title": "', b"x", 128, b'"}\n{"b": 2}\n'),
        (b'[{"a": 1}, {"title": "', b"x", 128, b'"}, {"b": 2}]'),
        (b'[{"a": 1}, {"title": "', b"\\\\", 16, b'"}, {"b": 2}]'),
        (b'[{"a": 1}, {"title": [', b'"},{", ', 16, b'""]}, {"b": 2}]'),
    ],
    ids=["line", "array element", "array element of escapes", "array element of strings"],
)
def test_a_document_of_many_mib_is_skipped_in_linear_time_and_bounded_memory(
    head: bytes, filler: bytes, blocks: int, tail: bytes
) -> None:
    tracemalloc.start()
    started = time.process_time()
    try:
        found = [
            item if isinstance(item, Skipped) else json.loads(item.data)
            for item in documents(Repeated(head, filler, blocks, tail))
        ]
        spent = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == [{"a": 1}, Skipped.TOO_LONG, {"b": 2}]
    assert spent < 3  # CPU seconds, generous for a busy machine: quadratic took 8.7 for the line
    assert peak < 6 * MAX_DOCUMENT_BYTES


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [{"b": "[[[[{{{"}]}', 3),
        (b'{"a": "\\"[["}', 1),
        (b"[" * 1000 + b"]" * 1000, 1000),
        (b'"just a string"', 0),
    ],
)
def test_nesting_depth_skips_strings(text: bytes, depth: int) -> None:
    assert nesting_depth(text) == depth
