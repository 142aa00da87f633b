"""What the converter can take: the rules the planner (``core.conversion.plan``) and the advice
that names conversions (``core.health.convert_advice``) share, so advice never names a conversion
the planner refuses. Imports only the model.
"""

from __future__ import annotations

from vfpool_tui.core.model import Guest, Pool


def guest_refusal(g: Guest) -> str | None:
    """Why no device of ``g`` can be converted, whatever the pool; None when nothing in the guest
    itself stands in the way."""
    if not g.persistent:
        return "it is a transient guest (no persistent definition to convert; libvirt would forget it at shutdown)"
    if g.state in ("paused", "pmsuspended", "shutting down", "crashed"):
        return f"it is {g.state}; resume it or shut it off first"
    if g.errors:
        return "its definition cannot be read: " + g.errors[0]
    return None


def pool_pf_pcis(host, pool: Pool) -> set[str]:
    """The PFs (PCI addresses) a pool draws its VFs from: its ``<pf dev>`` names and its VF
    addresses. The converter's rule for "another PF", shared with the advice that names it."""
    out: set[str] = set()
    for name in pool.pfs:
        pf = host.pf(name)
        if pf is not None:
            out.add(pf.pci)
    for addr in (*pool.vf_pcis, *pool.addresses):
        vf = host.vf(addr)
        if vf is not None:
            out.add(vf.pf_pci)
    return out
