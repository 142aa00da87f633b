"""The doctor's figures as Prometheus metrics (``vfpool-tui metrics``), built with prometheus_client.

Every metric is a gauge of the scan at ``vfpool_scan_timestamp_seconds``; ``vfpool_up`` is 0 (and
nothing else is exported) when libvirt could not be read. Labels: ``pool``; ``pf`` (netdev name,
else PCI address) and ``pci``; ``kind`` and ``severity`` of problems.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, generate_latest, write_to_textfile

from vfpool_tui.core.model import ProblemKind, Scan

SEVERITIES = ("error", "warning", "info")


def registry_for(result: Scan | None, error: str | None = None, now: float | None = None) -> CollectorRegistry:
    from vfpool_tui.core.health import doctor

    reg = CollectorRegistry()
    Gauge("vfpool_up", "1 when libvirt and the host could be read, else 0", registry=reg).set(
        0 if result is None else 1)
    Gauge("vfpool_scan_timestamp_seconds", "when this scan was taken (Unix time)", registry=reg).set(
        time.time() if now is None else now)
    if result is None:
        return reg
    doc = doctor.report(result)
    pool_g = {name: Gauge(f"vfpool_pool_{name}", help_, ["pool"], registry=reg) for name, help_ in (
        ("size", "VFs in the pool (absent when not known)"),
        ("in_use", "pool interfaces of running guests"),
        ("free", "VFs libvirt can still hand out (absent when not known)"),
        ("blocked", "pool VFs hard-coded in running guests"),
        ("unknown", "of in_use: interfaces holding a VF libvirt does not name"),
        ("active", "1 when the pool network is active"),
    )}
    for p in doc["pools"]:
        for key in ("size", "in_use", "free", "blocked", "unknown"):
            if p[key] is not None:
                pool_g[key].labels(pool=p["name"]).set(p[key])
        pool_g["active"].labels(pool=p["name"]).set(1 if p["active"] else 0)
    pf_g = {name: Gauge(f"vfpool_pf_vfs_{name}", help_, ["pf", "pci"], registry=reg) for name, help_ in (
        ("enabled", "VFs enabled (sriov_numvfs)"),
        ("total", "VFs the PF supports (sriov_totalvfs)"),
        ("pooled", "VFs in a pool"),
        ("hard_coded", "VFs hard-coded in a guest definition"),
        ("free", "VFs nothing holds or may hold (the low end when only a range is known)"),
    )}
    for pf in doc["pfs"]:
        labels = {"pf": pf["name"], "pci": pf["pci"]}
        for key, value in (("enabled", pf["enabled"]), ("total", pf["total"]), ("pooled", pf["pooled"]),
                           ("hard_coded", pf["hard_coded"]), ("free", pf["free_min"])):
            pf_g[key].labels(**labels).set(value)
    problems = Gauge("vfpool_problems", "problems found, by kind and severity", ["kind", "severity"], registry=reg)
    counts: dict[tuple[str, str], int] = {}
    for prob in doc["problems"]:
        counts[(prob["kind"], prob["severity"])] = counts.get((prob["kind"], prob["severity"]), 0) + 1
    for kind in ProblemKind:  # every kind at its usual severities, 0 when absent, so alerts can compare
        for sev in SEVERITIES:
            if (str(kind), sev) in counts or sev != "info":
                problems.labels(kind=str(kind), severity=sev).set(counts.get((str(kind), sev), 0))
    return reg


def render(result: Scan | None, error: str | None = None) -> str:
    return generate_latest(registry_for(result, error)).decode("utf-8")


def write_atomically(path: str, result: Scan | None, error: str | None = None) -> None:
    """Write beside ``path``, then rename over it (prometheus_client's write_to_textfile)."""
    write_to_textfile(path, registry_for(result, error))
