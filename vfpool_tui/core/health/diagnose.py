"""Troubleshooting VF exhaustion: why a guest's start fails (or would), and what to do about it.

Two inputs, both optional beyond the scan:
- the state (a ``Scan``): pool capacity versus use, who holds which VF, hard-coded conflicts;
- the error libvirt gave when a start failed: ``classify_error`` recognises libvirt's own error
  texts (LIBVIRT-FACTS.md) by error code plus a substring, so it also works on a message pasted from
  a log.
``diagnose_guest`` combines them into ``Finding`` records; ``pool_usage`` is the per-pool picture
(capacity, who holds what, who is waiting for a VF, room to grow on the PF).
No libvirt calls here: everything comes from the scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from vfpool_tui.core.health.convert_advice import convert_actions
from vfpool_tui.core.health.problems import pf_trouble
from vfpool_tui.core.model import Guest, Pool, ProblemKind, Scan, UseKind, VfUse
from vfpool_tui.core.wording import names as _names
from vfpool_tui.core.wording import plural as _plural

# libvirt error codes (virErrorNumber), fixed by libvirt's ABI; kept here so this module needs no
# libvirt import (it also runs on a pasted message, without a connection)
VIR_ERR_INTERNAL_ERROR = 1
VIR_ERR_OPERATION_INVALID = 55
VIR_ERR_NO_NETWORK = 43
VIR_ERR_CONFIG_UNSUPPORTED = 67


class StartError(StrEnum):
    POOL_EXHAUSTED = "pool-exhausted"
    NETWORK_INACTIVE = "network-inactive"
    NO_NETWORK = "no-network"
    PF_NO_VFS = "pf-no-vfs"
    PF_UNREADABLE = "pf-unreadable"
    PCI_IN_USE = "pci-in-use"
    NO_IOMMU = "no-iommu"


# (kind, codes that may carry it (None: any), pattern on the message)
_PATTERNS: tuple[tuple[StartError, tuple[int, ...] | None, re.Pattern[str]], ...] = (
    (StartError.POOL_EXHAUSTED, (VIR_ERR_INTERNAL_ERROR,),
     re.compile(r"network '(?P<network>[^']*)' requires exclusive access to interfaces, but none are available")),
    (StartError.NETWORK_INACTIVE, (VIR_ERR_OPERATION_INVALID,),
     re.compile(r"network '(?P<network>[^']*)' is not active")),
    (StartError.NO_NETWORK, (VIR_ERR_NO_NETWORK,),
     re.compile(r"no network with matching name '(?P<network>[^']*)'")),
    (StartError.PF_NO_VFS, (VIR_ERR_INTERNAL_ERROR,),
     re.compile(r"No usable Vf's present on SRIOV PF (?P<pf>\S+)")),
    (StartError.PF_UNREADABLE, (VIR_ERR_INTERNAL_ERROR,),
     re.compile(r"Could not get Virtual functions on (?P<pf>\S+)")),
    (StartError.NO_IOMMU, (VIR_ERR_CONFIG_UNSUPPORTED,),
     re.compile(r"host doesn't support passthrough of host PCI devices")),
    (StartError.PCI_IN_USE, (VIR_ERR_OPERATION_INVALID,),
     re.compile(r"PCI device (?P<pci>[0-9a-fA-F:.]+) is in use by driver (?P<driver>[^,]+), domain (?P<guest>.+?)\s*$")),
)


@dataclass(frozen=True)
class ClassifiedError:
    kind: StartError
    fields: dict[str, str] = field(default_factory=dict)


def classify_error(message: str, code: int | None = None) -> ClassifiedError | None:
    """Recognise a libvirt start error. ``code`` narrows the match when known (libvirt's
    messages are translated; the code is not). Without a code, the English text decides."""
    for kind, codes, pattern in _PATTERNS:
        if code is not None and codes is not None and code not in codes:
            continue
        m = pattern.search(message)
        if m:
            return ClassifiedError(kind, {k: v for k, v in m.groupdict().items() if v is not None})
    return None


def error_guests(scan: Scan, known: ClassifiedError) -> tuple[str, ...] | None:
    """The guests whose failed start libvirt's (classified) error can be: those that use what it
    names. ``PCI device X is in use by driver QEMU, domain D``: D holds X, so the error is another
    guest's, one that hard-codes X too. None when the error names nothing a guest uses (no IOMMU:
    any guest with a PCI device)."""
    f = known.fields
    kind = known.kind
    if kind is StartError.PCI_IN_USE:
        return tuple(g.name for g in scan.guests if g.name != f.get("guest", "").strip()
                     and any(u.pci == f.get("pci") for u in g.vf_uses))
    if kind in (StartError.POOL_EXHAUSTED, StartError.NETWORK_INACTIVE, StartError.NO_NETWORK):
        net = f.get("network")
        return tuple(g.name for g in scan.guests if net in g.missing_networks
                     or any(u.kind is UseKind.POOL and u.network == net for u in g.vf_uses))
    if kind in (StartError.PF_NO_VFS, StartError.PF_UNREADABLE):
        dev = f.get("pf")
        nets = {p.name for p in scan.pools if dev in p.pfs}
        return tuple(g.name for g in scan.guests
                     if any(u.kind is UseKind.POOL and u.network in nets for u in g.vf_uses))
    return None


def _not_this_guests_error(scan: Scan, guest: Guest, known: ClassifiedError) -> Finding | None:
    """A finding saying the error is not about ``guest``, or None when it may be."""
    whose = error_guests(scan, known)
    if whose is None or guest.name in whose:
        return None
    f = known.fields
    if known.kind is StartError.PCI_IN_USE:
        if f.get("guest", "").strip() == guest.name:
            said = f"it says {guest.name} holds VF {f.get('pci')}: it is the error of another guest's start"
        else:
            said = f"it names VF {f.get('pci')}, which {guest.name} does not use"
    elif "network" in f:
        said = f"it names network {f['network']}, which {guest.name} does not use"
    else:
        said = f"it names PF {f.get('pf')}, under no pool {guest.name} uses"
    maybe = f" It may be the error of {_names(sorted(whose))}." if whose else ""
    return Finding("warning", f"libvirt's error is not about {guest.name}: {said}; not applied.",
                   detail=f"Paste the error {guest.name}'s own start gave.{maybe}",
                   topic="error-not-this-guest")


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" (the start fails), "warning" (it may fail), "info"
    summary: str  # one line
    detail: str = ""  # why
    actions: tuple[str, ...] = ()  # what to do, most useful first
    pool: str | None = None
    pcis: tuple[str, ...] = ()
    guests: tuple[str, ...] = ()
    topic: str = ""  # what it is about ("exhausted:NET"): one finding per topic


@dataclass(frozen=True)
class PoolUsage:
    pool: Pool
    holders: tuple[VfUse, ...]  # pool interfaces of running guests (pci None: VF not known)
    waiting: tuple[Guest, ...]  # shut-off guests configured on the pool (each needs a VF to start)
    blocked: tuple[VfUse, ...]  # hard-coded uses, in running guests, of VFs that are in the pool
    pf_numvfs: int | None  # the PF's VFs now (None: PF absent or several PFs)
    pf_totalvfs: int | None  # what the PF could have

    @property
    def headroom(self) -> int | None:
        """VFs the PF could add (raising sriov_numvfs), when known."""
        if self.pf_numvfs is None or self.pf_totalvfs is None:
            return None
        return max(0, self.pf_totalvfs - self.pf_numvfs)

    @property
    def shortfall(self) -> int | None:
        """VFs missing to start every waiting guest now (0: enough). None for an inactive pool:
        no guest starts on it whatever its capacity (see the pool-inactive finding)."""
        if self.pool.free is None or not self.pool.active:
            return None
        return max(0, len(self.waiting) - self.pool.free)


def pool_usage(scan: Scan, name: str) -> PoolUsage | None:
    pool = next((p for p in scan.pools if p.name == name), None)
    if pool is None:
        return None
    holders, waiting, blocked = [], [], []
    members = set(pool.vf_pcis)
    for g in scan.guests:
        on_pool = [u for u in g.vf_uses if u.kind is UseKind.POOL and u.network == name]
        if on_pool and g.active:
            holders.extend(on_pool)
        elif on_pool:
            waiting.append(g)
        if g.active:
            blocked.extend(u for u in g.vf_uses if u.kind is not UseKind.POOL and u.pci in members)
    numvfs = totalvfs = None
    if len(pool.pfs) == 1:
        pf = scan.host.pf(pool.pfs[0])
        if pf is not None:
            numvfs, totalvfs = pf.numvfs, pf.totalvfs
    return PoolUsage(pool, tuple(holders), tuple(waiting), tuple(blocked), numvfs, totalvfs)


def diagnose_guest(scan: Scan, guest_name: str, error: str | None = None,
                   code: int | None = None) -> tuple[Finding, ...]:
    """Why ``guest_name`` does not (or would not) start with its VFs, and what to do.

    ``error``: the message libvirt gave when the start failed, if there was one.
    """
    guest = next((g for g in scan.guests if g.name == guest_name), None)
    if guest is None:
        return (Finding("error", f"No guest named {guest_name!r} on this connection."),)
    findings: list[Finding] = []
    if error:
        findings.extend(_from_error(scan, guest, error, code))
    for net in guest.missing_networks:
        findings.append(Finding(
            "error", f"{guest.name} has an interface on network {net}, which does not exist.",
            detail=f"libvirt refuses the start: \"no network with matching name '{net}'\".",
            actions=(f"Create the network {net} (for a VF pool: vfpool-tui pool create --pf PF --name {net}), "
                     "or point the interface at an existing network.",),
            topic=f"no-network:{net}"))
    for use in guest.vf_uses:
        if use.kind is UseKind.POOL:
            findings.extend(_pool_use(scan, guest, use))
        else:
            findings.extend(_hardcoded_use(scan, guest, use))
    if not guest.vf_uses and not guest.missing_networks:
        findings.append(Finding("info", f"{guest.name} uses no VF: its start does not depend on a pool."))
    if not findings:
        findings.append(Finding("info", f"Nothing stands in the way of {guest.name}'s VFs right now."))
    # an error libvirt reported and the same conclusion from the state: keep the first (the error's)
    seen: set[str] = set()
    unique = []
    for f in findings:
        key = f.topic or f.summary
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return tuple(unique)


def _exhausted(scan: Scan, guest: Guest, usage: PoolUsage, reported: bool = False) -> Finding:
    """No free VF in the pool: from the state, or ``reported`` by libvirt at a failed start."""
    pool = usage.pool
    others = sorted({u.guest for u in usage.holders if u.guest != guest.name})
    actions = []
    idle = [g for g in scan.guests if g.active and g.state == "paused"
            and any(u.kind is UseKind.POOL and u.network == pool.name for u in g.vf_uses)]
    if idle:
        actions.append(f"Paused guests still hold a VF each: {_names(g.name for g in idle)}; "
                       "shutting one down frees its VF.")
    if usage.blocked:
        actions.append(f"{_plural(len(usage.blocked), 'pool VF')} hard-coded in running guests "
                       f"({_names(sorted({u.guest for u in usage.blocked}))}).")
        actions.extend(convert_actions(scan, sorted({u.guest for u in usage.blocked}), pool,
                                       " so libvirt counts their VFs"))
    if usage.headroom:
        actions.append(f"The PF has {usage.pf_numvfs} of {usage.pf_totalvfs} VFs enabled: enabling more "
                       "(sriov_numvfs) and restarting the pool network adds capacity; changing a non-zero "
                       "count destroys the current VFs, so every guest on them must be shut off first.")
    actions.append("Shut down a guest that holds a VF from this pool, or move a guest to another pool.")
    now = f"{pool.in_use} of {'?' if pool.capacity is None else pool.capacity} in use"
    if reported:
        free = "unknown" if pool.free is None else pool.free
        summary = f"libvirt found no free VF in pool {pool.name} (now: {now}, {free} free)."
        if pool.free:
            actions.insert(0, "The pool has a free VF now: another guest may have released one since "
                              "the failure, so try the start again"
                           + (f"; if it fails again, the VF libvirt picks may be one of the "
                              f"{_plural(pool.blocked, 'pool VF')} hard-coded in running guests"
                              if pool.blocked else "") + ".")
    else:
        summary = f"Pool {pool.name} has no free VF: {now}."
    return Finding(
        "error",
        summary,
        detail=(f"libvirt hands each starting guest a free VF of the pool; with none left the start fails "
                f"with \"network '{pool.name}' requires exclusive access to interfaces, but none are "
                f"available\". Running guests holding its VFs: {_names(others) or 'none known'}."),
        actions=tuple(actions), pool=pool.name, guests=tuple(others), topic=f"exhausted:{pool.name}")


def _pool_use(scan: Scan, guest: Guest, use: VfUse) -> list[Finding]:
    name = use.network or ""
    usage = pool_usage(scan, name)
    if usage is None:
        return [Finding("error", f"{guest.name} uses network {name}, which does not exist.",
                        detail=f"libvirt: \"no network with matching name '{name}'\".",
                        actions=(f"Create the pool network {name}, or point the interface at an existing pool.",),
                        pool=name)]
    pool = usage.pool
    out: list[Finding] = []
    if not pool.active:
        pf_note = ""
        if len(pool.pfs) == 1:
            cause = pf_cause(scan, pool.pfs[0])
            if cause is not None:
                pf_note = (f" {cause[0]} so starting the pool fails too (\"No usable Vf's present on "
                           f"SRIOV PF {pool.pfs[0]}\"): {cause[1][0].lower() + cause[1][1:]}")
        out.append(Finding(
            "error", f"Pool {pool.name} is not active.",
            detail=f"libvirt: \"network '{pool.name}' is not active\".{pf_note}",
            actions=(f"Start the pool network {pool.name} (and set it to autostart).",),
            pool=pool.name))
        return out
    if guest.active:
        got = (f"VF {use.pci} of {pool.name}" if use.pci
               else f"a VF of {pool.name} (which one, libvirt does not say on this connection)")
        out.append(Finding("info", f"{guest.name} is running and holds {got}.", pool=pool.name,
                           pcis=(use.pci,) if use.pci else ()))
        return out
    if pool.free is not None and pool.free <= 0:
        out.append(_exhausted(scan, guest, usage))
    elif usage.blocked:
        pcis = tuple(sorted({u.pci for u in usage.blocked if u.pci}))
        out.append(Finding(
            "warning",
            f"{_plural(len(pcis), 'VF')} of {pool.name} {'is' if len(pcis) == 1 else 'are'} also hard-coded "
            "in a running guest.",
            detail=("libvirt hands out the first pool VF without a pool connection; if that is one a "
                    "hard-coded guest already uses, the start fails with \"PCI device ... is in use by "
                    "driver QEMU\"."),
            actions=convert_actions(scan, sorted({u.guest for u in usage.blocked}), pool),
            pool=pool.name, pcis=pcis, guests=tuple(sorted({u.guest for u in usage.blocked}))))
    elif pool.free is not None and usage.shortfall:
        out.append(Finding(
            "warning",
            f"Pool {pool.name} has {pool.free} free VF(s) for {len(usage.waiting)} shut-off guests configured on it.",
            detail="Whichever guests start first get the VFs; the rest fail to start.",
            actions=("Start the guests that matter first, or add capacity.",), pool=pool.name))
    return out


def _hardcoded_use(scan: Scan, guest: Guest, use: VfUse) -> list[Finding]:
    out: list[Finding] = []
    if use.pci is None:
        return out
    if scan.host.vf(use.pci) is None:
        out.append(Finding(
            "error", f"{guest.name} hard-codes VF {use.pci}, which this host does not have.",
            detail="The VF was removed (sriov_numvfs lowered, PF reset or moved) or the guest came from "
                   "another host; the start fails because the PCI device cannot be found.",
            actions=("Convert the guest to a pool so it gets whatever VF is free.",
                     "Or enable enough VFs on the PF again."),
            pcis=(use.pci,)))
        return out
    holders = [u for g in scan.guests if g.active and g.name != guest.name
               for u in g.vf_uses if u.pci == use.pci]
    if holders and not guest.active:
        out.append(Finding(
            "error", f"VF {use.pci} is in use by {_names(sorted({u.guest for u in holders}))}.",
            detail=f"libvirt refuses to give a guest a PCI device another running guest holds (\"PCI device "
                   f"{use.pci} is in use by driver QEMU, domain ...\").",
            actions=(f"Convert {guest.name} to a pool.", "Or give it a VF of its own."),
            pcis=(use.pci,), guests=tuple(sorted({u.guest for u in holders}))))
    pools = [p for p in scan.pools if use.pci in p.vf_pcis]
    if pools:
        out.append(Finding(
            "warning",
            f"VF {use.pci} is hard-coded in {guest.name} and also in pool {_names(p.name for p in pools)}.",
            detail="The pool does not know the guest uses it and may hand it to another guest.",
            actions=convert_actions(scan, [guest.name], pools[0]), pool=pools[0].name, pcis=(use.pci,)))
    return out


def pf_cause(scan: Scan, dev: str) -> tuple[str, str] | None:
    """Why a pool over ``dev`` has no usable VF, from the host scan: (what is wrong, what to do).

    libvirt says "No usable Vf's present on SRIOV PF <dev>" alike for a PF that is not there, a NIC
    without SR-IOV and an SR-IOV PF with 0 VFs; None when the PF has VFs.
    """
    trouble = pf_trouble(scan.host, dev)
    pf = scan.host.pf(dev)
    if trouble is ProblemKind.POOL_PF_NOT_SRIOV:
        return (f"{dev} is a network interface without SR-IOV (not a PF).",
                "Build the pool on an SR-IOV PF, or enable SR-IOV for this NIC in the firmware.")
    if trouble is ProblemKind.POOL_PF_MISSING:
        return (f"PF {dev} is not on this host (renamed or removed).",
                "Point the pool at the PF's current name, or move its guests to another pool.")
    if trouble is ProblemKind.POOL_PF_NO_VFS:
        return (f"PF {pf.name} has no VFs enabled (sriov_numvfs = 0, up to {pf.totalvfs}).",
                f"Enable VFs on {pf.name} (sriov_numvfs), then start the pool.")
    return None


def _from_error(scan: Scan, guest: Guest, error: str, code: int | None) -> list[Finding]:
    known = classify_error(error, code)
    if known is None:
        return [Finding("info", "libvirt's message is not one this tool knows; the state below may explain it.",
                        detail=" ".join(error.split()))]
    other = _not_this_guests_error(scan, guest, known)
    if other is not None:
        return [other]
    f = known.fields
    if known.kind is StartError.POOL_EXHAUSTED:
        usage = pool_usage(scan, f.get("network", ""))
        if usage is not None:
            return [_exhausted(scan, guest, usage, reported=True)]
        return [Finding("error", f"Pool {f.get('network')} had no free VF.")]
    if known.kind is StartError.PCI_IN_USE:
        return [Finding("error", f"VF {f.get('pci')} is in use by {f.get('guest')}.",
                        detail=f"Held through driver {f.get('driver')}.",
                        actions=(f"Convert {guest.name} (or {f.get('guest')}) to a pool.",),
                        pcis=(f.get("pci", ""),), guests=(f.get("guest", ""),))]
    summaries = {
        StartError.NETWORK_INACTIVE: ("Pool {network} is not active.", "Start the pool network {network}."),
        StartError.NO_NETWORK: ("Network {network} does not exist.", "Create the pool network {network}."),
        StartError.PF_UNREADABLE: ("PF {pf} cannot be read (missing or renamed).",
                                   "Point the pool at the PF's current name."),
    }
    if known.kind is StartError.PF_NO_VFS:
        dev = f.get("pf", "")
        cause = pf_cause(scan, dev) or (f"PF {dev} has no usable VFs.", f"Check PF {dev} and its VFs.")
        return [Finding("error", cause[0], detail=" ".join(error.split()), actions=(cause[1],), topic=f"pf:{dev}")]
    if known.kind is StartError.NO_IOMMU:
        return [Finding(
            "error", "This host runs without an IOMMU: no guest can be given a VF (or any PCI device).",
            detail=" ".join(error.split()) + " — the kernel has no IOMMU groups (VT-d / AMD-Vi off).",
            actions=("Enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup.",
                     "On Intel, boot with intel_iommu=on (iommu=pt keeps host I/O fast), then reboot.",
                     "Check that /sys/kernel/iommu_groups is not empty."),
            topic="no-iommu")]
    summary, action = summaries[known.kind]
    return [Finding("error", summary.format(**f), detail=" ".join(error.split()),
                    actions=(action.format(**f),), pool=f.get("network"))]
