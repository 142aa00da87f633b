"""domain_xml on domain XML as libvirt prints it (single quotes, 2-space indent, 0x-hex addresses),
from more than one libvirt version, inactive and live."""

from __future__ import annotations

import pytest

from vfpool_tui.core.virt import domain_xml as dx
from vfpool_tui.core.virt import xmlutil

# libvirt 9.x, inactive (XMLDesc(VIR_DOMAIN_XML_INACTIVE)): vfio driver, rom bar, boot order, user
# aliases, vlan; a pool interface on a network; a NAT interface; a disk and a USB hostdev around.
INACTIVE_V9 = """<domain type='kvm'>
  <name>web1</name>
  <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>
  <memory unit='KiB'>2097152</memory>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web1.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:6D:90:02'/>
      <source network='passthrough'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:aa:bb:01'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>
      </source>
      <vlan>
        <tag id='42'/>
      </vlan>
      <boot order='1'/>
      <alias name='ua-sriov0'/>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source>
        <address domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
      </source>
      <rom bar='off'/>
      <boot order='2'/>
      <alias name='ua-vf1'/>
      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0'/>
    </hostdev>
    <hostdev mode='subsystem' type='usb' managed='yes'>
      <source>
        <vendor id='0x0781'/>
        <product id='0x5567'/>
      </source>
    </hostdev>
  </devices>
</domain>
"""

# an older libvirt (4.x/5.x style): no <driver name='vfio'/>, no aliases, managed='no', no guest
# address yet (never started), domain attribute written
INACTIVE_OLD = """<domain type='kvm'>
  <name>legacy</name>
  <uuid>0b3a7a4e-7f0e-4e9b-9b83-f1b7b7c7c001</uuid>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source>
        <address domain='0x0001' bus='0x82' slot='0x02' function='0x7'/>
      </source>
    </hostdev>
    <interface type='hostdev'>
      <mac address='52:54:00:aa:bb:02'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x03' slot='0x11' function='0x0'/>
      </source>
      <vlan trunk='yes'>
        <tag id='10'/>
        <tag id='20'/>
      </vlan>
    </interface>
  </devices>
</domain>
"""

# The same guest as INACTIVE_V9, running: the pool interface is printed as the VF it got
# (LIBVIRT-FACTS.md), with libvirt's own alias hostdev0; no network name, no port id.
LIVE_V9 = """<domain type='kvm' id='3'>
  <name>web1</name>
  <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>
  <devices>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:02'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x3'/>
      </source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default' portid='5d744f21-ba4a-4d6e-bdb2-30a35ff3207d' bridge='virbr0'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
      <alias name='net1'/>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:aa:bb:01'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x3'/>
      </source>
      <vlan>
        <tag id='42'/>
      </vlan>
      <boot order='1'/>
      <alias name='ua-sriov0'/>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source>
        <address domain='0x0000' bus='0x03' slot='0x10' function='0x1'/>
      </source>
      <alias name='ua-vf1'/>
      <rom bar='off'/>
      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0'/>
    </hostdev>
  </devices>
</domain>
"""


def by_kind(parsed, kind):
    return [d for d in parsed.devices if d.kind == kind]


def test_inactive_v9_devices():
    p = dx.parse_domain(INACTIVE_V9)
    assert (p.name, p.uuid, p.problems) == ("web1", "d54df46f-1ab5-4a22-8618-4560ef5fac2c", ())
    assert [d.kind for d in p.devices] == [dx.INTERFACE_NETWORK, dx.INTERFACE_NETWORK,
                                           dx.INTERFACE_HOSTDEV, dx.HOSTDEV]  # no disk, no USB
    pool, nat = by_kind(p, dx.INTERFACE_NETWORK)
    assert (pool.network, pool.mac, pool.source_pci) == ("passthrough", "52:54:00:6d:90:02", None)
    assert pool.guest_address == "0000:01:00.0" and nat.network == "default"
    (ih,) = by_kind(p, dx.INTERFACE_HOSTDEV)
    assert ih.source_pci == "0000:03:10.3"  # the host VF under <source>
    assert ih.guest_address == "0000:05:00.0"  # not the one under <source>
    assert (ih.mac, ih.vlan, ih.boot_order, ih.alias, ih.managed) == (
        "52:54:00:aa:bb:01", (42,), 1, "ua-sriov0", True)
    (hd,) = by_kind(p, dx.HOSTDEV)
    assert (hd.source_pci, hd.boot_order, hd.alias, hd.guest_address, hd.mac) == (
        "0000:03:10.1", 2, "ua-vf1", "0000:06:00.0", None)
    # the element as libvirt printed it, without the whitespace that follows it
    assert hd.xml.startswith("<hostdev mode=\"subsystem\"") and hd.xml.endswith("</hostdev>")
    assert "<rom bar=\"off\"/>" in hd.xml


