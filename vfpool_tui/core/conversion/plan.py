"""Planning a conversion: what can be checked without touching a guest, and the new XML.

The whole conversion is refused (``PlanError``) when the network is not a usable hostdev pool; each
guest that cannot be converted now is ``refused`` with one sentence saying why (transient, paused,
managed save image, unfinished journal record, VF on another PF, schema errors...). The plan also
counts the pool VFs the running guests need against the VFs the pool has free (the run itself keeps
that count in ``budget.VfBudget``).

``guest_blocker`` and ``unfinished_uuids`` are checked again by the run, under the lock: a plan may
be old by the time it runs.
"""

from __future__ import annotations

import libvirt

from vfpool_tui.core import pci
from vfpool_tui.core.conversion import transform
from vfpool_tui.core.conversion.command_hints import cli_guest, virsh_dom
from vfpool_tui.core.conversion.events import GuestPlan, Plan, Refusal
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.model import Scan, UseKind
from vfpool_tui.core.virt import connection, network_xml, xmlutil
from vfpool_tui.core.virt.definitions import schema_errors
from vfpool_tui.core.virt.domain_state import state_name


class PlanError(RuntimeError):
    """The whole conversion is refused (e.g. the network is not a hostdev pool). One line."""


def build_plan(conn, journal: Journal, scan: Scan, guests: list[str], network: str, *,
               macs: dict[str, dict[str, str]] | None = None,
               sources: dict[str, list[str]] | None = None,
               allow_other_pf: bool = False) -> Plan:
    """Check everything that can be checked without touching a guest, and build the new XML.

    Raises PlanError when the network is unusable; per-guest problems become ``refused``.
    ``macs``: {guest: {vf address: MAC}} for bare hostdevs; ``sources``: {guest: [vf
    addresses]} to convert only some of a guest's VFs (default: all of them).
    """
    macs = macs or {}
    sources = sources or {}
    pool = next((p for p in scan.pools if p.name == network), None)
    if pool is None:
        raise PlanError(not_a_pool_reason(conn, network))
    if not pool.active:
        raise PlanError(f"pool network '{network}' is not active (start it first)")
    host = scan.host
    pool_pf_pcis: set[str] = set()
    for name in pool.pfs:
        pf = host.pf(name)
        if pf is not None:
            pool_pf_pcis.add(pf.pci)
    for addr in (*pool.vf_pcis, *pool.addresses):
        vf = host.vf(addr)
        if vf is not None:
            pool_pf_pcis.add(vf.pf_pci)
    pool_vfs = set(pool.vf_pcis) | set(pool.addresses)

    unfinished = unfinished_uuids(journal)
    plans: list[GuestPlan] = []
    refused: list[Refusal] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for name in guests:
        g = next((x for x in scan.guests if name in (x.name, x.uuid)), None)
        if g is None:
            refused.append(Refusal(name, f"no guest named '{name}'"))
            continue
        if g.uuid in seen:
            continue
        seen.add(g.uuid)
        if not g.persistent:
            refused.append(Refusal(g.name, "it is a transient guest (no persistent definition "
                                           "to convert; libvirt would forget it at shutdown)"))
            continue
        if g.state in ("paused", "pmsuspended", "shutting down", "crashed"):
            refused.append(Refusal(g.name, f"it is {g.state}; resume it or shut it off first"))
            continue
        if g.errors:
            refused.append(Refusal(g.name, "its definition cannot be read: " + g.errors[0]))
            continue
        uses = list(g.convertible)
        wanted = sources.get(g.name) or sources.get(g.uuid)
        if wanted:
            want = set()
            for w in wanted:
                try:
                    want.add(pci.normalize(w))
                except pci.PciAddressError as err:
                    refused.append(Refusal(g.name, str(err)))
                    want = None
                    break
            if want is None:
                continue
            not_vf = sorted(want - {u.pci for u in uses})
            if not_vf:
                refused.append(Refusal(g.name, ", ".join(not_vf) + " is not a hard-coded VF of this guest"))
                continue
            uses = [u for u in uses if u.pci in want]
        else:
            hidden = [u for u in uses if u.unassigned]
            uses = [u for u in uses if not u.unassigned]
            if hidden and not uses:
                refused.append(Refusal(g.name, f"{hidden[0].pci}: {transform.UNASSIGNED_REASON}"))
                continue
            if hidden:
                warnings.append(f"{g.name}: " + ", ".join(u.pci for u in hidden) + " left as it is: "
                                + transform.UNASSIGNED_REASON)
        if not uses:
            refused.append(Refusal(g.name, nothing_to_convert(g, network)))
            continue
        # another PF than the pool's means another physical port, perhaps another network
        bad_pf = []
        for u in uses:
            vf = host.vf(u.pci) if u.pci else None
            if vf is None or not pool_pf_pcis:
                warnings.append(f"{g.name}: cannot tell which PF {u.pci} is on; check that pool "
                                f"'{network}' reaches the same network")
            elif vf.pf_pci not in pool_pf_pcis:
                pf = host.pf(vf.pf_pci)
                bad_pf.append(f"{u.pci} (PF {pf.name if pf is not None else vf.pf_pci})")
        if bad_pf and not allow_other_pf:
            refused.append(Refusal(g.name, f"{', '.join(bad_pf)} is on another PF than pool "
                                           f"'{network}' (another port, perhaps another network); "
                                           "--allow-other-pf to convert anyway"))
            continue
        given = {pci.normalize(k): v.lower() for k, v in (macs.get(g.name) or macs.get(g.uuid) or {}).items()}
        use_macs: dict[str, str] = {}
        for u in uses:
            if u.kind is UseKind.HOSTDEV:
                if u.pci in given:
                    use_macs[u.pci] = given[u.pci]
                else:
                    vf = host.vf(u.pci)
                    if vf is not None and vf.mac and vf.mac != "00:00:00:00:00:00":
                        use_macs[u.pci] = vf.mac.lower()
        try:
            dom = conn.lookupByUUIDString(g.uuid)
            old_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError as err:
            refused.append(Refusal(g.name, f"cannot read its definition: {connection.describe(err)}"))
            continue
        why = guest_blocker(dom, g.name, g.uuid, unfinished)
        if why:
            refused.append(Refusal(g.name, why))
            continue
        extra_notes = guest_notes(dom)
        srcs = tuple(u.pci for u in uses)
        try:
            res = transform.convert_domain(old_xml, network, srcs, use_macs)
        except (transform.TransformError, xmlutil.XmlError) as err:
            refused.append(Refusal(g.name, str(err)))
            continue
        errors = schema_errors(res.xml, old_xml)
        if errors:
            refused.append(Refusal(g.name, "the converted definition fails libvirt's schema: " + errors[0]))
            continue
        plans.append(GuestPlan(
            guest=g.name, uuid=g.uuid, network=network, state=g.state, was_running=g.active,
            sources=srcs, macs=tuple(sorted(use_macs.items())),
            new_mac_sources=tuple(ch.source_pci for ch in res.changes if ch.new_mac),
            old_xml=old_xml, new_xml=res.xml, notes=res.notes + extra_notes,
            pool_sources=tuple(s for s in srcs if s in pool_vfs),
        ))

    needed = sum(p.vfs_needed for p in plans)
    available = None
    if pool.free is not None:
        available = pool.free + sum(len(p.pool_sources) for p in plans if p.was_running)
        if needed > available:
            refused.append(Refusal("", f"pool '{network}' has {available} VF(s) free for these "
                                       f"guests but the running ones need {needed}"))
    elif needed:
        warnings.append(f"the number of free VFs in pool '{network}' is unknown; a guest that "
                        "finds none will be rolled back")
    return Plan(network=network, guests=tuple(plans), refused=tuple(refused),
                pool_free=pool.free, vfs_available=available, vfs_needed=needed,
                warnings=tuple(warnings))


