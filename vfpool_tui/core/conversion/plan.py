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

from collections.abc import Mapping
from dataclasses import dataclass

import libvirt

from vfpool_tui.core import pci
from vfpool_tui.core.conversion import transform
from vfpool_tui.core.conversion.command_hints import cli_guest, virsh_dom
from vfpool_tui.core.conversion.devices import DeviceNotFound, DeviceTarget, describe_device, pools_of, resolve
from vfpool_tui.core.conversion.events import GuestPlan, Plan, PoolBudget, Refusal
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.convertible import guest_refusal, pool_pf_pcis
from vfpool_tui.core.model import Pool, Scan, UseKind, VfUse
from vfpool_tui.core.virt import connection, network_xml, xmlutil
from vfpool_tui.core.virt.definitions import schema_errors
from vfpool_tui.core.virt.domain_state import state_name


class PlanError(RuntimeError):
    """The whole conversion is refused (e.g. the network is not a hostdev pool). One line."""


@dataclass
class _PoolInfo:
    pool: Pool
    pf_pcis: set[str]  # the PFs it draws VFs from
    vfs: set[str]  # its VFs

    def pf_names(self, host) -> str:
        return ", ".join(self.pool.pfs) or ", ".join(pf_label(host, p) for p in sorted(self.pf_pcis)) or "unknown"


def build_plan(conn, journal: Journal, scan: Scan, guests: list[str], network: str | None, *,
               devices: Mapping[str, list[DeviceTarget]] | None = None,
               macs: dict[str, dict[str, str]] | None = None,
               sources: dict[str, list[str]] | None = None,
               allow_other_pf: bool = False) -> Plan:
    """Check everything that can be checked without touching a guest, and build the new XML.

    Raises PlanError when a pool is unusable; per-guest problems become ``refused``.
    ``network``: the pool for every device of the guests that ``devices`` does not name (None: each
    guest must be named there). ``devices``: {guest: [DeviceTarget]}, device by device: only those
    devices are converted, each onto its own pool (the others are left as they are).
    ``macs``: {guest: {vf address: MAC}} for bare hostdevs; ``sources``: {guest: [vf addresses]}
    to convert only some of a guest's VFs onto ``network`` (default: all of them).
    """
    macs = macs or {}
    sources = sources or {}
    devices = devices or {}
    wanted_pools = [network] if network else []
    for targets in devices.values():
        wanted_pools.extend(t.network for t in targets)
    if not wanted_pools:
        raise PlanError("no pool given (a network for every device, or one per device)")
    pools: dict[str, _PoolInfo] = {}
    for name in pools_of(wanted_pools):
        pools[name] = _pool_info(conn, scan, name)
    host = scan.host

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
        why = guest_refusal(g)
        if why:
            refused.append(Refusal(g.name, why))
            continue
        chosen = devices.get(g.name) or devices.get(g.uuid)
        if chosen:
            picked = _pick_devices(g, chosen)
        elif not network:
            picked = ("no pool named for it: give one for all its devices, or one per device")
        else:
            picked = _pick_all(g, network, sources.get(g.name) or sources.get(g.uuid), warnings)
        if isinstance(picked, str):
            refused.append(Refusal(g.name, picked))
            continue
        if not picked:
            refused.append(Refusal(g.name, nothing_to_convert(g, network or "")))
            continue
        why = _port_check(host, g, picked, pools, allow_other_pf, by_device=bool(chosen), warnings=warnings)
        if why:
            refused.append(Refusal(g.name, why))
            continue
        gp = _guest_plan(conn, host, g, picked, pools, macs, unfinished, refused)
        if gp is not None:
            plans.append(gp)

    budgets = []
    for name, info in pools.items():
        running = [p for p in plans if p.was_running]
        needed = sum(1 for p in running for _s, n in p.targets if n == name)
        if not needed and not any(n == name for p in plans for _s, n in p.targets):
            continue
        free = info.pool.free
        available = None
        if free is not None:
            available = free + sum(1 for p in running for _s, n in p.gives_back if n == name)
            if needed > available:
                refused.append(Refusal("", f"pool '{name}' has {available} VF(s) free for these "
                                           f"guests but the running ones need {needed}"))
        elif needed:
            warnings.append(f"the number of free VFs in pool '{name}' is unknown; a guest that "
                            "finds none will be rolled back")
        budgets.append(PoolBudget(name, free, available, needed))
    if not budgets and network in pools:
        free = pools[network].pool.free
        budgets.append(PoolBudget(network, free, free, 0))
    known = all(b.free is not None for b in budgets)
    return Plan(network=network or "", guests=tuple(plans), refused=tuple(refused),
                pool_free=sum(b.free for b in budgets) if known and budgets else None,  # type: ignore[misc]
                vfs_available=(sum(b.available for b in budgets)  # type: ignore[misc]
                               if known and budgets else None),
                vfs_needed=sum(b.needed for b in budgets), warnings=tuple(warnings),
                budgets=tuple(budgets))


