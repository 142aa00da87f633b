"""Guided creation of the libvirt hostdev network that pools one PF's VFs (no UI here).

Two phases, so a wizard screen and the CLI share every rule:

1. ``plan_pool(scan, pf_key, name, ...) -> PoolPlan``: reads nothing but the ``Scan`` (and, with
   ``conn``, the names of all networks); raises ``PoolRefused(reason)`` for anything that must not
   go ahead, and collects ``PlanWarning``s. The plan carries the exact network XML, the steps, and
   the udev rule text when the VF count is to be made persistent: all of it can be shown first.
2. ``execute(conn, plan, on_step) -> PoolResult``: runs the steps one at a time (enable VFs, write
   the udev rule, define, autostart, start, read back ``XMLDesc(0)``), calling ``on_step`` with a
   ``StepEvent`` when a step starts and when it ends. On a failure it undoes, in reverse, what it
   did itself (destroy if it started the network, undefine if it defined it, the rule file put back,
   the VF count written back), each undo reported the same way. It never touches a network it did
   not define: a name that turns out to be taken fails the define step and nothing is undone there.

A pool network "uses" a PF when its ``<pf dev=...>`` is one of the PF's netdevs, or its explicit
``<address>`` list (or an active pool's live list) contains one of the PF's VFs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import libvirt

from vfpool_tui.core import pci
from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import PF, Pool, Scan, UseKind, VfUse
from vfpool_tui.core.virt import network_xml, xmlutil
from vfpool_tui.core.virt.connection import describe, error_code, silence_libvirt_stderr

# step keys, in execution order
ENABLE_VFS = "enable-vfs"
PERSIST_NUMVFS = "persist-numvfs"
DEFINE = "define"
AUTOSTART = "autostart"
START = "start"
READ_BACK = "read-back"


class PoolRefused(Exception):
    """The plan must not go ahead. ``reason`` (== ``str()``) is one line for the operator."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PlanWarning:
    kind: str  # "vf-hardcoded", "vfs-in-other-pool", "numvfs-not-persistent", "numvfs-destroys",
    #            "name", "unmanaged", "schema"
    message: str
    guests: tuple[str, ...] = ()
    pcis: tuple[str, ...] = ()
    pool: str | None = None


@dataclass(frozen=True)
class PlanStep:
    key: str
    title: str  # what will be done, e.g. "define network 'pool0' (virNetworkDefineXML)"


@dataclass(frozen=True)
class PfChoice:
    """One row of the wizard's "pick a PF" step."""

    pf: PF
    hardcoded: tuple[VfUse, ...]  # VFs of this PF hard-coded in guests (any state)
    other_pools: tuple[tuple[str, str], ...]  # (network, VF pci) for VFs of this PF in explicit lists
    existing_pool: str | None  # a pool network already over this PF
    problem: str | None  # why it cannot be picked (None: it can)

    @property
    def selectable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class PoolPlan:
    pf: PF
    pf_dev: str  # the netdev written as <pf dev=...>
    name: str
    managed: bool
    vlan: int | None
    numvfs_before: int
    numvfs: int | None  # count to write, None when it is left as it is
    persist: bool
    rule_path: Path | None
    rule_text: str | None  # the udev rule, shown before it is written
    xml: str
    steps: tuple[PlanStep, ...]
    warnings: tuple[PlanWarning, ...]
    sysfs_root: str = sriov.SYSFS
    udev_root: str = "/"

    @property
    def vf_count(self) -> int:
        """VFs the PF will have once the plan ran."""
        return self.numvfs if self.numvfs is not None else self.numvfs_before

    def describe(self) -> list[str]:
        """The plan as text lines (CLI ``--dry-run``, logs)."""
        lines = [f"PF {self.pf.name} ({self.pf.pci}): {self.numvfs_before} of {self.pf.totalvfs} VFs enabled"]
        lines.append("steps:")
        lines.extend(f"  {i}. {s.title}" for i, s in enumerate(self.steps, 1))
        if self.rule_text:
            lines.append(f"udev rule {self.rule_path}:")
            lines.extend("  " + ln for ln in self.rule_text.splitlines())
        for w in self.warnings:
            lines.append(f"warning: {w.message}")
        return lines


class StepStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    UNDONE = "undone"  # an undo step that worked
    UNDO_FAILED = "undo-failed"


@dataclass(frozen=True)
class StepEvent:
    key: str
    title: str
    status: StepStatus
    message: str = ""
    undo: bool = False  # True for the undo of an earlier step


@dataclass(frozen=True)
class PoolResult:
    ok: bool
    plan: PoolPlan
    events: tuple[StepEvent, ...]
    failed_step: str | None = None
    error: str | None = None  # what failed, one line
    left_behind: tuple[str, ...] = ()  # what the undo could not remove (empty when clean)
    uuid: str | None = None
    network_xml: str | None = None  # XMLDesc(0) read back after the start (what net-dumpxml shows)
    vf_addresses: tuple[str, ...] = ()  # the pool's VFs
    vf_source: str = "unknown"  # "live" (network XML), "sysfs" (the PF's VFs), "unknown"
    active: bool = False
    autostart: bool = False


# --------------------------------------------------------------------------- who uses the PF


def _pf_vf_addresses(pf: PF) -> set[str]:
    return {vf.pci for vf in pf.vfs}


def pools_using(scan: Scan, pf: PF) -> tuple[Pool, ...]:
    """Pool networks over ``pf``: ``<pf dev>`` is one of its netdevs, or an address list holds its VFs."""
    vfs = _pf_vf_addresses(pf)
    out = []
    for p in scan.pools:
        if set(pf.netdevs) & set(p.pfs) or vfs & set(p.addresses) or vfs & set(p.vf_pcis):
            out.append(p)
    return tuple(out)


def hardcoded_uses(scan: Scan, pf: PF) -> tuple[VfUse, ...]:
    """Guest devices (running or not) with a VF of ``pf`` hard-coded in their definition."""
    vfs = _pf_vf_addresses(pf) | set(pf.possible_vf_addresses())
    return tuple(u for g in scan.guests for u in g.vf_uses
                 if u.kind is not UseKind.POOL and u.pci in vfs)


def _other_pool_vfs(scan: Scan, pf: PF) -> tuple[tuple[str, str], ...]:
    """(network, address) for addresses in other pools' explicit lists that are (or would be) this
    PF's VFs but are not VFs now (so they are not a full "pool over this PF" yet)."""
    possible = set(pf.possible_vf_addresses()) - _pf_vf_addresses(pf)
    return tuple((p.name, a) for p in scan.pools for a in p.addresses if a in possible)


def pf_choices(scan: Scan) -> tuple[PfChoice, ...]:
    """Every PF of the host with what the wizard's first step shows about it."""
    out = []
    for pf in scan.host.pfs:
        using = pools_using(scan, pf)
        problem = None
        if pf.totalvfs <= 0:
            problem = "not SR-IOV capable (sriov_totalvfs is 0)"
        elif not pf.netdevs:
            problem = "has no network device (driver not loaded?): libvirt's <pf dev=...> needs one"
        elif using:
            problem = f"already has a pool: network '{using[0].name}'"
        out.append(PfChoice(pf=pf, hardcoded=hardcoded_uses(scan, pf),
                            other_pools=_other_pool_vfs(scan, pf),
                            existing_pool=using[0].name if using else None, problem=problem))
    return tuple(out)


# --------------------------------------------------------------------------- plan


def network_names(conn) -> set[str]:
    """Names of every network libvirt has, active or not, persistent or transient."""
    silence_libvirt_stderr()
    try:
        return {n.name() for n in conn.listAllNetworks(0)}
    except libvirt.libvirtError as err:
        raise PoolRefused(f"cannot list libvirt networks: {describe(err)}") from None


