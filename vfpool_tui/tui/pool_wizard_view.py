"""From ``PfChoice``, ``PoolPlan``, ``StepEvent``s and a ``PoolResult`` to what the pool wizard shows.

Plain functions, no widgets, no I/O (like ``view.py`` and ``convert_view.py``); the wizard's step
screens (``tui/screens/pool_wizard/``) only put their output into widgets. Everything that comes from
libvirt or the host (PF, network and guest names, messages, paths) goes into ``rich.text.Text``
verbatim, never through markup.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text

from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import PF, Scan
from vfpool_tui.core.pools.create import PfChoice, PoolPlan, PoolResult, StepEvent, StepStatus
from vfpool_tui.core.virt import network_xml
from vfpool_tui.tui.view import UNKNOWN, pool_status, safe

PICK, VFS, NAME, REVIEW, RUN = "step-pick", "step-vfs", "step-name", "step-review", "step-run"
TITLES = {PICK: "PF", VFS: "VFs", NAME: "name", REVIEW: "review", RUN: "create"}
PF_COLUMNS = (("pf", "PF"), ("vfs", "VFs"), ("hard", "Hard"), ("other", "Other"),
              ("pool", "Pool / why not"), ("model", "Model"))

MARK = {
    StepStatus.RUNNING: ("⋯", "bold"),
    StepStatus.DONE: ("✔", "green"),
    StepStatus.FAILED: ("✖", "bold red"),
    StepStatus.UNDONE: ("↶", "yellow"),
    StepStatus.UNDO_FAILED: ("✖", "bold red"),
}
STATUS_WORD = {
    StepStatus.RUNNING: "running",
    StepStatus.DONE: "done",
    StepStatus.FAILED: "FAILED",
    StepStatus.UNDONE: "undone",
    StepStatus.UNDO_FAILED: "UNDO FAILED",
}


def xml_view(xml: str) -> Syntax:
    return Syntax(xml.rstrip("\n"), "xml", theme="ansi_dark", word_wrap=True, background_color="default")


def bad(msg: str) -> Text:
    return Text.assemble(("✖ ", "bold red"), safe(msg))


def warn(msg: str) -> Text:
    return Text.assemble(("▲ ", "yellow"), safe(msg))


def ok(msg: str) -> Text:
    return Text.assemble(("✔ ", "green"), safe(msg))


def title(step: str, via_vfs: bool, pf: PF | None, readonly: bool) -> Text:
    """The wizard's top line: the steps (the VFs step only when it is on the way), the PF, read-only."""
    order = [PICK, VFS, NAME, REVIEW, RUN] if via_vfs or step == VFS else [PICK, NAME, REVIEW, RUN]
    t = Text(" New pool ", style="bold reverse")
    for i, s in enumerate(order, 1):
        t.append("  " if i == 1 else " › ", style="dim")
        t.append(f"{i} {TITLES[s]}", style="bold underline" if s == step else "dim")
    if pf is not None and step != PICK:
        t.append(f"   PF {safe(pf.name)}", style="bold")
    if readonly:
        t.append("   read-only: nothing can be created", style="bold red")
    return t


# --------------------------------------------------------------------------- a host read through libvirt


def through_libvirt(scan: Scan | None) -> bool:
    """The host's cards were read through libvirt's node-device API (a remote host): nothing can be
    written to its sysfs or /etc from here."""
    return scan is not None and scan.meta.get("discovery") == "libvirt"


def numvfs_refused(pf: PF, scan: Scan | None) -> str:
    """One line: why the VF count cannot be changed here, and what to do instead."""
    where = f"the host behind {scan.uri}" if scan is not None and scan.uri else "this host"
    return (f"{where} is read through libvirt, which cannot write sriov_numvfs: on that host, echo N > "
            f"/sys/bus/pci/devices/{pf.pci}/sriov_numvfs, then r")


RULE_REFUSED = ("the boot-time udev rule cannot be written through libvirt: make sriov_numvfs "
                "persistent on that host")


# --------------------------------------------------------------------------- step 1: pick a PF


