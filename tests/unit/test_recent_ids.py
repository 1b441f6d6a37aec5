"""RecentIds (services/runtime/recent_ids.py): the semantics of the OrderedDict it replaced
(oldest forgotten first, re-adding makes an id the newest), in a footprint fixed at build."""

from __future__ import annotations

import tracemalloc
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.runtime.recent_ids import RecentIds


class Model:
    """The reference: what services/runtime/amqp/runner.py did before."""

    def __init__(self, size: int) -> None:
        self.ids: OrderedDict[str, None] = OrderedDict()
        self.size = size

    def add(self, item: str) -> None:
        self.ids[item] = None
        self.ids.move_to_end(item)
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)


class Clustered(RecentIds):
    """Fingerprints that share their low bits: long probe runs, wrapping around the table,
    so that the backward-shift deletion is exercised hard."""

    @staticmethod
    def _fingerprint(item: str) -> int:
        n = int(item)
        return ((n + 1) << 20) | (n % 3)


ALPHABET = [str(i) for i in range(24)]
OPS = st.lists(st.tuples(st.sampled_from(["add", "in"]), st.sampled_from(ALPHABET)), max_size=300)


def check_against_model(cls: type[RecentIds], size: int, ops: list[tuple[str, str]]) -> None:
    ids, model = cls(size=size), Model(size)
    for op, item in ops:
        if op == "add":
            ids.add(item)
            model.add(item)
        else:
            assert (item in ids) == (item in model.ids)
        assert len(ids) == len(model.ids)
    assert {i for i in ALPHABET if i in ids} == set(model.ids)


@settings(max_examples=400, deadline=None)
@given(size=st.integers(1, 9), ops=OPS)
def test_behaves_as_the_ordered_dict_it_replaced(size: int, ops: list[tuple[str, str]]) -> None:
    check_against_model(RecentIds, size, ops)


@settings(max_examples=400, deadline=None)
@given(size=st.integers(1, 9), ops=OPS)
def test_clustered_fingerprints_probe_and_shift_back_correctly(
    size: int, ops: list[tuple[str, str]]
) -> None:
    check_against_model(Clustered, size, ops)


def test_forgets_the_oldest_first() -> None:
    ids = RecentIds(size=3)
    for item in "abcd":
        ids.add(item)
    assert "a" not in ids and all(i in ids for i in "bcd")
    ids.add("e")
    assert "b" not in ids and all(i in ids for i in "cde")


def test_adding_again_makes_an_id_the_newest() -> None:
    ids = RecentIds(size=3)
    for item in "abc":
        ids.add(item)
    ids.add("a")  # now b is the oldest
    ids.add("d")
    assert "b" not in ids and all(i in ids for i in "acd")


def test_ring_wraps_around_and_compacts_after_many_re_adds() -> None:
    size = 50
    ids, model = RecentIds(size=size), Model(size)
    # Ten times round the ring of fresh ids, with re-adds of live ones in between: the ring
    # fills with tombstones and is compacted again and again.
    for n in range(20 * size):
        for item in (f"new-{n}", f"new-{max(0, n - 7)}", f"new-{max(0, n - 31)}"):
            ids.add(item)
            model.add(item)
        if n % 97 == 0:
            assert {k for k in model.ids if k in ids} == set(model.ids)
    assert len(ids) == size
    assert all(k in ids for k in model.ids)
    assert not any(f"new-{n}" in ids for n in range(20 * size - 2 * size))


def test_many_deletes_keep_every_live_id_reachable() -> None:
    size = 1000
    ids = RecentIds(size=size)
    for n in range(30 * size):  # 29,000 evictions, each a backward-shift deletion
        ids.add(f"id-{n}")
        if n % 4999 == 0:
            assert all(f"id-{k}" in ids for k in range(max(0, n - size + 1), n + 1))
    assert all(f"id-{k}" in ids for k in range(29 * size, 30 * size))
    assert sum(f"id-{k}" in ids for k in range(29 * size)) == 0


def test_rejects_a_size_below_one() -> None:
    with pytest.raises(ValueError):
        RecentIds(size=0)


def test_memory_is_all_taken_when_built() -> None:
    size = 5000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ids = RecentIds(size=size)
        built = tracemalloc.get_traced_memory()[0]
        for n in range(10 * size):
            ids.add(f"call-{n}")
            if n % 3 == 0:
                ids.add(f"call-{n // 2}")  # re-adds too: tombstones, compaction
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert built - before >= 8 * 2 * size  # the ring and the table are there from the start
    assert after - built < 2048, after - built  # and nothing is added to them
