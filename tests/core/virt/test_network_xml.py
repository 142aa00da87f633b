"""network_xml on network and network-port XML as libvirt prints it."""

from __future__ import annotations

import pytest

from vfpool_tui.core.virt import network_xml as nx
from vfpool_tui.core.virt import xmlutil

# net.XMLDesc(0) of an ACTIVE pool defined with <pf dev='eth3'/>: the pool's VFs follow <pf>
ACTIVE_POOL = """<network connections='2'>
  <name>passthrough</name>
  <uuid>8f1e5a2c-93a8-4b4e-8e5e-2d9d6c1d9f10</uuid>
  <forward mode='hostdev' managed='yes'>
    <pf dev='eth3'/>
    <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x0'/>
    <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x2'/>
    <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x4'/>
  </forward>
</network>
"""

# the same network, XMLDesc(VIR_NETWORK_XML_INACTIVE) or while inactive: only <pf>
INACTIVE_POOL = """<network>
  <name>passthrough</name>
  <uuid>8f1e5a2c-93a8-4b4e-8e5e-2d9d6c1d9f10</uuid>
  <forward mode='hostdev' managed='yes'>
    <pf dev='eth3'/>
  </forward>
</network>
"""

EXPLICIT_POOL = """<network>
  <name>by-address</name>
  <uuid>11111111-93a8-4b4e-8e5e-2d9d6c1d9f10</uuid>
  <forward mode='hostdev' managed='yes'>
    <driver name='vfio'/>
    <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x1'/>
    <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x3'/>
  </forward>
  <vlan>
    <tag id='42'/>
  </vlan>
</network>
"""

NAT = """<network>
  <name>default</name>
  <uuid>22222222-93a8-4b4e-8e5e-2d9d6c1d9f10</uuid>
  <forward mode='nat'>
    <nat>
      <port start='1024' end='65535'/>
    </nat>
  </forward>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'/>
</network>
"""

# port.XMLDesc() (libvirt >= 5.5): the <plug> address has no type attribute
PORT = """<networkport>
  <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
  <owner>
    <name>memtest</name>
    <uuid>D54DF46F-1AB5-4A22-8618-4560EF5FAC2C</uuid>
  </owner>
  <mac address='52:54:00:7B:35:93'/>
  <plug type='hostdev-pci' managed='yes'>
    <driver name='vfio'/>
    <address domain='0x0001' bus='0x02' slot='0x03' function='0x4'/>
  </plug>
</networkport>
"""


def test_active_pool_lists_its_vfs():
    n = nx.parse_network(ACTIVE_POOL)
    assert n.is_hostdev_pool and n.managed and n.pf_devs == ("eth3",)
    assert n.addresses == ("0000:02:10.0", "0000:02:10.2", "0000:02:10.4")
    assert n.connections == 2


def test_inactive_pool_has_only_the_pf():
    n = nx.parse_network(INACTIVE_POOL)
    assert (n.pf_devs, n.addresses, n.connections) == (("eth3",), (), None)


def test_explicit_address_pool_and_vlan():
    n = nx.parse_network(EXPLICIT_POOL)
    assert (n.pf_devs, n.addresses, n.vlan) == ((), ("0000:02:10.1", "0000:02:10.3"), (42,))


def test_nat_network_is_not_a_pool():
    n = nx.parse_network(NAT)
    assert n.forward_mode == "nat" and not n.is_hostdev_pool
    assert not nx.parse_network("<network><name>isolated</name></network>").is_hostdev_pool


def test_network_port():
    p = nx.parse_network_port(PORT)
    assert p.uuid == "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
    assert (p.owner_name, p.owner_uuid) == ("memtest", "d54df46f-1ab5-4a22-8618-4560ef5fac2c")
    assert (p.mac, p.plug_type, p.host_pci) == ("52:54:00:7b:35:93", "hostdev-pci", "0001:02:03.4")


def test_network_port_without_driver_and_of_a_bridge():
    no_driver = PORT.replace("    <driver name='vfio'/>\n", "")
    assert nx.parse_network_port(no_driver).host_pci == "0001:02:03.4"
    bridge = """<networkport>
  <uuid>6d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
  <owner>
    <name>vm</name>
    <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>
  </owner>
  <mac address='52:54:00:7b:35:94'/>
  <plug type='network' bridge='virbr0'/>
</networkport>"""
    p = nx.parse_network_port(bridge)
    assert (p.plug_type, p.host_pci) == ("network", None)


def test_wrong_documents():
    with pytest.raises(xmlutil.XmlError):
        nx.parse_network(PORT)
    with pytest.raises(xmlutil.XmlError):
        nx.parse_network_port(NAT)


def test_decimal_addresses_are_read_as_libvirt_reads_them():
    """libvirt parses address parts with strtoul base 0: decimal unless 0x (pci.parse_uint)."""
    decimal = EXPLICIT_POOL.replace("bus='0x02' slot='0x10' function='0x1'", "bus='2' slot='16' function='1'")
    assert decimal != EXPLICIT_POOL
    assert nx.parse_network(decimal).addresses == ("0000:02:10.1", "0000:02:10.3")
    port = PORT.replace("domain='0x0001' bus='0x02' slot='0x03'", "domain='1' bus='32' slot='15'")
    assert nx.parse_network_port(port).host_pci == "0001:20:0f.4"
