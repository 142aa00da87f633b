"""From a ``Scan`` to what the tables show: plain functions, no widgets, no I/O.

Every cell is a ``rich.text.Text`` built from the data, never a markup string, so a guest called
``[bold]x[/]`` shows those nine characters. Each row has a stable key (PCI address, guest UUID,
pool name) so the tables can update only the cells that changed.

VF states are told apart by a text marker *and* a colour, so they read without colour too:
``○ free``, ``● pool``, ``◐ held?`` (in a pool that running guests use without libvirt saying which
VF each holds), ``■ hard`` (hard-coded in a guest), ``! problem``, ``? unknown`` (libvirt could not be
read, so nothing is known of who holds it). Every figure comes from
``core.capacity.Figures``, the one computation the CLI shares.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from rich.text import Text

from vfpool_tui.core.capacity import Figures, Occupancy
from vfpool_tui.core.model import PF, VF, Guest, Pool, Problem, Scan, UseKind, VfUse

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe(value: object) -> str:
    """A value as plain text for a cell: verbatim, except control characters shown escaped."""
    text = "" if value is None else str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


# A table column is as wide as its widest cell: one 200-character guest name would push every
# other column off an 80-column screen. Names are cut to this many cells in tables (with an
# ellipsis); the details view shows them whole.
NAME_MAX = 28


def cell(value: object, style: str = "", max_width: int | None = None) -> Text:
    text = Text(safe(value), style=style, no_wrap=True, overflow="ellipsis")
    if max_width is not None:
        text.truncate(max_width, overflow="ellipsis")
    return text


UNKNOWN = "—"


class VfState(StrEnum):
    FREE = "free"
    POOL = "pool"
    MAYBE = "held?"
    HARD = "hard"
    PROBLEM = "problem"
    UNKNOWN = "unknown"


MARKER = {
    VfState.FREE: "○",
    VfState.POOL: "●",
    VfState.MAYBE: "◐",
    VfState.HARD: "■",
    VfState.PROBLEM: "!",
    VfState.UNKNOWN: "?",
}
STYLE = {
    VfState.FREE: "green",
    VfState.POOL: "cyan",
    VfState.MAYBE: "magenta",
    VfState.HARD: "yellow",
    VfState.PROBLEM: "bold red",
    VfState.UNKNOWN: "dim",
}
LEGEND_TEXT = {
    VfState.FREE: "free",
    VfState.POOL: "in a pool (held by the guest shown, or free in the pool)",
    VfState.MAYBE: "in a pool; a running guest may hold it (libvirt does not say which)",
    VfState.HARD: "hard-coded in a guest",
    VfState.PROBLEM: "problem",
    VfState.UNKNOWN: "libvirt could not be read: any guest may hold it",
}
_OCCUPANCY_STATE = {
    Occupancy.FREE: VfState.FREE,
    Occupancy.POOL_FREE: VfState.POOL,
    Occupancy.POOL_HELD: VfState.POOL,
    Occupancy.POOL_MAYBE: VfState.MAYBE,
    Occupancy.HARD: VfState.HARD,
    Occupancy.UNKNOWN: VfState.UNKNOWN,
}


def count_range(lo: int, hi: int) -> str:
    """``3``, or ``2–3`` when only a range is known."""
    return str(lo) if lo == hi else f"{lo}–{hi}"

SEVERITY_MARK = {"error": ("✖", "bold red"), "warning": ("▲", "yellow"), "info": ("i", "cyan")}

HOW = {
    UseKind.HOSTDEV: "hostdev",
    UseKind.INTERFACE_HOSTDEV: "iface",
    UseKind.POOL: "pool",
}


def state_cell(state: VfState) -> Text:
    return Text(f"{MARKER[state]}{state.value}", style=STYLE[state], no_wrap=True)


def legend(short: bool = False, unknown: bool = True) -> Text:
    """The VF markers; ``unknown``: with the one for VFs libvirt could not be asked about (the short
    legend above the VF table has it only when they are shown)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, state in enumerate(s for s in VfState if unknown or s is not VfState.UNKNOWN):
        if i:
            out.append(" " if short else "\n")
        out.append(f"{MARKER[state]}{state.value}", style=STYLE[state])
        if not short:
            out.append(f"  {LEGEND_TEXT[state]}", style="dim")
    return out


@dataclass(frozen=True)
class Row:
    """One table row: a stable key, its cells in column order, and the text ``/`` searches."""

    key: str
    cells: tuple[Text, ...]
    search: str


def _row(key: str, cells: list[Text]) -> Row:
    return Row(key, tuple(cells), " ".join(c.plain for c in cells).casefold())


