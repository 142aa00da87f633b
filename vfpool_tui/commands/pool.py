"""``vfpool-tui pool create|list|show``: make and inspect the libvirt networks that pool VFs.

``pool create --pf PF --name NET`` runs ``core.pools.create`` without questions: every refusal is one
line on stderr with exit status 1 and nothing defined; ``--dry-run`` prints the XML and the steps
and changes nothing. Never imports textual or rich.
"""

from __future__ import annotations

import json
import sys

from vfpool_tui.commands.convert import close_connection
from vfpool_tui.core.capacity import Figures
from vfpool_tui.errors import CommandError


def register(subparsers, parents) -> None:
    p = subparsers.add_parser("pool", parents=parents, help="create and inspect VF pool networks",
                              description="Create and inspect libvirt hostdev networks that pool "
                                          "a PF's SR-IOV VFs.")
    sub = p.add_subparsers(dest="pool_command", metavar="ACTION", required=True)

    c = sub.add_parser("create", parents=parents, help="create the pool network of one PF",
                       description="Define, autostart and start a hostdev network over one PF's VFs. "
                                   "Undone again if any step fails.")
    c.add_argument("--pf", required=True, metavar="PF", help="the PF: its netdev name or PCI address")
    c.add_argument("--name", required=True, metavar="NET", help="name of the new network")
    c.add_argument("--managed", dest="managed", action="store_true", default=True,
                   help="managed='yes': libvirt binds VFs to vfio-pci itself (default)")
    c.add_argument("--no-managed", dest="managed", action="store_false",
                   help="managed='no': you bind the VFs yourself")
    c.add_argument("--vlan", type=int, metavar="N", help="VLAN tag (1-4094) libvirt sets on each VF")
    c.add_argument("--numvfs", type=int, metavar="N",
                   help="enable N VFs on the PF first (refused while a running guest holds one)")
    c.add_argument("--persist-numvfs", action="store_true",
                   help="also write a udev rule under /etc/udev/rules.d that sets the VF count at boot")
    c.add_argument("--yes", "-y", action="store_true", help="do it without asking")
    c.add_argument("--dry-run", action="store_true", help="print the network XML and the steps only")
    c.set_defaults(func=run_create)

    ls = sub.add_parser("list", parents=parents, help="list the pool networks")
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    ls.set_defaults(func=run_list)

    sh = sub.add_parser("show", parents=parents, help="show one pool network with its VFs")
    sh.add_argument("network", metavar="NET")
    sh.add_argument("--json", action="store_true", help="print one JSON object")
    sh.set_defaults(func=run_show)


# --------------------------------------------------------------------------- plumbing


def _open(args, write: bool):
    from vfpool_tui.core.virt.connection import LibvirtUnavailable, open_connection

    readonly = True if getattr(args, "readonly", False) else (False if write else None)
    try:
        return open_connection(getattr(args, "connect", None), readonly=readonly), readonly
    except LibvirtUnavailable as err:
        raise CommandError(str(err)) from None


def _scan(conn, readonly, discovery: str | None = None):
    from vfpool_tui.core.scan import scan
    from vfpool_tui.core.virt.connection import LibvirtUnavailable

    try:
        return scan(conn=conn, readonly=readonly, discovery=discovery)
    except LibvirtUnavailable as err:
        raise CommandError(str(err)) from None


