"""Planning a remedy from a ``Scan``: what will be done, in order, which guests go down for it, and
every reason not to go ahead (``RemedyRefused``, one line). Reads nothing but the scan (and, for a
grow, the udev rule file already in place), so the CLI's ``--dry-run`` and the TUI's preview show
exactly what a run would do.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vfpool_tui.core import pci as _pci
from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import PF, Pool, ProblemKind, Scan, UseKind
from vfpool_tui.core.pools import create as pool_create
from vfpool_tui.core.wording import names as _names
from vfpool_tui.core.wording import plural as _plural

RELEASE_VFS = "release-vfs"
RESTART_POOL = "restart-pool"
GROW_PF = "grow-pf"
KINDS = (RELEASE_VFS, RESTART_POOL, GROW_PF)


class RemedyRefused(Exception):
    """The remedy must not go ahead. ``reason`` (== ``str()``) is one line for the operator."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GuestStop:
    """A running guest the remedy shuts down and starts again."""

    guest: str
    uuid: str
    why: str  # "pool interface on 'pool-a'", "hard-codes 0000:02:10.1"


@dataclass(frozen=True)
class RemedyPlan:
    kind: str  # RELEASE_VFS | RESTART_POOL | GROW_PF
    title: str  # one line: what it does
    target: str  # the row the progress screen shows for it: "0000:02:10.3", "pool pool-a", "PF eth3"
    steps: tuple[str, ...]  # what will be done, in order
    guests: tuple[GuestStop, ...] = ()  # shut down first, started again after (downtime)
    vfs: tuple[str, ...] = ()  # release: the VFs given back to the host
    networks: tuple[str, ...] = ()  # pool networks restarted (the active ones)
    pf_pci: str | None = None  # grow
    pf_name: str | None = None
    numvfs_before: int | None = None
    numvfs: int | None = None
    persist: bool = False
    rule_path: Path | None = None
    rule_text: str | None = None
    warnings: tuple[str, ...] = ()
    sysfs_root: str = sriov.SYSFS
    udev_root: str = "/"

    @property
    def downtime(self) -> bool:
        return bool(self.guests)

    def command(self) -> str:
        """The CLI command that does the same."""
        if self.kind == RELEASE_VFS:
            return "vfpool-tui remedy release-vfs " + " ".join(self.vfs)
        if self.kind == RESTART_POOL:
            return f"vfpool-tui remedy restart-pool {shlex.quote(self.networks[0] if self.networks else self.target)}"
        return (f"vfpool-tui remedy grow-pf {shlex.quote(self.pf_name or '')} --numvfs {self.numvfs}"
                + (" --persist-numvfs" if self.persist else ""))

    def describe(self) -> list[str]:
        """The plan as text lines (CLI ``--dry-run``, the TUI's confirmation)."""
        lines = [self.title]
        if self.guests:
            lines.append(f"guests shut down and started again ({_plural(len(self.guests), 'guest')}, "
                         "downtime for each):")
            lines.extend(f"  {g.guest}: {g.why}" for g in self.guests)
        else:
            lines.append("no guest is shut down")
        lines.append("steps:")
        lines.extend(f"  {i}. {s}" for i, s in enumerate(self.steps, 1))
        if self.rule_text:
            lines.append(f"udev rule {self.rule_path}:")
            lines.extend("  " + ln for ln in self.rule_text.splitlines())
        lines.extend(f"warning: {w}" for w in self.warnings)
        return lines


# --------------------------------------------------------------------------- release leaked VFs


def leaked_vfs(scan: Scan) -> tuple[str, ...]:
    """The VFs of the scan's ``vfio-unused`` problems: bound to vfio-pci, no guest names or holds
    them, in no pool with a running guest whose VF libvirt does not name, in no unmanaged pool."""
    out: list[str] = []
    for p in scan.problems:
        if p.kind is ProblemKind.VFIO_UNUSED:
            out.extend(a for a in p.pcis if a not in out)
    return tuple(out)


def named_by(scan: Scan, address: str) -> list[str]:
    """Guests whose definition names the VF (a hard-coded device, running or not)."""
    return sorted({g.name for g in scan.guests for u in g.vf_uses
                   if u.kind is not UseKind.POOL and u.pci == address})


