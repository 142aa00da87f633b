"""The status line at the top: connection, read-only, counts, problems, last event."""

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
    pools: int = 0
    guests: int = 0
    problems: int = 0
    scanned_at: str = ""
    scanning: bool = False
    last_event: str = ""
    demo: bool = False
    host_errors: int = 0

    def but(self, **kw) -> Status:
        return replace(self, **kw)


class Banner(Static):
    DEFAULT_CSS = """
    Banner { height: auto; max-height: 3; background: $boost; padding: 0 1; }
    Banner.-error { background: $error 30%; }
    """

    def __init__(self, **kw) -> None:
        super().__init__("", **kw)
        self.status = Status()

    def set_status(self, status: Status) -> None:
        self.status = status
        self.set_class(bool(status.error), "-error")
        self.update(render_status(status))


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_status(s: Status) -> Text:
    """One line (plus two when libvirt is unreachable); the tail is cut, never wrapped."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if s.demo:
        out.append("DEMO ", style="bold magenta")
    if s.connected is None:
        out.append("○ connecting", style="dim")
    elif s.connected:
        out.append("● libvirt", style="green")
    elif s.reconnecting:
        out.append("✖ libvirt lost, reconnecting…", style="bold red")
    else:
        out.append("✖ no libvirt", style="bold red")
    if s.readonly:
        out.append(" ")
        out.append(f"read-only{' (' + s.readonly_why + ')' if s.readonly_why else ''}",
                   style="bold yellow")
    out.append(f" │ {_n(s.pfs, 'PF')} {_n(s.vfs, 'VF')} {_n(s.pools, 'pool')} {_n(s.guests, 'guest')}")
    if s.problems:
        out.append(" │ ")
        out.append(f"!{_n(s.problems, 'problem')}", style="bold red")
    out.append(" │ ")
    if s.scanning:
        out.append("scanning…", style="dim")
    elif s.scanned_at:
        out.append(s.scanned_at, style="dim")
    if s.last_event:
        out.append(" ")
        out.append(safe(s.last_event), style="italic dim")
    if s.error:
        err = Text(safe(s.error), style="bold", no_wrap=True, overflow="ellipsis")
        hint = Text("Showing the hardware only, read-only; reconnecting by itself. r: now" if s.reconnecting
                    else "Showing the hardware only, read-only. r: reconnect", style="dim", no_wrap=True,
                    overflow="ellipsis")
        return Text("\n").join([out, err, hint])
    return out
