"""Troubleshooting VF exhaustion from the command line.

``vfpool-tui why GUEST [--error MESSAGE] [--json]``: why the guest's start fails (or would), with what
to do; ``--error`` takes the message libvirt printed when the start failed.
``vfpool-tui capacity [--json]``: every pool's capacity versus use, who holds its VFs, which shut-off
guests wait for one, and the room left on the PF.
Read-only: both only scan.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap

from vfpool_tui.errors import CommandError


def register(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "why", parents=parents,
        help="explain why a guest's start fails (or would) for lack of a VF, and what to do",
        description="Explain, from the current state and optionally libvirt's error message, why a "
                    "guest cannot get its VFs, and what to do about it.")
    p.add_argument("guest", metavar="GUEST")
    p.add_argument("--error", metavar="MESSAGE", help="the error libvirt gave when the start failed")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_why)

    p = subparsers.add_parser(
        "start-check", parents=parents,
        help="would these guests start now, and which VF would libvirt give each (starts nothing)",
        description="Answer from the current state, without starting anything: would each guest start, "
                    "and which VF libvirt would hand it (the first VF in pool order with no connection). "
                    "Exit status 0 when every guest named would start, 1 when one would not or cannot "
                    "be judged.")
    p.add_argument("guests", metavar="GUEST", nargs="+")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_start_check)

    p = subparsers.add_parser(
        "capacity", parents=parents,
        help="pool capacity versus use: who holds what, who waits for a VF, room on the PF",
        description="For every hostdev pool: capacity, in use, free, the guests holding its VFs, the "
                    "shut-off guests that need one to start, and how many more VFs the PF could have.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_capacity)


def _scan(args):
    from vfpool_tui.core.scan import scan
    from vfpool_tui.core.virt.connection import LibvirtUnavailable

    try:
        return scan(uri=getattr(args, "connect", None), readonly=True,
                    discovery=getattr(args, "discovery", None))
    except LibvirtUnavailable as err:
        raise CommandError(str(err)) from None


def _wrapped(text: str, indent: str) -> str:
    return textwrap.fill(text, width=80, initial_indent=indent, subsequent_indent=indent + "  ")


def run_why(args) -> int:
    from vfpool_tui.core.health.diagnose import diagnose_guest

    result = _scan(args)
    if not any(g.name == args.guest for g in result.guests):
        raise CommandError(f"no guest named {args.guest!r} on {result.uri or 'this connection'}")
    findings = diagnose_guest(result, args.guest, error=args.error)
    if args.json:
        sys.stdout.write(json.dumps({"guest": args.guest,
                                     "findings": [dataclasses.asdict(f) for f in findings]},
                                    ensure_ascii=False) + "\n")
        return 0
    for f in findings:
        print(_wrapped(f"{f.severity}: {f.summary}", ""))
        if f.detail:
            print(_wrapped(f.detail, "  "))
        for action in f.actions:
            print(_wrapped(f"-> {action}", "  "))
    return 0


def run_start_check(args) -> int:
    from vfpool_tui.core.health.start_check import would_start

    result = _scan(args)
    verdicts = []
    for name in args.guests:
        v = would_start(result, name)
        if v is None:
            raise CommandError(f"no guest named {name!r} on {result.uri or 'this connection'}")
        verdicts.append(v)
    if args.json:
        sys.stdout.write(json.dumps({"guests": [dataclasses.asdict(v) for v in verdicts]},
                                    ensure_ascii=False) + "\n")
    else:
        for v in verdicts:
            print(_wrapped(("ok: " if v.ok else "NO: " if v.ok is False else "unknown: ") + v.summary, ""))
            for d in v.devices:
                print(_wrapped(f"{d.device}: {d.reason}", "  "))
    return 0 if all(v.ok for v in verdicts) else 1


def run_capacity(args) -> int:
    from vfpool_tui.core.health.diagnose import pool_usage
    from vfpool_tui.core.health.start_check import pool_queue

    result = _scan(args)
    rows = []
    for pool in result.pools:
        usage = pool_usage(result, pool.name)
        queue = pool_queue(result, pool)
        rows.append({
            "name": pool.name, "active": pool.active, "capacity": pool.capacity,
            "in_use": pool.in_use, "free": pool.free, "blocked": pool.blocked, "unknown": pool.unknown,
            "holders": [{"guest": u.guest, "pci": u.pci, "mac": u.mac} for u in usage.holders],
            "waiting": [g.name for g in usage.waiting],
            "hardcoded_in_pool": [{"guest": u.guest, "pci": u.pci} for u in usage.blocked],
            "shortfall": usage.shortfall,
            "pf_numvfs": usage.pf_numvfs, "pf_totalvfs": usage.pf_totalvfs, "headroom": usage.headroom,
            "if_all_started": {"guests": list(queue.guests), "fail": list(queue.fail),
                               "summary": queue.summary},
        })
    if args.json:
        sys.stdout.write(json.dumps({"pools": rows}, ensure_ascii=False) + "\n")
        return 0
    if not rows:
        print("No hostdev pool networks on this connection (create one: vfpool-tui pool create).")
        return 0
    for r in rows:
        cap = "?" if r["capacity"] is None else r["capacity"]
        free = "?" if r["free"] is None else r["free"]
        state = "active" if r["active"] else "INACTIVE"
        print(f"{r['name']}  {state}  {r['in_use']}/{cap} in use, {free} free"
              + (f", {r['blocked']} blocked by hard-coded guests" if r["blocked"] else ""))
        for h in r["holders"]:
            print(f"  holds  {h['pci'] or 'VF unknown':14} {h['guest']}")
        for u in r["hardcoded_in_pool"]:
            print(f"  blocks {u['pci']:14} {u['guest']} (hard-coded)")
        if r["waiting"]:
            print(_wrapped(f"waiting (shut off, need a VF to start): {', '.join(r['waiting'])}", "  "))
        if r["shortfall"]:
            print(f"  short by {r['shortfall']} VF(s) to start every waiting guest")
        if r["if_all_started"]["fail"]:
            print(_wrapped(r["if_all_started"]["summary"], "  "))
        if r["headroom"]:
            print(f"  PF has {r['pf_numvfs']} of {r['pf_totalvfs']} VFs enabled: room for {r['headroom']} more")
        print()
    return 0
