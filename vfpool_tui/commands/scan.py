"""``vfpool-tui scan [--connect URI] [--json]``: the host's VFs, who holds them, pools and problems.

Plain text by default (fits 80 columns; names printed verbatim, never as markup); ``--json`` prints
one JSON object (``vfpool_tui.core.scan.scan_to_json``) and nothing else on stdout. Never imports
textual or rich.
"""

from __future__ import annotations

import json
import sys
import unicodedata

from vfpool_tui.errors import CommandError
from vfpool_tui.core.wording import plural

WIDTH = 80


def register(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "scan",
        parents=parents,
        help="show SR-IOV NICs, their VFs, the guests that hold them, pools and problems",
        description="Show every SR-IOV PF with its VFs and the guests that hold them, the "
                    "hostdev pools with their capacity, the guests' VF devices and what is wrong.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(func=run)


def run(args) -> int:
    from vfpool_tui.core.scan import scan, scan_to_json
    from vfpool_tui.core.virt.connection import LibvirtUnavailable

    if len(getattr(args, "connects", ())) > 1:
        return _run_many(args)

    readonly = True if getattr(args, "readonly", False) else None
    try:
        result = scan(uri=getattr(args, "connect", None), readonly=readonly,
                      discovery=getattr(args, "discovery", None))
    except LibvirtUnavailable as err:
        raise CommandError(str(err)) from None
    data = scan_to_json(result)
    if getattr(args, "json", False):
        # compact: with indent= the json module falls back to its pure-Python encoder (5x slower)
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(data))
    return 0


def _run_many(args) -> int:
    """Several --connect: one JSON document per host, a line each (JSON Lines), in the order given;
    a host that cannot be read gets ``{"uri": ..., "error": ...}`` and the exit status is 1."""
    from vfpool_tui.core.scan import scan_hosts, scan_to_json

    readonly = True if getattr(args, "readonly", False) else None
    failed = False
    for uri, result, error in scan_hosts(args.connects, readonly, getattr(args, "discovery", None)):
        failed |= result is None
        if getattr(args, "json", False):
            doc = scan_to_json(result) if result is not None else {"uri": uri, "error": error}
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"=== {uri}\n")
            sys.stdout.write(render_text(scan_to_json(result)) if result is not None else f"error: {error}\n")
            sys.stdout.write("\n")
    return 1 if failed else 0


# --------------------------------------------------------------------------- text


def _width(text: str) -> int:
    w = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _break_word(word: str, width: int) -> list[str]:
    """Hard-break one word wider than ``width`` columns into pieces that fit (display width)."""
    pieces, cur, cur_w = [], "", 0
    for ch in word:
        w = _width(ch)
        if cur and cur_w + w > width:
            pieces.append(cur)
            cur, cur_w = "", 0
        cur += ch
        cur_w += w
    if cur:
        pieces.append(cur)
    return pieces


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """Word-wrap to ``width`` display columns (wide characters count 2), prefixes included.

    textwrap counts code points, so a line with CJK names came out wider than the terminal; a
    word longer than a whole line (a 200-character guest name) is broken, never left to overflow.
    """
    width = max(width, 8)
    if _width(first + text) <= width:
        return [first + text]
    lines: list[str] = []
    prefix = first
    cur = ""
    for word in text.split(" "):  # single spaces: a name's own runs of blanks stay as they are
        room = width - _width(prefix)
        candidate = f"{cur} {word}" if cur else word
        if _width(candidate) <= room:
            cur = candidate
            continue
        if cur:
            lines.append(prefix + cur)
            prefix, cur = rest, ""
            room = width - _width(prefix)
        if _width(word) <= room:
            cur = word
            continue
        pieces = _break_word(word, max(room, 1))
        for piece in pieces[:-1]:
            lines.append(prefix + piece)
            prefix = rest
        cur = pieces[-1]
    if cur or not lines:
        lines.append(prefix + cur)
    return lines