def release_refusal(scan: Scan, address: str, leaked: Sequence[str] | None = None) -> str | None:
    """Why ``address`` must not be given back to the host now, or None."""
    vf = scan.host.vf(address)
    if vf is None:
        return f"{address} is not a VF of this host"
    names = named_by(scan, address)
    if names:
        return (f"VF {address} is named in the definition of {_names(names)}: a VF a guest definition "
                "names is never released (convert the guest to a pool, or edit it, first)")
    if vf.driver != "vfio-pci":
        return f"VF {address} is bound to {vf.driver or 'no driver'}, not vfio-pci: nothing to release"
    holders = sorted({g.name for g in scan.guests if g.active for u in g.vf_uses if u.pci == address})
    if holders:
        return f"VF {address} is held by running guest {_names(holders)}"
    if address not in (leaked_vfs(scan) if leaked is None else leaked):
        pools = [p for p in scan.pools if address in p.vf_pcis]
        if any(not p.managed for p in pools):
            return (f"VF {address} is in unmanaged pool {_names(p.name for p in pools)}: it is bound to "
                    "vfio-pci on purpose")
        return (f"VF {address} is in pool {_names(p.name for p in pools) or '?'}, whose running guests "
                "hold VFs libvirt does not name: it may be one of theirs")
    return None


def plan_release(scan: Scan, addresses: Sequence[str] = ()) -> RemedyPlan:
    """Give leaked VFs back to their host driver: the named ones, or every ``vfio-unused`` VF."""
    if scan.libvirt_error:
        raise RemedyRefused(f"libvirt could not be read, so no guest can be ruled out: {scan.libvirt_error}")
    leaked = leaked_vfs(scan)
    if addresses:
        wanted = []
        for a in addresses:
            try:
                wanted.append(_pci.normalize(a))
            except _pci.PciAddressError as err:
                raise RemedyRefused(str(err)) from None
        wanted = list(dict.fromkeys(wanted))
        for a in wanted:
            why = release_refusal(scan, a, leaked)
            if why:
                raise RemedyRefused(why)
    else:
        wanted = list(leaked)
        if not wanted:
            raise RemedyRefused("no leaked VF: no VF is bound to vfio-pci without a guest using it")
    pfs = []
    for a in wanted:
        vf = scan.host.vf(a)
        pf = scan.host.pf(vf.pf_pci) if vf else None
        if pf is not None and pf.name not in pfs:
            pfs.append(pf.name)
    steps = tuple(f"give {a} back to its host driver (virNodeDeviceReAttach {_pci.nodedev_name(a)})"
                  for a in wanted)
    return RemedyPlan(
        kind=RELEASE_VFS,
        title=f"Release {_plural(len(wanted), 'leaked VF')} of {_names(pfs)} to the host driver",
        target=wanted[0], steps=steps, vfs=tuple(wanted),
        warnings=("each VF is checked again against every guest definition right before it is "
                  "released; a VF is released or left as it is, one by one",))


# --------------------------------------------------------------------------- restart a pool


def _pool_guests(scan: Scan, pool: Pool) -> tuple[GuestStop, ...]:
    out = []
    for g in scan.guests:
        if g.active and any(u.kind is UseKind.POOL and u.network == pool.name for u in g.vf_uses):
            out.append(GuestStop(g.name, g.uuid, f"pool interface on '{pool.name}'"))
    return tuple(out)


def stale_problem(scan: Scan, network: str):
    return next((p for p in scan.problems if p.kind is ProblemKind.POOL_STALE and p.pool == network), None)


def plan_restart(scan: Scan, network: str) -> RemedyPlan:
    """Rebuild a pool's VF list: its running guests shut down, the network stopped and started."""
    if scan.libvirt_error:
        raise RemedyRefused(f"libvirt could not be read: {scan.libvirt_error}")
    pool = next((p for p in scan.pools if p.name == network), None)
    if pool is None:
        raise RemedyRefused(f"no hostdev pool network named '{network}'")
    if not pool.active:
        raise RemedyRefused(f"pool '{network}' is not active: there is nothing to restart (start it: "
                            f"virsh net-start {shlex.quote(network)})")
    if not pool.persistent:
        raise RemedyRefused(f"pool '{network}' is transient: a transient network is gone once stopped, "
                            "so it cannot be started again")
    guests = _pool_guests(scan, pool)
    warnings = []
    if stale_problem(scan, network) is None:
        warnings.append(f"pool '{network}' is not stale: its VF list matches its PF's VFs now")
    steps = []
    if guests:
        steps.append(f"shut down {_names(g.guest for g in guests)} (ACPI; waited for)")
    steps += [f"stop network '{network}' (virNetworkDestroy)",
              f"start network '{network}' (virNetworkCreate): its VF list is built again from the PF",
              ]
    if guests:
        steps.append(f"start {_names(g.guest for g in guests)} again")
    return RemedyPlan(kind=RESTART_POOL, title=f"Restart pool '{network}' to rebuild its VF list",
                      target=f"pool {network}", steps=tuple(steps), guests=guests, networks=(network,),
                      warnings=tuple(warnings))


# --------------------------------------------------------------------------- grow a PF


