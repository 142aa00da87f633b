"""The VF budget of a run: how many VFs each pool has free while guests are converted.

A running guest converted to a pool takes VFs from it when it starts again; a running guest whose
hard-coded VFs belong to a pool gives them back to that pool when it shuts down. Device by device, one
guest may take from several pools and give back to others. The engine takes a guest's VFs (from every
pool it goes onto, all or nothing) before it shuts the guest down, so no more guests are started on a
pool than it has free VFs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from vfpool_tui.core.conversion.events import GuestPlan

ONE = ""  # the key of a budget made for one pool (``VfBudget(3, ...)``, ``take(1, ...)``)

Counts = Mapping[str, int]


def _counts(n: int | Counts) -> dict[str, int]:
    return {ONE: n} if isinstance(n, int) else {k: v for k, v in n.items() if v}


class VfBudget:
    """Free VFs per pool during a run. Guests take VFs to start; shutting a hard-coded guest down
    gives its pool VFs back. A pool with ``None`` capacity (or not in the budget) is unknown: no
    bound is enforced on it. ``free``: ``{pool: n or None}``, or one int / None for a single pool."""

    def __init__(self, free: int | None | Mapping[str, int | None], releasers: int = 0):
        self._free: dict[str, int | None] = dict(free) if isinstance(free, Mapping) else {ONE: free}
        self._releasers = releasers  # guests that will still give pool VFs back
        self._cond = threading.Condition()

    @property
    def free(self) -> int | None:
        """Free VFs of a one-pool budget (the sum when every pool is known, else None)."""
        values = list(self._free.values())
        if any(v is None for v in values):
            return None
        return sum(values)  # type: ignore[arg-type]

    def free_of(self, pool: str) -> int | None:
        return self._free.get(pool)

    def short(self, n: int | Counts) -> list[str]:
        """The pools that do not have ``n`` free right now."""
        with self._cond:
            return [p for p, k in _counts(n).items() if k > 0 and self._free.get(p) is not None
                    and self._free[p] < k]

    def give_back(self, n: int | Counts) -> None:
        with self._cond:
            for pool, k in _counts(n).items():
                if self._free.get(pool) is not None:
                    self._free[pool] += k
            self._cond.notify_all()

    def releaser_done(self) -> None:
        with self._cond:
            self._releasers = max(0, self._releasers - 1)
            self._cond.notify_all()

    def take(self, n: int | Counts, cancel: threading.Event, timeout: float) -> bool:
        """Take n VFs (from each pool named), all or nothing, waiting while another guest may still
        free some. False: none coming."""
        want = {p: k for p, k in _counts(n).items() if k > 0}
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                short = [p for p, k in want.items() if self._free.get(p) is not None and self._free[p] < k]
                if not short:
                    for p, k in want.items():
                        if self._free.get(p) is not None:
                            self._free[p] -= k
                    return True
                if self._releasers <= 0 or cancel.is_set():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))

    def force_take(self, n: int | Counts) -> None:
        """A rollback restarted a guest on its hard-coded pool VFs: they are taken again."""
        with self._cond:
            for pool, k in _counts(n).items():
                if self._free.get(pool) is not None:
                    self._free[pool] -= k


def net_need(gp: GuestPlan) -> dict[str, int]:
    """{pool: VFs a planned guest takes from it beyond the VFs it gives back to it} (may be < 0)."""
    return {p: n for p, n in gp.needs().items() if n}


def is_releaser(need: Mapping[str, int]) -> bool:
    """Gives VFs back to some pool when it shuts down (another guest may wait for them)."""
    return any(n < 0 for n in need.values())
