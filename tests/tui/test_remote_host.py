"""One host read through libvirt's node-device API (a remote hypervisor, ``--discovery libvirt``):
node-device events stand in for udev, the header says so, and what cannot be done through libvirt
(the VF count, the boot-time udev rule, VF MAC/VLAN) is refused or shown as unknown with the reason;
creating a pool over the VFs the PF has works.

The host is a generated test-driver node with its node devices; the app's real backend opens it.
For the node-device event, the test adds test:///default's two fibre-channel HBAs to the node so
that the test driver can create and destroy a vHBA: the only node
devices it can create, and a real lifecycle event from libvirt.
"""

from __future__ import annotations

import threading

import pytest
from lxml import etree
from hosts_support import gen_host
from textual.widgets import Checkbox, DataTable, Static
from tui_helpers import FROZEN_TIME, async_test, static_text, wait_until

from vfpool_tui.core.pools.create import ENABLE_VFS, PERSIST_NUMVFS
from vfpool_tui.tui.app import TuiSettings, make_app
from vfpool_tui.tui.pool_wizard_view import RULE_REFUSED
from vfpool_tui.tui.screens.details import DetailsScreen
from vfpool_tui.tui.screens.pool_wizard import NAME, PICK, REVIEW, RUN, ConfirmCreate, PoolWizard
from vfpool_tui.tui.widgets.banner import Banner
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


# test:///default's HBAs: the test driver makes a new vHBA as a copy of scsi_host11
FC_HOSTS = ["""<device>
  <name>scsi_host1</name>
  <parent>computer</parent>
  <capability type='scsi_host'>
    <host>1</host>
    <unique_id>0</unique_id>
    <capability type='fc_host'>
      <wwnn>2000000012341234</wwnn><wwpn>1000000012341234</wwpn><fabric_wwn>2000000043214321</fabric_wwn>
    </capability>
    <capability type='vport_ops'><max_vports>0</max_vports><vports>0</vports></capability>
  </capability>
</device>""", """<device>
  <name>scsi_host11</name>
  <parent>scsi_host1</parent>
  <capability type='scsi_host'>
    <host>11</host>
    <unique_id>10</unique_id>
    <capability type='fc_host'>
      <wwnn>2000000034563456</wwnn><wwpn>1000000034563456</wwpn><fabric_wwn>2000000043214321</fabric_wwn>
    </capability>
  </capability>
</device>"""]
VHBA = """<device><parent>scsi_host1</parent><capability type='scsi_host'><capability type='fc_host'>
<wwnn>2000000012345678</wwnn><wwpn>1000000012345678</wwpn></capability></capability></device>"""


@pytest.fixture
def remote_host(tmp_path):
    """A host with 4 PFs (even ones back a pool); PF 3 has its VFs switched off (sriov_numvfs 0)."""
    _, node = gen_host.generate(tmp_path / "hv2", pfs=4, vfs=4, guests=8, nodedevs=True)
    root = etree.parse(str(node)).getroot()
    for dev in FC_HOSTS:
        root.append(etree.fromstring(dev))
    pfs = [d for d in root.iter("device") if d.find(".//capability[@type='virt_functions']") is not None]
    pfs.sort(key=lambda d: d.findtext("name"))
    off = pfs[3]
    for addr in off.findall(".//capability[@type='virt_functions']/address"):
        addr.getparent().remove(addr)
    etree.ElementTree(root).write(str(node))
    return f"test://{node}", off.findtext("name")


def remote_app(uri: str, **overrides):
    settings = TuiSettings(uri=uri, discovery="libvirt", readonly=False, watch_udev=True,
                           clock=lambda: FROZEN_TIME, is_root=False, animate=False, debounce=0.05)
    for k, v in overrides.items():
        setattr(settings, k, v)
    return make_app(settings)


async def scanned(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.scans_applied and app.status.connected and not app.status.scanning)


def pci_of(nodedev_name: str) -> str:
    d, b, s, f = nodedev_name.removeprefix("pci_").split("_")
    return f"{d}:{b}:{s}.{f}"


