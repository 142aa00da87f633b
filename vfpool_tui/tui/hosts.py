"""The hosts the app shows: one ``HostSession`` per ``--connect``.

A session is one host's backend (its own libvirt thread, events, reconcile and reconnect), its
connection state (the banner's ``Status``), its latest ``Scan`` with the ``Index`` the views read,
and its pool history. The app keeps the sessions keyed by URI (as given) and has one of them
current: ``app.scan``, ``app.index``, ``app.status`` and ``app.backend`` are the current host's, so
the host, guests, pools, problems and troubleshoot views work unchanged on whichever host is open.
With one ``--connect`` there is one session and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from textual.message import Message
from textual.timer import Timer

from vfpool_tui.core.capacity import HostTotals, problem_count
from vfpool_tui.core.model import Scan
from vfpool_tui.tui.backend import Backend
from vfpool_tui.tui.messages import ConnectionChanged
from vfpool_tui.tui.pool_history import PoolHistory
from vfpool_tui.tui.view import Index
from vfpool_tui.tui.widgets.banner import Status


def host_label(uri: str | None) -> str:
    """A short name for a host: the machine a URI names (``qemu+ssh://root@hv2/system`` -> ``hv2``),
    a test-driver node's directory (``test:///tmp/h1/node.xml`` -> ``h1``), else ``localhost``."""
    if not uri:
        return "localhost"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.hostname:
        return parts.hostname
    if parts.scheme == "test" and parts.path not in ("", "/default"):
        path = parts.path.rstrip("/")
        stem = path.rsplit("/", 1)
        parent = stem[0].rsplit("/", 1)[-1] if len(stem) == 2 else ""
        return parent or stem[-1] or uri
    return "localhost"


def unique_labels(uris: list[str | None]) -> dict[str | None, str]:
    """``host_label`` of each URI, or the URI itself where two would read the same."""
    labels = {u: host_label(u) for u in uris}
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {u: (label if seen[label] == 1 else (u or label)) for u, label in labels.items()}


class HostSession:
    """One host: its backend, connection state and latest scan (see the module doc)."""

    def __init__(self, key: str | None, backend: Backend, status: Status, *, label: str,
                 readonly_base: str, use_libvirt: bool) -> None:
        self.key = key
        self.uri = key
        self.label = label
        self.backend = backend
        self.status = status
        self.scan: Scan | None = None
        self.index: Index | None = None
        self.totals: HostTotals | None = None
        self.pool_history = PoolHistory()  # each pool's use over this session (sparklines)
        self.debounce: Timer | None = None  # gathers a burst of this host's events into one update
        self.changes: set[tuple[str, str]] = set()  # what those events named (tui/live_updates.py)
        self.event_expiry: Timer | None = None  # clears the last event from the status line
        self.scans_applied = 0
        self.journal_checked = False
        self._ro_base = readonly_base  # read-only whatever the connection says (--readonly, not root)
        self._use_libvirt = use_libvirt
        self._conn_ro = False  # the open connection is read-only

    @property
    def discovery(self) -> str:
        return self.backend.discovery

    def readonly_why(self, connected: bool | None, conn_ro: bool) -> str:
        """Why changes are disabled now ("" when they are not): worked out afresh each time, so
        read-write comes back with the connection."""
        if self._ro_base:
            return self._ro_base
        if connected is False:
            return "no libvirt" if self._use_libvirt or not conn_ro else "read-only connection"
        if conn_ro:
            return "read-only connection"
        return ""

    def apply_scan(self, scan: Scan, scanned_at: str) -> None:
        self.scan = scan
        self.index = Index(scan)
        # without libvirt the pools and guests are unknown, and so are the figures (never zeros)
        self.totals = None if scan.libvirt_error else self.index.fig.host_totals()
        self.pool_history.record(scan, scanned_at)
        s = self.status
        error = s.error
        if scan.libvirt_error and not s.connected and not s.reconnecting:
            error = scan.libvirt_error
        ro_why = self.readonly_why(s.connected, self._conn_ro if s.connected else scan.readonly)
        read = not scan.libvirt_error  # else the pools and guests are unknown (None), not none
        self.status = s.but(
            pfs=len(scan.host.pfs), vfs=sum(len(pf.vfs) for pf in scan.host.pfs),
            pools=len(scan.pools) if read else None, guests=len(scan.guests) if read else None,
            problems=problem_count(scan.problems).total,
            scanned_at=scanned_at, scanning=False, error=error,
            host_errors=len(scan.host.errors), uri=s.uri or scan.uri,
            readonly=bool(ro_why), readonly_why=ro_why)
        self.scans_applied += 1

    def apply_connection(self, msg: ConnectionChanged) -> str | None:
        """The new connection state; returns what to tell the operator, if anything."""
        s = self.status
        if msg.connected:
            self._conn_ro = msg.readonly
        ro_why = self.readonly_why(msg.connected, msg.connected and msg.readonly)
        self.status = s.but(connected=msg.connected, uri=msg.uri or s.uri, error=msg.error,
                            readonly=bool(ro_why), readonly_why=ro_why,
                            reconnecting=msg.reconnecting and not msg.connected)
        if msg.connected and s.reconnecting:
            return "libvirt is back: reconnected" + ("" if ro_why else ", read-write again")
        return None

    def linger(self, set_timer: Callable[..., Timer], delay: float, redraw: Callable[[], None]) -> None:
        """The last event leaves the status line ``delay`` seconds after the newest one."""
        if self.event_expiry is not None:
            self.event_expiry.stop()

        def expire() -> None:
            self.event_expiry = None
            self.status = self.status.but(last_event="")
            redraw()

        self.event_expiry = set_timer(delay, expire)

    def schedule(self, set_timer: Callable[..., Timer], delay: float, scan: Callable[[], None]) -> None:
        """A scan ``delay`` seconds after the first of a burst of events (one timer at a time)."""
        if self.debounce is None:
            def fire() -> None:
                self.debounce = None
                scan()

            self.debounce = set_timer(delay, fire)


def readonly_base(settings: Any) -> str:
    """Why every host is read-only whatever its connection says ("" when it is not)."""
    if settings.readonly:
        return "--readonly"
    if settings.readonly is None and not settings.is_root:
        return "not root"
    return ""


def make_session(settings: Any, uri: str | None, label: str, post: Callable[[Message], Any],
                 several: bool) -> HostSession:
    """One host's session from the app's settings (``TuiSettings``); its backend is not started."""
    s = settings
    ro_why = readonly_base(s)
    backend = Backend(
        post, uri=uri, key=uri, discovery=s.discovery,
        readonly=s.readonly if s.readonly is not None else (not s.is_root),
        scanner=s.scanner, discover=s.discover, use_libvirt=s.use_libvirt,
        watch_udev=s.watch_udev, reconcile_every=s.reconcile_every,
        reconnect_delays=s.reconnect_delays)
    named = several or backend.discovery == "libvirt"  # the header names the host
    status = Status(uri=uri, readonly=bool(ro_why), readonly_why=ro_why, demo=s.demo,
                    connected=None if s.use_libvirt else False, host=label if named else "",
                    discovery=backend.discovery)
    return HostSession(uri, backend, status, label=label, readonly_base=ro_why, use_libvirt=s.use_libvirt)