def test_positions_find_the_element_again():
    p = dx.parse_domain(INACTIVE_V9)
    root = xmlutil.parse(INACTIVE_V9)
    children = list(root.find("devices"))
    for d in p.devices:
        assert children[d.position].tag in ("interface", "hostdev")


def test_older_libvirt_format():
    p = dx.parse_domain(INACTIVE_OLD)
    hd, ih = p.devices
    assert (hd.kind, hd.source_pci, hd.managed, hd.guest_address, hd.alias) == (
        dx.HOSTDEV, "0001:82:02.7", False, None, None)
    assert (ih.kind, ih.source_pci, ih.managed, ih.vlan) == (
        dx.INTERFACE_HOSTDEV, "0000:03:11.0", None, (10, 20))


def test_live_xml_of_a_running_pool_guest_looks_hard_coded():
    # why the inventory classifies from the INACTIVE XML: live, the pool NIC is type='hostdev'
    p = dx.parse_domain(LIVE_V9)
    assert [d.kind for d in p.devices] == [dx.INTERFACE_HOSTDEV, dx.INTERFACE_HOSTDEV, dx.HOSTDEV]
    live = dx.live_hostdev_interfaces(LIVE_V9)
    assert [(x.mac, x.alias, x.host_pci, x.guest_address) for x in live] == [
        ("52:54:00:6d:90:02", "hostdev0", "0000:02:10.3", "0000:01:00.0"),
        ("52:54:00:aa:bb:01", "ua-sriov0", "0000:03:10.3", "0000:05:00.0"),
    ]


def test_broken_devices_are_problems_not_exceptions():
    xml = """<domain type='kvm'>
  <name>odd</name>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source/>
    </hostdev>
    <interface type='network'>
      <source bridge='br0'/>
    </interface>
    <interface type='hostdev'>
      <source>
        <address type='pci' domain='0x0000' bus='0x1ff' slot='0x10' function='0x1'/>
      </source>
    </interface>
    <hostdev mode='subsystem' type='pci'>
      <source>
        <address domain='0x0000' bus='0x03' slot='0x10' function='0x5'/>
      </source>
    </hostdev>
  </devices>
</domain>"""
    p = dx.parse_domain(xml)
    assert [d.source_pci for d in p.devices] == ["0000:03:10.5"]
    assert len(p.problems) == 3 and p.problems[0].startswith("<hostdev> #0")


def test_malformed_and_wrong_documents():
    with pytest.raises(xmlutil.XmlError):
        dx.parse_domain("<domain><name>x</name><devices><hostdev")
    with pytest.raises(xmlutil.XmlError):
        dx.parse_domain("<network><name>x</name></network>")


def test_entities_are_not_expanded():
    xml = ("<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
           "<domain><name>&x;</name><devices/></domain>")
    p = dx.parse_domain(xml)
    assert "root:" not in p.name


def test_direct_interface_on_a_netdev_is_read_but_is_not_a_hostdev():
    xml = """<domain type='kvm'>
  <name>mv</name>
  <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>
  <devices>
    <interface type='direct'>
      <mac address='52:54:00:AA:00:01'/>
      <source dev='enp3s0f0v3' mode='passthrough'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <interface type='direct'>
      <source dev='eno1'/>
    </interface>
  </devices>
</domain>"""
    refs = dx.parse_domain(xml).devices
    assert [(r.kind, r.source_dev, r.source_mode, r.source_pci) for r in refs] == [
        ("interface-direct", "enp3s0f0v3", "passthrough", None),
        ("interface-direct", "eno1", "vepa", None)]  # libvirt's default mode is vepa
    assert refs[0].mac == "52:54:00:aa:00:01" and refs[0].guest_address == "0000:01:00.0"
