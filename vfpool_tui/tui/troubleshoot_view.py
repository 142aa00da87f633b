"""From a ``Scan`` to what the troubleshoot screen shows: pools worst first, who holds / waits /
blocks, and the findings of ``core.health.diagnose`` with what to do.

Plain functions, no widgets, no I/O (like ``view.py``). Everything that comes from libvirt (guest
and pool names, libvirt's messages) goes into ``rich.text.Text`` verbatim, never through markup.
Every state is told by a word as well as a colour, so it reads with NO_COLOR.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from vfpool_tui.core.health.diagnose import (
    Finding,
    PoolUsage,
    classify_error,
    diagnose_guest,
    error_guests,
    pool_usage,
)
from vfpool_tui.core.health.start_check import pool_queue
from vfpool_tui.core.model import Problem, Scan, UseKind, VfUse
from vfpool_tui.core.wording import names
from vfpool_tui.tui.view import (
    MARKER,
    SEVERITY_MARK,
    STYLE,
    UNKNOWN,
    Row,
    VfState,
    _row,
    bar,
    cell,
    safe,
)

# --------------------------------------------------------------------------- pools


@dataclass(frozen=True)
class Mark:
    word: str  # NO VFS, FULL, SHORT, INACTIVE, BLOCKED, ok
    style: str
    rank: int  # lower is worse


MARKS = {
    "NO VFS": Mark("NO VFS", "bold red reverse", 0),  # active, but its PF has no VFs
    "FULL": Mark("FULL", "bold red reverse", 0),
    "SHORT": Mark("SHORT", "bold red", 1),
    "INACTIVE": Mark("INACTIVE", "bold yellow reverse", 2),
    "BLOCKED": Mark("BLOCKED", "yellow", 3),
    "ok": Mark("ok", "green", 4),
}


def pool_mark(u: PoolUsage) -> Mark:
    p = u.pool
    if not p.active:
        return MARKS["INACTIVE"]
    if p.capacity == 0:
        return MARKS["NO VFS"]
    if p.capacity is not None and p.free is not None and p.free <= 0:
        return MARKS["FULL"]
    if u.shortfall:
        return MARKS["SHORT"]
    if u.blocked:
        return MARKS["BLOCKED"]
    return MARKS["ok"]


def starts_fail(u: PoolUsage) -> bool:
    """Some guest waiting on this pool cannot start now."""
    return bool(u.shortfall) or (not u.pool.active and bool(u.waiting))


def usages(scan: Scan) -> list[PoolUsage]:
    """Every pool's usage, worst first: pools where a waiting guest cannot start, then FULL, SHORT,
    INACTIVE, BLOCKED, fine; then by shortfall and name."""
    out = [u for u in (pool_usage(scan, p.name) for p in scan.pools) if u is not None]
    return sorted(out, key=lambda u: (not starts_fail(u), pool_mark(u).rank, -(u.shortfall or 0),
                                      u.pool.name.casefold(), u.pool.name))


POOL_COLUMNS = (("name", "Pool"), ("status", "Status"), ("bar", "Use"), ("used", "Used"),
                ("free", "Free"), ("blocked", "Blk"), ("waiting", "Wait"), ("short", "Short"),
                ("pf", "PF VFs"))

POOL_LEGEND = "█ used ▓ blocked ░ free · PF VFs: enabled/max +room"


def _n(value: int | None, bad: bool = False) -> Text:
    if value is None:
        return cell(UNKNOWN, "dim")
    return cell(value, ("bold red" if bad else "") if value else "dim")


def pf_cell(u: PoolUsage) -> Text:
    if u.pf_numvfs is None or u.pf_totalvfs is None:
        return cell(UNKNOWN, "dim")
    return cell(f"{u.pf_numvfs}/{u.pf_totalvfs} +{u.headroom}", "" if u.headroom else "dim")


def pool_rows(us: list[PoolUsage], name_width: int = 16, bar_width: int = 8) -> list[Row]:
    rows = []
    for u in us:
        p = u.pool
        mark = pool_mark(u)
        name = safe(p.name)
        if len(name) > name_width:
            name = name[: name_width - 1] + "…"
        cap = "?" if p.capacity is None else p.capacity
        free_style = "dim" if p.free is None else ("bold red" if p.free <= 0 else "green")
        rows.append(_row(p.name, [
            cell(name, "bold"),
            cell(mark.word, mark.style),
            bar(p.in_use, p.blocked, p.capacity, bar_width),
            cell(f"{p.in_use}/{cap}"),
            cell(UNKNOWN if p.free is None else p.free, free_style),
            cell(p.blocked, "yellow" if p.blocked else "dim"),
            cell(len(u.waiting), "bold" if u.waiting else "dim"),
            _n(u.shortfall, bad=True),
            pf_cell(u),
        ]))
    return rows


def pool_summary(scan: Scan, u: PoolUsage) -> Text:
    """The selected pool in words: capacity, use, the waiting guests' shortfall, room on the PF."""
    p = u.pool
    mark = pool_mark(u)
    out = Text()
    out.append(f" {mark.word} ", style=mark.style)
    out.append(" ")
    out.append(safe(p.name), style="bold")
    cap = "?" if p.capacity is None else p.capacity
    free = "?" if p.free is None else p.free
    out.append(f": {p.in_use} of {cap} in use, {free} free")
    if p.blocked:
        out.append(f", {p.blocked} blocked", style="yellow")
    if u.waiting:
        out.append(f"; {len(u.waiting)} shut-off guest{'s' if len(u.waiting) != 1 else ''} waiting")
        if u.shortfall:
            out.append(f": short by {u.shortfall}", style="bold red")
    out.append(".")
    if len(p.pfs) == 1:
        pf = scan.host.pf(p.pfs[0])
        if pf is None:
            out.append(f" PF {safe(p.pfs[0])}: not on this host.", style="bold")
        else:
            out.append(f" PF {safe(pf.name)}: {pf.numvfs} of {pf.totalvfs} VFs enabled")
            out.append(f", room for {u.headroom} more." if u.headroom else ", no room for more.")
    elif p.pfs:
        out.append(f" PFs {', '.join(safe(x) for x in p.pfs)}.")
    queue = pool_queue(scan, p)
    if queue.fail:
        out.append(f" {safe(queue.summary)}", style="bold red")
    return out


