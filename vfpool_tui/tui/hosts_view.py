"""From the host sessions to what the hosts overview shows: plain functions, no widgets, no I/O.

Every figure is the host's ``core.capacity.Figures.host_totals()`` (its PFs' counts added up, the
pools near exhaustion by ``doctor``'s rule, the problem count the header shows): the same numbers
the host's own views and ``scan --json`` give. Names from libvirt and URIs go in as ``Text``.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from vfpool_tui.tui.hosts import HostSession
from vfpool_tui.tui.view import STYLE, UNKNOWN, Row, VfState, cell, count_range, safe
from vfpool_tui.tui.widgets.banner import Status

HOST_COLUMNS = (("host", "Host"), ("state", "libvirt"), ("pfs", "PFs"), ("vfs", "VFs"),
                ("free", "Free"), ("pooled", "Pool"), ("hard", "Hard"), ("near", "Near full"),
                ("problems", "Problems"))
LABEL_MAX = 16  # cells of a host's name in the table (the info pane shows it whole)


def connection_state(s: Status) -> tuple[str, str]:
    """(word, style) for a host's connection: up, connecting, lost (reconnecting), down."""
    if s.connected is None:
        return "○ connecting", "dim"
    if s.connected:
        return "● up", "green"
    if s.reconnecting:
        return "✖ lost", "bold red"
    return "✖ down", "bold red"


def host_rows(sessions: Iterable[HostSession]) -> list[Row]:
    rows = []
    for h in sessions:
        word, style = connection_state(h.status)
        t = h.totals
        if t is None:
            figures = [cell(UNKNOWN, "dim") for _ in range(7)]
        else:
            near = len(t.near_exhaustion)
            figures = [
                cell(t.pfs),
                cell(t.vfs, "" if t.vfs else "dim"),
                cell(count_range(t.free_lo, t.free_hi), "green" if t.free_hi else "dim"),
                cell(t.pooled, STYLE[VfState.POOL] if t.pooled else "dim"),
                cell(t.hard, STYLE[VfState.HARD] if t.hard else "dim"),
                cell(f"▲{near}" if near else "0", "bold yellow" if near else "dim"),
                cell(f"!{t.problems.total}" if t.problems.total else "0",
                     "bold red" if t.problems.error else "yellow" if t.problems.total else "dim"),
            ]
        cells = (cell(h.label, "bold", LABEL_MAX), cell(word, style), *figures)
        rows.append(Row(h.key or "", cells, " ".join(c.plain for c in cells).casefold()))
    return rows


def host_info(h: HostSession) -> Text:
    """The highlighted host in a few lines (and the details pane's body)."""
    s = h.status
    out = Text()
    out.append(safe(h.label), style="bold")
    out.append(f"  {safe(h.uri or 'the default URI')}\n", style="dim")
    word, style = connection_state(s)
    out.append("libvirt: ")
    out.append(word, style=style)
    if s.connected and s.readonly:
        out.append(f", read-only ({safe(s.readonly_why)})" if s.readonly_why else ", read-only", style="yellow")
    out.append(" · cards " + ("via libvirt (node devices)" if h.discovery == "libvirt"
                              else "from this machine's udev/sysfs"), style="dim")
    if s.scanned_at:
        out.append(f" · scanned {s.scanned_at}", style="dim")
    out.append("\n")
    if s.error:
        out.append(safe(s.error) + "\n", style="bold red")
    t = h.totals
    if t is None:
        out.append("figures: not known until libvirt answers\n" if h.scan is not None else
                   "not scanned yet\n", style="dim")
        return out
    out.append(f"{t.pfs} PFs · {t.vfs} VFs: {count_range(t.free_lo, t.free_hi)} free, {t.pooled} in pools, "
               f"{t.hard} hard-coded, {t.unpooled} in no pool\n")
    if t.near_exhaustion:
        ix = h.index
        parts = []
        for name in t.near_exhaustion:
            c = ix.fig.pool(name) if ix is not None else None
            parts.append(f"{safe(name)} ({c.free} free of {c.size})" if c is not None and c.size is not None
                         else safe(name))
        out.append("near exhaustion: ", style="bold yellow")
        out.append(", ".join(parts) + "\n")
    else:
        out.append("no pool near exhaustion\n", style="dim")
    p = t.problems
    if p.total:
        out.append(f"problems: {p.error} errors, {p.warning} warnings, {p.info} info\n",
                   style="bold red" if p.error else "yellow")
    else:
        out.append("no problems\n", style="dim")
    return out


HINT = Text("Enter: open this host · ] [: next/previous host · s: this overview · r: rescan every host",
            style="dim")