def _pool_info(conn, scan: Scan, network: str) -> _PoolInfo:
    pool = next((p for p in scan.pools if p.name == network), None)
    if pool is None:
        raise PlanError(not_a_pool_reason(conn, network))
    if not pool.active:
        raise PlanError(f"pool network '{network}' is not active (start it first)")
    return _PoolInfo(pool, pool_pf_pcis(scan.host, pool), set(pool.vf_pcis) | set(pool.addresses))


# a device picked for conversion: (its use, its pool, the operator allowed another PF for it)
_Pick = tuple[VfUse, str, bool]


def _pick_all(g, network: str, wanted: list[str] | None, warnings: list[str]) -> list[_Pick] | str:
    """Every hard-coded VF of the guest (or the ``wanted`` ones) onto ``network``."""
    uses = list(g.convertible)
    if wanted:
        want = set()
        for w in wanted:
            try:
                want.add(pci.normalize(w))
            except pci.PciAddressError as err:
                return str(err)
        not_vf = sorted(want - {u.pci for u in uses})
        if not_vf:
            return ", ".join(not_vf) + " is not a hard-coded VF of this guest"
        uses = [u for u in uses if u.pci in want]
    else:
        hidden = [u for u in uses if u.unassigned]
        uses = [u for u in uses if not u.unassigned]
        if hidden and not uses:
            return f"{hidden[0].pci}: {transform.UNASSIGNED_REASON}"
        if hidden:
            warnings.append(f"{g.name}: " + ", ".join(u.pci for u in hidden) + " left as it is: "
                            + transform.UNASSIGNED_REASON)
    return [(u, network, False) for u in uses]


def _pick_devices(g, chosen: list[DeviceTarget]) -> list[_Pick] | str:
    """The devices the operator named, each onto its own pool; the others are left as they are."""
    out: list[_Pick] = []
    for t in chosen:
        try:
            u = resolve(g, t.device)
        except DeviceNotFound as err:
            return str(err)
        if any(u is x for x, _n, _a in out):
            return f"{describe_device(u)} is named twice"
        if u.unassigned:
            return f"{describe_device(u)}: {transform.UNASSIGNED_REASON}"
        out.append((u, t.network, t.allow_other_pf))
    return out


def pf_label(host, pf_pci: str) -> str:
    pf = host.pf(pf_pci)
    return pf.name if pf is not None else pf_pci


