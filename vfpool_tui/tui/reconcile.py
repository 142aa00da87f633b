"""The backend's periodic reconcile (``vfpool-reconcile``): libvirt emits no event for some changes
(``attach-device --config``, ``virsh autostart``, ``net-autostart``), so every ``reconcile_every``
seconds (longer on a host so big that the digest would take more than ``RECONCILE_BUDGET`` of the
time) the libvirt thread digests libvirt (``core/virt/fingerprint.py``) and the backend rescans
when the digest moved from the one of the last scan. A mixin of ``tui.backend.Backend``: it uses
its libvirt thread, connection, stop event and ``request_scan``.
"""

from __future__ import annotations

import time
from typing import Any

RECONCILE_EVERY = 2.0  # seconds between two digests of libvirt, at least (bench/reconcile_bench.py)
RECONCILE_BUDGET = 0.015  # ... and at most this share of the time spent taking them (a big host waits longer)
LOST = "the libvirt connection was closed (libvirtd stopped or restarted?)"


class Reconciling:
    """The reconcile thread and digests of a ``Backend``."""

    _fingerprint: str | None  # the digest the next reconcile compares with
    _reconcile_every: float | None
    timings: dict[str, float]
    reconciles: int
    reconcile_scans: int

    def reconcile_period(self) -> float:
        """Seconds to the next digest: ``reconcile_every``, longer when the last digest took more than
        ``RECONCILE_BUDGET`` of that (500 guests on a real libvirtd: ~70 ms, so ~4.6 s)."""
        base = float(self._reconcile_every or RECONCILE_EVERY)
        return max(base, self.timings.get("reconcile", 0.0) / RECONCILE_BUDGET)

    def _reconcile_loop(self) -> None:
        while not self._stop.wait(self.reconcile_period()):
            if not self.connected or not self._reconciling.acquire(blocking=False):
                continue  # not connected, or the last one still runs (a slow daemon)
            if self._submit(self._reconcile_job) is None:
                self._reconciling.release()
                return

    def _reconcile_job(self) -> None:
        """On the libvirt thread: rescan when libvirt's digest moved since the last scan."""
        try:
            conn = self._conn
            if self._stop.is_set() or not self.connected or conn is None:
                return
            from vfpool_tui.core.virt.fingerprint import libvirt_fingerprint

            import libvirt

            t0 = time.perf_counter()
            try:
                digest = libvirt_fingerprint(conn)
            except libvirt.libvirtError as err:
                if not alive(conn):
                    self._lost(conn, f"{LOST}: {err.get_error_message()}")
                return
            self.timings["reconcile"] = time.perf_counter() - t0
            self.reconciles += 1
            if self._fingerprint is not None and digest != self._fingerprint:
                self.reconcile_scans += 1
                self.request_scan("reconcile")
            self._fingerprint = digest
        finally:
            self._reconciling.release()

    def _take_fingerprint(self) -> None:
        """Before a scan by a test's scanner: the digest the next reconcile compares with (a change
        made during the scan then shows as a difference, one scan too many rather than one too
        few). The backend's own scan digests what it read instead (``LiveInventory.read_digest``):
        a change made after any of its reads shows the same way, without reading it all twice."""
        if not self._reconcile_every or not self.connected or self._conn is None:
            return
        from vfpool_tui.core.virt.fingerprint import libvirt_fingerprint

        import libvirt

        try:
            self._fingerprint = libvirt_fingerprint(self._conn)
        except libvirt.libvirtError:
            self._fingerprint = None


def alive(conn: Any) -> bool:
    """False when libvirt says the connection is dead (the daemon went away)."""
    try:
        return bool(conn.isAlive())
    except Exception:  # noqa: BLE001 - no answer is no connection
        return False
