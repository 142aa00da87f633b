"""The status line at the top: connection, read-only, counts, problems, last event.

With several hosts, or a host whose cards are read through libvirt, the connection part names
the host and says ``via libvirt`` (``● hv2 via libvirt``); the hosts overview has its own line
(``render_hosts_status``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.widgets import Static

from vfpool_tui.tui.view import safe


@dataclass(frozen=True)
class Status:
    uri: str | None = None
    connected: bool | None = None  # None: not known yet
    readonly: bool = False
    readonly_why: str = ""  # "not root", "--readonly"
    error: str | None = None  # libvirt unreachable: one line
    reconnecting: bool = False  # the connection closed; the backend reconnects by itself
    pfs: int = 0
    vfs: int = 0
    pools: int | None = 0  # None: unknown (libvirt could not be read)
    guests: int | None = 0
    problems: int = 0
    scanned_at: str = ""
    scanning: bool = False
    last_event: str = ""
    demo: bool = False
    host_errors: int = 0
    host: str = ""  # the host's name, shown when there are several or it is read through libvirt
    discovery: str = ""  # "udev" | "libvirt": how the host's cards are found

    def but(self, **kw) -> Status:
        return replace(self, **kw)


class Banner(Static):
    """The status line: one row at any width (three while libvirt is unreachable), never wrapped.

    Textual does not honour a ``Text``'s ``no_wrap`` in a ``Static``; ``text-wrap: nowrap`` does.
    What does not fit is left out, least useful first (see ``render_status``), so the counts and
    the problems always show at 80 columns.
    """

    DEFAULT_CSS = """
    Banner { height: auto; max-height: 3; background: $boost; padding: 0 1;
             text-wrap: nowrap; text-overflow: ellipsis; }
    Banner.-error { background: $error 30%; }
    """

    def __init__(self, **kw) -> None:
        super().__init__("", **kw)
        self.status = Status()

    def set_status(self, status: Status) -> None:
        self.status = status
        self.set_class(bool(status.error), "-error")
        self.update(render_status(status, self._room()))

    def _room(self) -> int | None:
        return self.content_size.width or None

    def on_resize(self) -> None:
        self.update(render_status(self.status, self._room()))


def _n(count: int | None, word: str) -> str:
    if count is None:
        return f"? {word}s"
    return f"{count} {word}{'' if count == 1 else 's'}"


EVENT_MIN = 12  # cells: a last event cut shorter than this says nothing; it is left out instead


def _line(s: Status, *, why: bool, time: bool, event: bool) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    if s.demo:
        out.append("DEMO ", style="bold magenta")
    who = f"{safe(s.host)}: " if s.host else ""
    if s.connected is None:
        out.append(f"○ {who}connecting", style="dim")
    elif s.connected:
        out.append(f"● {safe(s.host) or 'libvirt'}", style="green")
        if s.discovery == "libvirt":
            out.append(" via libvirt", style="green")
    elif s.reconnecting:
        out.append(f"✖ {who}libvirt lost, reconnecting…", style="bold red")
    else:
        out.append(f"✖ {who}no libvirt", style="bold red")
    if s.readonly:
        out.append(" ")
        out.append(f"read-only{' (' + s.readonly_why + ')' if s.readonly_why and why else ''}",
                   style="bold yellow")
    out.append(f" │ {_n(s.pfs, 'PF')} {_n(s.vfs, 'VF')} {_n(s.pools, 'pool')} {_n(s.guests, 'guest')}")
    if s.problems:
        out.append(" │ ")
        out.append(f"!{_n(s.problems, 'problem')}", style="bold red")
    if s.scanning:
        out.append(" │ ")
        out.append("scanning…", style="dim")
    elif s.scanned_at and time:
        out.append(" │ ")
        out.append(s.scanned_at, style="dim")
    if s.last_event and event:
        out.append(" ")
        out.append(safe(s.last_event), style="italic dim")
    return out


def status_line(s: Status, width: int | None = None) -> Text:
    """The status line for ``width`` cells (None: all of it). Left out, in this order, until it
    fits: why the session is read-only, the time of the last scan (a fresh event is newer news),
    the last event (rather than show less than ``EVENT_MIN`` cells of it); the counts and problems
    stay, cut at the end if need be."""
    variants = (
        {"why": True, "time": True, "event": True},
        {"why": False, "time": True, "event": True},
        {"why": False, "time": False, "event": True},
        {"why": False, "time": True, "event": False},
        {"why": False, "time": False, "event": False},
    )
    if width is None:
        return _line(s, **variants[0])
    for kw in variants:
        if kw["event"] and not s.last_event:
            continue
        line = _line(s, **kw)
        room = width - EVENT_MIN - 1 if kw["event"] else width
        fits = _line(s, **{**kw, "event": False}).cell_len <= room
        if fits or kw is variants[-1]:
            line.truncate(width, overflow="ellipsis")
            return line
    raise AssertionError("unreachable")


def render_status(s: Status, width: int | None = None) -> Text:
    """One line (plus two when libvirt is unreachable), each fitted to ``width``, never wrapped."""
    out = status_line(s, width)
    if s.error:
        err = Text(safe(s.error), style="bold", no_wrap=True, overflow="ellipsis")
        shown = ("Nothing of this host's cards is known without libvirt" if s.discovery == "libvirt"
                 else "Showing the hardware only, read-only")
        hint = Text(f"{shown}; reconnecting by itself. r: now" if s.reconnecting
                    else f"{shown}. r: reconnect", style="dim", no_wrap=True, overflow="ellipsis")
        if width is not None:
            err.truncate(width, overflow="ellipsis")
            hint.truncate(width, overflow="ellipsis")
        return Text("\n").join([out, err, hint])
    return out


def render_hosts_status(hosts: list[Status], scanned_at: str = "") -> Text:
    """The hosts overview's line: how many hosts answer, their PFs and VFs, their problems."""
    out = Text(no_wrap=True, overflow="ellipsis")
    up = sum(1 for h in hosts if h.connected)
    waiting = sum(1 for h in hosts if h.connected is None)
    down = len(hosts) - up - waiting
    out.append(f"{_n(len(hosts), 'host')}: ")
    out.append(f"● {up} up", style="green")
    if waiting:
        out.append(f" ○ {waiting} connecting", style="dim")
    if down:
        out.append(f" ✖ {down} down", style="bold red")
    out.append(f" │ {_n(sum(h.pfs for h in hosts), 'PF')} {_n(sum(h.vfs for h in hosts), 'VF')}")
    problems = sum(h.problems for h in hosts)
    if problems:
        out.append(" │ ")
        out.append(f"!{_n(problems, 'problem')}", style="bold red")
    if scanned_at:
        out.append(" │ ")
        out.append(scanned_at, style="dim")
    return out