class Index:
    """Look-ups over one scan, computed once per scan."""

    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self.fig = Figures(scan)
        self.holders: dict[str, list[tuple[Guest, VfUse]]] = defaultdict(list)
        for g in scan.guests:
            for u in g.vf_uses:
                if u.pci:
                    self.holders[u.pci].append((g, u))
        self.pool_of_vf: dict[str, Pool] = self.fig.pool_of_vf
        self.pools_of_pf: dict[str, list[Pool]] = defaultdict(list)
        pf_by_name = {}
        for pf in scan.host.pfs:
            for n in pf.netdevs:
                pf_by_name[n] = pf.pci
            pf_by_name[pf.pci] = pf.pci
        for pool in scan.pools:
            for dev in pool.pfs:
                if dev in pf_by_name:
                    self.pools_of_pf[pf_by_name[dev]].append(pool)
        self.problem_pcis: dict[str, list[Problem]] = defaultdict(list)
        self.problems_of_guest: dict[str, list[Problem]] = defaultdict(list)
        self.problems_of_pool: dict[str, list[Problem]] = defaultdict(list)
        self.problems_of_pf: dict[str, list[Problem]] = defaultdict(list)
        for p in scan.problems:
            if p.severity == "info":
                continue
            for a in p.pcis:
                self.problem_pcis[a].append(p)
            for g in p.guests:
                self.problems_of_guest[g].append(p)
            if p.pool:
                self.problems_of_pool[p.pool].append(p)
            if p.pf:
                self.problems_of_pf[p.pf].append(p)
        self.guest_by_uuid = {g.uuid: g for g in scan.guests}
        self.guest_by_name = {g.name: g for g in scan.guests}
        self.pool_by_name = {p.name: p for p in scan.pools}
        self.pf_by_pci = {pf.pci: pf for pf in scan.host.pfs}
        self.vfs = scan.host.vf_index()

    def vf_state(self, pci: str) -> VfState:
        if pci in self.problem_pcis or len(self.holders.get(pci, ())) > 1:
            return VfState.PROBLEM
        fig = self.fig.vf(pci)
        if fig is None:  # a VF the host does not have: only a guest names it
            return VfState.HARD if self.holders.get(pci) else VfState.FREE
        return _OCCUPANCY_STATE[fig.occupancy]

    def maybe_holders(self, pci: str) -> tuple[str, ...]:
        """The running guests that may hold this pool VF (libvirt does not say which VF each has)."""
        fig = self.fig.vf(pci)
        return fig.maybe_holders if fig else ()

    def pf_problems(self, pf: PF) -> list[Problem]:
        out = list(self.problems_of_pf.get(pf.pci, ()))
        for n in pf.netdevs:
            out += self.problems_of_pf.get(n, ())
        for vf in pf.vfs:
            out += self.problem_pcis.get(vf.pci, ())
        return out


# --------------------------------------------------------------------------- PFs

PF_COLUMNS = (("pf", "PF"), ("vfs", "VFs"), ("pooled", "Pooled"), ("hard", "Hard"), ("free", "Free"),
              ("link", "Link"), ("pools", "Pools"), ("numa", "NUMA"), ("driver", "Driver"),
              ("model", "Model"))


def pf_rows(ix: Index) -> list[Row]:
    rows = []
    for pf in ix.scan.host.pfs:
        counts = ix.fig.pf(pf.pci)
        known = not counts.unknown  # else libvirt could not be read: who holds what is unknown
        free = count_range(counts.free_lo, counts.free_hi) if known else UNKNOWN
        bad = ix.pf_problems(pf)
        name = Text(no_wrap=True)
        name.append("! " if bad else "  ", style="bold red")
        name.append(safe(pf.name), style="bold")
        pools = ", ".join(p.name for p in ix.pools_of_pf.get(pf.pci, ()))
        vfs_style = "dim" if pf.numvfs == 0 else ""
        rows.append(_row(pf.pci, [
            name,
            cell(f"{pf.numvfs}/{pf.totalvfs}", vfs_style),
            cell(counts.pooled if known else UNKNOWN, STYLE[VfState.POOL] if counts.pooled else "dim"),
            cell(counts.hard if known else UNKNOWN, STYLE[VfState.HARD] if counts.hard else "dim"),
            cell(free, "green" if counts.free_hi and known else "dim"),
            cell(pf.link or UNKNOWN, "green" if pf.link == "up" else ("bold red" if pf.link else "dim")),
            cell(pools or UNKNOWN, "cyan" if pools else "dim"),
            cell(UNKNOWN if pf.numa_node is None else pf.numa_node),
            cell(pf.driver or UNKNOWN),
            cell(pf.model),
        ]))
    return rows


# --------------------------------------------------------------------------- VFs