def _roots(args) -> dict[str, str]:
    """Where sriov_numvfs and udev rules are written: the host's, or the demo's private directory."""
    if not getattr(args, "demo", False):
        return {}
    from vfpool_tui.demo import demo_paths

    paths = demo_paths()
    return {"sysfs_root": paths.sysfs_root, "udev_root": paths.udev_root}


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _err(line: str) -> None:
    sys.stderr.write(f"vfpool-tui: {line}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- create

_MARK = {"running": "....", "done": " ok ", "failed": "FAIL", "undone": "undo", "undo-failed": "FAIL"}


def run_create(args) -> int:
    from vfpool_tui.core.pools import create as pool_create

    write = not args.dry_run
    if write and getattr(args, "readonly", False):
        raise CommandError("--readonly: pool create would change libvirt (use --dry-run to see the plan)")
    conn, readonly = _open(args, write=write)
    try:
        result = _scan(conn, readonly, getattr(args, "discovery", None))
        try:
            plan = pool_create.plan_pool(result, args.pf, args.name, managed=args.managed,
                                         vlan=args.vlan, numvfs=args.numvfs,
                                         persist=args.persist_numvfs, conn=conn, **_roots(args))
        except pool_create.PoolRefused as err:
            raise CommandError(f"pool create refused: {err.reason}") from None

        if args.dry_run:
            _out(f"# network XML for '{plan.name}' (dry run: nothing is changed)")
            _out(plan.xml.rstrip("\n"))
            for line in plan.describe():
                _out(line)
            return 0

        for w in plan.warnings:
            _err(f"warning: {w.message}")
        _out(plan.xml.rstrip("\n"))
        if plan.rule_text:
            _out(f"udev rule {plan.rule_path}:")
            _out(plan.rule_text.rstrip("\n"))
        if not args.yes:
            if not sys.stdin.isatty():
                raise CommandError("pool create needs --yes to go ahead without a terminal "
                                   "(or --dry-run to see the plan)")
            try:
                answer = input(f"Create network '{plan.name}' over {plan.pf.name} in "
                               f"{len(plan.steps)} steps? [y/N] ")
            except EOFError:  # Ctrl-D at the question
                answer = ""
                _out()
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("pool create cancelled, nothing changed")

        def show(ev) -> None:
            if ev.status == "running":
                return
            prefix = "undo: " if ev.undo else ""
            detail = f": {ev.message}" if ev.message else ""
            _out(f"[{_MARK.get(str(ev.status), str(ev.status))}] {prefix}{ev.title}{detail}")

        outcome = pool_create.execute(conn, plan, show)
        if not outcome.ok:
            tail = "; everything this command did was undone"
            if outcome.left_behind:
                tail = "; NOT undone: " + "; ".join(outcome.left_behind)
            raise CommandError(f"pool create failed at {outcome.error}{tail}")
        _out(f"network '{plan.name}' (uuid {outcome.uuid}) is active and starts at boot")
        _out(outcome.network_xml.rstrip("\n") if outcome.network_xml else "")
        if outcome.vf_addresses:
            where = {"live": "from the network XML", "sysfs": "the PF's VFs in sysfs"}[outcome.vf_source]
            _out(f"pool VFs ({where}): {', '.join(outcome.vf_addresses)}")
        else:
            _out("pool VFs: unknown (libvirt did not list them; see: vfpool-tui pool show "
                 f"{plan.name})")
        if any(w.kind == "vf-hardcoded" for w in plan.warnings):
            _out("next: convert the guests with hard-coded VFs to the pool: vfpool-tui convert")
        return 0
    finally:
        try:
            close_connection(conn, args)
        except Exception:
            pass


# --------------------------------------------------------------------------- list / show


def _pool_json(p, holders=None) -> dict:
    data = {
        "name": p.name, "uuid": p.uuid, "pfs": list(p.pfs), "addresses": list(p.addresses),
        "active": p.active, "autostart": p.autostart, "persistent": p.persistent,
        "managed": p.managed, "vlan": list(p.vlan), "capacity": p.capacity, "in_use": p.in_use,
        "blocked": p.blocked, "free": p.free, "unknown": p.unknown, "connections": p.connections,
        "vfs": list(p.vf_pcis),
    }
    if holders is not None:
        data["vf_holders"] = holders
    return data


def _text(value) -> str:
    return "unknown" if value is None else str(value)


def run_list(args) -> int:
    conn, readonly = _open(args, write=False)
    try:
        result = _scan(conn, readonly, getattr(args, "discovery", None))
    finally:
        conn.close()
    if args.json:
        _out(json.dumps({"pools": [_pool_json(p) for p in result.pools]}, ensure_ascii=False, indent=2))
        return 0
    if not result.pools:
        _out("no pool networks (create one: vfpool-tui pool create --pf PF --name NET)")
        return 0
    rows = [("NETWORK", "STATE", "AUTOSTART", "PF", "VFS", "IN USE", "BLOCKED", "FREE")]
    for p in result.pools:
        rows.append((p.name, "active" if p.active else "inactive", "yes" if p.autostart else "no",
                     ",".join(p.pfs) or f"{len(p.addresses)} addresses", _text(p.capacity),
                     _in_use(p), str(p.blocked), _text(p.free)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        _out("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    _out("IN USE + BLOCKED + FREE = VFS; BLOCKED: pool VFs hard-coded in running guests"
         + ("; N?: which VF N of them hold, libvirt does not say" if any(p.unknown for p in result.pools) else ""))
    return 0


def _in_use(p) -> str:
    return f"{p.in_use} ({p.unknown}?)" if p.unknown else str(p.in_use)


def run_show(args) -> int:
    import libvirt

    from vfpool_tui.core.virt import network_xml
    from vfpool_tui.core.virt.connection import describe, error_code

    conn, readonly = _open(args, write=False)
    try:
        result = _scan(conn, readonly, getattr(args, "discovery", None))
        pool = next((p for p in result.pools if p.name == args.network), None)
        try:
            net = conn.networkLookupByName(args.network)
            xml = net.XMLDesc(0)
        except libvirt.libvirtError as err:
            if error_code(err) == libvirt.VIR_ERR_NO_NETWORK:
                raise CommandError(f"no network named '{args.network}'") from None
            raise CommandError(f"cannot read network '{args.network}': {describe(err)}") from None
        if pool is None:
            info = network_xml.parse_network(xml)
            raise CommandError(f"network '{args.network}' is not a VF pool (forward mode "
                               f"{info.forward_mode or 'none'}, not hostdev)")
    finally:
        conn.close()

    fig = Figures(result)
    holders: dict[str, list[dict]] = {}
    for g in result.guests:
        for u in g.vf_uses:
            if u.pci and u.pci in pool.vf_pcis:
                holders.setdefault(u.pci, []).append(
                    {"guest": g.name, "kind": str(u.kind), "active": u.active, "network": u.network})
    if args.json:
        data = _pool_json(pool, holders)
        data["xml"] = xml
        _out(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    _out(f"network {pool.name}  uuid {pool.uuid}")
    _out(f"  state {'active' if pool.active else 'inactive'}, autostart "
         f"{'yes' if pool.autostart else 'no'}, managed {'yes' if pool.managed else 'no'}"
         + (f", vlan {','.join(map(str, pool.vlan))}" if pool.vlan else ""))
    _out(f"  PF {', '.join(pool.pfs) or '(explicit address list)'}: capacity {_text(pool.capacity)}, "
         f"in use {pool.in_use}, blocked {pool.blocked}, free {_text(pool.free)}")
    if pool.unknown:
        _out(f"  which VF {pool.unknown} of the guests in use hold, libvirt does not say "
             f"(no network ports): those VFs show as 'unknown'")
    _out("  VFs:" if pool.vf_pcis else "  VFs: unknown")
    for addr in pool.vf_pcis:
        maybe = fig.vf(addr).maybe_holders if fig.vf(addr) else ()
        who = ", ".join(f"{h['guest']} ({h['kind']}{', running' if h['active'] else ''})"
                        for h in holders.get(addr, ())) or (
            f"unknown: maybe one of {len(maybe)} running guests" if maybe else "-")
        _out(f"    {addr}  {who}")
    _out(xml.rstrip("\n"))
    return 0
