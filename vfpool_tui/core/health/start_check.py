"""Would a guest start now, and which VF would libvirt give it? Answered from the scan, starting nothing.

libvirt hands a starting pool guest the first VF in pool order that has no connection
(``networkAllocatePort`` walks the pool's ``<forward>`` address list, LIBVIRT-FACTS.md); it does not
know about VFs hard-coded in guests, so it may hand out one a running guest already holds, and the
start then fails with "PCI device ... is in use". A hard-coded VF must exist, be in no other running
guest, and the host must have an IOMMU.

When libvirt does not say which VF a running pool guest holds (no network ports), the VF a new
guest would get is unknown: the verdict says so and still counts (the number of free VFs is known).
"""

from __future__ import annotations

from dataclasses import dataclass

from vfpool_tui.core.capacity import HARD_CODED
from vfpool_tui.core.model import Guest, Pool, Scan, UseKind
from vfpool_tui.core.wording import names as _names
from vfpool_tui.core.wording import plural as _plural


@dataclass(frozen=True)
class DeviceVerdict:
    device: str  # "pool passthrough", "hostdev 0000:03:10.1"
    ok: bool | None  # None: cannot tell
    vf: str | None  # the VF it would get (pool) or names (hard-coded); None: unknown
    reason: str


@dataclass(frozen=True)
class StartVerdict:
    guest: str
    running: bool
    ok: bool | None  # None: cannot tell (some device's outcome is unknown)
    devices: tuple[DeviceVerdict, ...]
    summary: str


@dataclass(frozen=True)
class PoolQueue:
    """A pool with more guests than VFs: who fails if every guest configured on it were started."""

    pool: str
    capacity: int | None
    guests: tuple[str, ...]  # every guest with an interface on the pool: running first, then by name
    fail: tuple[str, ...]  # those whose start fails (the last ones), empty when all fit
    summary: str


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _connected(scan: Scan, pool: Pool) -> tuple[set[str], int]:
    """(the pool VFs known to have a connection, how many connections hold a VF libvirt does not name)."""
    known: set[str] = set()
    unknown = 0
    for g in scan.guests:
        if not g.active:
            continue
        for u in g.vf_uses:
            if u.kind is UseKind.POOL and u.network == pool.name:
                if u.pci:
                    known.add(u.pci)
                else:
                    unknown += 1
    return known, unknown


def _hard_held(scan: Scan, exclude: str) -> dict[str, str]:
    """VF -> a running guest (other than ``exclude``) that hard-codes it."""
    out: dict[str, str] = {}
    for g in scan.guests:
        if g.active and g.name != exclude:
            for u in g.vf_uses:
                if u.kind in HARD_CODED and u.pci:
                    out.setdefault(u.pci, g.name)
    return out


def _iommu_missing(scan: Scan) -> bool:
    vfs = [vf for pf in scan.host.pfs for vf in pf.vfs]
    return bool(vfs) and all(vf.iommu_group is None for vf in vfs)


def would_start(scan: Scan, guest_name: str) -> StartVerdict | None:
    """None when there is no such guest."""
    guest = next((g for g in scan.guests if g.name == guest_name), None)
    if guest is None:
        return None
    devices: list[DeviceVerdict] = []
    hard_held = _hard_held(scan, guest.name)
    no_iommu = _iommu_missing(scan)
    taken: dict[str, int] = {}  # pool -> VFs this guest's earlier devices take
    for net in guest.missing_networks:
        devices.append(DeviceVerdict(f"network {net}", False, None,
                                     f"network {net} does not exist (\"no network with matching name\")"))
    for u in guest.vf_uses:
        if u.kind is UseKind.POOL:
            devices.append(_pool_device(scan, guest, u.network or "", hard_held, taken, no_iommu))
        else:
            devices.append(_hard_device(scan, u.pci, u.kind, hard_held, no_iommu))
    if guest.active:
        summary = f"{guest.name} is running" + (
            f" with {_plural(len(guest.vf_uses), 'VF device')}." if guest.vf_uses else ".")
        return StartVerdict(guest.name, True, True, tuple(devices), summary)
    if any(d.ok is False for d in devices):
        ok: bool | None = False
        why = "; ".join(d.reason for d in devices if d.ok is False)
        summary = f"{guest.name} would not start: {why}."
    elif any(d.ok is None for d in devices):
        ok = None
        summary = f"{guest.name} cannot be judged: " + "; ".join(d.reason for d in devices if d.ok is None) + "."
    else:
        ok = True
        got = ", ".join(f"{d.device} -> {d.vf or 'a VF (which one: unknown)'}" for d in devices)
        summary = f"{guest.name} would start" + (f": {got}." if devices else " (it uses no VF).")
    return StartVerdict(guest.name, False, ok, tuple(devices), summary)


