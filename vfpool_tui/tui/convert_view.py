"""From a ``Scan``, a ``Plan``, ``StepEvent``s and an ``Outcome`` to what the conversion screens show.

Plain functions, no widgets, no I/O (like ``view.py``). Everything that comes from libvirt (guest and
pool names, messages, paths) goes into ``rich.text.Text`` verbatim, never through markup.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.text import Text

from vfpool_tui.core.conversion.events import GuestOutcome, Outcome, Plan, Result, Step, StepEvent, StepState
from vfpool_tui.core.health.convert_advice import pool_pf_pcis
from vfpool_tui.core.model import Guest, Pool, Scan, UseKind
from vfpool_tui.tui.view import UNKNOWN, Row, cell, safe

CANDIDATE_COLUMNS = (("mark", " "), ("guest", "Guest"), ("state", "State"), ("vfs", "VF(s)"),
                     ("pf", "PF"), ("note", "Note"))
PROGRESS_COLUMNS = (("guest", "Guest"), ("step", "Step"), ("state", "State"), ("time", "Time"),
                    ("message", "Message"))

MARKED = "✓"

STATE_STYLE = {
    StepState.STARTED: "cyan",
    StepState.WAITING: "yellow",
    StepState.OK: "green",
    StepState.FAILED: "bold red",
    StepState.SKIPPED: "dim",
    StepState.INFO: "",
}
RESULT_STYLE = {
    Result.CONVERTED: "bold green",
    Result.UNCHANGED: "yellow",
    Result.ROLLED_BACK: "bold yellow",
    Result.FAILED: "bold red",
    Result.SKIPPED: "dim",
    Result.INTERRUPTED: "bold magenta",
}
RESULT_WORDS = {  # how the summary names each result
    Result.CONVERTED: "converted",
    Result.UNCHANGED: "unchanged",
    Result.ROLLED_BACK: "rolled back",
    Result.FAILED: "failed",
    Result.SKIPPED: "skipped",
    Result.INTERRUPTED: "interrupted",
}


# --------------------------------------------------------------------------- pick


def candidates(scan: Scan) -> list[Guest]:
    """Guests with a hard-coded VF (what the engine can convert), by name."""
    return sorted((g for g in scan.guests if g.convertible), key=lambda g: g.name.casefold())


def pf_name(scan: Scan, pf_pci: str | None) -> str:
    if not pf_pci:
        return UNKNOWN
    pf = scan.host.pf(pf_pci)
    return pf.name if pf is not None else pf_pci


def vf_pfs(scan: Scan, g: Guest) -> list[str | None]:
    """The PF PCI address of each hard-coded VF of a guest (None when the host does not know it)."""
    out = []
    for u in g.convertible:
        vf = scan.host.vf(u.pci) if u.pci else None
        out.append(vf.pf_pci if vf is not None else None)
    return out


def unconvertible(scan: Scan) -> list[tuple[Guest, str]]:
    """Guests with PCI passthrough or pool VFs but nothing to convert, each with the reason the
    CLI gives (``plan.nothing_to_convert``): GPU passthrough, already on a pool."""
    from vfpool_tui.core.conversion.plan import nothing_to_convert

    out = [(g, nothing_to_convert(g, "")) for g in scan.guests if not g.convertible and (
        g.other_pci_hostdevs or any(u.kind is UseKind.POOL for u in g.vf_uses))]
    return sorted(out, key=lambda x: x[0].name.casefold())


def pfs_without_pool(scan: Scan, g: Guest) -> list[str]:
    """The PFs of a guest's VFs that no pool is over (converting means another PF: a asks)."""
    covered = set().union(*(pool_pf_pcis(scan, p) for p in scan.pools)) if scan.pools else set()
    return sorted({pf_name(scan, p) for p in vf_pfs(scan, g) if p and p not in covered})


