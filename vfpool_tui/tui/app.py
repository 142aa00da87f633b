"""The Textual app: built by ``make_app(settings)``; state is the latest ``Scan`` and connection.

The app never blocks: ``Backend`` (tui/backend.py) does every libvirt and sysfs call on its own
threads and posts messages (tui/messages.py). Views are screens in ``tui/screens/`` (one per
mode: host, guests, pools, problems); they redraw from ``app.index`` with keyed table updates.
Live events are coalesced: a burst of udev/libvirt events leads to one scan.
"""

from __future__ import annotations

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
from textual.timer import Timer

from vfpool_tui.core.capacity import problem_count
from vfpool_tui.core.model import Host, Scan
from vfpool_tui.tui.pool_history import PoolHistory
from vfpool_tui.tui.backend import Backend, Scanner
from vfpool_tui.tui.messages import ConnectionChanged, HostChanged, LibvirtEvent, ScanFailed, ScanReady
from vfpool_tui.tui.screens.base import ViewScreen
from vfpool_tui.tui.screens.guests import GuestsScreen
from vfpool_tui.tui.screens.host import HostScreen
from vfpool_tui.tui.screens.pools import PoolsScreen
from vfpool_tui.tui.screens.problems import ProblemsScreen
from vfpool_tui.tui.view import Index, safe
from vfpool_tui.tui.widgets.banner import Status
from vfpool_tui.tui.widgets.tasks import Task, app_tasks


def _wall_clock() -> str:
    return time.strftime("%H:%M:%S")


@dataclass
class TuiSettings:
    """Everything the app needs from outside; tests and the benchmark inject what they need."""

    uri: str | None = None
    readonly: bool | None = None  # None: read-only unless root (like the core's open_connection)
    demo: bool = False
    scanner: Scanner | None = None  # scanner(conn) -> Scan on the libvirt thread; None: core.scan
    discover: Callable[[], Host] | None = None  # the host for core.scan; None: discover_host()
    use_libvirt: bool = True  # open a connection and listen for lifecycle events
    watch_udev: bool = True
    journal_dir: Path | None = None
    journal_dir_is_temp: bool = False  # the demo's private journal, removed when the app ends
    sysfs_root: str | None = None  # where sriov_numvfs is written; None: /sys (the demo: its own)
    udev_root: str | None = None  # udev rules go to <udev_root>/etc/udev/rules.d; None: / (the demo: its own)
    debounce: float = 0.3  # seconds to gather a burst of events into one scan
    event_linger: float = 10.0  # seconds the last event stays on the status line
    clock: Callable[[], str] = _wall_clock  # "last scan" time shown in the banner
    is_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    animate: bool = True


