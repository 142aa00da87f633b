"""The figures every view shows, computed once: who may hold each VF, the counts per PF and per
pool, and the problem count.

The header, the host, VF, pool and problem views, ``scan``, ``pool list|show``, ``capacity`` and the
conversion budget all read these, so one host never gives two answers.

Rules:

- A VF is **hard-coded** when any guest definition names it (``<hostdev>`` or ``<interface
  type='hostdev'>``), running or not: starting that guest takes it. Hard-coding wins over pool
  membership (a pool VF that is also hard-coded is a conflict, reported as a problem).
- A pool VF is **held** when a running pool guest is known to hold it (network port or live XML).
- A pool VF **may be held** when its pool has running guests whose VF libvirt does not tell
  (no network ports, e.g. the test driver): it is never shown or counted as free, its holder is
  "unknown".
- A VF is **free** only when nothing holds it and nothing may hold it.

Per PF the VFs split into hard-coded + pooled + outside any pool (``hard + pooled + unpooled ==
vfs``, and ``pool_held + pool_unknown + pool_free == pooled``); per pool ``in_use + blocked + free
== size`` whenever the size is known and the pool is not over-subscribed (``over`` says by how
much it is). A pool VF hard-coded in a shut-off guest counts as hard-coded on its PF and as free
in its pool (libvirt would hand it out): that conflict is reported as a problem.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from vfpool_tui.core.model import PF, Guest, Pool, Problem, Scan, UseKind, VfUse

HARD_CODED = (UseKind.HOSTDEV, UseKind.INTERFACE_HOSTDEV)


class Occupancy(StrEnum):
    FREE = "free"  # in no pool; nothing holds it, nothing may
    POOL_FREE = "pool-free"  # in a pool; no running guest holds it or may
    POOL_HELD = "pool-held"  # a running pool guest holds it (known)
    POOL_MAYBE = "pool-unknown"  # in a pool with running guests whose VF is not known
    HARD = "hard-coded"  # named by a guest definition
    UNKNOWN = "unknown"  # libvirt could not be read: any guest may hold it, or none


@dataclass(frozen=True)
class VfFigure:
    pci: str
    occupancy: Occupancy
    pool: str | None  # the pool it belongs to
    holders: tuple[VfUse, ...]  # known: hard-coded uses (any guest), pool uses of running guests
    # when POOL_MAYBE: the running guests on its pool whose VF is not known (one of them may hold it)
    maybe_holders: tuple[str, ...] = ()

    @property
    def free(self) -> bool:
        return self.occupancy in (Occupancy.FREE, Occupancy.POOL_FREE)


@dataclass(frozen=True)
class PoolCounts:
    """A pool's capacity versus use: the numbers the pool row, ``pool list`` and the budget show."""

    size: int | None  # VFs in the pool; None when it cannot be known (PF missing)
    in_use: int  # pool interfaces of running guests
    blocked: int  # pool VFs hard-coded in running guests (libvirt may hand them out; the start fails)
    unknown: int  # of in_use: interfaces whose VF libvirt does not say
    free: int | None  # size - in_use - blocked, never below 0; None when the size is unknown

    @property
    def over(self) -> int:
        """How many more VFs are in use or blocked than the pool has (0 normally)."""
        if self.size is None:
            return 0
        return max(0, self.in_use + self.blocked - self.size)