def candidate_rows(scan: Scan, marked: Iterable[str], devices: dict | None = None) -> list[Row]:
    """Candidates first (``devices``: {guest key: {vf: pool}} chosen per device), then the guests
    that cannot be converted, dimmed, with the reason."""
    marked, devices = set(marked), devices or {}
    rows = []
    for g in candidates(scan):
        key = g.uuid or g.name
        uses = g.convertible
        pfs = sorted({pf_name(scan, p) for p in vf_pfs(scan, g)})
        lone = pfs_without_pool(scan, g)
        chosen = devices.get(key)
        if chosen:
            note = cell("per device: " + ", ".join(f"{vf[-7:]}→{pool or 'left'}" for vf, pool in chosen.items()),
                        "cyan")
        elif lone:
            note = cell(f"VF on {', '.join(lone)}: no pool over it", "yellow")
        else:
            note = cell("")
        cells = [
            cell(MARKED if key in marked else " ", "bold green"),
            cell(g.name, "bold"),
            cell(g.state, "green" if g.active else "dim"),
            cell(", ".join(u.pci or "unknown" for u in uses)),
            cell(", ".join(pfs)),
            note,
        ]
        rows.append(Row(key, tuple(cells), " ".join(c.plain for c in cells).casefold()))
    for g, why in unconvertible(scan):
        cells = [cell(" "), cell(g.name, "dim"), cell(g.state, "dim"), cell("—", "dim"), cell("", "dim"),
                 cell(why, "dim italic")]
        rows.append(Row(g.uuid or g.name, tuple(cells), " ".join(c.plain for c in cells).casefold()))
    return rows


def preselect_pool(scan: Scan, guests: list[Guest], pools: list[Pool]) -> str | None:
    """The pool on the same PF as the guests' VFs (the most of them), preferring an active one."""
    want: dict[str, int] = {}
    for g in guests:
        for p in vf_pfs(scan, g):
            if p:
                want[p] = want.get(p, 0) + 1
    best, best_score = None, (0, False)
    for pool in pools:
        pfs = pool_pf_pcis(scan, pool)
        score = (sum(n for p, n in want.items() if p in pfs), pool.active)
        if score[0] and score > best_score:
            best, best_score = pool.name, score
    return best


def pool_label(scan: Scan, pool: Pool, same_pf: bool | None) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append("● " if pool.active else "○ ", style="cyan" if pool.active else "dim")
    out.append(safe(pool.name), style="bold")
    pfs = ", ".join(safe(p) for p in pool.pfs) or UNKNOWN
    out.append(f"  PF {pfs}")
    free = UNKNOWN if pool.free is None else str(pool.free)
    cap = UNKNOWN if pool.capacity is None else str(pool.capacity)
    out.append(f"  {free} of {cap} VFs free", style="dim")
    if not pool.active:
        out.append("  inactive", style="yellow")
    if same_pf is True:
        out.append("  same PF", style="green")
    elif same_pf is False:
        out.append("  another PF", style="yellow")
    return out


def pool_labels(scan: Scan, pools: list[Pool], marked: list[Guest]) -> list[Text]:
    """Each pool's label, saying whether it is on the PF(s) of the marked guests' VFs."""
    want = {p for g in marked for p in vf_pfs(scan, g) if p}
    return [pool_label(scan, p, (want <= pool_pf_pcis(scan, p)) if want else None) for p in pools]


def plan_text(plan: Plan, timeout: float) -> Text:
    """The plan in a few lines: what happens to whom, the VF budget, refusals, warnings, notes."""
    out = Text()
    running = [g for g in plan.guests if g.was_running]
    off = [g for g in plan.guests if not g.was_running]
    if plan.guests:
        out.append(f"{len(plan.guests)} guest(s) to {pools_words(plan.networks)}", style="bold")
        out.append("\n")
    for g in plan.guests:
        if len(g.pools) > 1 or g.networks:
            out.append("  ")
            out.append(safe(g.guest), style="bold")
            out.append(": " + ", ".join(f"{s} → {safe(n)}" for s, n in g.targets) + "\n")
    if running:
        out.append("Shut down (ACPI, up to ", style="yellow")
        out.append(f"{timeout:g} s) and started again: ", style="yellow")
        out.append(", ".join(safe(g.guest) for g in running), style="bold yellow")
        out.append("\n")
    if off:
        out.append("Only re-defined (shut off, no downtime): ")
        out.append(", ".join(safe(g.guest) for g in off))
        out.append("\n")
    if plan.guests:
        for b in plan.budgets if len(plan.budgets) > 1 else ():
            out.append(f"Pool {safe(b.network)}: {b.describe()}\n", style="dim")
        if len(plan.budgets) <= 1:
            avail = "unknown" if plan.vfs_available is None else str(plan.vfs_available)
            free = "unknown" if plan.pool_free is None else str(plan.pool_free)
            out.append(f"Pool VFs: {free} free now, {avail} for these guests; "
                       f"{plan.vfs_needed} needed by the {len(running)} that will run\n", style="dim")
    for r in plan.refused:
        out.append("✖ refused: ", style="bold red")
        if r.guest:
            out.append(safe(r.guest), style="bold")
            out.append(": ")
        out.append(safe(r.reason))
        out.append("\n")
    for w in plan_warnings(plan):
        out.append("▲ ", style="bold yellow")
        out.append(safe(w), style="bold")
        out.append("\n")
    for g in plan.guests:
        for note in g.notes:
            out.append("▲ ", style="yellow")
            out.append(safe(g.guest), style="bold")
            out.append(": ")
            out.append(safe(note))
            out.append("\n")
        for src, mac in g.macs:
            out.append("  ")
            out.append(safe(g.guest), style="bold")
            out.append(f": {src} keeps MAC {mac}\n", style="dim")
    out.rstrip()
    return out


