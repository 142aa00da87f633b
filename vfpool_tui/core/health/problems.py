"""What is wrong with the VFs, the pools and the guests that use them, in plain language.

``find_problems(host, guests, pools)`` looks at a finished inventory (no libvirt calls) and returns
``Problem`` records, each saying what is wrong, why it matters and what to do, with the PCI
addresses, guests and pool involved. The order is deterministic: errors first, then warnings, then
notes; within a severity by kind, pool, addresses and guests.
"""

from __future__ import annotations

from collections.abc import Iterable

from vfpool_tui.core import pci as _pci
from vfpool_tui.core.model import PF, VF, Guest, Host, Pool, Problem, ProblemKind, UseKind
from vfpool_tui.core.wording import names as _names
from vfpool_tui.core.wording import plural as _plural

HARD_CODED = (UseKind.HOSTDEV, UseKind.INTERFACE_HOSTDEV)
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_KIND_ORDER = {kind: i for i, kind in enumerate(ProblemKind)}


def _ranges(numbers: Iterable[int]) -> str:
    """``0, 1, 2, 5, 7, 8`` -> ``0-2, 5, 7-8``."""
    out: list[str] = []
    nums = sorted(set(numbers))
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(out)


class _Index:
    def __init__(self, host: Host):
        self.vfs: dict[str, VF] = {}
        self.vf_pf: dict[str, PF] = {}
        self.pfs: dict[str, PF] = {}
        self.possible: dict[str, tuple[PF, int]] = {}
        for pf in host.pfs:
            self.pfs.setdefault(pf.pci, pf)
            for dev in pf.netdevs:
                self.pfs.setdefault(dev, pf)
            for i, addr in enumerate(pf.possible_vf_addresses()):
                self.possible.setdefault(addr, (pf, i))
            for vf in pf.vfs:
                self.vfs[vf.pci] = vf
                self.vf_pf[vf.pci] = pf
        self.present = set(host.pci_devices) | set(self.vfs) | {pf.pci for pf in host.pfs}
        self.host = host

    def describe(self, address: str) -> str:
        """``0000:02:10.1 (VF 1 of eth3)``."""
        vf = self.vfs.get(address)
        if vf is not None:
            return f"{address} (VF {vf.index} of {self.vf_pf[address].name})"
        if address in self.possible:
            pf, i = self.possible[address]
            return f"{address} (would be VF {i} of {pf.name})"
        return address


def find_problems(host: Host, guests: Iterable[Guest], pools: Iterable[Pool]) -> tuple[Problem, ...]:
    guests = tuple(guests)
    pools = tuple(pools)
    ix = _Index(host)

    hard: dict[str, list[Guest]] = {}  # VF -> guests that hard-code it (each guest once)
    held_now: set[str] = set()  # VFs a running guest holds, when known
    for g in guests:
        for addr in dict.fromkeys(u.pci for u in g.vf_uses if u.kind in HARD_CODED and u.pci):
            hard.setdefault(addr, []).append(g)
        for u in g.vf_uses:
            if u.pci and g.active:
                held_now.add(u.pci)
    pool_guests: dict[str, list[Guest]] = {}  # pool -> guests with an interface on it
    for g in guests:
        for net in dict.fromkeys(u.network for u in g.vf_uses if u.kind is UseKind.POOL):
            pool_guests.setdefault(net, []).append(g)

    out: list[Problem] = []
    out += _multiple_guests(ix, hard)
    out += _pool_vf_hardcoded(ix, hard, pools)
    out += _vf_missing(ix, hard, guests, pools)
    out += _vf_netdev_macvtap(ix, guests, hard, pools)
    out += _vfio_unused(ix, host, hard, held_now, pools, pool_guests)
    for pool in pools:
        users = pool_guests.get(pool.name, [])
        out += _pool_pf(ix, pool, users)
        out += _pool_stale(ix, pool)
        out += _pool_exhausted(pool, users)
        out += _pool_inactive(pool, users, broken=any(
            ix.pfs.get(dev) is None or not ix.pfs[dev].vfs for dev in pool.pfs))
    out += _no_iommu(host, guests, pools)
    out += _missing_networks(guests)
    out += _xml_errors(guests)
    out.sort(key=lambda p: (SEVERITY_ORDER.get(p.severity, 9), _KIND_ORDER[p.kind], p.pool or "",
                            p.pf or "", p.pcis, p.guests, p.message))
    return tuple(out)


