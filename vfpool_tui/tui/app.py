"""The Textual app: built by ``make_app(settings)``; state is each host's latest ``Scan`` and connection.

The app never blocks: each host's ``Backend`` (tui/backend.py) does every libvirt and sysfs call on
its own threads and posts messages (tui/messages.py) marked with the host. The hosts are
``HostSession``s (tui/hosts.py) keyed by URI; one is current, and ``app.scan``, ``app.index``,
``app.status`` and ``app.backend`` are its. Views are screens in ``tui/screens/`` (one per mode:
host, guests, pools, problems); they redraw from ``app.index`` with keyed table updates. With
several ``--connect`` the app opens on the hosts overview (mode ``hosts``): Enter opens a host, ``s``
comes back, ``]``/``[`` switch to the next/previous host. Live events are coalesced per host: a burst
of udev/libvirt events leads to one scan.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from vfpool_tui.core.model import Host
from vfpool_tui.tui.app_hosts import CurrentHost
from vfpool_tui.tui.backend import RECONNECT_DELAYS, Scanner
from vfpool_tui.tui.console_size import ConsoleSized
from vfpool_tui.tui.hosts import HostSession, make_session, unique_labels
from vfpool_tui.tui.messages import (ConnectionChanged, HostChanged, HostMessage, LibvirtEvent, ScanFailed,
                                     ScanReady)
from vfpool_tui.tui.reconcile import RECONCILE_EVERY
from vfpool_tui.tui.screens.base import ViewScreen
from vfpool_tui.tui.screens.guests import GuestsScreen
from vfpool_tui.tui.screens.host import HostScreen
from vfpool_tui.tui.screens.pools import PoolsScreen
from vfpool_tui.tui.screens.problems import ProblemsScreen
from vfpool_tui.tui.view import safe
from vfpool_tui.tui.widgets.tasks import Task, app_tasks


# seconds the screens wait, at most, for the first discovery of the hosts' cards (app.on_load)
HEAD_START = 0.5

# what acts on the open host's views and changes: not offered on the hosts overview
_ONE_HOST_ACTIONS = ("new_pool", "convert", "troubleshoot", "view")


def _wall_clock() -> str:
    return time.strftime("%H:%M:%S")


@dataclass
class TuiSettings:
    """Everything the app needs from outside; tests and the benchmark inject what they need."""

    uri: str | None = None
    hosts: tuple[str, ...] = ()  # several --connect: one backend each, opened on the hosts overview
    discovery: str | None = None  # auto (None) | udev | libvirt: how each host's cards are found
    readonly: bool | None = None  # None: read-only unless root (like the core's open_connection)
    demo: bool = False
    scanner: Scanner | None = None  # scanner(conn) -> Scan on the libvirt thread; None: core.scan
    discover: Callable[[], Host] | None = None  # the host for core.scan (udev discovery); None: discover_host()
    use_libvirt: bool = True  # open a connection and listen for lifecycle events
    watch_udev: bool = True
    journal_dir: Path | None = None
    journal_dir_is_temp: bool = False  # the demo's private journal, removed when the app ends
    sysfs_root: str | None = None  # where sriov_numvfs is written; None: /sys (the demo: its own)
    udev_root: str | None = None  # udev rules go to <udev_root>/etc/udev/rules.d; None: / (the demo: its own)
    debounce: float = 0.002  # seconds to gather a burst of events into one update (each re-reads only what it names)
    event_linger: float = 10.0  # seconds the last event stays on the status line
    reconcile_every: float | None = RECONCILE_EVERY  # seconds; changes libvirt sends no event for
    reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS  # backoff after the connection closed
    clock: Callable[[], str] = _wall_clock  # "last scan" time shown in the banner
    is_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    animate: bool = True

    def host_uris(self) -> list[str | None]:
        return list(self.hosts) if len(self.hosts) > 1 else [self.hosts[0] if self.hosts else self.uri]


class VfpoolApp(CurrentHost, ConsoleSized, App[int]):
    TITLE = "vfpool-tui"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True

    # Footer order: at 80 columns the footer cannot hold every key; quit and help come first so
    # they always show, the view keys (also in the Tasks panel) last; ? lists every key.
    # s, ] and [ only exist with several hosts (check_action hides them otherwise).
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("s", "hosts", "Hosts"),
        Binding("r", "refresh", "Refresh"),
        Binding("n", "new_pool", "New pool"),
        Binding("c", "convert", "Convert"),
        Binding("t", "troubleshoot", "Trouble"),
        Binding("h", "view('host')", "Host", show=False),
        Binding("g", "view('guests')", "Guests"),
        Binding("o", "view('pools')", "Pools"),
        Binding("p", "view('problems')", "Problems"),
        Binding("right_square_bracket", "switch_host(1)", "Next host", show=False, key_display="]"),
        Binding("left_square_bracket", "switch_host(-1)", "Previous host", show=False, key_display="["),
        # read-only: n and c are dimmed in the footer, and these say why instead of doing nothing
        Binding("n", "refuse_readonly('new_pool')", "", show=False),
        Binding("c", "refuse_readonly('convert')", "", show=False),
        Binding("colon", "command_palette", "Palette", show=False, key_display=":", priority=True),
        # Textual adds ctrl+p only when no binding names the palette: the colon above does, so say it
        Binding("ctrl+p", "command_palette", "Palette", show=False, priority=True),
    ]

    MODES = {"host": HostScreen, "guests": GuestsScreen, "pools": PoolsScreen,
             "problems": ProblemsScreen}
    DEFAULT_MODE = "host"

    def __init__(self, settings: TuiSettings) -> None:
        uris = settings.host_uris()
        self.multi = len(uris) > 1
        if self.multi:
            self.DEFAULT_MODE = "hosts"  # read by App.__init__: open on the overview
        super().__init__()
        self.settings = settings
        if settings.demo:  # every path the demo writes is in its private directory, never the host's
            from vfpool_tui.demo import demo_paths

            paths = demo_paths()
            settings.sysfs_root = settings.sysfs_root or paths.sysfs_root
            settings.udev_root = settings.udev_root or paths.udev_root
        if not settings.animate:
            self.animation_level = "none"
        labels = unique_labels(uris)
        self.sessions: dict[str | None, HostSession] = {
            u: make_session(settings, u, labels[u], self.post_message, self.multi) for u in uris}
        self.current: HostSession = next(iter(self.sessions.values()))
        if self.multi:
            from vfpool_tui.tui.screens.hosts import HostsScreen

            self.add_mode("hosts", HostsScreen)
        self.generation = 0  # bumps with each scan of the current host, and when another is opened
        self.hosts_generation = 0  # bumps when anything the hosts overview shows changed
        self.scans_applied = 0
        self.last_apply_seconds = 0.0
        self.events_seen: list[str] = []
        self._journal_checked = False

    # ------------------------------------------------------------------ lifecycle

    def on_load(self) -> None:
        _start_backends(self.sessions.values())

    async def action_quit(self) -> None:
        self._stop_backends()
        self.exit(0)

    def _stop_backends(self) -> None:
        for h in self.sessions.values():
            h.backend.stop()

    def on_unmount(self) -> None:
        self._stop_backends()
        gc.unfreeze()  # what _start_backends and _settle_heap froze lived as long as the app
        if self.settings.journal_dir_is_temp and self.settings.journal_dir is not None:
            # the demo's libvirt state dies with the process: its journal means nothing after it
            import shutil

            shutil.rmtree(self.settings.journal_dir, ignore_errors=True)

    # ------------------------------------------------------------------ backend messages

    def _host_of(self, msg: HostMessage) -> HostSession:
        """The session a message is about (a message with no host: the current one)."""
        return self.sessions.get(msg.host, self.current)

    def _changed(self, h: HostSession, status_only: bool = False) -> None:
        """Redraw what shows this host: its views when it is current, the overview always."""
        self.hosts_generation += 1
        if h is self.current:
            self.redraw(status_only)
        elif self.multi:
            self.redraw_hosts()

    @on(ScanReady)
    def _scan_ready(self, msg: ScanReady) -> None:
        t0 = time.perf_counter()
        h = self._host_of(msg)
        h.apply_scan(msg.scan, self.settings.clock())
        if h is self.current:
            self.generation += 1
        self._changed(h)
        self.scans_applied += 1
        self.last_apply_seconds = time.perf_counter() - t0
        if self.scans_applied == 1:
            self.call_after_refresh(_settle_heap)

    @on(ScanFailed)
    def _scan_failed(self, msg: ScanFailed) -> None:
        h = self._host_of(msg)
        h.status = h.status.but(scanning=False)
        self._changed(h)
        where = f"{h.label}: " if self.multi else ""
        self.notify(msg.error, title=f"{where}Scan failed (the last good view stays)", severity="error",
                    markup=False)

    @on(ConnectionChanged)
    def _connection(self, msg: ConnectionChanged) -> None:
        h = self._host_of(msg)
        said = h.apply_connection(msg)
        if said:
            self.notify(f"{h.label}: {said}" if self.multi else said, markup=False)
        self._changed(h)
        if msg.connected and not self._journal_checked and (h is self.current or self.multi):
            self._journal_checked = True
            from vfpool_tui.tui.journal_offer import check_journal

            self.run_worker(lambda: check_journal(self), thread=True, group="startup-journal",
                            exit_on_error=False)

    @on(LibvirtEvent)
    def _libvirt_event(self, msg: LibvirtEvent) -> None:
        self._event(self._host_of(msg), f"{msg.kind} {msg.name} {msg.event}", (msg.kind, msg.name))

    @on(HostChanged)
    def _host_changed(self, msg: HostChanged) -> None:
        self._event(self._host_of(msg), f"udev {msg.action} {msg.device}", ("host", msg.device))

    def _event(self, h: HostSession, line: str, change: tuple[str, str]) -> None:
        """Gather a burst of events (``settings.debounce``), then one update: the backend re-reads
        just what they name (tui/live_updates.py), or with a test's scanner the whole scan."""
        self.events_seen.append(line)
        h.status = h.status.but(last_event=f"⟳ {line}")
        # news, not a record: the line goes after a while (the time of the last scan comes back)
        h.linger(self.set_timer, self.settings.event_linger, lambda: self._changed(h, status_only=True))
        h.changes.add(change)
        h.schedule(self.set_timer, self.settings.debounce, lambda: self._update(h))

    def _update(self, h: HostSession) -> None:
        changes, h.changes = h.changes, set()
        if not h.backend.live.enabled:
            self._request_scan(h, "event")
            return
        h.status = h.status.but(scanning=True)
        h.backend.live.apply(changes)
        self._changed(h, status_only=True)

    def request_scan(self, reason: str) -> None:
        self._request_scan(self.current, reason)

    def _request_scan(self, h: HostSession, reason: str) -> None:
        h.status = h.status.but(scanning=True)
        h.backend.request_scan(reason)
        self._changed(h, status_only=True)

    def redraw(self, status_only: bool = False) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ViewScreen) and screen.is_mounted:
                screen.update_status(self.status)
                if not status_only:
                    screen.refresh_view()

    # ------------------------------------------------------------------ tasks

    @property
    def readonly(self) -> bool:
        return self.status.readonly

    def tasks(self) -> tuple[Task, ...]:
        no_pool = self.scan is not None and not self.scan.pools and bool(self.scan.host.pfs)
        return app_tasks(self.readonly, no_pool, self.status.problems)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("hosts", "switch_host"):
            return self.multi and not (action == "hosts" and self.current_mode == "hosts")
        if self.multi and self.current_mode == "hosts" and action in _ONE_HOST_ACTIONS:
            return False  # on the overview no host is open: Enter opens one first
        if action in ("new_pool", "convert") and self.readonly:
            return None  # shown dimmed in the footer; the key falls through to refuse_readonly
        if action == "refuse_readonly":
            return self.readonly  # False: neither shown nor run
        return True

    def action_new_pool(self) -> None:
        if self.readonly:
            self._refuse_readonly("Creating a pool")
            return
        from vfpool_tui.tui.screens.pool_wizard import PickStep, PoolWizard

        if isinstance(self.screen, PoolWizard):
            return
        # the PF under the host view's cursor, when there is one
        self.push_screen(PickStep(preselect=getattr(self.screen, "pf_key", None)))

    def action_convert(self, mark: str | None = None, pool: str | None = None) -> None:
        """The conversion screen; ``mark`` (a guest's UUID or name; default: the guest under the
        guests view's cursor, as n takes the host view's PF) marked, ``pool`` chosen."""
        if self.readonly:
            self._refuse_readonly("Converting guests to a pool")
            return
        from vfpool_tui.tui.screens.convert import ConvertScreen

        if not any(isinstance(s, ConvertScreen) for s in self.screen_stack):
            self.push_screen(ConvertScreen(mark or getattr(self.screen, "guest_key", None), pool))

    _READONLY_WHAT = {"new_pool": "Creating a pool", "convert": "Converting guests to a pool"}

    def action_refuse_readonly(self, action: str) -> None:
        self._refuse_readonly(self._READONLY_WHAT.get(action, "That"))

    def _refuse_readonly(self, what: str) -> None:
        why = self.status.readonly_why
        self.notify(f"{what} needs a read-write connection: this session is read-only"
                    f"{' (' + why + ')' if why else ''}.", severity="warning", markup=False)

    def action_troubleshoot(self) -> None:
        """The troubleshoot view (a mode like the others: g/o/p/h leave it, t comes back)."""
        from textual.app import InvalidModeError

        from vfpool_tui.tui.screens.troubleshoot import TroubleshootScreen

        try:
            self.add_mode("troubleshoot", TroubleshootScreen)
        except InvalidModeError:
            pass  # added on an earlier t
        self.action_view("troubleshoot")

    def action_view(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    async def open_view_at(self, mode: str, key: str) -> None:
        """Drill in: switch to a view with its cursor on the row ``key``."""
        if self.current_mode != mode:
            await self.switch_mode(mode)
        screen = self.screen
        if isinstance(screen, ViewScreen):
            screen.select(key)

    def action_help(self) -> None:
        from vfpool_tui.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        title = getattr(screen, "HELP_TITLE", "") or "This view"
        self.push_screen(HelpScreen(screen.active_bindings, screen, title))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from vfpool_tui.tui.palette import system_commands

        return system_commands(self, screen)

    def selected_guest_name(self, screen: Screen | None = None) -> str | None:
        """The guest under the cursor of ``screen`` (the current one), if it shows guests."""
        pick = getattr(screen or self.screen, "selected_guest_name", None)
        return pick() if callable(pick) else None

    def action_why(self, guest: str = "") -> None:
        """Why a guest does not (or would not) start: a dialog over any view (w)."""
        from vfpool_tui.tui.screens.why import WhyScreen

        if not isinstance(self.screen, WhyScreen):
            self.push_screen(WhyScreen(guest))

    def describe(self, value: Any) -> str:
        return safe(value)


def _start_backends(sessions: Iterable[HostSession]) -> None:
    """On the app's Load, before the screens are built: the libvirt connect (its own thread, in
    libvirt's C code) overlaps Textual's start-up instead of following it, and so does the first
    look at this machine: in a child process (the cards and, on this machine, every guest's
    definition: UdevSource, Backend._show_first_look), the one ``vfpool-tui`` began before it
    imported Textual (core.head_start) or one forked here when the process is still
    single-threaded; else the discovery alone on a thread with a head start
    (UdevSource.wait_first: alone it is 4x quicker than beside the start-up).
    What the backends post is handled once the app processes messages, after the first screen
    mounted. (Waiting for the first scan as well, when the connection is up by then, made the
    demo's first paint on a real libvirtd quicker, 293 -> 233 ms, and the 500-guest host's no
    quicker, 632 -> 654 ms: its scan, 230 ms alone, then comes before Textual's start-up instead
    of beside it; bench/tui_bench.py, median of 6. Not taken up yet: issue 14's note.)

    What exists by now (modules, classes, the app) lives as long as the app: it goes out of the
    cyclic collector's reach here (refcounting still frees it), so the first scan's allocations do
    not make a full collection walk it again (20-30 ms before the first paint of a 500-guest host).
    ``on_unmount`` gives it back; ``_settle_heap`` does the same after the first paint for what
    the first scan built."""
    sessions = list(sessions)
    gc.freeze()
    for h in sessions:
        h.status = h.status.but(scanning=True)
        h.backend.start()
    deadline = time.monotonic() + HEAD_START
    for h in sessions:
        h.backend.source.wait_first(max(0.0, deadline - time.monotonic()))


def _settle_heap() -> None:
    """Once, after the first scan is painted: what exists now (modules, widgets, the first scan)
    lives as long as the app, so take it out of the cyclic garbage collector's reach
    (``gc.freeze``). Otherwise every full collection walks it again: ~60 ms on a 500-guest host,
    landing now and then between an event and its repaint (``bench/tui_bench.py``). Garbage with
    cycles made before this is collected first; later garbage is collected as before, and
    ``on_unmount`` gives the frozen objects back to the collector (tests run many apps)."""
    gc.collect()
    gc.freeze()


def make_app(settings: TuiSettings | None = None) -> VfpoolApp:
    return VfpoolApp(settings or TuiSettings())
