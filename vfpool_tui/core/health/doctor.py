"""One document for scripts: capacity, every problem with its remedy, and an overall status.

``report(scan)`` builds it (what ``vfpool-tui doctor --json`` prints and ``metrics`` exports); the
figures are ``core.capacity``'s, the same every view shows. Schema (``schema_version`` 1; a field
is only ever added within a version, never renamed or removed; ``null`` = unknown):

- ``schema``: ``"vfpool-tui/doctor"``, ``schema_version``: 1, ``generated_at`` (ISO 8601, UTC),
  ``uri``, ``status``: ``ok`` | ``warning`` | ``error``, ``exit_status``: 0 | 1 | 2
- ``counts``: ``{pfs, vfs, pools, guests, problems: {error, warning, info, total}}``
- ``pfs``: ``{name, pci, link, enabled, total, hard_coded, pooled, free_min, free_max}``
- ``pools``: ``{name, active, autostart, pfs, size, in_use, blocked, free, unknown, near_exhaustion,
  if_all_started: {guests, fail, summary}}``; ``near_exhaustion``: active and at most one VF free
- ``problems``: ``{kind, severity, message, remedy, pool, pf, guests, pcis}``; ``remedy`` is one
  concrete next step (a command where there is one)
- ``errors``: what could not be read (host or libvirt), each a sentence

Status: ``error`` when any problem is an error (exit 2), ``warning`` when any is a warning (exit 1),
else ``ok`` (exit 0). Info-level problems do not change the status.
"""

from __future__ import annotations

import datetime as _dt
import shlex

from vfpool_tui.core.capacity import Figures, near_exhaustion
from vfpool_tui.core.health.start_check import pool_queue
from vfpool_tui.core.model import Problem, ProblemKind, Scan

SCHEMA = "vfpool-tui/doctor"
SCHEMA_VERSION = 1
EXIT = {"ok": 0, "warning": 1, "error": 2}


def _q(word: str) -> str:
    return shlex.quote(word)


def remedy(scan: Scan, p: Problem) -> str:
    """One concrete next step for a problem (a command where there is one)."""
    k = p.kind
    guests = " ".join(_q(g) for g in p.guests)
    pf = scan.host.pf(p.pf) if p.pf else None
    if k is ProblemKind.POOL_VF_HARDCODED and p.pool:
        return f"vfpool-tui convert {guests} --network {_q(p.pool)}"
    if k is ProblemKind.VF_MULTIPLE_GUESTS:
        vf = scan.host.vf(p.pcis[0]) if p.pcis else None
        return _convert_on_pf(scan, scan.host.pf(vf.pf_pci) if vf else None, guests)
    if k is ProblemKind.VFIO_UNUSED:
        return "vfpool-tui remedy release-vfs " + " ".join(p.pcis)
    if k is ProblemKind.VF_MISSING:
        return _convert_on_pf(scan, pf, guests)
    if k is ProblemKind.POOL_PF_NO_VFS and pf is not None:
        enable = (f"echo N > /sys/bus/pci/devices/{pf.pci}/sriov_numvfs (N up to {pf.totalvfs})"
                  if scan.meta.get("discovery") == "libvirt" else
                  f"vfpool-tui remedy grow-pf {_q(pf.name)} --numvfs N --persist-numvfs (N up to {pf.totalvfs})")
        return f"{enable}, then virsh net-start {_q(p.pool or '')}"
    if k in (ProblemKind.POOL_PF_MISSING, ProblemKind.POOL_PF_NOT_SRIOV):
        return f"virsh net-edit {_q(p.pool or '')} (point <pf dev=...> at an SR-IOV PF of this host)"
    if k is ProblemKind.POOL_STALE:
        return (f"vfpool-tui remedy restart-pool {_q(p.pool or '')} (shuts its running guests down "
                "and starts them again)")
    if k is ProblemKind.POOL_INACTIVE:
        return f"virsh net-start {_q(p.pool or '')} && virsh net-autostart {_q(p.pool or '')}"
    if k is ProblemKind.POOL_EXHAUSTED:
        grow = _grow_pool_pf(scan, p.pool)
        return (f"vfpool-tui capacity (who holds {p.pool}'s VFs); "
                + (f"add VFs to its PF ({grow}), " if grow else "add VFs to its PF, ")
                + "convert hard-coded guests, or shut down a guest that holds one")
    if k is ProblemKind.HOST_NO_IOMMU:
        return "Enable VT-d / AMD-Vi in the firmware; on Intel boot with intel_iommu=on; reboot"
    if k is ProblemKind.GUEST_NETWORK_MISSING:
        return f"virsh edit {guests} (point the interface at an existing network), or create the network"
    if k is ProblemKind.VF_NETDEV_MACVTAP:
        return "Move the macvtap (type='direct') interface to another netdev, or take the VF out of the pool"
    if k is ProblemKind.GUEST_XML_ERROR:
        return f"virsh dumpxml {guests} (and fix the definition with virsh edit)"
    return "See the message."