# --------------------------------------------------------------------------- VF holders


def _multiple_guests(ix: _Index, hard: dict[str, list[Guest]]) -> list[Problem]:
    out = []
    for addr, gs in sorted(hard.items()):
        if len(gs) < 2:
            continue
        names = [g.name for g in gs]
        running = [g.name for g in gs if g.active]
        others = [g.name for g in gs if not g.active]
        if len(running) >= 2:
            together = (f"{_names(running)} are {'both' if len(running) == 2 else 'all'} running with "
                        "it although a VF can be given to "
                        "only one guest at a time: libvirt's record and the devices may not match; "
                        "check which guest really has it.")
        elif running:
            together = (f"They cannot run at the same time: {running[0]} is running with it, so "
                        f"starting {_names(others)} fails (libvirt refuses a PCI device another "
                        "guest holds).")
        else:
            together = ("They cannot run at the same time: whichever starts second fails (libvirt "
                        "refuses a PCI device another guest holds).")
        autostart = [g.name for g in gs if g.autostart]
        severe = bool(running) or len(autostart) >= 2
        out.append(Problem(
            kind=ProblemKind.VF_MULTIPLE_GUESTS,
            severity="error" if severe else "warning",
            message=(f"VF {ix.describe(addr)} is hard-coded in {len(gs)} guests: {_names(names)}. "
                     f"{together} Give each guest a VF of its own, or move them to a pool so "
                     "libvirt hands every starting guest a free VF."),
            pcis=(addr,),
            guests=tuple(names),
        ))
    return out


def _pool_vf_hardcoded(ix: _Index, hard: dict[str, list[Guest]], pools: tuple[Pool, ...]
                       ) -> list[Problem]:
    out = []
    for pool in pools:
        for addr in sorted(set(pool.vf_pcis) & set(hard)):
            gs = hard[addr]
            names = [g.name for g in gs]
            running = [g.name for g in gs if g.active]
            if running:
                now = (f"{_names(running)} {'is' if len(running) == 1 else 'are'} running with it, "
                       f"so a guest that libvirt gives this VF from the pool fails to start.")
            else:
                now = (f"when a pool guest has it, {_names(names)} cannot start; when "
                       f"{_names(names)} {'has' if len(names) == 1 else 'have'} it, a guest that "
                       "libvirt gives this VF from the pool fails to start.")
            out.append(Problem(
                kind=ProblemKind.POOL_VF_HARDCODED,
                severity="error" if running else "warning",
                message=(f"VF {ix.describe(addr)} is in pool {pool.name} and also hard-coded in "
                         f"{_names(names)}. libvirt's pool does not know the guest uses it: {now} "
                         f"Move {_names(names)} onto pool {pool.name} (convert the hard-coded "
                         "device to a pool interface), or give it a VF outside the pool."),
                pcis=(addr,),
                guests=tuple(names),
                pool=pool.name,
            ))
    return out


