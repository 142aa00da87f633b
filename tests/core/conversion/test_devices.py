"""Device by device: each device of a guest onto a pool over its own PF (core/conversion/devices.py,
plan.py, budget.py), on libvirt's test driver; every converted definition is defined with
VIR_DOMAIN_DEFINE_VALIDATE (libvirt_accepts.py). A crash mid-run is a raise from the event sink, as in
test_engine.py; nothing else is injected.

The guest ``router`` has the shape of the demo's nfv-router: a bare <hostdev> on PF A (alias ua-wan)
and an <interface type='hostdev'> on PF B (alias ua-lan, VLAN 300). pool-a is over PF A, pool-b over
PF B.
"""

from __future__ import annotations

import json
import threading

import pytest
from convert_fixtures import PF_A, PF_B, domain, hostdev, iface_hostdev, make_host, open_node, vf_addr, write_node
from engine_helpers import FAST, collect, engine_for, inactive, plan_for, running
from libvirt_accepts import assert_libvirt_accepts
from lxml import etree

from vfpool_tui.core.conversion.budget import VfBudget
from vfpool_tui.core.conversion.devices import DeviceTarget
from vfpool_tui.core.conversion.engine import ConversionEngine
from vfpool_tui.core.conversion.events import Result, Step, StepState
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.conversion.transform import hardcoded_sources
from vfpool_tui.core.virt import domain_xml

WAN, LAN = vf_addr(PF_A, 5), vf_addr(PF_B, 1)
WAN_MAC, LAN_MAC = "52:54:00:00:0a:05", "52:54:00:00:0b:01"
UUID = "44444444-0000-4000-8000-000000000001"


class Crash(BaseException):
    """SIMULATED crash: the process dies right after an event (a BaseException, so no engine
    handler catches it, as none runs on SIGKILL; see test_engine.py)."""


def router(running_: bool = True):
    wan = hostdev(WAN, slot=0x10)
    alias = etree.Element("alias", name="ua-wan")
    wan.insert(1, alias)
    lan = iface_hostdev(LAN, LAN_MAC, vlan=300, slot=0x11, alias="ua-lan")
    return domain("router", UUID, [wan, lan], running=running_)


@pytest.fixture
def rconn(tmp_path):
    c = open_node(write_node(tmp_path / "n.xml", [router()]))
    yield c
    c.close()


@pytest.fixture
def rhost():
    return make_host({WAN: WAN_MAC})


def each_on_its_pf():
    return {"router": [DeviceTarget("ua-wan", "pool-a"), DeviceTarget(LAN_MAC, "pool-b")]}


def networks_of(xml):
    return {r.guest_address: (r.kind, r.network, r.source_pci, r.mac, r.vlan)
            for r in domain_xml.parse_domain(xml).devices}


def test_one_pool_for_a_guest_on_two_pfs_is_refused_with_the_way_out(rconn, rhost, tmp_path):
    plan = plan_for(engine_for(rconn, tmp_path, rhost), rconn, rhost, ["router"], network="pool-a")
    [r] = plan.refused
    assert "its VFs are on 2 PFs (eth3: ua-wan (0000:02:10.5); eth4: ua-lan (0000:03:10.1))" in r.reason
    assert "ua-lan (0000:03:10.1) is on another PF than pool 'pool-a' (PF eth3" in r.reason
    assert "--device DEVICE=POOL" in r.reason and not plan.guests


def test_each_device_onto_a_pool_over_its_own_pf(rconn, rhost, tmp_path):
    eng = engine_for(rconn, tmp_path, rhost)
    plan = plan_for(eng, rconn, rhost, ["router"], network=None, devices=each_on_its_pf())
    assert plan.ok, plan.refused
    [gp] = plan.guests
    # in the order of the definition (libvirt writes <interface> before <hostdev>)
    assert gp.targets == ((LAN, "pool-b"), (WAN, "pool-a"))
    assert gp.pools == ("pool-b", "pool-a") and plan.networks == ("pool-b", "pool-a")
    assert sorted((b.network, b.needed) for b in plan.budgets) == [("pool-a", 1), ("pool-b", 1)]
    assert plan.summary().startswith("1 guest(s) to networks 'pool-b', 'pool-a', 1 to restart")
    assert_libvirt_accepts(gp.new_xml)

    events, sink = collect()
    out = eng.run(plan, sink).of("router")
    assert out.result is Result.CONVERTED, out.message
    assert "running on pools 'pool-b', 'pool-a'" in out.message
    assert "from 'pool-a'" in out.message and "from 'pool-b'" in out.message
    new = inactive(rconn, "router")
    assert_libvirt_accepts(new)
    assert hardcoded_sources(new) == ()
    assert networks_of(new) == {
        "0000:00:10.0": (domain_xml.INTERFACE_NETWORK, "pool-a", None, WAN_MAC, ()),
        "0000:00:11.0": (domain_xml.INTERFACE_NETWORK, "pool-b", None, LAN_MAC, (300,)),
    }
    assert running(rconn, "router")
    # the journal says which device went onto which pool
    rec = Journal(tmp_path / "journal").latest_for("router")
    assert rec.targets == {WAN: "pool-a", LAN: "pool-b"} and rec.networks == ("pool-b", "pool-a")
    assert "router -> pool-b, pool-a" in rec.describe()
    begin = json.loads((rec.path / "log.jsonl").read_text().splitlines()[0])
    assert begin["targets"] == {WAN: "pool-a", LAN: "pool-b"}