def _holders(scan: Scan, pf: PF) -> tuple[GuestStop, ...]:
    """Running guests holding a VF of the PF: hard-coded, or a pool interface on a pool over it."""
    by_guest: dict[str, list[str]] = {}
    uuids = {}
    for use in sriov.held_vfs(scan, pf):
        uuids[use.guest] = use.guest_uuid
        what = (f"pool interface on '{use.network}'" if use.kind is UseKind.POOL
                else f"hard-codes {use.pci}")
        if what not in by_guest.setdefault(use.guest, []):
            by_guest[use.guest].append(what)
    return tuple(GuestStop(g, uuids[g], ", ".join(whys)) for g, whys in by_guest.items())


def plan_grow(scan: Scan, pf_key: str, numvfs: int, *, persist: bool = False,
              sysfs_root: str = sriov.SYSFS, udev_root: str = "/") -> RemedyPlan:
    """Raise a PF's VF count: its holders down, its pools stopped, 0 then N, up again."""
    if scan.libvirt_error:
        raise RemedyRefused(f"libvirt could not be read, so its guests cannot be known: {scan.libvirt_error}")
    try:
        pf = pool_create.find_pf(scan, pf_key, sysfs_root)
    except pool_create.PoolRefused as err:
        raise RemedyRefused(err.reason) from None
    pools = pool_create.pools_using(scan, pf)
    if scan.meta.get("discovery") == "libvirt":
        then = ("restart the pool: vfpool-tui remedy restart-pool " + shlex.quote(pools[0].name) if pools
                else "scan again")
        raise RemedyRefused(pool_create.remote_numvfs_reason(scan, pf, then))
    if isinstance(numvfs, bool) or not isinstance(numvfs, int):
        raise RemedyRefused(f"the VF count must be a whole number, not {numvfs!r}")
    if pf.totalvfs <= 0:
        raise RemedyRefused(f"{pf.name} ({pf.pci}) is not SR-IOV capable (sriov_totalvfs is 0)")
    if numvfs > pf.totalvfs:
        raise RemedyRefused(f"{pf.name} supports at most {pf.totalvfs} VFs (sriov_totalvfs), not {numvfs}")
    if numvfs <= pf.numvfs:
        raise RemedyRefused(f"{pf.name} has {pf.numvfs} VFs already; grow-pf only raises the count "
                            f"(up to {pf.totalvfs})")
    guests = _holders(scan, pf)
    nets = tuple(p.name for p in pools if p.active)
    path = sriov.numvfs_path(pf.pci, sysfs_root)
    steps = []
    if guests:
        steps.append(f"shut down {_names(g.guest for g in guests)} (ACPI; waited for)")
    steps += [f"stop pool network '{n}' (virNetworkDestroy)" for n in nets]
    if pf.numvfs:
        steps.append(f"write 0 to {path}: the kernel destroys {pf.name}'s {_plural(pf.numvfs, 'VF')}")
    steps.append(f"write {numvfs} to {path}")
    steps.append(f"wait for {numvfs} VFs to appear (up to {sriov.VF_WAIT:g} s)")
    steps += [f"start pool network '{n}' (virNetworkCreate): {numvfs} VFs in it" for n in nets]
    rule_path = sriov.udev_rule_path(pf.pci, udev_root)
    rule_text = sriov.udev_rule_text(pf, numvfs)
    if persist:
        steps.append(f"write udev rule {rule_path} ({numvfs} VFs at boot)")
    if guests:
        steps.append(f"start {_names(g.guest for g in guests)} again")
    warnings = []
    if pf.numvfs:
        warnings.append(f"the kernel re-creates all {numvfs} VFs of {pf.name}: MAC, VLAN and driver "
                        "settings made on the host VFs start from defaults")
    if not persist and not _rule_in_place(rule_path, rule_text):
        warnings.append(f"sriov_numvfs does not survive a reboot: {pf.name} comes back with the count "
                        f"the boot sets; a udev rule ({rule_path}) can set {numvfs} VFs at boot "
                        "(--persist-numvfs)")
    for p in pools:
        if not p.active:
            warnings.append(f"pool network '{p.name}' is not active: it is left stopped")
    return RemedyPlan(
        kind=GROW_PF, title=f"Grow {pf.name} ({pf.pci}) from {pf.numvfs} to {numvfs} VFs",
        target=f"PF {pf.name}", steps=tuple(steps), guests=guests, networks=nets, pf_pci=pf.pci,
        pf_name=pf.name, numvfs_before=pf.numvfs, numvfs=numvfs, persist=persist,
        rule_path=rule_path if persist else None, rule_text=rule_text if persist else None,
        warnings=tuple(warnings), sysfs_root=sysfs_root, udev_root=udev_root)


def _rule_in_place(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except OSError:
        return False