def _vf_netdev_macvtap(ix: _Index, guests: tuple[Guest, ...], hard: dict[str, list[Guest]],
                       pools: tuple[Pool, ...]) -> list[Problem]:
    """A VF's host netdev carries a guest's macvtap (``<interface type='direct'>``) interface, and
    the VF is also in a pool or hard-coded: giving it to a guest unbinds the netdev under it."""
    users: dict[str, list[Guest]] = {}
    for g in guests:
        for addr in g.macvtap_vfs:
            users.setdefault(addr, []).append(g)
    out = []
    for addr, gs in sorted(users.items()):
        vf = ix.vfs.get(addr)
        netdev = vf.netdev if vf is not None and vf.netdev else "its netdev"
        names = [g.name for g in gs]
        in_pools = [p.name for p in pools if addr in p.vf_pcis]
        hard_by = [g.name for g in hard.get(addr, []) if g.name not in names]
        if in_pools:
            out.append(Problem(
                kind=ProblemKind.VF_NETDEV_MACVTAP, severity="warning",
                message=(f"VF {ix.describe(addr)} is in pool {_names(in_pools)}, and its host netdev "
                         f"{netdev} carries a macvtap interface of {_names(names)}. When libvirt hands "
                         f"this VF to a pool guest it binds it to vfio-pci: {netdev} disappears and "
                         f"{_names(names)} loses that network. Move {_names(names)} onto the pool, or "
                         "build the pool from an explicit list of VFs without this one."),
                pcis=(addr,), guests=tuple(names), pool=in_pools[0]))
        if hard_by:
            out.append(Problem(
                kind=ProblemKind.VF_NETDEV_MACVTAP, severity="error",
                message=(f"VF {ix.describe(addr)} is hard-coded in {_names(hard_by)}, and its host "
                         f"netdev {netdev} carries a macvtap interface of {_names(names)}. Starting "
                         f"{_names(hard_by)} takes the VF from the host driver: {netdev} disappears "
                         f"and {_names(names)} loses that network. Give one of them another VF, or "
                         "move both onto a pool."),
                pcis=(addr,), guests=tuple(hard_by + names)))
    return out


def _running_on_pf(pf: PF, guests: tuple[Guest, ...], pools: tuple[Pool, ...]) -> list[str]:
    """Running guests that hold (or, on a pool over this PF, may hold) one of ``pf``'s VFs."""
    mine = {vf.pci for vf in pf.vfs}
    pool_here = {p.name for p in pools if mine & set(p.vf_pcis)}
    return sorted({g.name for g in guests if g.active for u in g.vf_uses
                   if u.pci in mine or (u.kind is UseKind.POOL and u.pci is None and u.network in pool_here)})


def _vf_missing(ix: _Index, hard: dict[str, list[Guest]], guests: tuple[Guest, ...],
                pools: tuple[Pool, ...]) -> list[Problem]:
    out = []
    for addr, gs in sorted(hard.items()):
        if addr in ix.present:
            continue
        names = [g.name for g in gs]
        where = ""
        pf_name = None
        if addr in ix.possible:
            pf, i = ix.possible[addr]
            pf_name = pf.name
            where = (f" It would be VF {i} of {pf.name}, which now has "
                     f"{_plural(pf.numvfs, 'VF')} enabled (sriov_numvfs).")
        fix = "Restore the device"
        if addr in ix.possible:
            pf = ix.possible[addr][0]
            fix = f"Enable enough VFs again (echo N > /sys/bus/pci/devices/{pf.pci}/sriov_numvfs)"
            if pf.numvfs:
                # the kernel takes a new count only from 0: every VF of the PF goes away first
                holders = _running_on_pf(pf, guests, pools)
                fix += (f": the kernel takes a new count only after 0 is written, which destroys all "
                        f"{_plural(pf.numvfs, 'VF')} of {pf.name}"
                        + (f", taking them away from the running guests that hold them "
                           f"({_names(holders)}), so shut those down first" if holders else ""))
        severe = any(g.active or g.autostart for g in gs)
        out.append(Problem(
            kind=ProblemKind.VF_MISSING,
            severity="error" if severe else "warning",
            message=(f"VF {addr} is hard-coded in {_names(names)} but does not exist on this host."
                     f"{where} The guest cannot start while it is missing. {fix}. Or change the "
                     "guest's device: better, move it to a pool so it does not depend on one "
                     "VF address."),
            pcis=(addr,),
            guests=tuple(names),
            pf=pf_name,
        ))
    return out