def _find_pf(scan: Scan, key: str, sysfs_root: str) -> PF:
    host = scan.host
    key = (key or "").strip()
    if not key:
        raise PoolRefused("no PF given")
    lookup = key
    if pci.is_address(key):
        lookup = pci.normalize(key)
    pf = host.pf(lookup)
    if pf is not None:
        return pf
    for other in host.pfs:
        for vf in other.vfs:
            if lookup in (vf.pci, vf.netdev):
                raise PoolRefused(f"{key} is a VF (of PF {other.name}), not an SR-IOV PF")
    if pci.is_address(key):
        if lookup in host.pci_devices:
            raise PoolRefused(f"PCI device {lookup} is not an SR-IOV PF (it has no sriov_totalvfs)")
        hint = ""
        if key.count(":") == 1:  # lspci's short form means PCI domain 0000; say so if it is elsewhere
            same = [p.pci for p in host.pfs if p.pci.split(":", 1)[1] == lookup.split(":", 1)[1]]
            if same:
                hint = f" (a short address means PCI domain 0000; did you mean {' or '.join(same)}?)"
        raise PoolRefused(f"no PCI device {lookup} on this host{hint}")
    known_netdev = (key in host.netdevs) if host.netdevs is not None else (
        "/" not in key and os.path.exists(os.path.join(sysfs_root, "class", "net", key)))
    if known_netdev:
        raise PoolRefused(f"network device {key} is not an SR-IOV PF")
    raise PoolRefused(f"no PF {key} on this host (give a PF's netdev name or PCI address)")


def find_pf(scan: Scan, key: str, sysfs_root: str = sriov.SYSFS) -> PF:
    """The PF ``key`` names (netdev or PCI address); ``PoolRefused`` saying why not otherwise."""
    return _find_pf(scan, key, sysfs_root)


def remote_numvfs_reason(scan: Scan, pf: PF, then: str) -> str:
    """Why ``sriov_numvfs`` (and the boot-time udev rule) cannot be written for a host read through
    libvirt's node-device API (``scan.meta["discovery"] == "libvirt"``), with what to do instead:
    libvirt has no API to write either on the host it manages. ``then``: the next step after doing
    it on that host (e.g. "create the pool without --numvfs/--persist-numvfs")."""
    return (f"the host behind {scan.uri or 'this connection'} is read through libvirt, which cannot "
            f"write sriov_numvfs or a boot-time udev rule: on that host, run echo N > "
            f"/sys/bus/pci/devices/{pf.pci}/sriov_numvfs (and make it persistent), then {then}")