def _port_check(host, g, picked: list[_Pick], pools: dict[str, _PoolInfo], allow_other_pf: bool, *,
                by_device: bool, warnings: list[str]) -> str | None:
    """Another PF than the pool's means another physical port, perhaps another network: refused
    unless allowed (for every device, or for this device)."""
    bad = []
    for u, net, allowed in picked:
        info = pools[net]
        vf = host.vf(u.pci) if u.pci else None
        if vf is None or not info.pf_pcis:
            warnings.append(f"{g.name}: cannot tell which PF {u.pci} is on; check that pool "
                            f"'{net}' reaches the same network")
        elif vf.pf_pci not in info.pf_pcis and not (allow_other_pf or allowed):
            bad.append((u, net, vf.pf_pci))
    if not bad:
        return None
    guest_pfs = {host.vf(u.pci).pf_pci for u, _n, _a in picked if u.pci and host.vf(u.pci)}
    if not by_device and len(guest_pfs) > 1:
        per_pf = "; ".join(
            f"{pf_label(host, pf)}: " + ", ".join(describe_device(u) for u, _n, _a in picked
                                                  if host.vf(u.pci) and host.vf(u.pci).pf_pci == pf)
            for pf in sorted(guest_pfs))
        u, net, pf = bad[0]
        return (f"its VFs are on {len(guest_pfs)} PFs ({per_pf}), one pool is over one port: "
                f"{describe_device(u)} is on another PF than pool '{net}' (PF {pools[net].pf_names(host)}; "
                "another port, perhaps another network); put each device on a pool over its own PF "
                "(--device DEVICE=POOL), or --allow-other-pf to convert anyway")
    u, net, pf = bad[0]
    return (f"{describe_device(u, 'PF ' + pf_label(host, pf))} is on another PF than pool '{net}' "
            f"(PF {pools[net].pf_names(host)}): another port, perhaps another network; "
            + ("--device-other-pf DEVICE=POOL (this device) or " if by_device else "")
            + "--allow-other-pf to convert anyway")


def _guest_plan(conn, host, g, picked: list[_Pick], pools: dict[str, _PoolInfo], macs, unfinished,
                refused: list[Refusal]) -> GuestPlan | None:
    uses = [u for u, _n, _a in picked]
    nets = {u.pci: net for u, net, _a in picked}
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
        return None
    why = guest_blocker(dom, g.name, g.uuid, unfinished)
    if why:
        refused.append(Refusal(g.name, why))
        return None
    extra_notes = guest_notes(dom)
    try:  # in the order of the definition, as the diff shows them
        order = {src: i for i, src in enumerate(transform.hardcoded_sources(old_xml))}
    except xmlutil.XmlError:
        order = {}
    srcs = tuple(sorted((u.pci for u in uses), key=lambda src: order.get(src, len(order))))
    try:
        res = transform.convert_domain(old_xml, nets, srcs, use_macs)
    except (transform.TransformError, xmlutil.XmlError) as err:
        refused.append(Refusal(g.name, str(err)))
        return None
    errors = schema_errors(res.xml, old_xml)
    if errors:
        refused.append(Refusal(g.name, "the converted definition fails libvirt's schema: " + errors[0]))
        return None
    networks = tuple(nets[s] for s in srcs)
    return GuestPlan(
        guest=g.name, uuid=g.uuid, network=networks[0], state=g.state, was_running=g.active,
        sources=srcs, macs=tuple(sorted(use_macs.items())),
        new_mac_sources=tuple(ch.source_pci for ch in res.changes if ch.new_mac),
        old_xml=old_xml, new_xml=res.xml, notes=res.notes + extra_notes,
        pool_sources=tuple(s for s in srcs if s in pools[nets[s]].vfs),
        networks=networks if len(set(networks)) > 1 else (),
        gives_back=tuple((s, name) for s in srcs for name, info in pools.items() if s in info.vfs),
        boot_warnings=boot_warnings(res.changes),
    )


def boot_warnings(changes) -> tuple[str, ...]:
    """A device the guest boots from (``<boot order=.../>``) that gets a new MAC: a DHCP or PXE
    reservation made for its old MAC no longer matches, so the guest may not boot or get its address."""
    return tuple(
        f"{ch.source_pci}: the guest boots from this device (<boot order='{ch.boot_order}'/>) and it gets "
        "a new MAC: a DHCP/PXE reservation for its old MAC no longer matches (give its MAC to keep it)"
        for ch in changes if ch.new_mac and ch.boot_order is not None)


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
