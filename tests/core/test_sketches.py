"""HyperLogLog sketches (app/core/sketches.py): small sets exact, large ones within 2 %, merges
commutative and idempotent, the stored form only registers."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.sketches import (
    REGISTERS,
    Sketch,
    SketchError,
    Union,
    consumer_hash,
    encode_hashes,
    merge_bytes,
    register_of,
)

KEYS = [bytes([seed]) * 32 for seed in range(1, 6)]


def sketch_of(consumers: range | list[str], key: bytes) -> Sketch:
    return Sketch.of_hashes(consumer_hash(str(c), key) for c in consumers)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 50])
def test_small_sets_are_counted_exactly(n: int) -> None:
    assert sketch_of(range(n), KEYS[0]).estimate() == n


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_handful_is_exact_under_every_key(key: bytes, n: int) -> None:
    assert sketch_of(range(n), key).estimate() == n


@pytest.mark.parametrize("key", KEYS)
def test_fifty_is_within_one_under_every_key(key: bytes) -> None:
    # Two of 50 consumers share a register under 7 % of keys: linear counting then says 49.
    assert abs(sketch_of(range(50), key).estimate() - 50) <= 1


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_large_sets_are_within_two_percent(n: int) -> None:
    for key in KEYS[:3]:
        estimate = sketch_of(range(n), key).estimate()
        assert abs(estimate - n) / n < 0.02, (key[0], estimate)


def test_the_same_consumer_added_twice_counts_once() -> None:
    sketch = sketch_of(["a", "a", "b"], KEYS[0])
    assert sketch.estimate() == 2


def test_the_union_of_days_counts_a_consumer_of_both_once() -> None:
    monday, tuesday = sketch_of(range(0, 30), KEYS[0]), sketch_of(range(20, 50), KEYS[0])
    monday.merge(tuesday)
    assert monday.estimate() == 50
    assert monday == sketch_of(range(50), KEYS[0])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=40),
    st.lists(st.integers(0, 2**64 - 1), max_size=40),
)
def test_merge_is_commutative_and_idempotent(a: list[int], b: list[int]) -> None:
    ab, ba = Sketch.of_hashes(a), Sketch.of_hashes(b)
    ab.merge(Sketch.of_hashes(b))
    ba.merge(Sketch.of_hashes(a))
    assert ab == ba == Sketch.of_hashes(a + b)
    again = Sketch(bytearray(ab.registers))
    again.merge(Sketch.of_hashes(b))
    assert again == ab


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.integers(0, REGISTERS - 1), st.integers(0, 51), max_size=64),
        min_size=1,
        max_size=4,
    )
)
def test_a_union_takes_each_registers_maximum(arrays: list[dict[int, int]]) -> None:
    registers = [bytearray(REGISTERS) for _ in arrays]
    for array, values in zip(registers, arrays, strict=True):
        for index, rank in values.items():
            array[index] = rank
    union = Union()
    for array in registers:
        union.add(Sketch(array))
    expected = bytearray(map(max, *registers)) if len(registers) > 1 else registers[0]
    assert union.sketch().registers == expected
    merged = Sketch(bytearray(registers[0]))
    for array in registers[1:]:
        merged.merge(Sketch(array))
    assert merged.registers == expected
    # Unions of unions (the fold's owners' days and months) give the same registers.
    of_unions = Union()
    for array in registers:
        one = Union()
        one.add(Sketch(array))
        of_unions.update(one)
    assert of_unions.sketch().registers == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=40))
def test_the_stored_form_reads_back_as_the_same_registers(hashes: list[int]) -> None:
    data = encode_hashes(hashes)
    assert Sketch.from_bytes(data) == Sketch.of_hashes(hashes)
    assert merge_bytes([data, data]) == Sketch.of_hashes(hashes)


def test_the_stored_form_holds_ranks_only() -> None:
    hashed = consumer_hash("198.51.100.0 Firefox 120", KEYS[0])
    registers = zlib.decompress(encode_hashes([hashed])[1:])
    index, rank = register_of(hashed)
    assert len(registers) == REGISTERS
    assert [(i, r) for i, r in enumerate(registers) if r] == [(index, rank)]
    assert 1 <= rank <= 51


def test_register_of_takes_the_first_bits_and_the_rank_of_the_rest() -> None:
    assert register_of(0) == (0, 51)
    assert register_of(2**64 - 1) == (REGISTERS - 1, 1)
    assert register_of((5 << 50) | 1) == (5, 50)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x02" + zlib.compress(bytes(REGISTERS)),
        b"\x01garbage",
        b"\x01" + zlib.compress(b"1"),
        # A register past rank 51, first or last.
        b"\x01" + zlib.compress(b"\x34" + bytes(REGISTERS - 1)),
        b"\x01" + zlib.compress(bytes(REGISTERS - 1) + b"\xff"),
    ],
)
def test_bytes_that_are_no_sketch_are_refused(data: bytes) -> None:
    with pytest.raises(SketchError):
        Sketch.from_bytes(data)


def test_different_keys_give_unrelated_hashes() -> None:
    assert consumer_hash("alice", KEYS[0]) != consumer_hash("alice", KEYS[1])
