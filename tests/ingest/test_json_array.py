"""application/json bodies: a 16 MiB array decoded a slice at a time, within a small multiple of
its size and in parts that give the event loop back; every item as decoding the whole array gives
it, whatever its strings hold; a fault anywhere refuses the batch, saying where."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import BadRequestError
from app.ingest.body import JSON, entries
from app.ingest.endpoint import ENTRIES_PER_PART
from tests.helpers import data_fair_line, named_line, usage_rows

MAX_BATCH_BYTES = 16 * 1024 * 1024
# Decoding the whole array at once peaked at 262 MB here (600 to 800 MB of RSS in a server).
PEAK_BOUND = 3 * MAX_BATCH_BYTES
# CPU time of the longest part, garbage collection aside: ~10 ms a part here; the whole array
# decoded in the first part took 100 to 150 ms.
PART_CPU_BOUND_S = 0.05
# Past 256 KiB (four slices) a body is cut into slices: with these lines (~300 KB) it is read
# in two or more.
PADDING = [data_fair_line(referer=f"https://site-{n}.example/") for n in range(1000)]
PADDING_JSON = [json.dumps(line) for line in PADDING]


def array_of(make: Callable[..., list[Any] | dict[str, Any]]) -> tuple[bytes, int]:
    """Just under 16 MiB of one kind of line, each from another site."""
    before, after = json.dumps(make(referer="https://site-MARK.example/")).split("MARK")
    count = MAX_BATCH_BYTES // (len(before) + len(after) + 8) - 10
    body = "[" + ",\n".join(f"{before}{n:06d}{after}" for n in range(count)) + "]"
    assert len(body) <= MAX_BATCH_BYTES
    return body.encode(), count


BODIES = [pytest.param(data_fair_line, id="data-fair-arrays"), pytest.param(named_line, id="named")]


def expected(body: bytes) -> list[tuple[int, Any]]:
    """What decoding the whole array gives, numbered as the endpoint numbers it."""
    return [(n, v) for n, v in enumerate(orjson.loads(body), start=1) if v not in (None, "")]


def parts(body: bytes) -> Iterator[list[tuple[int, Any]]]:
    """The entries in the endpoint's parts (app/ingest/endpoint.py reads them so)."""
    numbered = entries(JSON, body)
    while part := list(islice(numbered, ENTRIES_PER_PART)):
        yield part


def test_a_16_mib_array_is_decoded_within_three_times_its_size() -> None:
    body, count = array_of(named_line)  # objects: the most memory a line
    tracemalloc.start()
    try:
        read = sum(len(part) for part in parts(body))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read == count
    assert peak < PEAK_BOUND, f"{peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("make", BODIES)
def test_a_16_mib_array_gives_the_loop_back_after_each_part(make: Callable[..., Any]) -> None:
    body, count = array_of(make)
    numbered = entries(JSON, body)
    longest, read = 0.0, 0
    gc.disable()  # a collection pauses any code; what is measured here is the decoding
    try:
        while True:
            started = time.thread_time()
            part = list(islice(numbered, ENTRIES_PER_PART))
            longest = max(longest, time.thread_time() - started)
            if not part:
                break
            read += len(part)
    finally:
        gc.enable()
    assert read == count
    assert longest < PART_CPU_BOUND_S, f"{longest * 1000:.0f} ms"


# Strings that hold what a slice's cut looks for, brackets, escapes and quotes.
TRICKY_TEXT = st.text(alphabet=st.sampled_from(list('[]{}",\\ \n\tab\u00e9')), max_size=12)
ITEMS = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=12,
)
SPACES = st.sampled_from(["", " ", "\n", " \r\n\t "])


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    items=st.lists(ITEMS, min_size=1, max_size=40),
    space=SPACES,
    where=st.sampled_from(["first", "middle", "last"]),
)
def test_every_item_is_what_decoding_the_whole_array_gives(
    items: list[Any], space: str, where: str
) -> None:
    generated = [json.dumps(item, ensure_ascii=False) for item in items]
    padded = {
        "first": [*generated, *PADDING_JSON],
        "middle": [*PADDING_JSON[:500], *generated, *PADDING_JSON[500:]],
        "last": [*PADDING_JSON, *generated],
    }[where]
    body = f"{space}[{space}{f'{space},{space}'.join(padded)}{space}]{space}".encode()
    assert list(entries(JSON, body)) == expected(body)


def test_items_holding_every_cut_in_their_strings_are_read_whole() -> None:
    tricky = [
        ['a"], ["b', 1],
        {"k": "}, {", "n": {"m": '}, {"x": 1'}},
        'raw ", " line',
        '", "',
        ["], [", ["], ["]],
    ]
    body = json.dumps([*PADDING[:600], *tricky * 200, *PADDING[600:]]).encode()
    assert len(body) > 256 * 1024
    assert list(entries(JSON, body)) == expected(body)


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        pytest.param(b'["a", "b"', "unexpected end of data after item 2 at character 9",
                     id="cut-short"),
        pytest.param(b"[", "unexpected end of data after item 0 at character 1", id="bracket"),
        pytest.param(b'["a",  ', "unexpected end of data after item 1 at character 7",
                     id="cut-after-a-comma"),
        pytest.param(b'["a" "b"]', "expected ',' or ']' after item 1 at character 5",
                     id="no-comma"),
        pytest.param(b'["a",]', "unexpected character, expected a JSON value in item 2 "
                     "at character 5", id="trailing-comma"),
        pytest.param(b'["a"] ["b"]', "unexpected content after the array at character 6",
                     id="two-arrays"),
        pytest.param(b'[{"a": NaN}]', "unexpected character, expected a JSON value in item 1 "
                     "at character 7", id="nan"),
        pytest.param(b'["a", "\\ud800"]', "no low surrogate in string in item 2 at character 7",
                     id="lone-surrogate"),
        pytest.param(b"[" + b"[" * 5000 + b"]" * 5000 + b"]", "item 1 is nested too deeply at "
                     "character 1", id="nested-too-deeply"),
    ],
)  # fmt: skip
def test_a_fault_refuses_the_batch_saying_where(body: bytes, fault: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        list(entries(JSON, body))
    assert caught.value.message == (
        f"the body is declared application/json but is not valid JSON ({fault}); "
        "send one JSON array of log lines"
    )


def test_a_fault_past_the_first_slices_refuses_the_whole_batch() -> None:
    lines = PADDING_JSON
    broken = '["a" "b"]'
    text = "[" + ",".join([*lines[:900], broken, *lines[900:]]) + "]"
    with pytest.raises(BadRequestError) as caught:
        list(entries(JSON, text.encode()))
    at = text.index(broken) + 5
    assert caught.value.message == (
        "the body is declared application/json but is not valid JSON (unexpected character, "
        f"expected ',' or ']' in item 901 at character {at}); send one JSON array of log lines"
    )


@pytest.mark.anyio
async def test_a_large_array_counts_each_line_once(client: httpx.AsyncClient) -> None:
    lines = [*PADDING, *(named_line(referer="https://client.example/") for _ in range(1000))]
    body = json.dumps(lines).encode()
    headers = {"Authorization": "Bearer test-ingest-token", "Content-Type": "application/json"}
    answer = await client.post("/ingest", content=body, headers=headers)
    assert (answer.json()["accepted"], answer.json()["rejected_count"]) == (2000, 0), answer.text
    assert sum(row["requests"] for row in await usage_rows()) == 2000
