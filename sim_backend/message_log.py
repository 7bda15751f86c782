"""A bounded log of the messages an engine received (tests inspect it).

The engine serves for hours; keeping every message would grow without bound (one of the
server's robustness rules). :class:`MessageLog` keeps the last ``maxlen`` messages but
numbers them from the first one ever received, so ``len(log)`` is the number of messages
received and ``log[k]`` / ``log[a:b]`` / ``log.index(m)`` use those absolute positions, as
with a list, while the messages are retained.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

DEFAULT_LOG_SIZE = 10_000


class MessageLog:
    """The last ``maxlen`` messages, indexed by arrival position (0-based)."""

    def __init__(self, maxlen: int = DEFAULT_LOG_SIZE) -> None:
        if maxlen < 1:
            raise ValueError(f"log size {maxlen} < 1")
        self._items: deque[str] = deque(maxlen=maxlen)
        self._count = 0

    @property
    def first(self) -> int:
        """Absolute position of the oldest retained message."""
        return self._count - len(self._items)

    def append(self, message: str) -> None:
        self._items.append(message)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __contains__(self, message: object) -> bool:
        return message in self._items

    def _pos(self, k: int) -> int:
        k = k + self._count if k < 0 else k
        if not self.first <= k < self._count:
            raise IndexError(f"message {k} is not retained (log keeps {self.first}..."
                             f"{self._count - 1})")
        return k - self.first

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self._count)
            start, stop = max(start, self.first), max(stop, self.first)
            items = list(self._items)
            return items[start - self.first:stop - self.first:step]
        return self._items[self._pos(key)]

    def index(self, message: str) -> int:
        for k, m in enumerate(self._items):
            if m == message:
                return self.first + k
        raise ValueError(f"{message!r} not in the retained log")