def plan_pool(scan: Scan, pf_key: str, name: str, managed: bool = True, vlan: int | None = None,
              numvfs: int | None = None, *, persist: bool = False, conn=None,
              taken_names: Iterable[str] | None = None, sysfs_root: str = sriov.SYSFS,
              udev_root: str = "/") -> PoolPlan:
    """Check everything and build the plan; raise ``PoolRefused`` for any reason not to go ahead.

    ``numvfs``: the VF count to set first (None: keep the PF's count, which must then be > 0).
    ``persist``: also write the udev rule that sets the count at boot.
    Names in use come from ``taken_names`` and/or ``conn`` (all networks, active or not) and the
    scan's pools; without either, only the hostdev pools of the scan are known.
    """
    if scan.libvirt_error:
        raise PoolRefused(f"libvirt could not be read, so duplicates cannot be ruled out: {scan.libvirt_error}")
    pf = _find_pf(scan, pf_key, sysfs_root)
    if pf.totalvfs <= 0:
        raise PoolRefused(f"{pf.name} ({pf.pci}) is not SR-IOV capable (sriov_totalvfs is 0)")
    if not pf.netdevs:
        raise PoolRefused(f"PF {pf.pci} has no network device (is its driver loaded?): "
                          "libvirt's <pf dev=...> needs one")
    using = pools_using(scan, pf)
    if using:
        names = ", ".join(f"'{p.name}'" for p in using)
        raise PoolRefused(f"PF {pf.name} already has a pool: network {names} "
                          f"(see: vfpool-tui pool show {using[0].name})")

    problem = network_xml.name_problem(name)
    if problem:
        raise PoolRefused(f"invalid network name {name!r}: {problem}")
    taken = {p.name for p in scan.pools}
    if taken_names is not None:
        taken |= set(taken_names)
    if conn is not None:
        taken |= network_names(conn)
    if name in taken:
        raise PoolRefused(f"a network named '{name}' already exists (libvirt never gets it overwritten "
                          "here): choose another name")
    problem = network_xml.vlan_problem(vlan)
    if problem:
        raise PoolRefused(problem)

    target: int | None = None
    if numvfs is not None:
        if numvfs == 0:
            raise PoolRefused("a pool needs at least 1 VF: --numvfs 0 would leave it empty")
        problem = sriov.numvfs_problem(scan, pf, numvfs)
        if problem:
            raise PoolRefused(problem)
        target = numvfs if numvfs != pf.numvfs else None
    elif pf.numvfs == 0:
        raise PoolRefused(f"{pf.name} has no VFs enabled (sriov_numvfs is 0) and the network would fail "
                          f"to start: choose how many to enable (1-{pf.totalvfs}, --numvfs N)")
    count = target if target is not None else pf.numvfs
    remote = scan.meta.get("discovery") == "libvirt"
    if remote and (target is not None or persist):
        raise PoolRefused(remote_numvfs_reason(scan, pf, "create the pool without --numvfs/--persist-numvfs"))

    # the netdev the operator named when it is one of the PF's (a ConnectX-3 has one PCI function
    # with a netdev per port), else its first
    key = (pf_key or "").strip()
    pf_dev = key if key in pf.netdevs else pf.netdevs[0]
    xml = network_xml.build_pool_network(name, pf_dev, managed=managed, vlan=vlan)
    warnings: list[PlanWarning] = []
    try:
        errors = xmlutil.validate(xml, "network")
    except FileNotFoundError as err:
        errors = []
        warnings.append(PlanWarning("schema", f"the XML was not checked against libvirt's schema: {err}"))
    if errors:
        raise PoolRefused(f"the generated network XML does not match libvirt's schema: {errors[0]}")

    for msg in network_xml.name_warnings(name):
        warnings.append(PlanWarning("name", f"network name {name!r}: {msg}"))
    warnings.extend(_hardcoded_warnings(scan, pf, name))
    others = _other_pool_vfs(scan, pf)
    if others:
        nets = sorted({n for n, _ in others})
        addrs = tuple(a for _, a in others)
        warnings.append(PlanWarning(
            "vfs-in-other-pool",
            f"network(s) {', '.join(nets)} list addresses that become VFs of {pf.name} once enabled "
            f"({', '.join(addrs)}): both pools would hand out the same VFs",
            pcis=addrs, pool=nets[0]))
    if target is not None and pf.numvfs > 0:
        warnings.append(PlanWarning(
            "numvfs-destroys",
            f"changing {pf.name} from {pf.numvfs} to {target} VFs writes 0 first: its {pf.numvfs} "
            "current VFs are destroyed and re-created (VF drivers and settings start from defaults)",
            pcis=tuple(v.pci for v in pf.vfs)))
    rule_path = sriov.udev_rule_path(pf.pci, udev_root)
    rule_text = sriov.udev_rule_text(pf, count)
    if remote:
        warnings.append(PlanWarning(
            "numvfs-not-persistent",
            f"whether {pf.name}'s {count} VFs come back after a reboot of that host is not known from "
            "here (libvirt does not show udev rules): check the host sets sriov_numvfs at boot"))
    elif not persist and not _rule_in_place(rule_path, rule_text):
        warnings.append(PlanWarning(
            "numvfs-not-persistent",
            f"sriov_numvfs does not survive a reboot: {pf.name} comes back with 0 VFs and the network "
            f"then fails to start; a udev rule ({rule_path}) can set {count} VFs at boot "
            "(--persist-numvfs)"))
    if not managed:
        warnings.append(PlanWarning(
            "unmanaged",
            "managed='no': libvirt will not bind VFs to vfio-pci for guests; do that yourself for "
            "every VF before a guest starts"))

    steps: list[PlanStep] = []
    if target is not None:
        how = f"write 0 then {target}" if pf.numvfs else f"write {target}"
        steps.append(PlanStep(ENABLE_VFS, f"set {pf.name} to {target} VFs ({how} to "
                                          f"{sriov.numvfs_path(pf.pci, sysfs_root)})"))
    if persist:
        steps.append(PlanStep(PERSIST_NUMVFS, f"write udev rule {rule_path} ({count} VFs at boot)"))
    steps += [
        PlanStep(DEFINE, f"define network '{name}' (virNetworkDefineXML)"),
        PlanStep(AUTOSTART, f"mark network '{name}' to start at boot (virNetworkSetAutostart)"),
        PlanStep(START, f"start network '{name}' (virNetworkCreate)"),
        PlanStep(READ_BACK, f"read network '{name}' back (virNetworkGetXMLDesc)"),
    ]
    return PoolPlan(
        pf=pf, pf_dev=pf_dev, name=name, managed=managed, vlan=vlan, numvfs_before=pf.numvfs,
        numvfs=target, persist=persist, rule_path=rule_path if persist else None,
        rule_text=rule_text if persist else None, xml=xml, steps=tuple(steps),
        warnings=tuple(warnings), sysfs_root=sysfs_root, udev_root=udev_root,
    )