def choice_cells(c: PfChoice, remote: bool = False) -> list[Text]:
    pf = c.pf
    dim = "" if c.selectable else "dim"
    if c.existing_pool:
        why = Text(f"● {safe(c.existing_pool)}", style="cyan")
    elif c.problem:
        why = Text(f"✖ {safe(c.problem)}", style="dim")
    elif pf.numvfs == 0:
        why = Text("VFs off" if remote else "VFs off: enable", style="yellow")
    else:
        why = Text("○ can create", style="green")
    return [
        Text(safe(pf.name), style="bold" if c.selectable else "dim", no_wrap=True),
        Text(f"{pf.numvfs}/{pf.totalvfs}", style=dim),
        Text(str(len(c.hardcoded)), style="yellow" if c.hardcoded else "dim"),
        Text(str(len(c.other_pools)), style="yellow" if c.other_pools else "dim"),
        why,
        Text(safe(pf.model), style="dim", no_wrap=True, overflow="ellipsis"),
    ]


def choice_info(c: PfChoice, scan: Scan | None, readonly: bool) -> Group:
    """The box under the PF table: the PF, who uses its VFs, and what Enter does with it."""
    pf = c.pf
    t = Text()
    t.append(safe(pf.name), style="bold")
    t.append(f"  {pf.pci}  {safe(pf.driver or UNKNOWN)}  NUMA "
             f"{UNKNOWN if pf.numa_node is None else pf.numa_node}\n", style="")
    t.append(f"{safe(pf.vendor)} {safe(pf.model)}\n", style="dim")
    t.append(f"VFs enabled: {pf.numvfs} of {pf.totalvfs}")
    t.append("  (sriov_numvfs is 0: the wizard offers to enable some)\n" if pf.numvfs == 0 and
             c.selectable and not through_libvirt(scan) else "\n")
    if c.hardcoded:
        t.append(f"Hard-coded in guests ({len(c.hardcoded)}): ", style="yellow")
        t.append(", ".join(f"{safe(u.guest)} {u.pci or UNKNOWN}{' ▶running' if u.active else ''}"
                           for u in c.hardcoded))
        t.append("\n")
    else:
        t.append("Hard-coded in guests: none\n", style="dim")
    if c.other_pools:
        t.append("In other pools' address lists: ", style="yellow")
        t.append(", ".join(f"{safe(n)} {a}" for n, a in c.other_pools) + "\n")
    else:
        t.append("In other pools: none\n", style="dim")
    parts: list = [t]
    if c.existing_pool:
        parts.append(existing_pool(c.existing_pool, scan))
    elif c.problem:
        parts.append(Text.assemble(("✖ cannot be picked: ", "bold red"), safe(c.problem)))
    elif readonly:
        parts.append(bad("read-only session: a pool cannot be created here"))
    elif through_libvirt(scan) and pf.numvfs == 0:
        parts.append(bad(f"no VFs to pool: {numvfs_refused(pf, scan)}"))
    elif through_libvirt(scan):
        parts.append(Text.assemble(("Enter", "bold"), ": name the pool network (the VF count is "
                                   "set on that host)"))
    elif pf.numvfs == 0:
        parts.append(Text.assemble(("Enter", "bold"), f": choose how many VFs to enable (1-{pf.totalvfs})"))
    else:
        parts.append(Text.assemble(("Enter", "bold"), ": name the pool network · ",
                                   ("v", "bold"), ": change the VF count first"))
    return Group(*parts)


def existing_pool(name: str, scan: Scan | None) -> Text:
    pool = next((p for p in (scan.pools if scan else ()) if p.name == name), None)
    t = Text()
    t.append("Already has a pool: ", style="bold cyan")
    t.append(f"network '{safe(name)}'", style="bold")
    if pool is not None:
        status, style = pool_status(pool)
        t.append("  ")
        t.append(status, style=style)
        t.append(f"  autostart {'yes' if pool.autostart else 'no'}"
                 f"  VFs {UNKNOWN if pool.capacity is None else pool.capacity}"
                 f"  in use {pool.in_use}  free {UNKNOWN if pool.free is None else pool.free}\n")
        vfs = pool.vf_pcis or pool.addresses
        if vfs:
            t.append("VFs: " + ", ".join(vfs) + "\n", style="dim")
    else:
        t.append("\n")
    t.append("A second pool over the same PF would hand out the same VFs: none is created. "
             "o shows all pools.", style="dim")
    return t


# --------------------------------------------------------------------------- step 2: VF count