VF_COLUMNS = (("state", "State"), ("idx", "#"), ("pci", "PCI"), ("holder", "Holder"),
              ("how", "How"), ("run", "Run"), ("pool", "Pool"), ("driver", "Driver"), ("mac", "MAC"),
              ("vlan", "VLAN"))


def vf_rows(ix: Index, pf: PF | None) -> list[Row]:
    if pf is None:
        return []
    rows = []
    for vf in pf.vfs:
        state = ix.vf_state(vf.pci)
        held = ix.holders.get(vf.pci, [])
        pool = ix.pool_of_vf.get(vf.pci)
        maybe = ix.maybe_holders(vf.pci) if not held else ()
        if held:
            holder = ", ".join(safe(g.name) for g, _ in held)
            how = ", ".join(dict.fromkeys(HOW[u.kind] for _, u in held))
            run = "▶ yes" if any(u.active for _, u in held) else "no"
        elif maybe:
            holder = f"? one of {len(maybe)} guests" if len(maybe) > 1 else f"? {safe(maybe[0])}"
            how = HOW[UseKind.POOL]
            run = "?"
        else:
            holder = UNKNOWN
            how = UNKNOWN
            run = UNKNOWN
        rows.append(_row(vf.pci, [
            state_cell(state),
            cell(vf.index),
            cell(vf.pci),
            cell(holder, "bold" if held else (STYLE[VfState.MAYBE] if maybe else "dim"), max_width=NAME_MAX),
            cell(how, "" if held or maybe else "dim"),
            cell(run, "green" if run.startswith("▶") else "dim"),
            cell(pool.name if pool else UNKNOWN, "cyan" if pool else "dim"),
            cell(vf.driver or "unbound", "" if vf.driver else "dim"),
            cell(vf.mac or UNKNOWN, "" if vf.mac else "dim"),
            cell(UNKNOWN if vf.vlan is None else vf.vlan, "" if vf.vlan is not None else "dim"),
        ]))
    return rows


# --------------------------------------------------------------------------- guests

GUEST_COLUMNS = (("name", "Guest"), ("state", "State"), ("uses", "VF use"), ("vfs", "VFs"),
                 ("convert", "Convert"), ("auto", "Autostart"))


def guest_uses_text(g: Guest) -> Text:
    out = Text(no_wrap=True)
    hard = sum(1 for u in g.vf_uses if u.kind is not UseKind.POOL)
    pool = sum(1 for u in g.vf_uses if u.kind is UseKind.POOL)
    if hard:
        out.append(f"{MARKER[VfState.HARD]}{hard} hard", style=STYLE[VfState.HARD])
    if pool:
        if hard:
            out.append(" ")
        out.append(f"{MARKER[VfState.POOL]}{pool} pool", style=STYLE[VfState.POOL])
    if not out.plain:
        out.append("none", style="dim")
    return out


def guest_rows(ix: Index, only_with_vfs: bool = False) -> list[Row]:
    rows = []
    for g in sorted(ix.scan.guests, key=lambda g: g.name.casefold()):
        if only_with_vfs and not g.vf_uses:
            continue
        bad = ix.problems_of_guest.get(g.name)
        name = Text(no_wrap=True, overflow="ellipsis")
        name.append("! " if bad or g.errors else "  ", style="bold red")
        name.append(safe(g.name), style="bold")
        name.truncate(NAME_MAX + 2, overflow="ellipsis")
        vfs = ", ".join(u.pci or "unknown" for u in g.vf_uses) or UNKNOWN
        if g.convertible:
            conv = cell(f"→ {len(g.convertible)} to pool", "magenta")
        elif g.vf_uses:
            conv = cell("on pool", "dim")
        else:
            conv = cell(UNKNOWN, "dim")
        auto = UNKNOWN if g.autostart is None else ("yes" if g.autostart else "no")
        rows.append(_row(g.uuid or g.name, [
            name,
            cell(g.state, "green" if g.active else "dim"),
            guest_uses_text(g),
            cell(vfs, "" if g.vf_uses else "dim"),
            conv,
            cell(auto, "dim"),
        ]))
    return rows


# --------------------------------------------------------------------------- pools


def bar(used: int, blocked: int, capacity: int | None, width: int = 12) -> Text:
    """``███▓░░░`` used / blocked / free; readable without colour."""
    out = Text(no_wrap=True)
    if not capacity:
        out.append("?" * width if capacity is None else "·" * width, style="dim")
        return out
    u = min(width, round(width * used / capacity))
    if used and u == 0:
        u = 1
    b = min(width - u, round(width * blocked / capacity))
    if blocked and b == 0 and u < width:
        b = 1
    f = width - u - b
    full = used + blocked >= capacity
    out.append("█" * u, style="red" if full else "cyan")
    out.append("▓" * b, style="yellow")
    out.append("░" * f, style="green")
    return out