def pools_words(names: Iterable[str]) -> str:
    """``pool a`` / ``pools a, b`` for titles (names verbatim, never markup)."""
    names = [safe(n) for n in names]
    return ("pool " if len(names) == 1 else "pools ") + ", ".join(names)


def plan_warnings(plan: Plan) -> list[str]:
    """The warnings the review shows and the confirm dialog repeats: the plan's own, and per guest a
    boot device that gets a new MAC (its DHCP/PXE reservation no longer matches)."""
    return [*plan.warnings, *(f"{g.guest}: {w}" for g in plan.guests for w in g.boot_warnings)]


def other_pf_refusals(plan: Plan) -> list[str]:
    """Guests refused only because the pool is on another PF (the operator may allow it)."""
    return [r.guest for r in plan.refused if r.guest and "on another PF" in r.reason]


def other_pf_question(scan: Scan, target: str, pool: Pool | None, marked: list[Guest]) -> Text:
    """Why converting onto a pool on another PF needs a yes: which guest uses which other PF."""
    body = Text()
    body.append("Pool ")
    body.append(safe(target), style="bold")
    body.append(f" is on PF {', '.join(safe(p) for p in pool.pfs) if pool else '—'}. ")
    others = []
    ppfs = pool_pf_pcis(scan, pool) if pool else set()
    for g in marked:
        pfs = [p for p in vf_pfs(scan, g) if p and p not in ppfs]
        if pfs:
            others.append((g.name, sorted({pf_name(scan, p) for p in pfs})))
    for name, pfs in others:
        body.append("\n  ")
        body.append(safe(name), style="bold")
        body.append(f" uses a VF of PF {', '.join(pfs)}")
    body.append("\n\nAnother PF is another physical port, perhaps cabled to another network: the "
                "guest may lose its network (another VLAN, another switch). Allow converting "
                "onto it anyway?")
    return body


def blockers(plan: Plan | None, planning: bool, bad_macs: bool, unfinished: Iterable[str],
             allow_other_pf: bool) -> list[str]:
    """Why the plan cannot be reviewed yet (empty: it can). ``unfinished``: guests in the journal."""
    if planning or plan is None:
        return ["the plan is not ready"]
    out = []
    if plan.refused:
        out.append("a guest is refused: unmark it" + (" or press a to allow another PF (p: a pool per device)"
                                                     if other_pf_refusals(plan) and not allow_other_pf
                                                     else ""))
    if bad_macs:
        out.append("a MAC is not valid: fix it or empty it")
    pending = set(unfinished)
    stuck = [g.guest for g in plan.guests if g.guest in pending]
    if stuck:
        out.append(f"'{safe(stuck[0])}' has an unfinished conversion: resume or roll it back first (j)")
    if not plan.guests:
        out.append("no guest to convert")
    return out


def mac_fields(plan: Plan | None, typed: Iterable[tuple[str, str]], bad: Iterable[tuple[str, str]],
               marked: set[str]) -> list[tuple[str, str]]:
    """The (guest, VF) MAC fields the plan pane shows: a bare hostdev whose MAC the host does not know,
    one the operator typed into, and a bad one of a marked guest (so it can be fixed)."""
    typed, bad = set(typed), set(bad)
    wanted: list[tuple[str, str]] = []
    if plan is not None:
        for gp in plan.guests:
            for src in gp.new_mac_sources:
                wanted.append((gp.guest, src))
            for src, _mac in gp.macs:
                if (gp.guest, src) in typed or (gp.guest, src) in bad:
                    wanted.append((gp.guest, src))
    for key in sorted(bad):
        if key[0] in marked and key not in wanted:
            wanted.append(key)
    return wanted