def test_a_device_not_named_is_left_as_it_is(rconn, rhost, tmp_path):
    original = inactive(rconn, "router")
    eng = engine_for(rconn, tmp_path, rhost)
    plan = plan_for(eng, rconn, rhost, ["router"], network=None,
                    devices={"router": [DeviceTarget("0000:03:10.1", "pool-b")]})  # by its VF address
    assert plan.ok and plan.guests[0].sources == (LAN,)
    assert plan.networks == ("pool-b",) and [b.network for b in plan.budgets] == ["pool-b"]
    assert eng.run(plan).of("router").result is Result.CONVERTED
    new = inactive(rconn, "router")
    assert_libvirt_accepts(new)
    assert hardcoded_sources(new) == (WAN,)  # ua-wan still hard-coded, untouched
    old_wan = etree.tostring(etree.fromstring(original.encode()).find("devices/hostdev"))
    assert etree.tostring(etree.fromstring(new.encode()).find("devices/hostdev")) == old_wan
    assert networks_of(new)["0000:00:11.0"][1] == "pool-b"


def test_a_pool_over_another_pf_is_allowed_only_for_the_device_that_asks(rconn, rhost, tmp_path):
    eng = engine_for(rconn, tmp_path, rhost)
    both_b = {"router": [DeviceTarget("ua-wan", "pool-b"), DeviceTarget("ua-lan", "pool-b")]}
    [r] = plan_for(eng, rconn, rhost, ["router"], network=None, devices=both_b).refused
    assert r.reason.startswith("ua-wan (0000:02:10.5, PF eth3) is on another PF than pool 'pool-b' (PF eth4)")
    assert "--device-other-pf" in r.reason
    allowed = {"router": [DeviceTarget("ua-wan", "pool-b", allow_other_pf=True), DeviceTarget("ua-lan", "pool-b")]}
    plan = plan_for(eng, rconn, rhost, ["router"], network=None, devices=allowed)
    assert plan.ok and plan.guests[0].targets == ((LAN, "pool-b"), (WAN, "pool-b"))
    assert_libvirt_accepts(plan.guests[0].new_xml)


@pytest.mark.parametrize("targets, reason", [
    ([DeviceTarget("ua-nope", "pool-a")], "no hard-coded VF device 'ua-nope'"),
    ([DeviceTarget("ua-wan", "pool-a"), DeviceTarget(WAN, "pool-a")], "ua-wan (0000:02:10.5) is named twice"),
])
def test_a_device_that_names_nothing_or_twice_is_refused(rconn, rhost, tmp_path, targets, reason):
    plan = plan_for(engine_for(rconn, tmp_path, rhost), rconn, rhost, ["router"], network=None,
                    devices={"router": targets})
    assert [r.reason for r in plan.refused][0].startswith(reason) and not plan.guests


def test_the_budget_counts_per_pool(tmp_path, rhost):
    # pool-b over PF B with 2 VFs, one hard-coded by a running guest not converted: 1 free. The
    # router's LAN VF (0000:03:10.1) is a VF of pool-b too, so it gives one back: 2 available for 1.
    keep = domain("keep", "44444444-0000-4000-8000-000000000002", [iface_hostdev(vf_addr(PF_B, 0), "52:54:00:00:0c:01")])
    c = open_node(write_node(tmp_path / "n.xml", [router(), keep]))
    h = make_host({WAN: WAN_MAC}, vfs_b=2)
    eng = engine_for(c, tmp_path, h)
    plan = plan_for(eng, c, h, ["router"], network=None, devices=each_on_its_pf())
    b = {x.network: x for x in plan.budgets}
    assert (b["pool-b"].free, b["pool-b"].available, b["pool-b"].needed) == (0, 1, 1)
    # pool-a: 8 VFs, the router's WAN VF is one of them, hard-coded in a running guest (blocked)
    assert (b["pool-a"].free, b["pool-a"].available, b["pool-a"].needed) == (7, 8, 1)
    assert plan.ok
    # both devices onto pool-b (allowed): pool-b needs 2 but has 1 for it; pool-a is not involved
    both = {"router": [DeviceTarget("ua-wan", "pool-b", True), DeviceTarget("ua-lan", "pool-b")]}
    short = plan_for(eng, c, h, ["router"], network=None, devices=both)
    assert [r.reason for r in short.refused] == [
        "pool 'pool-b' has 1 VF(s) free for these guests but the running ones need 2"]


