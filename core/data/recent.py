"""The last few values made, by key: what a room makes again and again (a lesson step's split, its tensors) is
kept for the next run instead of made afresh."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable


class Recent:
    """At most `size` values, the least recently used dropped first; safe to share between threads. A value
    should hold whatever its key depends on (keys built from `id()` stay valid only while their object lives)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        """The value kept for `key` (now the most recent), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)

    def values(self) -> list[Any]:
        """The values, least recently used first (a copy)."""
        with self._lock:
            return list(self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
