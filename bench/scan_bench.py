"""Scan benchmark: `vfpool-tui scan --json` on a large generated host versus the bare calls it needs.

    .venv/bin/python bench/scan_bench.py [--pfs 16] [--vfs 64] [--guests 500] [--rounds 5]

Generates a host (bench/gen_host.py: umockdev device tree + libvirt test-driver node), then, under
umockdev-run so the real pyudev/sysfs code reads the emulated tree:
- floor: open the libvirt connection (the test driver parses the node file here), every domain's
  inactive XML, state, persistence and autostart, the live XML of running guests that have a
  network interface, every network's XML, active and autostart flags, the ports of hostdev
  networks; the kernel's PCI device list, each PF's udev device, and the sysfs attributes and
  links of every PF and VF (until the discovery stopped asking udev of every VF, the floor listed
  every PCI device through pyudev's enumeration, 250 ms of it on this host). No
  netlink: this is the floor the issue sets (the scan still reports VF admin MAC/VLAN, from one
  rtnetlink dump).
- scan: the whole `vfpool-tui scan --json`.
Both are timed twice: as fresh processes (what an admin waits for: interpreter start, imports,
work; the floor imports only libvirt and pyudev), and warm in one process (the work alone).
Prints the medians, the ratios (target: cold <= 1.3), and the peak RSS of a fresh
`vfpool-tui scan --json` process (target < 100 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def bare_calls(uri: str) -> int:
    """The libvirt and sysfs reads a scan cannot avoid. Returns a count so nothing is optimised out."""
    import libvirt
    import pyudev

    from vfpool_tui.core.virt.connection import open_connection

    conn = open_connection(uri, readonly=False)
    n = 0
    for dom in conn.listAllDomains(0):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        state = dom.state()[0]
        n += len(xml) + state + dom.isPersistent() + dom.autostart()
        if state == libvirt.VIR_DOMAIN_RUNNING and "type='network'" in xml:
            n += len(dom.XMLDesc(0))
    for net in conn.listAllNetworks(0):
        xml = net.XMLDesc(0)
        n += len(xml) + net.isActive() + net.autostart() + net.isPersistent()
        if "mode='hostdev'" in xml:
            try:
                n += len(net.listAllPorts(0))
            except libvirt.libvirtError:
                pass
    ctx = pyudev.Context()
    bus = os.path.join(ctx.sys_path, "bus", "pci", "devices")
    for name in os.listdir(bus):  # the kernel's list of PCI devices; udev is asked of the PFs
        if not os.path.exists(os.path.join(bus, name, "sriov_totalvfs")):
            continue
        dev = pyudev.Devices.from_sys_path(ctx, os.path.realpath(os.path.join(bus, name)))
        n += len(dev.properties.get("ID_MODEL_FROM_DATABASE") or "")
        path = dev.sys_path
        entries = os.listdir(path)
        if "sriov_totalvfs" not in entries:
            continue
        for attr in ("sriov_totalvfs", "sriov_numvfs", "sriov_offset", "sriov_stride", "numa_node",
                     "vendor", "device"):
            with open(os.path.join(path, attr)) as f:
                n += len(f.read())
        n += len(os.readlink(os.path.join(path, "driver")))
        if os.path.isdir(os.path.join(path, "net")):
            for netdev in os.listdir(os.path.join(path, "net")):
                with open(os.path.join(path, "net", netdev, "operstate")) as f:
                    n += len(f.read())
        for entry in entries:
            if entry.startswith("virtfn"):
                vf = os.path.realpath(os.path.join(path, entry))
                for link in ("driver", "iommu_group"):
                    lp = os.path.join(vf, link)
                    if os.path.islink(lp):
                        n += len(os.readlink(lp))
                with open(os.path.join(vf, "device")) as f:
                    n += len(f.read())
    conn.close()
    return n


def scan_command(uri: str) -> int:
    from vfpool_tui import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["scan", "--json", "--connect", uri])
    if status != 0:
        raise SystemExit(f"scan failed with status {status}")
    return len(json.loads(out.getvalue())["pfs"])


def child(uri: str, rounds: int) -> None:
    """Runs under umockdev-run (its testbed is inherited by the processes started here, so the
    fresh processes do not each pay for building the testbed): time both ways, print one JSON line."""
    bare_calls(uri)  # warm the page cache and the imports of both paths
    scan_command(uri)
    bare, scan, cold_bare, cold_scan = [], [], [], []
    for _ in range(rounds):
        t = time.perf_counter()
        bare_calls(uri)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        scan_command(uri)
        scan.append(time.perf_counter() - t)
        for cmd, out in (([sys.executable, __file__, "--floor-once", uri], cold_bare),
                         ([sys.executable, "-m", "vfpool_tui", "scan", "--json", "--connect", uri], cold_scan)):
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
            out.append(time.perf_counter() - t)
            if r.returncode != 0:
                raise SystemExit(r.stderr)
    print(json.dumps({"bare": bare, "scan": scan, "cold_bare": cold_bare, "cold_scan": cold_scan}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pfs", type=int, default=16)
    ap.add_argument("--vfs", type=int, default=64)
    ap.add_argument("--guests", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", metavar="URI", help=argparse.SUPPRESS)
    ap.add_argument("--floor-once", metavar="URI", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.rounds)
        return 0
    if args.floor_once:
        print(bare_calls(args.floor_once))
        return 0

    import gen_host

    with tempfile.TemporaryDirectory(prefix="vfpool-bench-") as tmp:
        t = time.perf_counter()
        umockdev, node = gen_host.generate(Path(tmp), pfs=args.pfs, vfs=args.vfs, guests=args.guests)
        gen_s = time.perf_counter() - t
        uri = f"test://{Path(node).resolve()}"
        run = ["umockdev-run", "-d", str(umockdev), "--"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        # as installed: pip compiles a package's bytecode, so a fresh process does not compile it
        # again. A shell with PYTHONDONTWRITEBYTECODE (this project's sandbox has it) would make
        # every fresh scan compile vfpool_tui (~50 ms) while the floor's libvirt and pyudev are compiled.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        print(f"host: {args.pfs} PFs x {args.vfs} VFs, {args.guests} guests (generated in {gen_s:.2f} s)")
        # memory first: RUSAGE_CHILDREN keeps the largest peak of any child waited for so far
        res = subprocess.run(run + [sys.executable, "-m", "vfpool_tui", "scan", "--json", "--connect", uri],
                             capture_output=True, text=True, env=env, check=False)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr)
            return 1
        json_kib = len(res.stdout.encode()) / 1024

        res = subprocess.run(run + [sys.executable, __file__, "--child", uri, "--rounds", str(args.rounds)],
                             capture_output=True, text=True, env=env, check=False)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr)
            return 1
        figures = json.loads(res.stdout.strip().splitlines()[-1])
        bare = statistics.median(figures["bare"])
        scan = statistics.median(figures["scan"])

        cold_floor = statistics.median(figures["cold_bare"])
        cold_scan = statistics.median(figures["cold_scan"])
        ratio = cold_scan / cold_floor
        print(f"fresh process, floor      : {cold_floor * 1000:8.1f} ms (median of {args.rounds}; "
              f"python + libvirt + pyudev imports + calls)")
        print(f"fresh process, scan --json: {cold_scan * 1000:8.1f} ms (median of {args.rounds})")
        print(f"ratio, fresh processes    : {ratio:8.2f}   (target <= 1.3) {'OK' if ratio <= 1.3 else 'OVER'}")
        print(f"warm, floor               : {bare * 1000:8.1f} ms (in one process, imports done)")
        print(f"warm, scan --json         : {scan * 1000:8.1f} ms")
        print(f"ratio, warm               : {scan / bare:8.2f}")
        print(f"peak RSS of scan --json   : {peak_mb:8.1f} MB (target < 100) {'OK' if peak_mb < 100 else 'OVER'}")
        print(f"JSON output               : {json_kib:8.1f} KiB")

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