def _rule_in_place(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except OSError:
        return False


def _hardcoded_warnings(scan: Scan, pf: PF, name: str) -> list[PlanWarning]:
    uses = hardcoded_uses(scan, pf)
    out = []
    by_guest: dict[str, list[VfUse]] = {}
    for u in uses:
        by_guest.setdefault(u.guest, []).append(u)
    for guest, us in sorted(by_guest.items()):
        addrs = tuple(u.pci for u in us if u.pci)
        running = any(u.active for u in us)
        state = "running, holding it now" if running else "shut off"
        out.append(PlanWarning(
            "vf-hardcoded",
            f"guest '{guest}' ({state}) has VF {', '.join(addrs)} of {pf.name} hard-coded: the pool "
            f"'{name}' may hand the same VF to another guest, and then one of them fails to start; "
            f"convert '{guest}' to use the pool (vfpool-tui convert)",
            guests=(guest,), pcis=addrs))
    return out


# --------------------------------------------------------------------------- execute


def _define(conn, xml: str):
    """networkDefineXMLFlags with schema validation where libvirt has it (>= 7.7)."""
    flag = getattr(libvirt, "VIR_NETWORK_DEFINE_VALIDATE", None)
    if flag is not None and hasattr(conn, "networkDefineXMLFlags"):
        try:
            return conn.networkDefineXMLFlags(xml, flag)
        except libvirt.libvirtError as err:
            if error_code(err) not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
                raise
    return conn.networkDefineXML(xml)


class _StepFailed(Exception):
    pass


def execute(conn, plan: PoolPlan, on_step: Callable[[StepEvent], None] | None = None) -> PoolResult:
    """Run the plan's steps on ``conn`` (read-write), reporting each as it happens; undo on failure."""
    silence_libvirt_stderr()
    events: list[StepEvent] = []

    def emit(ev: StepEvent) -> None:
        events.append(ev)
        if on_step is not None:
            on_step(ev)

    titles = {s.key: s.title for s in plan.steps}
    undo: list[tuple[str, str, Callable[[], None]]] = []  # (key, title, action), run in reverse
    state: dict = {"net": None, "uuid": None, "xml": None, "active": False, "autostart": False}

    def run(key: str, action: Callable[[], str]) -> None:
        emit(StepEvent(key, titles[key], StepStatus.RUNNING))
        try:
            message = action()
        except Exception as err:  # any failure, even an unexpected one, must reach the undo
            msg = describe(err) if isinstance(err, libvirt.libvirtError) else (str(err) or type(err).__name__)
            emit(StepEvent(key, titles[key], StepStatus.FAILED, msg))
            raise _StepFailed(key, msg) from None
        emit(StepEvent(key, titles[key], StepStatus.DONE, message or ""))

    def enable_vfs() -> str:
        now = sriov.read_numvfs(plan.pf.pci, plan.sysfs_root)
        if now != plan.numvfs_before:
            raise sriov.SriovError(f"{plan.pf.name} has {now} VFs now, not {plan.numvfs_before} as when "
                                   "this was planned: scan again")
        change = sriov.set_numvfs(plan.pf.pci, plan.numvfs, totalvfs=plan.pf.totalvfs,
                                  sysfs_root=plan.sysfs_root)
        if change.changed:
            undo.append((ENABLE_VFS, f"set {plan.pf.name} back to {change.old} VFs",
                         lambda: sriov.set_numvfs(plan.pf.pci, change.old, sysfs_root=plan.sysfs_root)))
        # the network is built from the VFs the PF has when it starts: they must be there first
        waited = sriov.wait_for_vfs(plan.pf.pci, change.new, plan.sysfs_root) if change.changed else 0.0
        # the VFs as they are now (the plan's PF is from the scan before the write)
        state["vfs"] = sriov.present_vf_addresses(plan.pf.pci, plan.sysfs_root)
        return (f"{plan.pf.name}: {change.old} -> {change.new} VFs (wrote {', '.join(map(str, change.writes))}; "
                f"{change.new} VFs there after {waited:.1f} s)")

    def persist() -> str:
        done = sriov.write_udev_rule(plan.pf, plan.vf_count, plan.udev_root)
        what = "put back the previous" if done.previous is not None else "remove"
        undo.append((PERSIST_NUMVFS, f"{what} udev rule {done.path}", lambda: sriov.undo_rule_write(done)))
        return f"wrote {done.path}"

    def define() -> str:
        try:
            conn.networkLookupByName(plan.name)
        except libvirt.libvirtError as err:
            if error_code(err) != libvirt.VIR_ERR_NO_NETWORK:
                raise
        else:
            raise PoolRefused(f"a network named '{plan.name}' exists now: it is left as it is")
        net = _define(conn, plan.xml)
        state["net"] = net
        state["uuid"] = net.UUIDString()
        undo.append((DEFINE, f"undefine network '{plan.name}'", net.undefine))
        return f"defined, uuid {state['uuid']}"

    def autostart() -> str:
        state["net"].setAutostart(1)
        state["autostart"] = True
        return "autostart on"  # undefine removes the autostart mark with the network

    def start() -> str:
        net = state["net"]
        net.create()
        state["active"] = True
        undo.append((START, f"stop network '{plan.name}'", net.destroy))
        return "active"

    def read_back() -> str:
        xml = state["net"].XMLDesc(0)
        info = network_xml.parse_network(xml)
        state["xml"] = xml
        state["info"] = info
        if info.addresses:
            return f"{len(info.addresses)} VFs in the pool"
        return "no VF list in the live XML"

    actions = {ENABLE_VFS: enable_vfs, PERSIST_NUMVFS: persist, DEFINE: define,
               AUTOSTART: autostart, START: start, READ_BACK: read_back}
    try:
        for step in plan.steps:
            run(step.key, actions[step.key])
    except _StepFailed as failed:
        key, msg = failed.args
        left = []
        for ukey, title, action in reversed(undo):
            emit(StepEvent(ukey, title, StepStatus.RUNNING, undo=True))
            try:
                action()
            except Exception as err:
                umsg = describe(err) if isinstance(err, libvirt.libvirtError) else str(err)
                emit(StepEvent(ukey, title, StepStatus.UNDO_FAILED, umsg, undo=True))
                left.append(f"{title}: {umsg}")
            else:
                emit(StepEvent(ukey, title, StepStatus.UNDONE, undo=True))
        return PoolResult(ok=False, plan=plan, events=tuple(events), failed_step=key,
                          error=f"{titles[key]}: {msg}", left_behind=tuple(left))

    info = state["info"]
    if info.addresses:
        vfs, source = info.addresses, "live"
    elif state.get("vfs"):
        vfs, source = state["vfs"], "sysfs"
    elif plan.numvfs is None and plan.pf.vfs:
        vfs, source = tuple(v.pci for v in plan.pf.vfs), "sysfs"
    else:
        vfs, source = (), "unknown"
    return PoolResult(ok=True, plan=plan, events=tuple(events), uuid=state["uuid"],
                      network_xml=state["xml"], vf_addresses=tuple(vfs), vf_source=source,
                      active=state["active"], autostart=state["autostart"])
