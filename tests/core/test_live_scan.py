"""core.scan.LiveScan: an event re-reads what it names, and the result is the full scan's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from convert_fixtures import PF_A, conn, host, iface_hostdev, node, vf_addr  # noqa: F401  (fixtures)
from lxml import etree
from paths import ROOT

from vfpool_tui.core.scan import LiveScan, scan, scan_to_json


def _same(live, conn, host) -> None:
    full = scan_to_json(scan(conn=conn, host=host))
    mine = scan_to_json(live)
    assert mine == full


def _define(conn, name: str, uuid: str, vf: str) -> None:
    d = etree.Element("domain", type="test")
    etree.SubElement(d, "name").text = name
    etree.SubElement(d, "uuid").text = uuid
    etree.SubElement(d, "memory").text = "65536"
    etree.SubElement(etree.SubElement(d, "os"), "type").text = "hvm"
    etree.SubElement(d, "devices").append(iface_hostdev(vf, "52:54:00:00:77:01"))
    conn.defineXML(etree.tostring(d, encoding="unicode"))


def test_events_re_read_only_what_they_name_and_agree_with_a_full_scan(conn, host):
    live = LiveScan(conn, None, False, host=host, discover_host=lambda: host)
    read_all = live._inv.stats["XMLDesc-inactive"]
    assert read_all == len(conn.listAllDomains(0))

    uuid = "33333333-0000-4000-8000-000000000001"
    _define(conn, "late", uuid, vf_addr(PF_A, 6))  # a domain event: DEFINED
    result = live.domain(uuid)
    assert live._inv.stats["XMLDesc-inactive"] == read_all + 1  # that domain alone was read
    assert any(g.name == "late" for g in result.guests)
    _same(result, conn, host)

    conn.lookupByUUIDString(uuid).create()  # STARTED
    _same(live.domain(uuid), conn, host)
    web = conn.lookupByName("web")
    web.destroy()  # STOPPED
    _same(live.domain(web.UUIDString()), conn, host)
    conn.lookupByUUIDString(uuid).destroy()
    conn.lookupByUUIDString(uuid).undefine()  # UNDEFINED: gone from the scan too
    result = live.domain(uuid)
    assert not any(g.name == "late" for g in result.guests)
    _same(result, conn, host)

    conn.networkLookupByName("pool-a").destroy()  # a network event
    result = live.networks()
    assert not next(p for p in result.pools if p.name == "pool-a").active
    _same(result, conn, host)
    _same(live.full(), conn, host)


def test_an_event_for_a_domain_that_is_already_gone(conn, host):
    live = LiveScan(conn, None, False, host=host, discover_host=lambda: host)
    before = live._result()
    after = live.domain("99999999-0000-4000-8000-000000000009")  # never existed / undefined since
    assert scan_to_json(after) == scan_to_json(before)


needs_umockdev = pytest.mark.skipif(shutil.which("umockdev-run") is None, reason="umockdev-run not installed")

_PROBE = r"""
import json, sys
from vfpool_tui.core.host.discovery import discover_host, rediscover_pf
host = discover_host(with_netlink=False)
again = rediscover_pf(host, host.pfs[0].pci, with_netlink=False)
vf_named = rediscover_pf(host, host.pfs[1].vfs[0].pci if host.pfs[1].vfs else host.pfs[1].pci, with_netlink=False)
gone = rediscover_pf(host, "0000:99:00.0", with_netlink=False)
print(json.dumps({"same": again == host, "pfs": [p.pci for p in again.pfs],
                  "before": [p.pci for p in host.pfs], "gone_same": gone.pfs == host.pfs,
                  "devices_same": again.pci_devices == host.pci_devices}))
"""


@needs_umockdev
@pytest.mark.umockdev
def test_one_pf_read_again_under_umockdev_is_what_a_full_discovery_says():
    from vfpool_tui.demo import HOST_UMOCKDEV

    res = subprocess.run([shutil.which("umockdev-run"), "-d", str(HOST_UMOCKDEV), "--", sys.executable, "-c", _PROBE],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["same"] and out["devices_same"] and out["gone_same"]
    assert out["pfs"] == out["before"]