def vfs_intro(pf: PF) -> Text:
    intro = Text()
    intro.append(f"{safe(pf.name)} ({pf.pci}) has {pf.numvfs} of {pf.totalvfs} VFs enabled.\n",
                 style="bold")
    if pf.numvfs == 0:
        intro.append("A pool needs VFs, and the network fails to start on a PF without any. "
                     f"Choose how many to enable (1-{pf.totalvfs}); they are created by writing "
                     "sriov_numvfs when you confirm, not before.\n")
    else:
        intro.append("Changing a non-zero count: the kernel refuses to go from one count to another "
                     f"directly, so 0 is written first, which DESTROYS all {pf.numvfs} current VFs "
                     "(guests holding one lose it; VF drivers, MACs and VLANs start from defaults). "
                     "Refused while a running guest holds one of them. "
                     f"Enter {pf.numvfs} to keep the count as it is.\n", style="")
    intro.append("The count does not survive a reboot: the review step offers a udev rule for it.",
                 style="dim")
    return intro


def numvfs_start(pf: PF, chosen: int | None) -> str:
    """What the VF-count field starts with: the count chosen before, the PF's, or up to 8."""
    if chosen is not None:
        return str(chosen)
    return str(pf.numvfs) if pf.numvfs else str(min(pf.totalvfs, 8))


def numvfs_check(scan: Scan, pf: PF, raw: str) -> tuple[int | None, Text]:
    """(the count, or None if it cannot be used; the line that says why)."""
    try:
        n = int(raw.strip())
    except ValueError:
        return None, bad(f"enter a whole number of VFs, 1-{pf.totalvfs}")
    if n < 1:
        return None, bad("a pool needs at least 1 VF")
    problem = sriov.numvfs_problem(scan, pf, n)
    if problem:
        return None, bad(problem)
    if n == pf.numvfs:
        return n, ok(f"keep {n} VFs (nothing is written to sriov_numvfs)")
    if pf.numvfs:
        return n, warn(f"{pf.numvfs} -> {n} VFs: writes 0 then {n}; the {pf.numvfs} current VFs "
                       "are destroyed and re-created")
    return n, ok(f"enable {n} of {pf.totalvfs} VFs")


# --------------------------------------------------------------------------- step 3: name, managed, VLAN


def name_head(pf: PF, numvfs: int | None) -> Text:
    count = numvfs if numvfs is not None else pf.numvfs
    head = Text()
    head.append(f"PF {safe(pf.name)}", style="bold")
    head.append(f" · {count} VFs" + (" (to enable)" if numvfs not in (None, pf.numvfs) else ""))
    return head


def suggest_name(pf: PF, taken: set[str]) -> str:
    base = f"pool-{pf.name}"
    name, i = base, 2
    while name in taken or network_xml.name_problem(name):
        name, i = f"{base}-{i}", i + 1
        if i > 99:
            return ""
    return name


def check_form(name: str, raw_vlan: str, taken: set[str],
               taken_known: bool) -> tuple[int | None, list[Text], Text, Text]:
    """(vlan, blocking problems, name line, vlan line) for the name step's fields."""
    problems: list[Text] = []
    problem = network_xml.name_problem(name)
    if problem:
        name_line = bad(problem)
        problems.append(name_line)
    elif name in taken:
        name_line = bad(f"a network named '{name}' already exists: choose another name "
                        "(an existing network is never overwritten)")
        problems.append(name_line)
    else:
        warns = network_xml.name_warnings(name)
        if warns:
            name_line = warn(warns[0])
        elif taken_known:
            name_line = ok("valid, and no network has this name")
        else:
            name_line = ok("valid (checked against libvirt's networks before creating)")
    raw = raw_vlan.strip()
    vlan: int | None = None
    vlan_line = Text("no VLAN: the VFs carry untagged traffic", style="dim")
    if raw:
        try:
            vlan = int(raw)
        except ValueError:
            problem = f"VLAN {raw!r} is not a number"
        else:
            problem = network_xml.vlan_problem(vlan)
        if problem:
            vlan_line = bad(problem)
            problems.append(vlan_line)
        else:
            vlan_line = ok(f"libvirt sets VLAN {vlan} on each VF it hands out")
    return vlan, problems, name_line, vlan_line


def managed_label(managed: bool) -> Text:
    return Text("managed='yes': libvirt binds VFs" if managed else "managed='no': you bind VFs")