@async_test
async def test_node_device_events_stand_in_for_udev(remote_host):
    uri, _ = remote_host
    app = remote_app(uri)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        assert app.backend.discovery == "libvirt" and app.scan.meta["discovery"] == "libvirt"
        assert "● hv2 via libvirt" in static_text(app.screen.query_one(Banner))
        # no udev watcher for a host whose cards are read through libvirt, even though asked for one
        assert not any(t.name.startswith("vfpool-udev") for t in threading.enumerate())
        assert len(app.scan.host.pfs) == 4  # the node's cards, not this machine's

        scans = app.scans_applied
        app.backend.call(lambda conn: conn.nodeDeviceCreateXML(VHBA, 0).name())
        await wait_until(pilot, lambda: "nodedev scsi_host12 created" in app.events_seen
                         and app.scans_applied > scans)
        assert "nodedev scsi_host12 created" in app.status.last_event
        scans = app.scans_applied
        app.backend.call(lambda conn: conn.nodeDeviceLookupByName("scsi_host12").destroy())
        await wait_until(pilot, lambda: "nodedev scsi_host12 deleted" in app.events_seen
                         and app.scans_applied > scans)


@async_test
async def test_vf_settings_are_unknown_with_the_reason(remote_host):
    uri, _ = remote_host
    app = remote_app(uri)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        await pilot.press("enter")  # into the first PF's VFs
        vfs = app.screen.query_one("#vfs", KeyedTable)
        await wait_until(pilot, lambda: vfs.has_focus and vfs.row_count)
        first = vfs.current_key
        assert vfs.get_cell(first, "mac").plain == "—" and vfs.get_cell(first, "vlan").plain == "—"
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailsScreen))
        text = static_text(*app.screen.query(Static), width=200)
        assert "unknown: this host is read through libvirt, which does not report VF MAC, VLAN" in text


async def open_wizard(pilot):
    app = pilot.app
    await scanned(pilot)
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(app.screen, PoolWizard))
    return app.screen


async def move_to(pilot, wizard, pci: str) -> None:
    table = wizard.query_one("#pf-table", DataTable)
    table.move_cursor(row=list(wizard.state.choices).index(pci))
    await pilot.pause()


@async_test
async def test_the_vf_count_step_is_refused_with_the_reason(remote_host):
    uri, off_pf = remote_host
    app = remote_app(uri)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        wizard = await open_wizard(pilot)
        off = pci_of(off_pf)
        assert wizard.state.choices[off].pf.numvfs == 0
        await move_to(pilot, wizard, off)
        info = static_text(wizard.query_one("#pf-info", Static), width=200)
        assert "cannot write sriov_numvfs" in info and "VFs off: enable" not in info
        await pilot.press("enter")  # a PF without VFs: the count would have to be written first
        await pilot.pause(0.1)
        assert app.screen is wizard and wizard.STEP == PICK
        said = [n.message for n in app._notifications]
        assert any("read through libvirt, which cannot write sriov_numvfs" in m and off in m for m in said)

        free = next(pci for pci, c in wizard.state.choices.items() if c.selectable and c.pf.numvfs)
        await move_to(pilot, wizard, free)
        n = len(app._notifications)
        await pilot.press("v")  # change the VF count first: refused too
        await pilot.pause(0.1)
        assert app.screen is wizard and len(app._notifications) == n + 1
        assert "cannot write sriov_numvfs" in list(app._notifications)[-1].message


@async_test
async def test_a_pool_is_created_through_libvirt_without_the_udev_rule(remote_host):
    uri, _ = remote_host
    app = remote_app(uri)
    async with app.run_test(size=(100, 30)) as pilot:
        wizard = await open_wizard(pilot)
        free = next(pci for pci, c in wizard.state.choices.items() if c.selectable and c.pf.numvfs)
        await move_to(pilot, wizard, free)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.STEP == NAME)
        name_step = app.screen
        await wait_until(pilot, lambda: name_step.state.taken_known and name_step.state.name)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.STEP == REVIEW and not app.screen.state.planning)
        review = app.screen
        plan = review.state.plan
        assert plan is not None and not plan.persist
        assert {s.key for s in plan.steps}.isdisjoint({ENABLE_VFS, PERSIST_NUMVFS})
        assert review.query_one("#persist", Checkbox).display is False  # not offered
        text = static_text(review.query_one("#review-text", Static), width=300)
        assert RULE_REFUSED in text and "Space on the box below" not in text

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmCreate))
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PoolWizard) and app.screen.STEP == RUN
                         and not app.screen.state.running)
        result = app.screen.state.result
        assert result is not None and result.ok, app.screen.state.run_error
        await wait_until(pilot, lambda: any(p.name == plan.name and p.active for p in app.scan.pools))