@dataclass(frozen=True)
class PfCounts:
    enabled: int  # sriov_numvfs
    total: int  # sriov_totalvfs
    vfs: int  # VFs found (normally == enabled)
    hard: int  # hard-coded in a guest definition
    pooled: int  # in a pool (and not hard-coded)
    pool_held: int  # of pooled: known to be held by a running pool guest
    pool_unknown: int  # of pooled: may be held, holder unknown
    pool_free: int  # of pooled: free in the pool (no running guest may hold it)
    unpooled: int  # in no pool and not hard-coded
    # how many of the pool_unknown VFs are free: exact when their pools lie on this PF alone, a
    # range when a pool spans PFs (its unknown holders may sit on either)
    unknown_free_lo: int = 0
    unknown_free_hi: int = 0
    unknown: int = 0  # libvirt could not be read: nothing is known of who holds these (all VFs)

    @property
    def free_lo(self) -> int:
        """VFs nothing holds, at the least: unpooled + free in a pool (+ the unknown ones' share);
        none of those libvirt could not be asked about."""
        return self.unpooled + self.pool_free + self.unknown_free_lo

    @property
    def free_hi(self) -> int:
        return self.unpooled + self.pool_free + self.unknown_free_hi + self.unknown

    @property
    def held_unknown_lo(self) -> int:
        """VFs running pool guests hold without libvirt saying which, at the least."""
        return self.pool_unknown - self.unknown_free_hi

    @property
    def held_unknown_hi(self) -> int:
        return self.pool_unknown - self.unknown_free_lo


@dataclass(frozen=True)
class ProblemCount:
    error: int = 0
    warning: int = 0
    info: int = 0

    @property
    def total(self) -> int:
        return self.error + self.warning + self.info


@dataclass(frozen=True)
class HostTotals:
    """One host in a line (the hosts overview): its PFs' counts added up, the pools near exhaustion
    and the problems. ``free_lo``..``free_hi`` as on each PF (a range only when libvirt does not
    say which VF a running pool guest holds)."""

    pfs: int
    vfs: int  # VFs found on the PFs
    hard: int
    pooled: int
    unpooled: int
    free_lo: int
    free_hi: int
    near_exhaustion: tuple[str, ...]  # names of the active pools with at most one VF free
    problems: ProblemCount


def near_exhaustion(pool: Pool, counts: PoolCounts) -> bool:
    """An active pool with at most one VF free (``doctor``'s ``near_exhaustion``, the overview's)."""
    return bool(pool.active and counts.free is not None and counts.free <= 1)


def pool_counts(name: str, members: tuple[str, ...], complete: bool,
                guests: tuple[Guest, ...] | list[Guest]) -> PoolCounts:
    """The counts of pool ``name`` made of ``members`` (``complete``: the list is the whole pool)."""
    member_set = set(members)
    in_use = unknown = 0
    blocked: set[str] = set()
    for g in guests:
        if not g.active:
            continue
        for u in g.vf_uses:
            if u.kind is UseKind.POOL:
                if u.network == name:
                    in_use += 1
                    unknown += u.pci is None
            elif u.pci in member_set:
                blocked.add(u.pci)
    size = len(members) if complete else None
    free = None if size is None else max(0, size - in_use - len(blocked))
    return PoolCounts(size=size, in_use=in_use, blocked=len(blocked), unknown=unknown, free=free)


def counts_of(pool: Pool) -> PoolCounts:
    """The counts stored on a ``Pool`` (inventory fills them with ``pool_counts``)."""
    return PoolCounts(size=pool.capacity, in_use=pool.in_use, blocked=pool.blocked,
                      unknown=pool.unknown, free=pool.free)


def problem_count(problems: tuple[Problem, ...] | list[Problem]) -> ProblemCount:
    c = Counter(p.severity for p in problems)
    return ProblemCount(error=c["error"], warning=c["warning"], info=c["info"])