def _vfio_unused(ix: _Index, host: Host, hard: dict[str, list[Guest]], held_now: set[str],
                 pools: tuple[Pool, ...], pool_guests: dict[str, list[Guest]]) -> list[Problem]:
    # VFs of a pool with a running guest whose VF is unknown could be that guest's: say nothing.
    unsure: set[str] = set()
    unmanaged: set[str] = set()
    for pool in pools:
        if not pool.managed:
            unmanaged.update(pool.vf_pcis)  # pre-bound to vfio-pci on purpose
        for g in pool_guests.get(pool.name, ()):
            if g.active and any(u.kind is UseKind.POOL and u.network == pool.name and u.pci is None
                                for u in g.vf_uses):
                unsure.update(pool.vf_pcis)
    out = []
    for pf in host.pfs:  # one problem per PF: an admin who pre-binds VFs sees one line, not 60
        idle = [vf for vf in pf.vfs if vf.driver == "vfio-pci" and vf.pci not in hard
                and vf.pci not in held_now and vf.pci not in unsure and vf.pci not in unmanaged]
        if not idle:
            continue
        if len(idle) == 1:
            what = f"VF {ix.describe(idle[0].pci)} is bound to vfio-pci but no guest uses it."
            cmd = f"virsh nodedev-reattach {_pci.nodedev_name(idle[0].pci)}"
        else:
            if len(idle) <= 4:
                listed = ", ".join(f"{vf.index} ({vf.pci})" for vf in idle)
            else:
                listed = f"{_ranges(vf.index for vf in idle)} ({idle[0].pci} to {idle[-1].pci})"
            what = (f"{len(idle)} VFs of {pf.name} are bound to vfio-pci but no guest uses them: "
                    f"VF {listed}.")
            cmd = "virsh nodedev-reattach pci_DDDD_BB_SS_F for each"
        out.append(Problem(
            kind=ProblemKind.VFIO_UNUSED,
            severity="info",
            message=(f"{what} Detached from the host, such a VF is a NIC that neither the host nor "
                     "any guest has: probably left over from a removed guest or a manual detach. "
                     f"If nothing outside libvirt uses it, give it back to the host ({cmd}) or "
                     "put it in a pool."),
            pcis=tuple(vf.pci for vf in idle),
            pf=pf.name,
        ))
    return out


# --------------------------------------------------------------------------- pools


def _users_text(users: list[Guest]) -> str:
    return _names(g.name for g in users)


def pf_trouble(host: Host, dev: str) -> ProblemKind | None:
    """Why a pool over ``dev`` has no usable VF (libvirt's one message for all three: "No usable
    Vf's present on SRIOV PF"): no such interface, a NIC without SR-IOV, or a PF with 0 VFs;
    None when the PF has VFs. The one reading for the problems and for ``diagnose``."""
    pf = host.pf(dev)
    if pf is None:
        if host.netdevs is not None and dev in host.netdevs:
            return ProblemKind.POOL_PF_NOT_SRIOV
        return ProblemKind.POOL_PF_MISSING
    if pf.numvfs == 0 or not pf.vfs:
        return ProblemKind.POOL_PF_NO_VFS
    return None


def _pool_pf(ix: _Index, pool: Pool, users: list[Guest]) -> list[Problem]:
    out = []
    guests = tuple(g.name for g in users)
    waiting = [g for g in users if not g.active]
    running = [g for g in users if g.active]
    if waiting:
        consequence = f"Guests configured on it ({_users_text(waiting)}) cannot start."
    elif running:
        consequence = (f"Running guests on it ({_users_text(running)}) cannot start again once "
                       "stopped.")
    else:
        consequence = "No guest uses it yet."
    severe = bool(users) or pool.autostart
    for dev in pool.pfs:
        trouble = pf_trouble(ix.host, dev)
        if trouble is None:
            continue
        pf = ix.host.pf(dev)
        # libvirt 9.0 says the same for all three, at net-start (code 1): "No usable Vf's present
        # on SRIOV PF <dev>"; the host scan tells them apart
        no_vfs = f"libvirt: \"No usable Vf's present on SRIOV PF {dev}\""
        if trouble is ProblemKind.POOL_PF_NOT_SRIOV:
            when = ("It is active, but libvirt cannot hand out VFs the NIC does not have. " if pool.active
                    else f"Starting the pool fails ({no_vfs}). ")
            message = (f"Pool {pool.name} is built on {dev}, a network interface of this host that is "
                       f"not an SR-IOV PF (no sriov_totalvfs: a NIC without SR-IOV, SR-IOV off in the "
                       f"firmware, or a virtual interface). {when}{consequence} Build the pool on an "
                       "SR-IOV PF (the PF list shows them), or enable SR-IOV for this NIC in the "
                       "system/NIC firmware.")
        elif trouble is ProblemKind.POOL_PF_MISSING:
            when = ("It is active, but libvirt cannot hand out VFs that are gone. " if pool.active
                    else f"Starting the pool fails ({no_vfs}). ")
            message = (f"Pool {pool.name} is built on PF {dev}, which this host does not have "
                       f"(no network interface of that name: renamed or removed?). {when}"
                       f"{consequence} Point the pool at the PF's current name, or move the "
                       "guests to another pool.")
        else:
            when = ("It is active, but the VFs it was started with are gone: a guest given one "
                    "fails to start. " if pool.active
                    else f"Starting the pool fails ({no_vfs}). ")
            message = (f"Pool {pool.name} uses PF {dev} ({pf.pci}), which has no VFs enabled "
                       f"(sriov_numvfs = 0; the card allows up to {pf.totalvfs}). {when}"
                       f"{consequence} Enable VFs (echo N > /sys/bus/pci/devices/{pf.pci}/"
                       "sriov_numvfs, and make it persistent at boot), then restart the pool.")
        out.append(Problem(kind=trouble, severity="error" if severe else "warning", message=message,
                           guests=guests, pool=pool.name, pf=dev))
    return out