def plan_pane(*, last_outcome: Outcome | None, unfinished: int, nothing_to_convert: bool, marked: bool,
              target: str | None, planning: bool, plan_error: str | None, plan: Plan | None,
              blocked: list[str], bad_macs: Iterable[tuple[str, str]], timeout: float) -> Text:
    """The pick step's plan pane: the last run, the journal, the plan or why there is none yet."""
    text = Text()
    if last_outcome is not None:
        text.append("Last run: ", style="bold")
        text.append(outcome_line(last_outcome))
        text.append("\n")
    if unfinished:
        text.append(f"▲ {unfinished} unfinished conversion(s) in the journal: j", style="bold yellow")
        text.append("\n")
    if nothing_to_convert:
        text.append("No guest hard-codes a VF: nothing to convert.")
    elif not marked:
        text.append("Mark the guests to convert with space, then choose the pool.", style="dim")
    elif target is None:
        text.append("There is no hostdev pool to convert to: create one first (n).")
    elif planning:
        text.append("planning…", style="dim")
    elif plan_error:
        text.append("✖ ", style="bold red")
        text.append(safe(plan_error))
    elif plan is not None:
        text.append_text(plan_text(plan, timeout))
        text.append("\n")
        if blocked:
            text.append("Cannot review yet: " + "; ".join(blocked), style="bold red")
        else:
            text.append("enter: review the XML changes", style="bold green")
    for key in sorted(bad_macs):
        text.append("\n✖ MAC for ", style="red")
        text.append(safe(key[0]), style="bold")
        text.append(f" VF {key[1]}: not a unicast MAC (aa:bb:cc:dd:ee:ff)", style="red")
    return text


def diff_header(g) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(safe(g.guest), style="bold")
    what = ("running: shut down, define, start" if g.was_running
            else f"{g.state}: define only")
    out.append(f"  ({what}) ", style="dim")
    if len(g.pools) > 1:
        out.append(", ".join(f"{s} → {safe(n)}" for s, n in g.targets))
        return out
    out.append(", ".join(g.sources))
    out.append(" → ")
    out.append(safe(g.network), style="bold")
    return out


# --------------------------------------------------------------------------- progress


def libvirt_call(ev: StepEvent) -> str | None:
    """The libvirt call(s) the engine makes at this step (from engine.py), for the log."""
    s, st, msg = ev.step, ev.state, ev.message
    if st is StepState.STARTED:
        if s is Step.PRECHECK:
            return ("lookupByUUIDString, isPersistent, XMLDesc(INACTIVE|SECURE), state, "
                    "hasManagedSaveImage, networkLookupByName")
        if s is Step.SHUTDOWN:
            return "virDomainShutdown (ACPI)"
        if s is Step.DEFINE:
            return "virDomainDefineXMLFlags (new XML, VALIDATE)"
        if s is Step.START:
            return "virDomainCreate"
        if s is Step.VERIFY:
            return "virDomainGetState, XMLDesc(0), listAllPorts"
        if s is Step.ROLLBACK and "re-defining" in msg:
            return "virDomainDefineXML (original XML)"
    if st is StepState.INFO and s is Step.SHUTDOWN and "destroy" in msg:
        return "virDomainDestroy"
    if st is StepState.OK and s is Step.ROLLBACK and "with its original definition" in msg:
        return "virDomainCreate if it was running"
    return None


