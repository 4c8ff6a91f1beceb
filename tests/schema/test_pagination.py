"""Cursors: opaque, one per position, refused when this API did not give them."""

from __future__ import annotations

import pytest

from app.errors import BadUserInputError
from app.schema.pagination import decode_cursor, encode_cursor, window


@pytest.mark.parametrize("index", [0, 1, 9, 10, 99, 123456])
def test_reads_back_the_cursors_it_gives(index: int) -> None:
    cursor = encode_cursor("datasets", index)
    assert "datasets" not in cursor and "=" not in cursor  # opaque, and URL-safe
    assert decode_cursor("datasets", cursor) == index


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        "ZGF0YXNldHM6MQ==",  # padded: a cursor it gave is never padded
        encode_cursor("groups", 1),
        encode_cursor("datasets", 1) + "A",
        "ZGF0YXNldHM6MDE",  # datasets:01
        "ZGF0YXNldHM6LTE",  # datasets:-1
        "ZGF0YXNldHM6",  # datasets:
        "/w",  # not UTF-8
    ],
)
def test_refuses_other_cursors(cursor: str) -> None:
    with pytest.raises(BadUserInputError, match="is not a cursor this API gave for datasets"):
        decode_cursor("datasets", cursor)


@pytest.mark.parametrize(
    ("first", "after", "offset"),
    [(10, None, 0), (0, None, 0), (100, None, 0), (10, encode_cursor("groups", 9), 10)],
)
def test_starts_a_page_after_the_cursor(first: int, after: str | None, offset: int) -> None:
    page = window("groups", first, after, default=10)
    assert (page.offset, page.limit) == (offset, first)
    assert page.cursor(0) == encode_cursor("groups", offset)


@pytest.mark.parametrize("first", [-1, 101])
def test_refuses_pages_out_of_range(first: int) -> None:
    with pytest.raises(BadUserInputError, match="ask for 0 to 100 items per page"):
        window("groups", first, None, default=10)


def test_reads_a_null_first_as_the_default() -> None:
    assert window("groups", None, None, default=10).limit == 10