def test_vf_budget_takes_from_every_pool_or_none():
    cancel = threading.Event()
    b = VfBudget({"a": 1, "b": 0, "c": None})
    assert b.take({"a": 1, "b": 1}, cancel, 0.1) is False  # b has none: a is not taken either
    assert b.free_of("a") == 1
    assert b.take({"a": 1, "c": 5}, cancel, 0.1)  # c unknown: no bound
    assert b.free_of("a") == 0 and b.short({"a": 1}) == ["a"]
    b.give_back({"a": 1, "b": 2})
    assert (b.free_of("a"), b.free_of("b")) == (1, 2)


@pytest.mark.parametrize("action", ["resume", "rollback"])
def test_an_interrupted_device_by_device_run_resumes_and_rolls_back(rconn, rhost, tmp_path, action):
    original = inactive(rconn, "router")
    eng = engine_for(rconn, tmp_path, rhost)
    plan = plan_for(eng, rconn, rhost, ["router"], network=None, devices=each_on_its_pf())

    def crash(ev):
        if ev.step is Step.SHUTDOWN and ev.state is StepState.OK:
            raise Crash("after the shutdown")
    with pytest.raises(Crash):
        eng.run(plan, crash)
    journal = Journal(tmp_path / "journal")
    [rec] = journal.unfinished()
    assert rec.targets == {WAN: "pool-a", LAN: "pool-b"}
    fresh = ConversionEngine(rconn, journal, FAST)
    if action == "resume":
        out = fresh.resume(rec)
        assert out.result is Result.CONVERTED, out.message
        new = inactive(rconn, "router")
        assert_libvirt_accepts(new)
        assert {k: v[1] for k, v in networks_of(new).items()} == {"0000:00:10.0": "pool-a", "0000:00:11.0": "pool-b"}
    else:
        out = fresh.rollback(rec)
        assert out.result is Result.ROLLED_BACK, out.message
        assert inactive(rconn, "router") == original
    assert running(rconn, "router") and journal.unfinished() == []


def test_a_device_by_device_conversion_is_reverted(rconn, rhost, tmp_path):
    original = inactive(rconn, "router")
    eng = engine_for(rconn, tmp_path, rhost)
    assert eng.run(plan_for(eng, rconn, rhost, ["router"], network=None,
                            devices=each_on_its_pf())).of("router").result is Result.CONVERTED
    rec = Journal(tmp_path / "journal").latest_for("router")
    events, sink = collect()
    out = eng.revert(rec, sink)
    assert out.result is Result.ROLLED_BACK and out.message.startswith("reverted: running"), out.message
    assert inactive(rconn, "router") == original and running(rconn, "router")
    assert any("on pools 'pool-b', 'pool-a' as converted" in e.message for e in events)


def test_a_record_written_before_device_by_device_still_resumes(rconn, rhost, tmp_path):
    """An old record: one ``network`` for every source, no ``targets``."""
    original = inactive(rconn, "router")
    journal = Journal(tmp_path / "journal")
    rec = journal.begin(guest="router", uuid=UUID, network="pool-a", sources=(WAN,), was_running=True,
                        inactive_xml=original, live_xml=None, new_xml=original, macs={WAN: WAN_MAC},
                        pool_sources=[])
    rec.step("shutdown", "started", "asking the guest to shut down (ACPI)")
    [info] = journal.unfinished()
    assert "targets" not in info.meta and info.targets == {WAN: "pool-a"}
    out = ConversionEngine(rconn, journal, FAST).resume(info)
    assert out.result is Result.CONVERTED, out.message
    new = inactive(rconn, "router")
    assert_libvirt_accepts(new)
    assert hardcoded_sources(new) == (LAN,) and networks_of(new)["0000:00:10.0"][1] == "pool-a"
