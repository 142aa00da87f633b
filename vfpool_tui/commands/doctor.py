"""``vfpool-tui doctor [--json]`` and ``vfpool-tui metrics [--output FILE]``: for cron, Ansible and
Prometheus.

``doctor`` prints capacity, every problem and its remedy (``core.health.doctor``, a versioned
schema) and exits 0 when healthy, 1 on warnings only, 2 on errors (also when libvirt cannot be
read). ``metrics`` writes the same figures in Prometheus' text exposition format, atomically, for
node_exporter's textfile collector (or to stdout).
"""

from __future__ import annotations

import json
import sys
import textwrap

from vfpool_tui.errors import CommandError


def register(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "doctor", parents=parents,
        help="capacity, every problem and its remedy; exit 0 healthy, 1 warnings, 2 errors",
        description="Capacity, every problem and the remedy for each, in one document (--json: "
                    "versioned schema, see the README). Exit status: 0 healthy, 1 warnings only, "
                    "2 errors (or libvirt cannot be read).")
    p.add_argument("--json", action="store_true", help="print the JSON document")
    p.set_defaults(func=run_doctor)

    p = subparsers.add_parser(
        "metrics", parents=parents,
        help="the doctor's figures in Prometheus text format (node_exporter textfile collector)",
        description="Per pool size / in use / free / blocked, per PF enabled / total VFs, problems by "
                    "kind and severity, in Prometheus' text exposition format. With --output the file "
                    "is replaced atomically (written beside it, then renamed), as the textfile "
                    "collector needs.")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write here (e.g. /var/lib/prometheus/node-exporter/vfpool.prom); default stdout")
    p.set_defaults(func=run_metrics)


def _scan(args):
    from vfpool_tui.core.scan import scan
    from vfpool_tui.core.virt.connection import LibvirtUnavailable

    try:
        return scan(uri=getattr(args, "connect", None), readonly=True,
                    discovery=getattr(args, "discovery", None)), None
    except LibvirtUnavailable as err:
        return None, str(err)


def run_doctor(args) -> int:
    from vfpool_tui.core.health import doctor

    if len(getattr(args, "connects", ())) > 1:
        return _run_many(args)
    result, error = _scan(args)
    if result is None:
        if args.json:
            sys.stdout.write(json.dumps({
                "schema": doctor.SCHEMA, "schema_version": doctor.SCHEMA_VERSION,
                "uri": getattr(args, "connect", None), "status": "error", "exit_status": 2,
                "errors": [error]}, ensure_ascii=False) + "\n")
            return 2
        raise CommandError(error, 2)
    doc = doctor.report(result)
    if args.json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return doc["exit_status"]
    c = doc["counts"]
    p = c["problems"]
    print(f"{doc['status'].upper()}: {c['pfs']} PFs, {c['vfs']} VFs, {c['pools']} pools, {c['guests']} guests; "
          f"{p['error']} errors, {p['warning']} warnings, {p['info']} notes")
    for pool in doc["pools"]:
        size = "?" if pool["size"] is None else pool["size"]
        free = "?" if pool["free"] is None else pool["free"]
        flag = "  << near exhaustion" if pool["near_exhaustion"] else ""
        print(f"  pool {pool['name']}: {pool['in_use']}/{size} in use, {free} free, "
              f"{pool['blocked']} blocked{'' if pool['active'] else ' (INACTIVE)'}{flag}")
    for prob in doc["problems"]:
        print(textwrap.fill(f"{prob['severity']}: {prob['message']}", 80, subsequent_indent="  "))
        print(textwrap.fill(f"-> {prob['remedy']}", 80, initial_indent="  ", subsequent_indent="     "))
    for err in doc["errors"]:
        print(textwrap.fill(f"note: {err}", 80, subsequent_indent="  "))
    return doc["exit_status"]


def _run_many(args) -> int:
    """Several --connect: one doctor document per host (JSON Lines with --json; a block each
    otherwise); the exit status is the worst host's."""
    from vfpool_tui.core.health import doctor
    from vfpool_tui.core.scan import scan_hosts

    worst = 0
    for uri, result, error in scan_hosts(args.connects, True, getattr(args, "discovery", None)):
        if result is None:
            doc = {"schema": doctor.SCHEMA, "schema_version": doctor.SCHEMA_VERSION, "uri": uri,
                   "status": "error", "exit_status": 2, "errors": [error]}
        else:
            doc = doctor.report(result)
        worst = max(worst, doc["exit_status"])
        if args.json:
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            print(f"{uri}: {doc['status'].upper()}" + (f": {error}" if error else
                  f" ({doc['counts']['problems']['error']} errors, {doc['counts']['problems']['warning']} warnings)"))
    return worst


def run_metrics(args) -> int:
    from vfpool_tui.commands.prometheus import render, write_atomically

    result, error = _scan(args)
    if error:
        print(f"vfpool-tui: {error} (exported vfpool_up 0)", file=sys.stderr)
    if args.output:
        try:
            write_atomically(args.output, result, error)
        except OSError as err:
            raise CommandError(f"cannot write {args.output}: {err.strerror or err}", 2) from None
    else:
        sys.stdout.write(render(result, error))
    return 0 if result is not None else 2