def preview(name: str, pf: PF, managed: bool, vlan: int | None) -> Syntax | Text:
    """The network XML exactly as it will be defined, or why there is none yet."""
    try:
        xml = network_xml.build_pool_network(name, pf.netdevs[0], managed=managed, vlan=vlan)
    except (ValueError, IndexError) as err:
        return Text.assemble(("No XML yet: ", "bold"), safe(str(err) or "no PF netdev"))
    return xml_view(xml)


# --------------------------------------------------------------------------- step 4: review


def review_text(plan: PoolPlan, pf: PF, choice: PfChoice | None, remote: bool = False) -> Text:
    t = Text()
    t.append("Create ", style="bold")
    t.append(f"'{safe(plan.name)}'", style="bold")
    t.append(f" over PF {safe(plan.pf_dev)} ({pf.pci}): {plan.vf_count} VFs, managed "
             f"{'yes' if plan.managed else 'no'}, VLAN {plan.vlan if plan.vlan is not None else 'none'}\n")
    hard = [w for w in plan.warnings if w.kind == "vf-hardcoded"]
    if hard:
        guests = sorted({g for w in hard for g in w.guests})
        t.append_text(warn(f"VFs of {pf.name} are hard-coded in {len(guests)} "
                           f"guest{'s' if len(guests) != 1 else ''}:"))
        t.append("\n")
        active = {u.guest for u in (choice.hardcoded if choice else ()) if u.active}
        for w in hard:
            running = any(g in active for g in w.guests)
            t.append(f"   ■ {safe(', '.join(w.guests))}", style="yellow")
            t.append(f" {', '.join(w.pcis)}{'  ▶running' if running else ''}\n")
        t.append("   The pool may hand the same VF to another guest, and one of them then fails to "
                 "start. Convert them to the pool afterwards (c on the last step).\n", style="dim")
    for w in plan.warnings:
        if w.kind not in ("vf-hardcoded", "numvfs-not-persistent"):
            t.append_text(warn(w.message))
            t.append("\n")
    if remote:  # core's warning says that it is not known from here; the box is not offered
        for w in plan.warnings:
            if w.kind == "numvfs-not-persistent":
                t.append_text(warn(w.message))
                t.append("\n")
        t.append_text(bad(RULE_REFUSED))
    elif plan.persist:
        t.append_text(ok(f"the rule below is written, so {plan.vf_count} VFs come back at boot"))
    elif needs_rule(plan):
        t.append_text(warn("sriov_numvfs does not survive a reboot: the PF comes back with 0 VFs "
                           "and the network fails to start. Space on the box below writes a "
                           "udev rule for it."))
    else:
        t.append_text(ok(f"a udev rule that sets {plan.vf_count} VFs at boot is in place already"))
    return t


def needs_rule(plan: PoolPlan) -> bool:
    return any(w.kind == "numvfs-not-persistent" for w in plan.warnings)


def review_steps(plan: PoolPlan) -> Text:
    steps = Text("Steps on confirm (Enter):\n", style="bold")
    for i, step in enumerate(plan.steps, 1):
        steps.append(f" {i}. {safe(step.title)}\n", style="")
    return steps


def persist_label(plan: PoolPlan) -> Text:
    return Text(f"write the udev rule ({plan.vf_count} VFs at boot): {'yes' if plan.persist else 'no'}")


def rule_view(plan: PoolPlan, pf: PF, udev_root: str) -> Group:
    rule_path = sriov.udev_rule_path(pf.pci, udev_root)
    rule_text = sriov.udev_rule_text(pf, plan.vf_count)
    return Group(Text.assemble(("rule file ", "bold"), safe(str(rule_path)),
                               (" (written only if checked, on confirm)"
                                if not plan.persist else " (written on confirm)", "dim")),
                 Syntax(rule_text.rstrip("\n"), "text", theme="ansi_dark", word_wrap=True,
                        background_color="default"))