# --------------------------------------------------------------------------- who

WHO_COLUMNS = (("role", "Role"), ("guest", "Guest"), ("vf", "VF"), ("mac", "MAC"), ("state", "State"))

ROLE_STYLE = {"waits": "magenta", "blocks": STYLE[VfState.HARD], "holds": STYLE[VfState.POOL]}
ROLE_MARK = {"waits": "◇", "blocks": MARKER[VfState.HARD], "holds": MARKER[VfState.POOL]}
ROLE_ORDER = ("waits", "blocks", "holds")
WHO_LEGEND = "◇ waits: shut off, needs a VF · ■ blocks: hard-codes a pool VF · ● holds"


@dataclass(frozen=True)
class WhoRow:
    key: str  # role|guest uuid (or name)|n: stable across scans
    role: str  # "waits" | "blocks" | "holds"
    guest: str  # the guest's name
    use: VfUse  # the device: a pool interface (waits, holds) or a hard-coded VF (blocks)


def who(scan: Scan, u: PoolUsage) -> list[WhoRow]:
    """Who waits for a VF of the pool, who blocks one of its VFs, who holds one: in that order."""
    waiting = [x for g in u.waiting for x in g.vf_uses
               if x.kind is UseKind.POOL and x.network == u.pool.name]
    out: list[WhoRow] = []
    counts: dict[tuple[str, str], int] = {}
    for role, uses in (("waits", waiting), ("blocks", u.blocked), ("holds", u.holders)):
        for use in uses:
            n = counts.get((role, use.guest), 0)
            counts[(role, use.guest)] = n + 1
            out.append(WhoRow(f"{role}|{use.guest_uuid or use.guest}|{n}", role, use.guest, use))
    return out


def who_rows(scan: Scan, u: PoolUsage) -> tuple[list[Row], dict[str, WhoRow]]:
    by_name = {g.name: g for g in scan.guests}
    rows, index = [], {}
    for w in who(scan, u):
        g = by_name.get(w.guest)
        if w.role == "waits":
            vf = cell("needs one", "dim")
        else:
            vf = cell(w.use.pci or "unknown", "" if w.use.pci else "dim")
        rows.append(_row(w.key, [
            cell(f"{ROLE_MARK[w.role]} {w.role}", ROLE_STYLE[w.role]),
            cell(w.guest, "bold"),
            vf,
            cell(w.use.mac or UNKNOWN, "" if w.use.mac else "dim"),
            cell(g.state if g is not None else UNKNOWN, "green" if g is not None and g.active else "dim"),
        ]))
        index[w.key] = w
    return rows, index


# --------------------------------------------------------------------------- findings


def pool_findings(scan: Scan, u: PoolUsage) -> list[Finding | Problem]:
    """What stands in the way of the pool's guests, with what to do: ``diagnose_guest`` for each
    waiting guest (findings about this pool, or about no pool) and each blocking guest (findings
    about this pool whose VFs an earlier finding does not already name), distinct by topic or
    summary. When none of them is a warning or an error, the scan's problems with the pool."""
    name = u.pool.name
    out: list[Finding | Problem] = []
    seen: set[str] = set()
    covered: set[str] = set()

    def add(f: Finding) -> None:
        key = f.topic or f.summary
        if key in seen or f.severity == "info":
            return
        seen.add(key)
        covered.update(f.pcis)
        out.append(f)

    for g in u.waiting:
        for f in diagnose_guest(scan, g.name):
            if f.pool in (None, name):
                add(f)
    for guest in dict.fromkeys(b.guest for b in u.blocked):
        for f in diagnose_guest(scan, guest):
            if f.pool == name and not (f.pcis and set(f.pcis) <= covered):
                add(f)
    if not out:
        out.extend(p for p in scan.problems if p.pool == name and p.severity != "info")
    return out


def _severity(severity: str) -> Text:
    mark, style = SEVERITY_MARK.get(severity, ("?", ""))
    return Text(f"{mark} {severity}", style=style)


