"""Shared fixtures for the conversion tests: a libvirt test-driver node and its host model.

Host: PF A 0000:02:00.0 (eth3) with VFs 0000:02:10.0-.7, PF B 0000:03:00.0 (eth4) with VFs
0000:03:10.0-.3, and a GPU at 0000:41:00.0 (not a VF). Networks: pool-a (hostdev over eth3),
pool-b (hostdev over eth4), default (NAT).
"""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest
from lxml import etree

from vfpool_tui.core.model import PF, VF, Host
from vfpool_tui.core.virt import connection

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
PF_A, PF_B = "0000:02:00.0", "0000:03:00.0"
GPU = "0000:41:00.0"


def vf_addr(pf: str, i: int) -> str:
    bus = pf.split(":")[1]
    return f"0000:{bus}:10.{i}"


def make_host(macs: dict[str, str] | None = None, vfs_a: int = 8, vfs_b: int = 4) -> Host:
    macs = macs or {}

    def vfs(pf, n):
        return tuple(VF(index=i, pci=vf_addr(pf, i), pf_pci=pf, driver="vfio-pci", netdev=None,
                        iommu_group=10 + i, vendor_id="8086", device_id="10ed",
                        mac=macs.get(vf_addr(pf, i))) for i in range(n))

    pfs = (
        PF(pci=PF_A, netdevs=("eth3",), driver="ixgbe", vendor_id="8086", device_id="10fb",
           vendor="Intel", model="82599ES", numa_node=0, totalvfs=63, numvfs=vfs_a, link="up",
           vfs=vfs(PF_A, vfs_a), vf_offset=128, vf_stride=1),
        PF(pci=PF_B, netdevs=("eth4",), driver="ixgbe", vendor_id="8086", device_id="10fb",
           vendor="Intel", model="82599ES", numa_node=0, totalvfs=63, numvfs=vfs_b, link="up",
           vfs=vfs(PF_B, vfs_b), vf_offset=128, vf_stride=1),
    )
    devices = {PF_A, PF_B, GPU} | {v.pci for p in pfs for v in p.vfs}
    return Host(pfs=pfs, pci_devices=frozenset(devices))


def _addr_attrs(address: str) -> dict[str, str]:
    from vfpool_tui.core import pci

    return pci.libvirt_attrs(address)


def domain(name: str, uuid: str, devices: list[etree._Element], running: bool = True) -> etree._Element:
    d = etree.Element("domain", type="test", nsmap={"test": TEST_NS})
    etree.SubElement(d, "name").text = name
    etree.SubElement(d, "uuid").text = uuid
    etree.SubElement(d, "memory", unit="KiB").text = "1048576"
    etree.SubElement(d, "vcpu").text = "1"
    os_ = etree.SubElement(d, "os")
    etree.SubElement(os_, "type", arch="x86_64").text = "hvm"
    devs = etree.SubElement(d, "devices")
    for el in devices:
        devs.append(el)
    if not running:
        rs = etree.SubElement(d, f"{{{TEST_NS}}}runstate")
        rs.text = "5"
    return d


def iface_hostdev(vf: str, mac: str, vlan: int | None = None, boot: int | None = None,
                  slot: int = 3, alias: str | None = None) -> etree._Element:
    el = etree.Element("interface", type="hostdev", managed="yes")
    etree.SubElement(el, "mac", address=mac)
    etree.SubElement(el, "driver", name="vfio")
    src = etree.SubElement(el, "source")
    etree.SubElement(src, "address", type="pci", **_addr_attrs(vf))
    if vlan is not None:
        v = etree.SubElement(el, "vlan")
        etree.SubElement(v, "tag", id=str(vlan))
    if boot is not None:
        etree.SubElement(el, "boot", order=str(boot))
    if alias:
        etree.SubElement(el, "alias", name=alias)
    etree.SubElement(el, "address", type="pci", domain="0x0000", bus="0x00", slot=f"0x{slot:02x}",
                     function="0x0")
    return el


