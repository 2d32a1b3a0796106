"""Snapshots of rows that change a few times a year and are read on every request, kept per
process: the desk configuration, agents' scopes, service levels, compiled calendars.

Staleness is bounded two ways. The process that changes the rows calls ``forget()`` (the apps
connect it to the models' save/delete signals), which drops the snapshots at once and again
when the transaction commits, so a snapshot read inside the changing transaction (holding its
uncommitted rows) never outlives it. Other processes re-read after ``ttl()`` seconds. A rollback
leaves such a snapshot for at most the TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from django.db import transaction

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ProcessCache(Generic[K, V]):
    """Values by key, each kept ``ttl()`` seconds (read at call time, so tests and settings can
    change it). Shared by the threads of a process: treat the values as read-only."""

    def __init__(
        self, ttl: Callable[[], float], *, max_entries: int = 10_000, keep_equal: bool = False
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        # Keep the old object when a reload finds equal data (e.g. a schedule whose year tables
        # are already built).
        self._keep_equal = keep_equal
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The value for ``key``, loaded with ``load()`` when missing or older than the TTL."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl():
            return entry[1]
        value = load()
        if self._keep_equal and entry is not None and entry[1] == value:
            value = entry[1]
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (now, value)
        return value

    def __contains__(self, key: object) -> bool:
        """Whether a snapshot for ``key`` is held (fresh or not)."""
        return key in self._entries

    def forget(self, **_signal_kwargs: Any) -> None:
        """Drop every snapshot now and when the current transaction commits (usable directly as
        a signal receiver)."""
        self._entries.clear()
        if transaction.get_connection().in_atomic_block:
            transaction.on_commit(self._entries.clear)