def _pool_stale(ix: _Index, pool: Pool) -> list[Problem]:
    """An active PF pool whose live address list no longer matches the PF's VFs."""
    if not pool.active or not pool.pfs or not pool.addresses:
        return []
    current: list[str] = []
    for dev in pool.pfs:
        pf = ix.pfs.get(dev)
        if pf is None or not pf.vfs:
            return []  # reported as a missing PF / a PF without VFs
        current.extend(vf.pci for vf in pf.vfs)
    live = set(pool.addresses)
    new = sorted(set(current) - live)
    gone = sorted(live - set(current))
    if not new and not gone:
        return []
    parts = [f"Pool {pool.name} was built when it started, from the VFs {_names(pool.pfs)} had "
             f"then ({_plural(len(pool.addresses), 'VF')}); the PF now has {len(current)}."]
    if new:
        parts.append(f"{_plural(len(new), 'newer VF')} ({', '.join(new)}) "
                     f"{'is' if len(new) == 1 else 'are'} not in the pool, so guests cannot get "
                     f"{'it' if len(new) == 1 else 'them'}.")
    if gone:
        parts.append(f"{_plural(len(gone), 'VF')} in the pool ({', '.join(gone)}) no longer "
                     "exist: a guest that libvirt gives one fails to start.")
    busy = (f" ({_plural(pool.in_use, 'pool interface')} in use now: restarting the pool does "
            "not take VFs from running guests, but do it in a quiet moment)" if pool.in_use else "")
    parts.append(f"Restart the pool (net-destroy, net-start) to rebuild it{busy}.")
    return [Problem(
        kind=ProblemKind.POOL_STALE,
        severity="error" if gone else "warning",
        message=" ".join(parts),
        pcis=tuple(new + gone),
        pool=pool.name,
    )]


def _pool_exhausted(pool: Pool, users: list[Guest]) -> list[Problem]:
    if not pool.active or pool.capacity is None or pool.free != 0:
        return []
    waiting = [g for g in users if not g.active]
    if not waiting:
        return []
    names = tuple(g.name for g in waiting)
    more = ("enable more VFs on the PF and restart the pool" if pool.pfs
            else "add VF addresses to the pool")
    blocked = (f" and {_plural(pool.blocked, 'VF')} hard-coded in running guests" if pool.blocked
               else "")
    return [Problem(
        kind=ProblemKind.POOL_EXHAUSTED,
        severity="error" if any(g.autostart for g in waiting) else "warning",
        message=(f"Pool {pool.name} is full: all {_plural(pool.capacity, 'VF')} are taken "
                 f"({_plural(pool.in_use, 'pool interface')} of running guests{blocked}). "
                 f"{_plural(len(waiting), 'shut-off guest')} configured on it "
                 f"({_names(names)}) cannot start now: libvirt refuses with \"network "
                 f"'{pool.name}' requires exclusive access to interfaces, but none are "
                 f"available\". Stop a guest that uses the pool, or {more}."),
        guests=names,
        pool=pool.name,
    )]