class VfpoolApp(App[int]):
    TITLE = "vfpool-tui"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True

    # Footer order: at 80 columns the footer cannot hold every key; quit and help come first so
    # they always show, the view keys (also in the Tasks panel) last; ? lists every key.
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        Binding("n", "new_pool", "New pool"),
        Binding("c", "convert", "Convert"),
        Binding("t", "troubleshoot", "Trouble"),
        Binding("h", "view('host')", "Host", show=False),
        Binding("g", "view('guests')", "Guests"),
        Binding("o", "view('pools')", "Pools"),
        Binding("p", "view('problems')", "Problems"),
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
        super().__init__()
        self.settings = settings
        if settings.demo:  # every path the demo writes is in its private directory, never the host's
            from vfpool_tui.demo import demo_paths

            paths = demo_paths()
            settings.sysfs_root = settings.sysfs_root or paths.sysfs_root
            settings.udev_root = settings.udev_root or paths.udev_root
        if not settings.animate:
            self.animation_level = "none"
        self.scan: Scan | None = None
        self.index: Index | None = None
        self.pool_history = PoolHistory()  # each pool's use over this session (sparklines)
        self.generation = 0  # bumps with each scan; screens redraw when theirs is older
        ro_why = ""
        if settings.readonly:
            ro_why = "--readonly"
        elif settings.readonly is None and not settings.is_root:
            ro_why = "not root"
        self.status = Status(uri=settings.uri, readonly=bool(ro_why), readonly_why=ro_why,
                             demo=settings.demo, connected=None if settings.use_libvirt else False)
        self.backend = Backend(
            self.post_message, uri=settings.uri,
            readonly=settings.readonly if settings.readonly is not None else (not settings.is_root),
            scanner=settings.scanner, discover=settings.discover, use_libvirt=settings.use_libvirt, watch_udev=settings.watch_udev)
        self._debounce: Timer | None = None
        self._event_expiry: Timer | None = None
        self.scans_applied = 0
        self.last_apply_seconds = 0.0
        self.events_seen: list[str] = []
        self._journal_checked = False

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        self.status = self.status.but(scanning=True)
        self.backend.start()

    async def action_quit(self) -> None:
        self.backend.stop()
        self.exit(0)

    def on_unmount(self) -> None:
        self.backend.stop()
        if self.settings.journal_dir_is_temp and self.settings.journal_dir is not None:
            # the demo's libvirt state dies with the process: its journal means nothing after it
            import shutil

            shutil.rmtree(self.settings.journal_dir, ignore_errors=True)

    # ------------------------------------------------------------------ backend messages

    @on(ScanReady)
    def _scan_ready(self, msg: ScanReady) -> None:
        t0 = time.perf_counter()
        scan = msg.scan
        self.scan = scan
        self.index = Index(scan)
        self.pool_history.record(scan, self.settings.clock())
        self.generation += 1
        s = self.status
        error = s.error
        if scan.libvirt_error and not s.connected:
            error = scan.libvirt_error
        self.status = s.but(
            pfs=len(scan.host.pfs), vfs=sum(len(pf.vfs) for pf in scan.host.pfs), pools=len(scan.pools),
            guests=len(scan.guests), problems=problem_count(scan.problems).total,
            scanned_at=self.settings.clock(), scanning=False, error=error,
            host_errors=len(scan.host.errors), uri=s.uri or scan.uri,
            readonly=s.readonly or scan.readonly,
            readonly_why=s.readonly_why or ("read-only connection" if scan.readonly else ""))
        self.redraw()
        self.scans_applied += 1
        self.last_apply_seconds = time.perf_counter() - t0

    @on(ScanFailed)
    def _scan_failed(self, msg: ScanFailed) -> None:
        self.status = self.status.but(scanning=False)
        self.redraw()
        self.notify(msg.error, title="Scan failed (the last good view stays)", severity="error",
                    markup=False)

    @on(ConnectionChanged)
    def _connection(self, msg: ConnectionChanged) -> None:
        s = self.status
        ro_why = s.readonly_why
        if msg.connected and msg.readonly and not ro_why:
            ro_why = "read-only connection"
        self.status = s.but(connected=msg.connected, uri=msg.uri or s.uri, error=msg.error,
                            readonly=s.readonly or (msg.connected and msg.readonly) or not msg.connected,
                            readonly_why=ro_why if msg.connected else (ro_why or "no libvirt"))
        self.redraw()
        if msg.connected and not self._journal_checked:
            self._journal_checked = True
            self._check_journal()

    def _check_journal(self) -> None:
        """An earlier run died mid-conversion: offer to resume or roll back (issue: journal)."""
        from functools import partial

        from vfpool_tui.tui import startup_journal

        self.run_worker(partial(startup_journal.check, self), thread=True, group="startup-journal",
                        exit_on_error=False)

    @on(LibvirtEvent)
    def _libvirt_event(self, msg: LibvirtEvent) -> None:
        self._event(f"{msg.kind} {msg.name} {msg.event}")

    @on(HostChanged)
    def _host_changed(self, msg: HostChanged) -> None:
        self._event(f"udev {msg.action} {msg.device}")

    def _event(self, line: str) -> None:
        self.events_seen.append(line)
        self.status = self.status.but(last_event=f"⟳ {line}")
        self.redraw(status_only=True)
        # news, not a record: the line goes after a while (the time of the last scan comes back)
        if self._event_expiry is not None:
            self._event_expiry.stop()
        self._event_expiry = self.set_timer(self.settings.event_linger, self._event_expired)
        if self._debounce is None:
            self._debounce = self.set_timer(self.settings.debounce, self._debounced_scan)

    def _event_expired(self) -> None:
        self._event_expiry = None
        self.status = self.status.but(last_event="")
        self.redraw(status_only=True)

    def _debounced_scan(self) -> None:
        self._debounce = None
        self.request_scan("event")

    def request_scan(self, reason: str) -> None:
        self.status = self.status.but(scanning=True)
        self.backend.request_scan(reason)
        self.redraw(status_only=True)

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
        """The conversion screen; ``mark`` (a guest's UUID or name) marked, ``pool`` chosen."""
        if self.readonly:
            self._refuse_readonly("Converting guests to a pool")
            return
        from vfpool_tui.tui.screens.convert import ConvertScreen

        if not any(isinstance(s, ConvertScreen) for s in self.screen_stack):
            self.push_screen(ConvertScreen(mark, pool))

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

    def action_refresh(self) -> None:
        if self.settings.use_libvirt and not self.backend.connected:
            self.status = self.status.but(connected=None)
            self.backend.reconnect()
            self.redraw(status_only=True)
            return
        self.request_scan("refresh")

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


def make_app(settings: TuiSettings | None = None) -> VfpoolApp:
    return VfpoolApp(settings or TuiSettings())