class Figures:
    """The figures of one scan (computed once per scan; every view reads them)."""

    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self.pool_of_vf: dict[str, Pool] = {}
        for pool in scan.pools:
            for a in pool.vf_pcis or pool.addresses:
                self.pool_of_vf.setdefault(a, pool)
        known: dict[str, list[VfUse]] = {}
        unknown_on: dict[str, list[str]] = {}  # pool -> running guests whose VF is not known
        for g in scan.guests:
            for u in g.vf_uses:
                if u.kind is UseKind.POOL:
                    if not g.active:
                        continue
                    if u.pci is None:
                        if u.network:
                            unknown_on.setdefault(u.network, []).append(g.name)
                        continue
                if u.pci:
                    known.setdefault(u.pci, []).append(u)
        self.vfs: dict[str, VfFigure] = {}
        for pf in scan.host.pfs:
            for vf in pf.vfs:
                self.vfs[vf.pci] = self._vf(vf.pci, known.get(vf.pci, ()), unknown_on)
        # a VF a guest names that the host does not have (missing) still has its holders
        for pci, uses in known.items():
            if pci not in self.vfs:
                self.vfs[pci] = self._vf(pci, uses, unknown_on)
        self.pools: dict[str, PoolCounts] = {p.name: counts_of(p) for p in scan.pools}
        self._unknown_holders = {name: len(gs) for name, gs in unknown_on.items()}
        self._maybe_total = Counter(f.pool for f in self.vfs.values() if f.occupancy is Occupancy.POOL_MAYBE)
        self.pfs: dict[str, PfCounts] = {pf.pci: self._pf(pf) for pf in scan.host.pfs}
        self.problems = problem_count(scan.problems)

    def _vf(self, pci: str, uses, unknown_on: dict[str, list[str]]) -> VfFigure:
        pool = self.pool_of_vf.get(pci)
        uses = tuple(uses)
        pool_name = pool.name if pool else None
        if self.scan.libvirt_error is not None:  # no guest was read: a VF is free only when nothing may hold it
            return VfFigure(pci, Occupancy.UNKNOWN, pool_name, uses)
        if any(u.kind in HARD_CODED for u in uses):
            occ = Occupancy.HARD
        elif uses:
            occ = Occupancy.POOL_HELD
        elif pool is not None and unknown_on.get(pool.name):
            return VfFigure(pci, Occupancy.POOL_MAYBE, pool_name, (), tuple(unknown_on[pool.name]))
        elif pool is not None:
            occ = Occupancy.POOL_FREE
        else:
            occ = Occupancy.FREE
        return VfFigure(pci, occ, pool_name, uses)

    def _pf(self, pf: PF) -> PfCounts:
        c = Counter(self.vfs[vf.pci].occupancy for vf in pf.vfs)
        # a pool with k running guests whose VF is unknown, and m VFs that may be held: exactly k
        # of the m are held (libvirt counts its own connections), m - k are free, nobody knows
        # which; split over PFs, this PF's share is a range
        lo = hi = 0
        mine = Counter(self.vfs[vf.pci].pool for vf in pf.vfs
                       if self.vfs[vf.pci].occupancy is Occupancy.POOL_MAYBE)
        for pool, here in mine.items():
            m, k = self._maybe_total[pool], self._unknown_holders[pool]
            lo += max(0, here - k)
            hi += min(here, max(0, m - k))
        pooled = c[Occupancy.POOL_HELD] + c[Occupancy.POOL_MAYBE] + c[Occupancy.POOL_FREE]
        return PfCounts(
            enabled=pf.numvfs, total=pf.totalvfs, vfs=len(pf.vfs),
            hard=c[Occupancy.HARD], pooled=pooled, pool_held=c[Occupancy.POOL_HELD],
            pool_unknown=c[Occupancy.POOL_MAYBE], pool_free=c[Occupancy.POOL_FREE],
            unpooled=c[Occupancy.FREE], unknown_free_lo=lo, unknown_free_hi=hi,
            unknown=c[Occupancy.UNKNOWN])

    def host_totals(self) -> HostTotals:
        pfs = list(self.pfs.values())
        return HostTotals(
            pfs=len(pfs), vfs=sum(c.vfs for c in pfs), hard=sum(c.hard for c in pfs),
            pooled=sum(c.pooled for c in pfs), unpooled=sum(c.unpooled for c in pfs),
            free_lo=sum(c.free_lo for c in pfs), free_hi=sum(c.free_hi for c in pfs),
            near_exhaustion=tuple(p.name for p in self.scan.pools if near_exhaustion(p, self.pools[p.name])),
            problems=self.problems)

    def vf(self, pci: str) -> VfFigure | None:
        return self.vfs.get(pci)

    def pool(self, name: str) -> PoolCounts | None:
        return self.pools.get(name)

    def pf(self, pci: str) -> PfCounts | None:
        return self.pfs.get(pci)