def _hanging(lead: Text, body: Text) -> Table:
    """``lead`` then ``body``, wrapped lines of ``body`` aligned under its first character."""
    t = Table.grid(padding=(0, 1))
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row(lead, body)
    return t


def finding_renderable(f: Finding | Problem) -> Group:
    """A finding: severity and summary, why (dim), then what to do, one ``→`` line per action.
    A scan problem (shown when diagnose has nothing to say): its kind, then its message."""
    if isinstance(f, Problem):
        head = Text(f.kind.value, style="bold")
        return Group(_hanging(_severity(f.severity), head), Padding(Text(safe(f.message)), (0, 0, 0, 2)))
    parts: list = [_hanging(_severity(f.severity), Text(safe(f.summary), style="bold"))]
    if f.detail:
        parts.append(Padding(Text(safe(f.detail), style="dim"), (0, 0, 0, 2)))
    for a in f.actions:
        parts.append(Padding(_hanging(Text("→", style="bold"), Text(safe(a))), (0, 0, 0, 2)))
    return Group(*parts)


def findings_renderable(findings: list[Finding | Problem] | tuple[Finding, ...]) -> Group:
    return Group(*(finding_renderable(f) for f in findings))


def pool_text(scan: Scan, u: PoolUsage) -> Group:
    """The findings pane for one pool: its summary in words, then the findings."""
    found = pool_findings(scan, u)
    if found:
        body = findings_renderable(found)
    elif u.waiting:
        body = Text(f"Nothing stands in the way: {len(u.waiting)} waiting, {u.pool.free} free.",
                    style="green")
    else:
        body = Text("Nothing stands in the way of this pool's guests.", style="green")
    return Group(pool_summary(scan, u), body, keys_line(u))


def keys_line(u: PoolUsage) -> Text:
    """The keys that act on what the findings say (they open screens; nothing changes here)."""
    keys = []
    if u.blocked:
        keys.append("c on a ■ blocks row: convert that guest to the pool")
    if u.shortfall or not u.pool.active or (u.pool.free is not None and u.pool.free <= 0):
        keys.append("n: a new pool on a PF with free VFs")
    keys.append("w on a guest: why · e: explain libvirt's error")
    return Text("Keys: " + " · ".join(keys), style="dim italic")


# --------------------------------------------------------------------------- why (one guest)

ERROR_MEANING = {
    "pool-exhausted": "the pool {network} had no free VF when the guest started",
    "network-inactive": "the pool network {network} is not running",
    "no-network": "no network called {network} exists",
    "pf-no-vfs": "the PF {pf} has no VFs enabled",
    "pf-unreadable": "libvirt could not read the VFs of PF {pf} (missing or renamed)",
    "pci-in-use": "VF {pci} is already in use by {guest}",
}


def error_line(error: str) -> Text:
    """What libvirt's message says, in a line (or that it is not one this tool knows)."""
    known = classify_error(error)
    out = Text()
    if known is None:
        out.append("libvirt's message: not one this tool knows.", style="yellow")
        return out
    meaning = ERROR_MEANING.get(known.kind.value, known.kind.value)
    try:
        meaning = meaning.format(**{k: safe(v) for k, v in known.fields.items()})
    except KeyError:
        pass
    out.append("libvirt's message means: ", style="bold")
    out.append(meaning)
    out.append(f" ({known.kind.value}).", style="dim")
    return out


def why_text(scan: Scan | None, guest: str, error: str = "", error_for: str = "") -> Group:
    """``diagnose_guest`` for ``guest`` (with libvirt's ``error`` when pasted), as text.

    ``error_for``: the guest the error was entered for; for another guest it is not applied."""
    error = error.strip()
    if scan is None:
        return Group(Text("No scan yet.", style="dim"))
    parts: list = []
    if error:
        parts.append(error_line(error))
    guest = guest.strip()
    error_for = error_for.strip()
    if error and guest and error_for and error_for != guest:
        parts.append(Text.assemble(
            ("That error was entered for ", "yellow"), (safe(error_for), "bold"),
            (": not applied to ", "yellow"), (safe(guest), "bold"),
            (". Paste this guest's own error, or clear the box.", "yellow")))
        error = ""
    if not guest:
        if error:
            known = classify_error(error)
            network = known.fields.get("network") if known else None
            u = pool_usage(scan, network) if network else None
            if u is not None:
                parts.append(pool_text(scan, u))
            whose = error_guests(scan, known) if known is not None else None
            maybe = f" It may be {names(sorted(whose))}." if whose else ""
            parts.append(Text("Type the guest that failed to start above for the whole diagnosis."
                              + safe(maybe), style="italic"))
        else:
            parts.append(Text("Type a guest's name (→ completes), or paste libvirt's error below.",
                              style="italic"))
        return Group(*parts)
    if not any(g.name == guest for g in scan.guests):
        parts.append(Text.assemble("No guest named ", (safe(guest), "bold"), " on this connection."))
        return Group(*parts)
    parts.append(findings_renderable(diagnose_guest(scan, guest, error=error or None)))
    return Group(*parts)
