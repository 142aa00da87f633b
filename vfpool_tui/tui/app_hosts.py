"""The app's side of several hosts: which host is current, its state, and moving between hosts.

``CurrentHost`` is mixed into ``VfpoolApp``: ``backend``, ``scan``, ``index``, ``pool_history`` and
``status`` are the current ``HostSession``'s (tui/hosts.py), so every view and dialog works on the
host that is open without knowing there are others. Switching (``s`` the overview, ``]``/``[`` the
next/previous host, Enter on the overview) only happens between top-level views: a wizard, a
conversion or a dialog belongs to the host it was opened on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vfpool_tui.core.model import Scan
from vfpool_tui.tui.backend import Backend
from vfpool_tui.tui.pool_history import PoolHistory
from vfpool_tui.tui.view import Index
from vfpool_tui.tui.widgets.banner import Status

if TYPE_CHECKING:
    from vfpool_tui.tui.hosts import HostSession


class CurrentHost:
    """Mixed into the app (which sets ``sessions``, ``current``, ``multi`` and the generations)."""

    sessions: dict[str | None, HostSession]
    current: HostSession
    multi: bool
    generation: int
    hosts_generation: int

    @property
    def backend(self) -> Backend:
        return self.current.backend

    @property
    def scan(self) -> Scan | None:
        return self.current.scan

    @property
    def index(self) -> Index | None:
        return self.current.index

    @property
    def pool_history(self) -> PoolHistory:
        return self.current.pool_history

    @property
    def status(self) -> Status:
        return self.current.status

    @status.setter
    def status(self, value: Status) -> None:
        self.current.status = value

    def action_refresh(self) -> None:
        """r: rescan the host, or reconnect when libvirt is not connected (every host on the overview)."""
        for h in (self.sessions.values() if self.current_mode == "hosts" else (self.current,)):
            if self.settings.use_libvirt and not h.backend.connected:
                h.status = h.status.but(connected=None)
                h.backend.reconnect()
                self._changed(h, status_only=True)
            else:
                self._request_scan(h, "refresh")

    # ------------------------------------------------------------------ moving between hosts

    def action_hosts(self) -> None:
        """s: the hosts overview, with the cursor on the host that was open."""
        if self._may_switch("the hosts overview") and self.current_mode != "hosts":
            self.switch_mode("hosts")

    async def action_switch_host(self, step: int) -> None:
        """] / [: the next / previous host, in the view that is showing (from the overview: its host view)."""
        keys = list(self.sessions)
        await self.open_host(keys[(keys.index(self.current.key) + step) % len(keys)])

    async def open_host(self, key: str | None) -> None:
        """Make ``key`` the current host and show its views (the host view from the overview)."""
        h = self.sessions.get(key)
        if h is None or not self._may_switch(f"host {h.label}"):
            return
        if h is not self.current:
            self.current = h
            self.generation += 1  # every view redraws from the new host's index
            self.hosts_generation += 1
        if self.current_mode == "hosts":
            await self.switch_mode("host")
        else:
            self.redraw()

    def _may_switch(self, where: str) -> bool:
        """Only between top-level views: a wizard, a conversion or a dialog is one host's."""
        busy = [s for stack in self._screen_stacks.values() for s in stack[1:]]
        if busy:
            self.notify(f"Close {type(busy[-1]).__name__.removesuffix('Screen').lower() or 'the open screen'} "
                        f"first (Esc): it works on {self.current.label}, not on {where}.",
                        severity="warning", markup=False)
            return False
        return True

    def redraw_hosts(self) -> None:
        """The overview, when it is showing (another host than the current one changed)."""
        if self.current_mode == "hosts":
            self.redraw()
