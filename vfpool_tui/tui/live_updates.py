"""Events applied by parts (issue 14): the backend's ``LiveScan`` and the events not yet applied.

The app gathers a burst of events (``TuiSettings.debounce``) and hands them to the backend's
``apply_changes``; on the libvirt thread each named part is read again (``core.scan.LiveScan``:
a domain, the networks, one PF) instead of the whole host, and one ``ScanReady`` follows. Any
doubt (no scan yet, another connection, an error) falls back to a full scan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from vfpool_tui.core.model import Host, Scan
from vfpool_tui.tui.messages import ScanReady

log = logging.getLogger(__name__)


class LiveUpdates:
    def __init__(self, backend: Any, discover) -> None:
        self._b = backend  # the Backend that owns this (its libvirt thread, connection, messages)
        self._discover = discover  # a test's host discovery, else None (the LiveScan's own)
        self.scan: Any = None  # core.scan.LiveScan on the current connection
        self._changes: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Events update the view by parts (the backend's own scanner; a test's scanner: rescans)."""
        return self._b._scanner == self._b._default_scan

    def full(self, conn, host: Host | Callable[[], Host]) -> Scan:
        """A whole scan on ``conn`` (libvirt thread), kept for the updates by parts that follow."""
        from vfpool_tui.core.scan import LiveScan

        self.scan = None
        b = self._b
        self.scan = LiveScan(conn, b.uri, bool(b.readonly), discovery=b.discovery, host=host,
                             discover_host=self._discover)
        return self.scan.result

    def apply(self, changes: set[tuple[str, str]]) -> None:
        """Queue ``changes`` (any thread); one job applies all that came before it runs."""
        with self._lock:
            first = not self._changes
            self._changes |= changes
        if first and not self._b._submit(self._job):
            with self._lock:
                self._changes.clear()

    def _job(self) -> None:
        b = self._b
        with self._lock:
            changes, self._changes = self._changes, set()
        if b._stop.is_set() or not changes:
            return
        live = self.scan
        if live is None or not b.connected or live.conn is not b._conn:
            b.request_scan("event")
            return
        t0 = b._clock()
        try:
            scan = live.networks() if any(kind == "network" for kind, _ in changes) else None
            for kind, name in sorted(changes):
                if kind == "domain":
                    scan = live.domain_named(name)
                elif kind in ("host", "nodedev"):
                    scan = live.pf(name)
        except Exception as err:  # a connection gone mid-way, a bug: a full scan says what it can
            log.info("update by parts failed (%s): full scan", err)
            self.scan = None
            b.request_scan("event")
            return
        if scan is not None:
            b._post(ScanReady(scan, "event", b._clock() - t0))