def stamp(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def log_line(ev: StepEvent, when: str, has_xml: bool) -> Text:
    out = Text(overflow="fold")
    out.append(when + " ", style="dim")
    out.append(safe(ev.guest) or "—", style="bold")
    out.append(f" {ev.step} ")
    out.append(str(ev.state), style=STATE_STYLE.get(ev.state, ""))
    out.append(": ")
    out.append(safe(ev.message))
    call = libvirt_call(ev)
    if call:
        out.append("\n   libvirt: ", style="dim")
        out.append(call, style="dim cyan")
    if has_xml:
        out.append("  [x: XML before/after]", style="dim magenta")
    return out


@dataclass
class GuestProgress:
    """One guest's row on the progress screen, advanced by its step events."""

    guest: str
    step: str = "waiting"
    state: str = "queued"
    message: str = ""
    started: float | None = None  # monotonic, at the first event
    ended: float | None = None
    result: Result | None = None
    waiting_shutdown: bool = False
    events: list[StepEvent] = field(default_factory=list)

    def apply(self, ev: StepEvent, now: float) -> None:
        if self.started is None:
            self.started = now
        self.events.append(ev)
        self.step, self.state, self.message = str(ev.step), str(ev.state), ev.message
        # INFO while shutting down (e.g. "stop requested") still waits for the power-off
        self.waiting_shutdown = ev.step is Step.SHUTDOWN and ev.state in (
            StepState.STARTED, StepState.WAITING, StepState.INFO)
        if ev.step is Step.DONE:
            self.ended = now
            self.result = ev.result

    def elapsed(self, now: float) -> str:
        if self.started is None:
            return ""
        secs = int((self.ended if self.ended is not None else now) - self.started)
        return f"{secs // 60}:{secs % 60:02d}"

    def row(self, now: float) -> Row:
        # fixed widths for step, state and time: the columns do not jump as the steps advance
        if self.result is not None:
            state = cell(RESULT_WORDS.get(self.result, str(self.result)).ljust(11),
                         RESULT_STYLE.get(self.result, ""))
        elif self.waiting_shutdown:
            state = cell("waiting (f)", "yellow")
        else:
            try:
                st = StepState(self.state)
            except ValueError:
                st = None
            state = cell(self.state.ljust(11), STATE_STYLE.get(st, "dim") if st else "dim")
        cells = (cell(self.guest, "bold"), cell(self.step.ljust(8)), state,
                 cell(self.elapsed(now).rjust(5), "dim"), cell(self.message))
        return Row(self.guest, cells, " ".join(c.plain for c in cells).casefold())


def outcome_summary(outcome: Outcome | None, error: str | None = None) -> Text:
    out = Text()
    if error:
        out.append("✖ ", style="bold red")
        out.append(safe(error))
        return out
    if outcome is None:
        return out
    counts: dict[Result, int] = {}
    for g in outcome.guests:
        counts[g.result] = counts.get(g.result, 0) + 1
    parts = []
    for res in (Result.CONVERTED, Result.UNCHANGED, Result.ROLLED_BACK, Result.FAILED,
                Result.SKIPPED, Result.INTERRUPTED):
        if counts.get(res) or res in (Result.CONVERTED, Result.UNCHANGED, Result.ROLLED_BACK,
                                      Result.FAILED):
            parts.append((f"{counts.get(res, 0)} {RESULT_WORDS[res]}", RESULT_STYLE[res]
                          if counts.get(res) else "dim"))
    out.append("Finished" if not outcome.cancelled else "Stopped (cancelled)", style="bold")
    out.append(": ")
    for i, (txt, style) in enumerate(parts):
        if i:
            out.append(" · ")
        out.append(txt, style=style)
    for g in outcome.guests:
        if g.result in (Result.CONVERTED, Result.SKIPPED):
            continue
        out.append("\n")
        out.append(safe(g.guest), style="bold")
        out.append(f" {RESULT_WORDS.get(g.result, str(g.result))}: ", style=RESULT_STYLE.get(g.result, ""))
        out.append(safe(g.message))
        if g.backup and g.backup not in g.message:
            out.append("\n  original XML: ", style="dim")
            out.append(safe(g.backup))
    return out


def outcome_line(outcome: Outcome) -> str:
    """One plain line for a notification."""
    counts: dict[str, int] = {}
    for g in outcome.guests:
        w = RESULT_WORDS.get(g.result, str(g.result))
        counts[w] = counts.get(w, 0) + 1
    return ", ".join(f"{n} {w}" for w, n in counts.items()) or "nothing done"


def guest_outcome_text(g: GuestOutcome) -> Text:
    out = Text()
    out.append(safe(g.guest), style="bold")
    out.append(f" {RESULT_WORDS.get(g.result, str(g.result))}: ", style=RESULT_STYLE.get(g.result, ""))
    out.append(safe(g.message))
    return out