def _grow_pool_pf(scan: Scan, pool_name: str | None) -> str | None:
    """``vfpool-tui remedy grow-pf PF --numvfs N`` for a pool over one PF of this machine with room."""
    pool = next((x for x in scan.pools if x.name == pool_name), None)
    if pool is None or len(pool.pfs) != 1 or scan.meta.get("discovery") == "libvirt":
        return None
    pf = scan.host.pf(pool.pfs[0])
    if pf is None or pf.numvfs >= pf.totalvfs:
        return None
    return f"vfpool-tui remedy grow-pf {_q(pf.name)} --numvfs {pf.totalvfs}"


def _convert_on_pf(scan: Scan, pf, guests: str) -> str:
    """Convert the guests to a pool over their VF's own PF (the converter keeps guests on their
    port), or first create one there."""
    if pf is None:
        return "Give each guest a VF of its own, or move them to a pool (vfpool-tui pool create, then convert)."
    pools = [pool.name for pool in scan.pools if pf.name in pool.pfs or pf.pci in pool.pfs]
    if pools:
        return f"vfpool-tui convert {guests} --network {_q(pools[0])}"
    return (f"vfpool-tui pool create --pf {_q(pf.name)} --name NAME, then "
            f"vfpool-tui convert {guests} --network NAME")


def status_of(scan: Scan) -> str:
    sev = {p.severity for p in scan.problems}
    return "error" if "error" in sev else "warning" if "warning" in sev else "ok"


def report(scan: Scan, now: _dt.datetime | None = None) -> dict:
    fig = Figures(scan)
    status = status_of(scan)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    pfs = []
    for pf in scan.host.pfs:
        c = fig.pf(pf.pci)
        pfs.append({"name": pf.name, "pci": pf.pci, "link": pf.link, "enabled": c.enabled, "total": c.total,
                    "hard_coded": c.hard, "pooled": c.pooled, "free_min": c.free_lo, "free_max": c.free_hi})
    pools = []
    for pool in scan.pools:
        c = fig.pool(pool.name)
        q = pool_queue(scan, pool)
        pools.append({
            "name": pool.name, "active": pool.active, "autostart": pool.autostart, "pfs": list(pool.pfs),
            "size": c.size, "in_use": c.in_use, "blocked": c.blocked, "free": c.free, "unknown": c.unknown,
            "near_exhaustion": near_exhaustion(pool, c),
            "if_all_started": {"guests": list(q.guests), "fail": list(q.fail), "summary": q.summary},
        })
    problems = [{
        "kind": str(p.kind), "severity": p.severity, "message": p.message, "remedy": remedy(scan, p),
        "pool": p.pool, "pf": p.pf, "guests": list(p.guests), "pcis": list(p.pcis),
    } for p in scan.problems]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generated_at": now.isoformat(timespec="seconds"),
        "uri": scan.uri,
        "status": status,
        "exit_status": EXIT[status],
        "counts": {
            "pfs": len(scan.host.pfs),
            "vfs": sum(len(pf.vfs) for pf in scan.host.pfs),
            "pools": len(scan.pools),
            "guests": len(scan.guests),
            "problems": {"error": fig.problems.error, "warning": fig.problems.warning,
                         "info": fig.problems.info, "total": fig.problems.total},
        },
        "pfs": pfs,
        "pools": pools,
        "problems": problems,
        "errors": list(scan.host.errors) + list(scan.meta.get("libvirt_errors", ())),
    }
