"""A bounded memory of recent ids whose footprint is fixed when it is built.

The runner remembers the last 50,000 message ids (a redelivered duplicate is not acted on
twice) and the dispatcher the last 100,000 ended calls (their late presses are dropped). An
`OrderedDict` did that, but under churn a dict's memory grows in steps (resizes, and the
freed keys' strings scattered over the heap): about 17 MB for 50,000 ids, reached only after
some 470,000 messages, so a 30-minute soak saw a healthy service "growing".

`RecentIds` takes all its memory in `__init__` and never allocates again: RSS is flat from
the first message. It keeps no strings, only a 64-bit fingerprint of each id:

- `_ring`: `array('Q')` of 2 x size slots, the fingerprints in insertion order (a circular
  buffer from `_head`); 0 marks a slot whose id was added again since (a tombstone);
- `_table`: `array('I')` of the next power of two >= 2 x size slots, an open-addressing hash
  table (linear probing, load <= 1/2) holding ring index + 1 of each live id (0: empty);
  deletion shifts the following entries back, so there are no tombstones to clean up.

For size 50,000: 512 KiB of table and 800 KiB of ring, 1.3 MB in all.

Semantics are those of the OrderedDict with `move_to_end`: at most `size` ids, the oldest
forgotten first, and adding an id that is already remembered makes it the newest again (its
old ring slot becomes a tombstone; when tombstones fill the ring, it is compacted in place,
at most once every `size` adds, in O(size)).

Fingerprints are `hash(str)` (SipHash, stable within a process; the memory is per process and
lost on restart anyway). Two different ids with the same fingerprint read as one: a new id is
taken for a remembered one with probability about size / 2**64 per message (2.7e-15 at
50,000: once in some 10**14 messages), and then a fresh message is dropped as a duplicate or
a live call's press as one of an ended call.
"""

from __future__ import annotations

from array import array

_MASK64 = 2**64 - 1


class RecentIds:
    """Bounded memory of ids, oldest forgotten first: ids handled, so a redelivered message
    is not acted on twice; calls ended, so their late presses are not either."""

    __slots__ = ("_head", "_live", "_mask", "_ring", "_size", "_table", "_used")

    def __init__(self, *, size: int) -> None:
        if not 1 <= size < 2**31:
            raise ValueError(f"size must be in 1..2**31-1, not {size}")
        self._size = size
        self._ring = array("Q", [0]) * (2 * size)
        slots = 1 << (2 * size - 1).bit_length()  # a power of two >= 2 * size
        self._table = array("I", [0]) * slots
        self._mask = slots - 1
        self._head = 0  # ring slot of the oldest entry (or tombstone)
        self._used = 0  # ring slots from _head on that hold an entry or a tombstone
        self._live = 0  # ids remembered

    @staticmethod
    def _fingerprint(item: str) -> int:
        return (hash(item) & _MASK64) or 1  # 0 is the ring's tombstone

    def __len__(self) -> int:
        return self._live

    def __contains__(self, item: str) -> bool:
        fp = self._fingerprint(item)
        table, ring, mask = self._table, self._ring, self._mask
        i = fp & mask
        while r := table[i]:
            if ring[r - 1] == fp:
                return True
            i = (i + 1) & mask
        return False

    def add(self, item: str) -> None:
        fp = self._fingerprint(item)
        table, ring, mask = self._table, self._ring, self._mask
        slot, pos = self._find(fp)
        if pos >= 0:
            if pos == (self._head + self._used - 1) % len(ring):
                return  # already the newest
            self._remove(slot)
            ring[pos] = 0
            self._live -= 1
            slot = -1  # the deletion may have shifted entries into it
        elif self._live == self._size:
            self._evict_oldest()
            slot = -1
        if self._used == len(ring):
            self._compact()  # moves ring entries, not table slots
        tail = (self._head + self._used) % len(ring)
        ring[tail] = fp
        self._used += 1
        self._live += 1
        if slot < 0:
            slot = fp & mask
            while table[slot]:
                slot = (slot + 1) & mask
        table[slot] = tail + 1

    def _find(self, fp: int) -> tuple[int, int]:
        """(table slot, ring index) of `fp`, or (the empty slot that ends its probe, -1)."""
        table, ring, mask = self._table, self._ring, self._mask
        i = fp & mask
        while True:
            r = table[i]
            if not r:
                return i, -1
            if ring[r - 1] == fp:
                return i, r - 1
            i = (i + 1) & mask

    def _remove(self, i: int) -> None:
        """Empty table slot `i`, shifting back the entries after it that probed past it."""
        table, ring, mask = self._table, self._ring, self._mask
        j = i
        while True:
            j = (j + 1) & mask
            r = table[j]
            if not r:
                break
            home = ring[r - 1] & mask
            # The entry at j may fill i unless its home lies cyclically in (i, j].
            if (j - home) & mask >= (j - i) & mask:
                table[i] = r
                i = j
        table[i] = 0

    def _evict_oldest(self) -> None:
        ring = self._ring
        while True:
            fp = ring[self._head]
            if fp:
                self._remove(self._find(fp)[0])
                ring[self._head] = 0
            self._head = (self._head + 1) % len(ring)
            self._used -= 1
            if fp:
                self._live -= 1
                return

    def _compact(self) -> None:
        """Close the ring's tombstones up, in order, from _head on (in place: the write index
        never passes the read index)."""
        ring, table, cap = self._ring, self._table, len(self._ring)
        read = write = self._head
        for _ in range(self._used):
            fp = ring[read]
            if fp:
                if read != write:
                    table[self._find(fp)[0]] = write + 1
                    ring[write] = fp
                    ring[read] = 0
                write = (write + 1) % cap
            read = (read + 1) % cap
        self._used = self._live