def pool_status(pool: Pool) -> tuple[str, str]:
    if not pool.active:
        return "INACTIVE", "bold yellow reverse"
    if pool.capacity == 0:  # active over a PF without VFs: nothing to hand out, not "used up"
        return "NO VFS", "bold red reverse"
    if pool.capacity is not None and pool.free is not None and pool.free <= 0:
        return "FULL", "bold red reverse"
    return "active", "green"


POOL_COLUMNS = (("name", "Pool"), ("status", "Status"), ("bar", "Use"), ("used", "Used/Cap"),
                ("free", "Free"), ("hist", "History"), ("pf", "PF"), ("auto", "Autostart"))


def pool_rows(ix: Index, bar_width: int = 12, history=None) -> list[Row]:
    """``history``: a ``PoolHistory`` (the session's samples), drawn as a sparkline per pool."""
    rows = []
    for p in sorted(ix.scan.pools, key=lambda p: p.name):
        status, style = pool_status(p)
        cap = UNKNOWN if p.capacity is None else p.capacity
        bad = ix.problems_of_pool.get(p.name)
        name = Text(no_wrap=True)
        name.append("! " if bad else "  ", style="bold red")
        name.append(safe(p.name), style="bold")
        free = UNKNOWN if p.free is None else p.free
        rows.append(_row(p.name, [
            name,
            cell(status, style),
            bar(p.in_use, p.blocked, p.capacity, bar_width),
            cell(f"{p.in_use}/{cap}"),
            cell(free, "red" if p.free == 0 else ("green" if p.free else "dim")),
            history.sparkline(p.name) if history is not None else cell(UNKNOWN, "dim"),
            cell(", ".join(p.pfs) or (f"{len(p.addresses)} addresses" if p.addresses else UNKNOWN)),
            cell("yes" if p.autostart else "no", "dim"),
        ]))
    return rows


def pool_line(p: Pool, name_width: int = 12, bar_width: int = 16) -> Text:
    """One line for the pool summary on the host screen."""
    status, style = pool_status(p)
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(safe(p.name)[:name_width].ljust(name_width), style="bold")
    out.append(" ")
    out.append_text(bar(p.in_use, p.blocked, p.capacity, bar_width))
    cap = "?" if p.capacity is None else str(p.capacity)
    out.append(f" {p.in_use}/{cap} used")
    if p.free is not None:
        out.append(f" · {p.free} free", style="red" if p.free == 0 else "")
    if p.blocked:
        out.append(f" · {p.blocked} blocked", style="yellow")
    out.append(" ")
    out.append(f" {status} ", style=style)
    return out


# --------------------------------------------------------------------------- problems

PROBLEM_COLUMNS = (("sev", "Severity"), ("kind", "Kind"), ("subject", "Concerns"), ("msg", "What is wrong"))


def problem_key(p: Problem) -> str:
    return "|".join([p.kind.value, p.pool or "", p.pf or "", ",".join(p.guests), ",".join(p.pcis)])


def problem_subject(p: Problem) -> str:
    parts = []
    if p.pool:
        parts.append(f"pool {p.pool}")
    if p.pf:
        parts.append(f"PF {p.pf}")
    if p.guests:
        parts.append(", ".join(p.guests))
    if p.pcis:
        parts.append(", ".join(p.pcis[:3]) + ("…" if len(p.pcis) > 3 else ""))
    return "; ".join(parts) or UNKNOWN


_ORDER = {"error": 0, "warning": 1, "info": 2}


def problem_rows(ix: Index) -> list[Row]:
    rows = []
    seen: set[str] = set()
    for p in sorted(ix.scan.problems, key=lambda p: (_ORDER.get(p.severity, 3), p.kind.value)):
        key = problem_key(p)
        while key in seen:
            key += "+"
        seen.add(key)
        mark, style = SEVERITY_MARK.get(p.severity, ("?", ""))
        rows.append(_row(key, [
            cell(f"{mark} {p.severity}", style),
            cell(p.kind.value),
            cell(problem_subject(p)),
            cell(p.message.split(". ")[0]),
        ]))
    return rows


def problem_by_key(ix: Index, key: str) -> Problem | None:
    seen: set[str] = set()
    for p in sorted(ix.scan.problems, key=lambda p: (_ORDER.get(p.severity, 3), p.kind.value)):
        k = problem_key(p)
        while k in seen:
            k += "+"
        seen.add(k)
        if k == key:
            return p
    return None


def vf_of(ix: Index, pci: str) -> VF | None:
    return ix.vfs.get(pci)
