"""`vfpool-tui scan` end to end: a subprocess against the holders test-driver node (the host is
whatever this machine has: the JSON's libvirt side is asserted), plus scan_to_json in-process with
the model-built host for the PF/VF holder side."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from _scan_host import HOLDERS_URI, holders_host
from paths import ROOT

from vfpool_tui.core.model import Guest, Scan, UseKind, VfUse
from vfpool_tui.core.scan import scan, scan_to_json
from vfpool_tui.core.virt.connection import open_connection

PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("LIBVIRT_DEFAULT_URI", None)
    return subprocess.run([sys.executable, "-m", "vfpool_tui", "scan", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_scan_json_subprocess():
    res = run_cli("--json", "--connect", HOLDERS_URI)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)  # one JSON object and nothing else on stdout
    assert set(data) >= {"uri", "readonly", "pfs", "pools", "guests", "problems"}
    assert data["uri"] == HOLDERS_URI
    guests = {g["name"]: g for g in data["guests"]}
    assert "[bold]x[red]" in guests and "gäst \"ü\" 'q' spaced" in guests
    assert "gäst" in res.stdout  # ensure_ascii=False
    web1 = guests["web1"]
    assert web1["state"] == "running" and set(web1) >= {"name", "state", "vf_devices", "uuid",
                                                        "persistent", "autostart",
                                                        "other_pci_hostdevs"}
    ih = next(d for d in web1["vf_devices"] if d["kind"] == "interface-hostdev")
    assert ih == {**ih, "pci": "0000:02:10.1", "mac": "52:54:00:aa:00:01", "vlan": [42],
                  "guest_address": "0000:01:00.0", "boot_order": 1, "network": None}
    app = guests["app1"]["vf_devices"][0]
    assert (app["kind"], app["network"], app["pci"]) == ("pool", "pool-eth3", None)
    pools = {p["name"]: p for p in data["pools"]}
    assert set(pools) == {"pool-eth3", "pool-gone", "pool-list", "pool-novfs", "pool-off"}
    lst = pools["pool-list"]
    assert {k: lst[k] for k in ("pfs", "active", "autostart", "capacity", "in_use", "free")} == {
        "pfs": [], "active": True, "autostart": True, "capacity": 2, "in_use": 2, "free": 0}
    assert pools["pool-gone"]["capacity"] is None and pools["pool-gone"]["active"] is False
    for p in data["problems"]:
        assert set(p) >= {"kind", "message", "severity", "pcis", "guests", "pool"}
    kinds = {p["kind"] for p in data["problems"]}
    assert {"pool-exhausted", "pool-inactive"} <= kinds


def test_scan_text_subprocess():
    res = run_cli("--connect", HOLDERS_URI)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "[bold]x[red]" in out and "gäst \"ü\" 'q' spaced" in out
    assert "Pools" in out and "Guests" in out and "Problems" in out
    assert max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize("uri", ["test:///nonexistent.xml", "bogus://x"])
@pytest.mark.parametrize("as_json", [True, False])
def test_bad_uri_one_line_error(uri, as_json):
    res = run_cli(*(["--json"] if as_json else []), "--connect", uri)
    assert res.returncode != 0
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr and lines[0].startswith("vfpool-tui: cannot connect")


# --------------------------------------------------------------------------- in-process, model host


@pytest.fixture(scope="module")
def data():
    conn = open_connection(HOLDERS_URI, readonly=False)
    try:
        return scan_to_json(scan(conn=conn, host=holders_host()))
    finally:
        conn.close()


def _all_pcis(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("pci", "guest_address") and v is not None:
                yield v
            elif k in ("pcis", "vfs", "other_pci_hostdevs") and isinstance(v, list):
                yield from (x for x in v if isinstance(x, str))
                yield from _all_pcis(v)
            else:
                yield from _all_pcis(v)
    elif isinstance(obj, list):
        for x in obj:
            yield from _all_pcis(x)


def test_json_contract_pfs_and_holders(data):
    eth3 = next(p for p in data["pfs"] if p["name"] == "eth3")
    assert {k: eth3[k] for k in ("pci", "driver", "totalvfs", "numvfs")} == {
        "pci": "0000:02:00.0", "driver": "ixgbe", "totalvfs": 8, "numvfs": 4}
    assert set(eth3) >= {"model", "vendor", "numa_node", "link", "netdevs", "representors"}
    vf1 = next(v for v in eth3["vfs"] if v["index"] == 1)
    assert set(vf1) >= {"index", "pci", "driver", "holders", "netdev", "iommu_group", "mac",
                        "vlan", "spoofchk", "trust"}
    assert vf1["holders"] == [
        {"guest": "[bold]x[red]", "kind": "hostdev", "active": True, "network": None, "mac": None},
        {"guest": "gäst \"ü\" 'q' spaced", "kind": "hostdev", "active": False, "network": None,
         "mac": None},
    ]
    eth4 = next(p for p in data["pfs"] if p["name"] == "eth4")
    assert eth4["vfs"][0]["holders"][0]["kind"] == "interface-hostdev"
    assert all(PCI.match(a) for a in _all_pcis(data)), list(_all_pcis(data))
    assert data["pools"][0]["vfs"] == ["0000:02:10.0", "0000:02:10.2", "0000:02:10.4",
                                       "0000:02:10.6"]


def test_holders_pool_vf_only_when_running_and_known():
    host = holders_host()

    def g(name, active, pci):
        return Guest(name=name, uuid=name, state="running" if active else "shut off",
                     active=active, persistent=True, autostart=False,
                     vf_uses=(VfUse(guest=name, guest_uuid=name, kind=UseKind.POOL, pci=pci,
                                    active=active, network="p", pci_source="port" if pci else None),))

    result = Scan(host=host, guests=(g("run", True, "0000:02:10.6"), g("off", False, "0000:02:10.4"),
                                     g("unknown", True, None)))
    data = scan_to_json(result)
    vfs = {v["pci"]: v for p in data["pfs"] for v in p["vfs"]}
    assert vfs["0000:02:10.6"]["holders"] == [
        {"guest": "run", "kind": "pool", "active": True, "network": "p", "mac": None}]
    assert vfs["0000:02:10.4"]["holders"] == []
    dev = next(x for x in data["guests"] if x["name"] == "run")["vf_devices"][0]
    assert (dev["pci"], dev["pci_source"]) == ("0000:02:10.6", "port")


def test_text_width_counts_wide_characters_and_breaks_overlong_names():
    """Regression: textwrap counted code points (CJK names made 82-column lines) and a 200-character
    guest name widened the whole guest table to 230 columns."""
    from unicodedata import east_asian_width

    from vfpool_tui.commands.scan import render_text

    long_name = "n" * 200
    wide = "ゲスト-三"
    data = {
        "uri": "test:///x", "readonly": False, "host_errors": [], "libvirt_errors": [], "pfs": [],
        "pools": [],
        "guests": [{"name": n, "uuid": "u", "state": "shut off", "active": False, "persistent": True,
                    "autostart": False, "other_pci_hostdevs": [], "errors": [],
                    "vf_devices": [{"kind": "hostdev", "pci": "0000:02:10.0", "pci_source": "config",
                                    "network": None, "mac": None, "vlan": [], "alias": None,
                                    "guest_address": None, "boot_order": None, "managed": True}]}
                   for n in (long_name, wide, "a  b")],
        "problems": [{"kind": "vf-multiple-guests", "severity": "error", "pcis": ["0000:02:10.0"],
                      "guests": [wide], "pool": None, "pf": None,
                      "message": f"VF 0000:02:10.0 is hard-coded in {wide}, {wide}, {wide}, {wide}, "
                                 f"{wide} and {wide} and {wide}: they cannot run at the same time."}],
        "problem_count": {"error": 1, "warning": 0, "info": 0, "total": 1},
    }
    text = render_text(data)
    width = [sum(2 if east_asian_width(c) in "WF" else 1 for c in ln) for ln in text.splitlines()]
    assert max(width) <= 80
    assert "a  b" in text  # a name's own double blank is kept
    assert long_name in "".join(ln.strip() for ln in text.splitlines() if set(ln.strip()) == {"n"})


def test_table_with_a_short_last_column_keeps_its_columns():
    """Regression: narrowing for a 30-column last column broke the pools table (last column FREE)
    although all of it fit in 80 columns."""
    from vfpool_tui.commands.scan import _table

    header = ["NAME", "PF", "STATE", "AUTO", "VFS", "IN USE", "BLOCKED", "FREE"]
    rows = [["bnxt-pool", "2 addresses", "active", "yes", "2", "1", "0", "1"],
            ["cx6-pool", "enp175s0f0np0", "active", "yes", "12", "1", "3", "8"]]
    out = _table(header, rows)
    assert len(out) == 3
    assert out[2] == "  cx6-pool   enp175s0f0np0  active  yes   12   1       3        8"