# the last column of a table keeps at least this many columns; a wider cell in another column
# gets a line of its own (names are printed whole, never cut)
_MIN_LAST = 30


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Columns sized to their content; the last column wraps to stay within WIDTH.

    When the other columns would leave the last one less than ``_MIN_LAST`` columns (or what its
    cells need, if less), the widest of
    them are narrowed; a cell that no longer fits is printed alone on a line before its row.
    """
    ncols = len(header)
    widths = [_width(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], _width(cell))
    # the last column needs _MIN_LAST only if its cells are that wide (a FREE count is not)
    last = min(_MIN_LAST, max(_width(r[-1]) for r in [header, *rows]))
    budget = WIDTH - len(indent) - last
    while ncols > 1 and sum(w + 2 for w in widths[:-1]) > budget:
        i = max(range(ncols - 1), key=lambda k: widths[k])
        floor = max(_width(header[i]), 8)
        if widths[i] <= floor:
            break
        widths[i] = max(floor, widths[i] - (sum(w + 2 for w in widths[:-1]) - budget))
    room = WIDTH - len(indent) - sum(w + 2 for w in widths[:-1])
    out = []
    for row in [header, *rows]:
        row = list(row)
        for i, cell in enumerate(row[:-1]):
            if _width(cell) > widths[i]:  # too wide for its column: a line of its own
                out.extend(_wrap(cell, WIDTH, indent, indent))
                row[i] = ""
        first, *more = _wrap(row[-1], room)
        lines = [[*row[:-1], first]] + [["" for _ in row[:-1]] + [m] for m in more]
        for cells in lines:
            text = "  ".join(_pad(c, widths[i]) for i, c in enumerate(cells[:-1]))
            out.append((indent + text + ("  " if cells[:-1] else "") + cells[-1]).rstrip())
    return out


def _yn(value) -> str:
    if value is None:
        return "?"
    return "yes" if value else "no"


def _num(value) -> str:
    return "?" if value is None else str(value)


def _holder(h: dict) -> str:
    what = f"pool {h['network']}" if h["kind"] == "pool" else h["kind"]
    return f"{h['guest']} ({what}, {'running' if h['active'] else 'off'})"


def _range(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _pf_counts(c: dict) -> str:
    """`` : 4 pooled, 1 hard-coded, 3 free`` (the same figures as the TUI's PF row)."""
    if not c["enabled"]:
        return ""
    parts = [f"{c['pooled']} pooled", f"{c['hard_coded']} hard-coded",
             f"{_range(c['free_min'], c['free_max'])} free"]
    if c["pool_unknown"]:
        parts.append(f"{_range(c['held_unknown_min'], c['held_unknown_max'])} held by pool guests "
                     f"(which VF: unknown)")
    return ": " + ", ".join(parts)


def _maybe(vf: dict) -> str:
    who = vf.get("may_be_held_by") or []
    if not who:
        return "-"
    return f"unknown: maybe one of {plural(len(who), 'running pool guest')}"


def _in_use(p: dict) -> str:
    return f"{p['in_use']} ({p['unknown']}?)" if p["unknown"] else str(p["in_use"])


def _device(d: dict) -> str:
    if d["kind"] == "pool":
        text = f"pool {d['network']}"
        if d["pci"]:
            text += f" -> {d['pci']}"
        elif d.get("active"):
            text += " -> VF unknown"
    else:
        text = f"{d['kind']} {d['pci']}"
    if d["mac"]:
        text += f" mac {d['mac']}"
    if d["vlan"]:
        text += " vlan " + ",".join(str(v) for v in d["vlan"])
    if d["boot_order"] is not None:
        text += f" boot {d['boot_order']}"
    return text


def render_text(data: dict) -> str:
    lines: list[str] = []
    mode = " (read-only)" if data.get("readonly") else ""
    lines.append(f"libvirt: {data.get('uri') or 'default URI'}{mode}")
    for err in data.get("host_errors", []) + data.get("libvirt_errors", []):
        lines.extend(_wrap(f"note: {err}", WIDTH, "", "      "))
    lines.append("")

    if not data["pfs"]:
        lines.extend(["No SR-IOV network cards (PFs) found on this host.", ""])
    for pf in data["pfs"]:
        head = [f"PF {pf['name']}", pf["pci"], pf["driver"] or "no driver"]
        if pf.get("link"):
            head.append(f"link {pf['link']}")
        if pf.get("numa_node") is not None:
            head.append(f"NUMA {pf['numa_node']}")
        lines.append("  ".join(head))
        if pf.get("vendor") or pf.get("model"):
            lines.extend(_wrap(f"{pf.get('vendor') or ''} {pf.get('model') or ''}".strip(), WIDTH,
                               "  ", "    "))
        lines.extend(_wrap(f"{pf['numvfs']} of {pf['totalvfs']} VFs enabled" + _pf_counts(pf["counts"]),
                           WIDTH, "  ", "    "))
        if pf["vfs"]:
            rows = []
            for vf in pf["vfs"]:
                holders = [_holder(h) for h in vf["holders"]] or [_maybe(vf)]
                rows.append([str(vf["index"]), vf["pci"], vf["driver"] or "-", vf["netdev"] or "-",
                             holders[0]])
                for extra in holders[1:]:
                    rows.append(["", "", "", "", extra])
            lines.extend(_table(["VF", "PCI", "DRIVER", "NETDEV", "HOLDERS"], rows))
        lines.append("")

    lines.append("Pools")
    if data["pools"]:
        rows = [[p["name"], ",".join(p["pfs"]) or plural(len(p["vfs"]), "address", "addresses"),
                 "active" if p["active"] else "inactive", _yn(p["autostart"]), _num(p["capacity"]),
                 _in_use(p), str(p["blocked"]), _num(p["free"])] for p in data["pools"]]
        lines.extend(_table(["NAME", "PF", "STATE", "AUTO", "VFS", "IN USE", "BLOCKED", "FREE"],
                            rows))
        if any(p["unknown"] for p in data["pools"]):
            lines.append("  (N?: N of the guests in use hold a VF libvirt does not name)")
    else:
        lines.append("  (no hostdev pool networks)")
    lines.append("")

    lines.append("Guests")
    rows = []
    for g in data["guests"]:
        devices = [_device(dict(d, active=g["active"])) for d in g["vf_devices"]]
        devices += [f"other PCI hostdev {a}" for a in g["other_pci_hostdevs"]]
        if g["errors"]:
            devices.append("(XML could not be read completely)")
        if not devices:
            continue
        rows.append([g["name"], g["state"], devices[0]])
        rows.extend(["", "", d] for d in devices[1:])
    if rows:
        lines.extend(_table(["NAME", "STATE", "VF DEVICES"], rows))
    else:
        lines.append("  (no guest uses a VF)")
    others = sum(1 for g in data["guests"] if not g["vf_devices"] and not g["other_pci_hostdevs"]
                 and not g["errors"])
    if others:
        lines.append(f"  ({others} other guest{'s' if others != 1 else ''} without VF devices)")
    lines.append("")

    problems = data["problems"]
    lines.append(f"Problems ({data['problem_count']['total']})" if problems else "Problems: none found")
    for p in problems:
        lines.extend(_wrap(f"{p['severity']}: {p['message']}", WIDTH, "  ", "    "))
    return "\n".join(lines) + "\n"
