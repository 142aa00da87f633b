"""What the details pane shows for each kind of row: sysfs facts, libvirt state, XML (highlighted).

Pure functions from the scan index to rich renderables. All data goes in as ``Text`` or as the
source of a ``Syntax`` (which never interprets markup), so XML and names are shown verbatim.
"""

from __future__ import annotations

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from vfpool_tui.core.model import PF, VF, Guest, Pool, Problem, UseKind
from vfpool_tui.tui.view import HOW, MARKER, SEVERITY_MARK, STYLE, UNKNOWN, Index, count_range, pool_status, safe

Parts = list


def _facts(title: str, rows: list[tuple[str, object]]) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    t.title = title
    t.title_justify = "left"
    t.title_style = "bold underline"
    for label, value in rows:
        if isinstance(value, Text):
            t.add_row(Text(label), value)
        else:
            t.add_row(Text(label), Text(UNKNOWN if value is None or value == "" else safe(value)))
    return t


def _xml(title: str, xml: str) -> list:
    if not xml.strip():
        return [Text(f"{title}: no XML (not known)", style="dim")]
    return [Text(title, style="bold underline"),
            Syntax(xml.strip(), "xml", theme="ansi_dark", word_wrap=True, background_color="default")]


def _yn(value: bool | None) -> str:
    return UNKNOWN if value is None else ("yes" if value else "no")


def _problems(problems: list[Problem]) -> list:
    if not problems:
        return []
    out = [Text("Problems", style="bold underline")]
    for p in problems:
        mark, style = SEVERITY_MARK.get(p.severity, ("?", ""))
        line = Text()
        line.append(f"{mark} {p.severity} ", style=style)
        line.append(p.kind.value, style="bold")
        line.append("\n")
        line.append(safe(p.message))
        out.append(line)
    return out


def pf_details(ix: Index, pf: PF) -> tuple[Text, Parts]:
    title = Text(f" PF {safe(pf.name)} · {pf.pci} ")
    pools = ix.pools_of_pf.get(pf.pci, [])
    parts: Parts = [_facts("sysfs", [
        ("PCI address", pf.pci),
        ("netdevs", ", ".join(pf.netdevs)),
        ("vendor", f"{pf.vendor} ({pf.vendor_id})"),
        ("model", f"{pf.model} ({pf.device_id})"),
        ("driver", pf.driver),
        ("NUMA node", pf.numa_node),
        ("sriov_numvfs / totalvfs", f"{pf.numvfs} / {pf.totalvfs}"),
        ("VF offset / stride", f"{pf.vf_offset} / {pf.vf_stride}"),
        ("link", pf.link),
        ("eswitch mode", pf.eswitch_mode),
        ("representors", ", ".join(pf.representors)),
    ])]
    c = ix.fig.pf(pf.pci)
    use = (f"{c.pooled} pooled, {c.hard} hard-coded, {c.unpooled} in no pool; "
           f"free {count_range(c.free_lo, c.free_hi)}")
    if c.unknown:
        use = f"unknown: libvirt could not be read, so any of the {c.unknown} may be held by a guest"
    elif c.pool_unknown:
        use += (f"; {count_range(c.held_unknown_lo, c.held_unknown_hi)} held by running pool guests "
                f"(which VF each holds, libvirt does not say)")
    parts.append(_facts("libvirt", [("pools on this PF", ", ".join(p.name for p in pools) or "none"),
                                    ("VFs", use)]))
    parts += _problems(ix.pf_problems(pf))
    for p in pools:
        parts += _xml(f"network {safe(p.name)}", p.xml)
    return title, parts


# a host read through libvirt: its VF settings (netlink on that host) are unknown here, and why
NETLINK_UNKNOWN = {False: (), True: (("", Text(
    "unknown: this host is read through libvirt, which does not report VF MAC, VLAN, spoof check "
    "or trust (netlink on that host)", style="dim")),)}


def vf_details(ix: Index, vf: VF) -> tuple[Text, Parts]:
    state = ix.vf_state(vf.pci)
    title = Text(f" VF {vf.index} · {vf.pci} ")
    pf = ix.pf_by_pci.get(vf.pf_pci)
    state_text = Text(f"{MARKER[state]}{state.value}", style=STYLE[state])
    parts: Parts = [_facts("sysfs", [
        ("state", state_text),
        ("PCI address", vf.pci),
        ("PF", f"{safe(pf.name)} ({vf.pf_pci})" if pf else vf.pf_pci),
        ("index", vf.index),
        ("driver", vf.driver or "unbound"),
        ("host netdev", vf.netdev),
        ("IOMMU group", vf.iommu_group),
        ("ids", f"{vf.vendor_id}:{vf.device_id}" if vf.vendor_id else None),
        ("admin MAC", vf.mac),
        ("admin VLAN", vf.vlan),
        ("spoof check", _yn(vf.spoofchk)),
        ("trust", _yn(vf.trust)),
        *NETLINK_UNKNOWN[ix.scan.meta.get("discovery") == "libvirt"],
    ])]
    pool = ix.pool_of_vf.get(vf.pci)
    held = ix.holders.get(vf.pci, [])
    rows: list[tuple[str, object]] = [("pool", pool.name if pool else "none")]
    maybe = ix.maybe_holders(vf.pci) if not held else ()
    if maybe:
        rows.append(("holder", Text(
            f"unknown: one of the {len(maybe)} running guests on {safe(pool.name)} may hold it "
            f"({', '.join(safe(n) for n in maybe)}); libvirt does not say which VF each holds, "
            f"so it is not counted as free")))
    elif not held:
        rows.append(("holder", "none (free)" if not pool else "none (free in the pool)"))
    for g, u in held:
        rows.append(("holder", Text(f"{safe(g.name)} — {HOW[u.kind]}"
                                    f"{' via ' + safe(u.network) if u.network else ''}"
                                    f" — {'running' if u.active else 'not running'} ({g.state})")))
    parts.append(_facts("libvirt", rows))
    parts += _problems(ix.problem_pcis.get(vf.pci, []))
    for g, u in held:
        parts += _xml(f"device in {safe(g.name)} (inactive XML)", u.xml)
    return title, parts