def confirm_text(plan: PoolPlan) -> Text:
    """The last question's body: the steps in order, what a VF-count change destroys, the undo."""
    text = Text()
    text.append(f"Network '{safe(plan.name)}' over PF {safe(plan.pf.name)} ({plan.pf.pci}), "
                f"{plan.vf_count} VFs. These steps run now, in this order:\n")
    for i, step in enumerate(plan.steps, 1):
        text.append(f"  {i}. {safe(step.title)}\n")
    if plan.numvfs is not None and plan.numvfs_before > 0:
        text.append(f"\nThe {plan.numvfs_before} current VFs of {safe(plan.pf.name)} are destroyed "
                    "and re-created (0 is written first).\n", style="bold red")
    text.append("If a step fails, what was done is undone in reverse.", style="dim")
    return text


# --------------------------------------------------------------------------- step 5: run


def steps_text(plan: PoolPlan | None, events: Iterable[StepEvent], running: bool) -> Text:
    """One line per step (and per undo): its latest status, in the order they started."""
    t = Text()
    t.append("Steps\n", style="bold underline")
    latest: dict[tuple[str, bool], StepEvent] = {}
    for ev in events:
        latest[(ev.key, ev.undo)] = ev
    if plan is not None:
        for step in plan.steps:
            ev = latest.get((step.key, False))
            if ev is None:
                t.append(f" ·  {safe(step.title)}  ", style="dim")
                t.append("waiting\n" if running else "not run\n", style="dim")
                continue
            step_line(t, ev)
    for key, ev in latest.items():
        if key[1]:
            step_line(t, ev)
    return t


def step_line(t: Text, ev: StepEvent) -> None:
    mark, style = MARK.get(ev.status, ("?", ""))
    t.append(f" {mark}  ", style=style)
    if ev.undo:
        t.append("undo: ", style="yellow")
    t.append(safe(ev.title))
    t.append(f"  {STATUS_WORD.get(ev.status, str(ev.status))}", style=style)
    if ev.message:
        t.append(f": {safe(ev.message)}", style="dim" if ev.status is StepStatus.DONE else style)
    t.append("\n")


def failure(result: PoolResult | None, run_error: str | None) -> Text:
    """What a run that created nothing (or failed half-way) did, and what it undid."""
    if result is None:
        return bad(f"nothing was created: {run_error or 'unknown error'}")
    line = Text()
    line.append("Failed: ", style="bold red")
    line.append(safe(result.error or result.failed_step or "unknown"))
    line.append("\n")
    undone = [ev.title for ev in result.events if ev.undo and ev.status is StepStatus.UNDONE]
    if result.left_behind:
        line.append("NOT undone (fix by hand): ", style="bold red")
        line.append(safe("; ".join(result.left_behind)))
    elif undone:
        line.append("Undone: ", style="bold yellow")
        line.append(safe("; ".join(undone)))
        line.append(". Nothing this wizard did is left behind.")
    else:
        line.append("Nothing had been changed yet, so nothing needed undoing.")
    return line


def outcome(result: PoolResult, choice: PfChoice | None) -> Group:
    plan = result.plan
    t = Text()
    t.append_text(ok(f"network '{plan.name}' is "))
    t.append("active" if result.active else "NOT active", style="green" if result.active else "bold red")
    t.append(" and ")
    t.append("starts at boot" if result.autostart else "does NOT start at boot",
             style="green" if result.autostart else "bold red")
    t.append(f"  uuid {safe(result.uuid or UNKNOWN)}\n")
    where = {"live": "from the network XML", "sysfs": "the PF's VFs in sysfs (libvirt did not list them)"}
    if result.vf_addresses:
        t.append(f"Pool VFs ({len(result.vf_addresses)}, {where.get(result.vf_source, 'unknown')}):\n",
                 style="bold")
        holders: dict[str, list[str]] = {}
        for u in (choice.hardcoded if choice else ()):
            if u.pci:
                holders.setdefault(u.pci, []).append(u.guest)
        for addr in result.vf_addresses:
            t.append(f"  {addr}")
            if addr in holders:
                t.append(f"  ■ hard-coded in {safe(', '.join(holders[addr]))}", style="yellow")
            t.append("\n")
    else:
        t.append("Pool VFs: unknown (libvirt did not list them; the Pools view shows them after "
                 "the rescan)\n", style="dim")
    if any(w.kind == "vf-hardcoded" for w in plan.warnings):
        t.append("Next: convert the guests with hard-coded VFs to this pool (c).\n", style="bold")
    parts: list = [t]
    if result.network_xml:
        parts += [Text("network XML (net-dumpxml)", style="bold underline"), xml_view(result.network_xml)]
    return Group(*parts)