def hostdev(addr: str, slot: int = 4, boot: int | None = None) -> etree._Element:
    el = etree.Element("hostdev", mode="subsystem", type="pci", managed="yes")
    src = etree.SubElement(el, "source")
    etree.SubElement(src, "address", **_addr_attrs(addr))
    if boot is not None:
        etree.SubElement(el, "boot", order=str(boot))
    etree.SubElement(el, "address", type="pci", domain="0x0000", bus="0x00", slot=f"0x{slot:02x}",
                     function="0x0")
    return el


def iface_network(net: str, mac: str, slot: int = 5) -> etree._Element:
    el = etree.Element("interface", type="network")
    etree.SubElement(el, "mac", address=mac)
    etree.SubElement(el, "source", network=net)
    etree.SubElement(el, "address", type="pci", domain="0x0000", bus="0x00", slot=f"0x{slot:02x}",
                     function="0x0")
    return el


def network(name: str, mode: str | None, pf: str | None = None) -> etree._Element:
    n = etree.Element("network")
    etree.SubElement(n, "name").text = name
    if mode == "hostdev":
        fwd = etree.SubElement(n, "forward", mode="hostdev", managed="yes")
        etree.SubElement(fwd, "pf", dev=pf)
    elif mode == "nat":
        etree.SubElement(n, "forward", mode="nat")
        etree.SubElement(n, "bridge", name="virbr0")
        etree.SubElement(n, "ip", address="192.168.122.1", netmask="255.255.255.0")
    return n


def standard_domains(extra_apps: int = 0) -> list[etree._Element]:
    doms = [
        # running: interface-hostdev (MAC, VLAN, boot order) + bare hostdev, both on PF A
        domain("web", "11111111-0000-4000-8000-000000000001", [
            iface_hostdev(vf_addr(PF_A, 1), "52:54:00:00:00:01", vlan=42, boot=1, alias="ua-net0"),
            hostdev(vf_addr(PF_A, 2), slot=4, boot=2),
        ]),
        # shut off, one VF
        domain("cold", "11111111-0000-4000-8000-000000000002", [
            iface_hostdev(vf_addr(PF_A, 3), "52:54:00:00:00:03"),
        ], running=False),
        # GPU passthrough only
        domain("gpu", "11111111-0000-4000-8000-000000000003", [hostdev(GPU)]),
        # already on the pool
        domain("onpool", "11111111-0000-4000-8000-000000000004", [iface_network("pool-a", "52:54:00:00:00:04")]),
        # a VF of PF B (the other port)
        domain("portb", "11111111-0000-4000-8000-000000000005", [
            iface_hostdev(vf_addr(PF_B, 0), "52:54:00:00:00:05"),
        ]),
    ]
    for i in range(extra_apps):
        doms.append(domain(f"app{i}", f"22222222-0000-4000-8000-{i:012d}", [
            iface_hostdev(vf_addr(PF_A, 4 + i) if i < 4 else vf_addr(PF_B, i - 3),
                          f"52:54:00:00:01:{i:02x}"),
        ]))
    return doms


def write_node(path: Path, domains: list[etree._Element]) -> Path:
    node = etree.Element("node")
    for n in (network("default", "nat"), network("pool-a", "hostdev", "eth3"),
              network("pool-b", "hostdev", "eth4")):
        node.append(n)
    for d in domains:
        node.append(d)
    path.write_bytes(etree.tostring(node, pretty_print=True))
    return path


def open_node(path: Path):
    connection.silence_libvirt_stderr()
    return libvirt.open(f"test://{path}")


@pytest.fixture
def node(tmp_path):
    return write_node(tmp_path / "node.xml", standard_domains())


@pytest.fixture
def conn(node):
    c = open_node(node)
    yield c
    try:
        c.close()
    except libvirt.libvirtError:
        pass


@pytest.fixture
def host():
    return make_host({vf_addr(PF_A, 2): "52:54:00:aa:00:02"})
