"""The VF budget of a run: how many pool VFs are free while guests are converted.

A running guest converted to the pool takes VFs from it when it starts again; a running guest whose
hard-coded VFs belong to the pool gives them back when it shuts down. The engine takes a guest's VFs
before it shuts the guest down, so no more guests are started on a pool than it has free VFs.
"""

from __future__ import annotations

import threading
import time

from vfpool_tui.core.conversion.events import GuestPlan


class VfBudget:
    """Free pool VFs during a run. Guests take VFs to start; shutting a hard-coded guest down
    gives its pool VFs back. ``None`` capacity means unknown: no bound is enforced."""

    def __init__(self, free: int | None, releasers: int):
        self._free = free
        self._releasers = releasers  # guests that will still give pool VFs back
        self._cond = threading.Condition()

    @property
    def free(self) -> int | None:
        return self._free

    def give_back(self, n: int) -> None:
        with self._cond:
            if self._free is not None:
                self._free += n
            self._cond.notify_all()

    def releaser_done(self) -> None:
        with self._cond:
            self._releasers = max(0, self._releasers - 1)
            self._cond.notify_all()

    def take(self, n: int, cancel: threading.Event, timeout: float) -> bool:
        """Take n VFs, waiting while another guest may still free some. False: none coming."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._free is None or n <= 0:
                    return True
                if self._free >= n:
                    self._free -= n
                    return True
                if self._releasers <= 0 or cancel.is_set():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))

    def force_take(self, n: int) -> None:
        """A rollback restarted a guest on its hard-coded pool VFs: they are taken again."""
        with self._cond:
            if self._free is not None:
                self._free -= n


def net_need(gp: GuestPlan) -> int:
    """Pool VFs a planned guest takes beyond the pool VFs it gives back when it shuts down."""
    return len(gp.sources) - len(gp.pool_sources) if gp.was_running else 0
