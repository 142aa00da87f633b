"""A conversion on a real libvirtd 9.0 that fails the way it fails on a real host, nothing injected:

a running TCG guest that ignores ACPI, with a hard-coded VF in its definition, is converted to a
hostdev pool that has no free VF. The engine asks for a shutdown (ignored), forces it off, defines
the new XML (validated by the daemon), starts it (libvirt refuses: no VF available in the pool),
re-defines the original, and starts it again, which also fails for real: this host has no IOMMU
(code 67). The original definition must be back byte for byte, and the outcome must say the guest
is shut off with it.

Stand-ins: the pool's free count is given to the planner as unknown (this host has no VF to count,
and the product says "unknown" when it cannot count), so the run gets to the real start; the host
model is ``real_daemon.vf_host()`` (a PF whose VFs do not exist here).
"""

from __future__ import annotations

import dataclasses
import re

import libvirt
import pytest
from real_daemon import EMPTY_POOL, HOSTDEV, NO_SUCH_VF, running_guest, vf_host

from vfpool_tui.core.conversion.engine import ConversionEngine
from vfpool_tui.core.conversion.events import Result, Step, StepState
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.conversion.options import Options
from vfpool_tui.core.health.diagnose import StartError, classify_error
from vfpool_tui.core.scan import scan as core_scan
from vfpool_tui.core.virt.definitions import XML_INACTIVE_SECURE

EXHAUSTED = "internal error: network 'pool0' requires exclusive access to interfaces, but none are available"
NO_IOMMU = "unsupported configuration: host doesn't support passthrough of host PCI devices"


@pytest.fixture(scope="module")
def run(module_daemon, tmp_path_factory):
    """The conversion, once for the module: (outcome, events, original XML, XML after, journal)."""
    conn = libvirt.open(module_daemon.uri)
    try:
        conn.networkDefineXML(EMPTY_POOL.format(name="pool0")).create()
        dom = running_guest(conn)
        dom.attachDeviceFlags(HOSTDEV, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        original = dom.XMLDesc(XML_INACTIVE_SECURE)
        scan = core_scan(host=vf_host(), conn=conn)
        pools = tuple(dataclasses.replace(p, free=None) if p.name == "pool0" else p for p in scan.pools)
        journal = Journal(tmp_path_factory.mktemp("journal"))
        engine = ConversionEngine(conn, journal, Options(shutdown_timeout=30, force_after=1.0,
                                                         poll_interval=0.25, start_timeout=10))
        plan = engine.plan(dataclasses.replace(scan, pools=pools), ["g1"], "pool0")
        assert [g.sources for g in plan.guests] == [(NO_SUCH_VF,)], plan.refused
        events = []
        outcome = engine.run(plan, events.append)
        after = conn.lookupByName("g1").XMLDesc(XML_INACTIVE_SECURE)
        state = conn.lookupByName("g1").state()[0]
        yield outcome.of("g1"), events, original, after, state, journal
    finally:
        conn.close()


def _messages(events, step, state):
    return [e.message for e in events if e.step is step and e.state is state]


def test_acpi_ignoring_guest_is_forced_off(run):
    _out, events, *_ = run
    waited = [e for e in events if e.step is Step.SHUTDOWN]
    assert [e.state for e in waited][:2] == [StepState.STARTED, StepState.WAITING]
    assert _messages(events, Step.SHUTDOWN, StepState.INFO) == ["forcing it off (destroy) after 1 s"]
    assert _messages(events, Step.SHUTDOWN, StepState.OK) == ["forced off"]
    forced = next(e for e in waited if e.state is StepState.INFO)
    assert forced.time - waited[0].time >= 1.0  # the ACPI request was out for a second, ignored


def test_new_definition_is_defined_then_its_start_fails_for_real(run):
    _out, events, *_ = run
    assert _messages(events, Step.DEFINE, StepState.OK) == ["new definition in place"]
    assert _messages(events, Step.START, StepState.FAILED) == [EXHAUSTED]
    known = classify_error(EXHAUSTED, libvirt.VIR_ERR_INTERNAL_ERROR)
    assert known.kind is StartError.POOL_EXHAUSTED and known.fields["network"] == "pool0"


def test_rollback_leaves_the_original_definition_byte_identical(run):
    out, events, original, after, state, journal = run
    assert after == original  # byte for byte, as libvirt prints it
    assert re.search(r"<hostdev mode='subsystem' type='pci' managed='yes'>", after)
    assert "original definition restored" in _messages(events, Step.ROLLBACK, StepState.INFO)
    # starting the original again fails for real (no IOMMU): it is left shut off, and says so
    assert state == libvirt.VIR_DOMAIN_SHUTOFF
    assert out.result is Result.FAILED
    assert NO_IOMMU in out.message and "SHUT OFF with its original definition" in out.message
    record = journal.latest_for("g1")
    assert record.finished and record.original_inactive() == original


def test_rollback_started_once(run):
    """A failed start used to log "rollback started" twice (restore, then restart)."""
    _out, events, *_ = run
    assert len(_messages(events, Step.ROLLBACK, StepState.STARTED)) == 1