def _hard_device(scan: Scan, pci: str | None, kind: UseKind, hard_held: dict[str, str],
                 no_iommu: bool) -> DeviceVerdict:
    label = f"{'hostdev' if kind is UseKind.HOSTDEV else 'interface hostdev'} {pci}"
    if pci is None or scan.host.vf(pci) is None:
        return DeviceVerdict(label, False, None, f"VF {pci} does not exist on this host")
    if pci in hard_held:
        return DeviceVerdict(label, False, pci, f"VF {pci} is in use by running guest {hard_held[pci]}")
    if no_iommu:
        return DeviceVerdict(label, False, pci, "the host has no IOMMU (no PCI passthrough at all)")
    return DeviceVerdict(label, True, pci, f"VF {pci} is free")


def _pool_device(scan: Scan, guest: Guest, name: str, hard_held: dict[str, str],
                 taken: dict[str, int], no_iommu: bool) -> DeviceVerdict:
    label = f"pool {name}"
    pool = next((p for p in scan.pools if p.name == name), None)
    if pool is None:
        return DeviceVerdict(label, False, None, f"network {name} does not exist")
    if not pool.active:
        return DeviceVerdict(label, False, None, f"pool {name} is not active")
    if no_iommu:
        return DeviceVerdict(label, False, None, "the host has no IOMMU (no PCI passthrough at all)")
    if pool.capacity is None:
        return DeviceVerdict(label, None, None, f"the VFs of pool {name} are not known (PF missing?)")
    known, unknown = _connected(scan, pool)
    mine = taken.get(name, 0)
    taken[name] = mine + 1
    # libvirt counts its own connections: in_use of them, this guest's earlier devices add theirs
    if pool.in_use + mine >= pool.capacity:
        return DeviceVerdict(label, False, None,
                             f"pool {name} has no free VF ({pool.in_use} of {pool.capacity} in use"
                             + (f", {mine} taken by this guest's other devices" if mine else "")
                             + "): \"requires exclusive access to interfaces, but none are available\"")
    if unknown:
        blocked = [a for a in pool.vf_pcis if a in hard_held]
        risk = (f"; {_plural(len(blocked), 'pool VF')} hard-coded in running guests may be handed out, "
                f"and the start then fails" if blocked else "")
        return DeviceVerdict(label, True if not blocked else None, None,
                             f"pool {name} has a free VF; which one libvirt gives, it does not say "
                             f"({_plural(unknown, 'running guest')} hold VFs it does not name){risk}")
    free_in_order = [a for a in pool.vf_pcis if a not in known]
    if mine >= len(free_in_order):
        return DeviceVerdict(label, False, None, f"pool {name} has no free VF left for this device")
    vf = free_in_order[mine]
    if vf in hard_held:
        return DeviceVerdict(label, False, vf,
                             f"libvirt would give it {vf}, the first pool VF with no connection, but "
                             f"running guest {hard_held[vf]} hard-codes that VF (\"PCI device {vf} is "
                             f"in use\")")
    return DeviceVerdict(label, True, vf, f"libvirt would give it {vf} (the first free VF in pool order)")


def pool_queue(scan: Scan, pool: Pool) -> PoolQueue:
    """If every guest configured on ``pool`` were started (running ones first, then by name)."""
    running = sorted(g.name for g in scan.guests if g.active for u in g.vf_uses
                     if u.kind is UseKind.POOL and u.network == pool.name)
    waiting = sorted(g.name for g in scan.guests if not g.active for u in g.vf_uses
                     if u.kind is UseKind.POOL and u.network == pool.name)
    order = tuple(running + waiting)  # a guest with two interfaces on the pool appears twice
    guests = tuple(dict.fromkeys(order))
    if pool.capacity is None:
        return PoolQueue(pool.name, None, guests, (), f"{_plural(len(guests), 'guest')} use '{pool.name}'; "
                         "its size is not known.")
    # each interface takes a VF; VFs hard-coded in running guests are taken too
    room = pool.capacity - pool.blocked
    fail_slots = list(range(room, len(order))) if len(order) > room else []
    fail = tuple(dict.fromkeys(order[i] for i in fail_slots))
    if not fail:
        summary = (f"{_plural(len(guests), 'guest')} use '{pool.name}', it has "
                   f"{_plural(pool.capacity, 'VF')}: all of them can run at once.")
    else:
        nth = [_ordinal(i + 1) for i in fail_slots]
        which = nth[0] if len(nth) == 1 else ", ".join(nth[:-1]) + " and " + nth[-1]
        blocked = (f" ({pool.blocked} of them hard-coded in running guests)" if pool.blocked else "")
        summary = (f"{_plural(len(guests), 'guest')} use '{pool.name}', it has "
                   f"{_plural(pool.capacity, 'VF')}{blocked}: the {which} start "
                   f"{'fails' if len(nth) == 1 else 'fail'} ({_names(fail)}; running guests first, "
                   "then by name).")
    return PoolQueue(pool.name, pool.capacity, guests, fail, summary)