def unfinished_uuids(journal: Journal) -> dict[str, str]:
    """{uuid: record dir} of unfinished conversions in the journal (none when unreadable)."""
    try:
        return {r.uuid: str(r.path) for r in journal.unfinished()}
    except OSError:
        return {}


def guest_blocker(dom, name: str, uuid: str, unfinished: dict[str, str]) -> str | None:
    """Why this guest must not be converted now (checked at plan time and again under the lock)."""
    if uuid in unfinished:
        return (f"it has an unfinished conversion in {unfinished[uuid]}: run `vfpool-tui resume` "
                f"or `vfpool-tui rollback {cli_guest(name, uuid)}` first")
    try:
        code = dom.state()[0]
    except libvirt.libvirtError as err:
        return f"cannot read its state: {connection.describe(err)}"
    if code not in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_SHUTOFF):
        return (f"it is {state_name(code)}; only a running or shut-off guest is converted "
                "(resume it or shut it off first)")
    try:
        saved = bool(dom.hasManagedSaveImage(0))
    except (libvirt.libvirtError, AttributeError):
        saved = False
    if saved:
        return ("it has a managed save image: starting it would restore the saved machine with its "
                f"hard-coded VF, not the new definition (start it first, or `virsh managedsave-remove "
                f"{virsh_dom(name, uuid)}` to discard the saved state)")
    return None


def guest_notes(dom) -> tuple[str, ...]:
    try:
        n = dom.snapshotNum(0)
    except (libvirt.libvirtError, AttributeError):
        return ()
    if n:
        return (f"it has {n} snapshot(s): they keep the hard-coded VF, so reverting to one brings the "
                "old definition back",)
    return ()


def not_a_pool_reason(conn, network: str) -> str:
    try:
        net = conn.networkLookupByName(network)
    except libvirt.libvirtError as err:
        if connection.error_code(err) == libvirt.VIR_ERR_NO_NETWORK:
            return f"no network named '{network}'"
        return f"cannot read network '{network}': {connection.describe(err)}"
    try:
        try:
            xml = net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        except libvirt.libvirtError:
            xml = net.XMLDesc(0)  # the test driver knows no flags
        info = network_xml.parse_network(xml)
    except (libvirt.libvirtError, xmlutil.XmlError) as err:
        return f"cannot read network '{network}': {err}"
    if not info.is_hostdev_pool:
        return (f"network '{network}' is not a hostdev pool (forward mode "
                f"'{info.forward_mode or 'none'}')")
    return f"network '{network}' is a hostdev pool but the inventory does not list it"


def nothing_to_convert(g, network: str) -> str:
    on_pool = [u for u in g.vf_uses if u.kind is UseKind.POOL]
    if on_pool and any(u.network == network for u in on_pool):
        return f"it is already on pool '{network}' (no hard-coded VF left)"
    if on_pool:
        return f"its VFs already come from pool '{on_pool[0].network}'"
    if g.other_pci_hostdevs:
        return ("no VF to convert: its PCI passthrough (" + ", ".join(g.other_pci_hostdevs)
                + ") is not an SR-IOV VF")
    return "no VF to convert (no hard-coded VF in its definition)"