def guest_details(ix: Index, g: Guest) -> tuple[Text, Parts]:
    title = Text(f" guest {safe(g.name)} ")
    parts: Parts = [_facts("libvirt", [
        ("name", g.name),
        ("UUID", g.uuid),
        ("state", g.state),
        ("persistent", _yn(g.persistent)),
        ("autostart", _yn(g.autostart)),
        ("other PCI passthrough", "; ".join(ix.scan.host.device_name(a) for a in g.other_pci_hostdevs)
         or "none"),
        ("conversion candidate", f"yes: {len(g.convertible)} hard-coded VF device(s)" if g.convertible
         else "no"),
        ("would it start now", _start_verdict(ix, g)),
    ])]
    for e in g.errors:
        parts.append(Text(f"! {safe(e)}", style="bold red"))
    parts += _problems(ix.problems_of_guest.get(g.name, []))
    for n, u in enumerate(g.vf_uses, 1):
        pci = u.pci or "unknown (not running, or libvirt does not say)"
        parts.append(_facts(f"VF device {n}: {HOW[u.kind]}", [
            ("host VF", ix.scan.host.device_name(u.pci) if u.pci else pci),
            ("VF from", u.pci_source),
            ("pool", u.network),
            ("MAC", u.mac),
            ("VLAN", ", ".join(map(str, u.vlan))),
            ("guest slot", u.guest_address or ("none (unassigned: not visible in the guest)" if u.unassigned
                                               else "none set: libvirt assigns one")),
            ("managed", _yn(u.managed)),
            ("holds it now", "yes (running)" if u.active else "no (not running)"),
        ]))
        parts += _xml("XML", u.xml)
    if not g.vf_uses:
        parts.append(Text("This guest uses no VF.", style="dim"))
    return title, parts


def _start_verdict(ix: Index, g: Guest) -> Text:
    from vfpool_tui.core.health.start_check import would_start

    v = would_start(ix.scan, g.name)
    if v is None or v.running:
        return Text("running now" if v and v.running else UNKNOWN, style="dim")
    style = "green" if v.ok else ("bold red" if v.ok is False else "magenta")
    word = "yes" if v.ok else ("no" if v.ok is False else "cannot tell")
    reasons = "; ".join(d.reason for d in v.devices)
    return Text(f"{word}: {safe(reasons) if reasons else 'it uses no VF'}", style=style)


def pool_details(ix: Index, p: Pool, history: str = "") -> tuple[Text, Parts]:
    status, style = pool_status(p)
    title = Text(f" pool {safe(p.name)} ")
    users = [(g, u) for g in ix.scan.guests for u in g.vf_uses
             if u.kind is UseKind.POOL and u.network == p.name]
    parts: Parts = [_facts("libvirt", [
        ("status", Text(status, style=style)),
        ("PF", ", ".join(p.pfs)),
        ("capacity", p.capacity if p.capacity is not None else "unknown"),
        ("in use", p.in_use if not p.unknown else
         f"{p.in_use} (which VF: unknown for {p.unknown}; libvirt does not say)"),
        ("blocked (hard-coded elsewhere)", p.blocked),
        ("free", p.free if p.free is not None else "unknown"),
        ("this session", history or "no sample yet"),
        ("libvirt connections", p.connections),
        ("managed", _yn(p.managed)),
        ("autostart", _yn(p.autostart)),
        ("persistent", _yn(p.persistent)),
        ("VLAN", ", ".join(map(str, p.vlan))),
        ("VFs", ", ".join(p.vf_pcis or p.addresses)),
        ("guests", ", ".join(f"{safe(g.name)}{' (running)' if u.active else ''}" for g, u in users) or "none"),
    ])]
    parts += _problems(ix.problems_of_pool.get(p.name, []))
    parts += _xml("network XML", p.xml)
    return title, parts


def problem_details(p: Problem) -> tuple[Text, Parts]:
    mark, style = SEVERITY_MARK.get(p.severity, ("?", ""))
    title = Text(f" {mark} {p.kind.value} ")
    parts: Parts = [Text(safe(p.message)), _facts("concerns", [
        ("severity", Text(p.severity, style=style)),
        ("pool", p.pool),
        ("PF", p.pf),
        ("guests", ", ".join(p.guests)),
        ("VFs", ", ".join(p.pcis)),
    ])]
    return title, parts