def _pool_inactive(pool: Pool, users: list[Guest], broken: bool = False) -> list[Problem]:
    if not users:
        return []
    names = tuple(g.name for g in users)
    auto_guests = [g.name for g in users if g.autostart]
    if not pool.active:
        running = [g.name for g in users if g.active]
        if broken:
            start = "Fix its PF first (see the problem above), then start it"
        else:
            start = "Start it"
        start += "" if pool.autostart else ", and turn its autostart on so it starts at boot"
        start += "."
        still = (f" ({_names(running)} still run{'s' if len(running) == 1 else ''} with VFs "
                 "from before the pool stopped.)" if running else "")
        one = len(users) == 1
        return [Problem(
            kind=ProblemKind.POOL_INACTIVE,
            severity="error" if (auto_guests or running) else "warning",
            message=(f"Pool {pool.name} is not active, but {_plural(len(users), 'guest')} "
                     f"({_names(names)}) {'uses' if one else 'use'} it: "
                     f"{'it' if one else 'they'} cannot start (libvirt: \"network "
                     f"'{pool.name}' is not active\").{still} {start}"),
            guests=names,
            pool=pool.name,
        )]
    if not pool.autostart and auto_guests:
        why = "is transient (it disappears at host reboot)" if not pool.persistent \
            else "does not start at boot (autostart is off)"
        return [Problem(
            kind=ProblemKind.POOL_INACTIVE,
            severity="warning",
            message=(f"Pool {pool.name} is active now but {why}, while guests that start at boot "
                     f"use it ({_names(auto_guests)}): after a host reboot the pool is inactive "
                     f"and they fail to start. Turn the pool's autostart on"
                     f"{' (define it persistently first)' if not pool.persistent else ''}."),
            guests=tuple(auto_guests),
            pool=pool.name,
        )]
    return []


def _xml_errors(guests: tuple[Guest, ...]) -> list[Problem]:
    out = []
    for g in guests:
        if not g.errors:
            continue
        out.append(Problem(
            kind=ProblemKind.GUEST_XML_ERROR,
            severity="warning",
            message=(f"The definition of guest {g.name} could not be read completely: "
                     f"{'; '.join(g.errors)}. Its VF devices may be missing from this scan, so "
                     "VF holders shown here may be incomplete. Check the guest's XML."),
            guests=(g.name,),
        ))
    return out


def _no_iommu(host: Host, guests: tuple[Guest, ...], pools: tuple[Pool, ...]) -> list[Problem]:
    """VFs but no IOMMU group on any of them: the kernel runs without an IOMMU (VT-d / AMD-Vi off)."""
    vfs = [vf for pf in host.pfs for vf in pf.vfs]
    if not vfs or any(vf.iommu_group is not None for vf in vfs):
        return []
    users = sorted({g.name for g in guests if g.vf_uses})
    severe = bool(users or pools)
    return [Problem(
        kind=ProblemKind.HOST_NO_IOMMU,
        severity="error" if severe else "warning",
        message=(f"No VF of this host is in an IOMMU group ({_plural(len(vfs), 'VF')} checked): the "
                 "kernel runs without an IOMMU, so no guest can be given a VF, pooled or hard-coded "
                 "(libvirt: \"host doesn't support passthrough of host PCI devices\", code 67). "
                 "Enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup, boot Intel hosts "
                 "with intel_iommu=on (add iommu=pt to keep host I/O fast), reboot, and check "
                 "/sys/kernel/iommu_groups is not empty."),
        guests=tuple(users),
        pcis=tuple(vf.pci for vf in vfs),
    )]


def _missing_networks(guests: tuple[Guest, ...]) -> list[Problem]:
    out = []
    for g in guests:
        for net in g.missing_networks:
            out.append(Problem(
                kind=ProblemKind.GUEST_NETWORK_MISSING,
                severity="error" if g.autostart or not g.active else "warning",
                message=(f"Guest {g.name} has an interface on network {net}, which libvirt does not "
                         f"have: its next start fails (libvirt: \"no network with matching name "
                         f"'{net}'\"). Create the network (vfpool-tui pool create ... --name {net} for a "
                         "VF pool), or point the interface at an existing one."),
                guests=(g.name,),
            ))
    return out
