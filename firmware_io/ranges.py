"""A set of byte ranges [start, end): what the device holds, and what the host still has to send."""
from __future__ import annotations

import bisect


class RangeSet:
    def __init__(self, ranges=()):
        self._starts: list[int] = []
        self._ends: list[int] = []
        for s, e in ranges:
            self.add(s, e)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        # merge every range that overlaps or touches [start, end)
        i = bisect.bisect_left(self._ends, start)
        j = bisect.bisect_right(self._starts, end)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def clear(self) -> None:
        self._starts.clear()
        self._ends.clear()

    def __iter__(self):
        return iter(zip(self._starts, self._ends))

    def __len__(self) -> int:
        return len(self._starts)

    def __eq__(self, other) -> bool:
        return isinstance(other, RangeSet) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)})"

    @property
    def total(self) -> int:
        return sum(e - s for s, e in self)

    def covers(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self._starts, start) - 1
        return end <= start or (i >= 0 and self._ends[i] >= end)

    def missing(self, size: int) -> list[tuple[int, int]]:
        """The ranges of [0, size) not in the set."""
        out, pos = [], 0
        for s, e in self:
            if s >= size:
                break
            if s > pos:
                out.append((pos, s))
            pos = max(pos, e)
        if pos < size:
            out.append((pos, size))
        return out

    def from_offset(self, offset: int) -> list[tuple[int, int]]:
        """Ranges ending after ``offset`` (the first one clipped to start there)."""
        i = bisect.bisect_right(self._ends, offset)
        return [(max(s, offset), e) for s, e in zip(self._starts[i:], self._ends[i:])]
