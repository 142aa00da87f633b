"""The conversion engine against libvirt's test driver.

The test driver shuts guests down at once, never fails define or start, and allocates no VF. Where a
test needs a guest that ignores ACPI, a define or start that fails, or a failing rollback, the fault
is INJECTED at the libvirt boundary (InjectedConn / InjectedDom in tests/support/engine_helpers.py)
and the test says so.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import libvirt
import pytest
from convert_fixtures import (  # noqa: F401  (fixtures)
    PF_A,
    PF_B,
    conn,
    domain,
    host,
    iface_hostdev,
    make_host,
    node,
    open_node,
    standard_domains,
    vf_addr,
    write_node,
)
from engine_helpers import (
    FAST,
    INACTIVE,
    InjectedConn,
    InjectedDom,
    collect,
    engine_for,
    inactive,
    injected_error,
    plan_for,
    running,
)
from paths import SUPPORT

from vfpool_tui.core.conversion.engine import (
    ConversionEngine,
    Options,
    PlanError,
    VfBudget,
)
from vfpool_tui.core.conversion.events import Result, Step, StepState
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.conversion.lock import ConversionLock, LockBusy
from vfpool_tui.core.conversion.transform import convert_domain, hardcoded_sources
from vfpool_tui.core.virt import domain_xml, xmlutil



# --------------------------------------------------------------------------- plan / refusals


def test_plan_refusals(conn, host, tmp_path):
    eng = engine_for(conn, tmp_path, host)
    conn.createXML(xmlutil.to_string(domain("temp", "11111111-0000-4000-8000-0000000000aa", [
        iface_hostdev(vf_addr(PF_A, 6), "52:54:00:00:00:aa")])), 0)
    conn.lookupByName("cold").create()
    conn.lookupByName("cold").suspend()
    plan = plan_for(eng, conn, host, ["nosuch", "gpu", "onpool", "portb", "temp", "cold"])
    reasons = {r.guest: r.reason for r in plan.refused}
    assert "no guest named" in reasons["nosuch"]
    assert "not an SR-IOV VF" in reasons["gpu"] and "0000:41:00.0" in reasons["gpu"]
    assert "already on pool 'pool-a'" in reasons["onpool"]
    assert "another PF" in reasons["portb"] and "--allow-other-pf" in reasons["portb"]
    assert "transient" in reasons["temp"]
    assert "paused" in reasons["cold"]
    assert not plan.ok and plan.guests == ()
    ok = plan_for(eng, conn, host, ["portb"], allow_other_pf=True)
    assert ok.ok and ok.guests[0].sources == ("0000:03:10.0",)


@pytest.mark.parametrize("network, msg", [("default", "not a hostdev pool"), ("nosuch", "no network named")])
def test_plan_refuses_a_network_that_is_not_a_pool(conn, host, tmp_path, network, msg):
    with pytest.raises(PlanError, match=msg):
        plan_for(engine_for(conn, tmp_path, host), conn, host, ["web"], network=network)


def test_plan_refuses_inactive_pool(conn, host, tmp_path):
    conn.networkLookupByName("pool-a").destroy()
    with pytest.raises(PlanError, match="not active"):
        plan_for(engine_for(conn, tmp_path, host), conn, host, ["web"])


def test_plan_refuses_when_pool_lacks_free_vfs(tmp_path):
    # pool-b: 2 VFs, one hard-coded by a guest that is not being converted -> 1 free; the two
    # running guests converted need 2
    doms = [
        domain("keep", "33333333-0000-4000-8000-000000000001", [iface_hostdev(vf_addr(PF_B, 0), "52:54:00:00:03:01")]),
        domain("x1", "33333333-0000-4000-8000-000000000002", [iface_hostdev(vf_addr(PF_A, 0), "52:54:00:00:03:02")]),
        domain("x2", "33333333-0000-4000-8000-000000000003", [iface_hostdev(vf_addr(PF_A, 1), "52:54:00:00:03:03")]),
    ]
    c = open_node(write_node(tmp_path / "n.xml", doms))
    h = make_host(vfs_b=2)
    plan = plan_for(engine_for(c, tmp_path, h), c, h, ["x1", "x2"], network="pool-b", allow_other_pf=True)
    assert [r.reason for r in plan.refused if r.guest == ""] == [
        "pool 'pool-b' has 1 VF(s) free for these guests but the running ones need 2"]
    assert plan.vfs_needed == 2 and plan.vfs_available == 1 and not plan.ok


def test_plan_diff_and_mac_notes(conn, host, tmp_path):
    plan = plan_for(engine_for(conn, tmp_path, host), conn, host, ["web"])
    gp = plan.guests[0]
    assert gp.sources == ("0000:02:10.1", "0000:02:10.2")
    assert dict(gp.macs) == {"0000:02:10.2": "52:54:00:aa:00:02"}  # the VF's administrative MAC
    assert gp.new_mac_sources == ()
    assert "+    <interface type='network'>" in gp.diff()
    assert plan.pool_free == 5  # 8 VFs, 1 pool guest running, web's 2 hard-coded
    assert plan.vfs_available == 5 + 2  # free now + the two pool VFs web gives back
    no_mac = plan_for(engine_for(conn, tmp_path, make_host()), conn, make_host(), ["web"])
    assert no_mac.guests[0].new_mac_sources == ("0000:02:10.2",)
    assert any("new MAC" in n for n in no_mac.guests[0].notes)


# --------------------------------------------------------------------------- the happy paths


def test_running_guest_converted_with_everything_carried_over(conn, host, tmp_path):
    original = conn.lookupByName("web").XMLDesc(INACTIVE)
    eng = engine_for(conn, tmp_path, host)
    plan = plan_for(eng, conn, host, ["web"])
    events, sink = collect()
    out = eng.run(plan, sink)
    g = out.of("web")
    assert out.ok and g.result is Result.CONVERTED, g.message
    assert running(conn, "web")
    new = inactive(conn, "web")
    assert hardcoded_sources(new) == ()
    assert xmlutil.validate(new, "domain") == []
    refs = {r.guest_address: r for r in domain_xml.parse_domain(new).devices}
    a, b = refs["0000:00:03.0"], refs["0000:00:04.0"]
    assert (a.kind, a.network, a.mac, a.vlan, a.boot_order) == (
        domain_xml.INTERFACE_NETWORK, "pool-a", "52:54:00:00:00:01", (42,), 1)
    assert a.alias == "ua-net0"
    assert (b.kind, b.network, b.mac, b.boot_order) == (domain_xml.INTERFACE_NETWORK, "pool-a",
                                                        "52:54:00:aa:00:02", 2)
    # the test driver allocates no VF: the VF is reported unknown, never guessed
    assert g.vfs == (None, None)
    assert g.macs == ("52:54:00:00:00:01", "52:54:00:aa:00:02")
    assert "unknown VF" in g.message
    steps = [(e.step, e.state) for e in events]
    order = [s for s, st in steps if st is StepState.OK]
    assert order == [Step.PRECHECK, Step.BACKUP, Step.SHUTDOWN, Step.DEFINE, Step.START, Step.VERIFY, Step.DONE]
    assert all(e.guest == "web" and e.time > 0 for e in events)
    # the journal has the original, fsync'ed, root-only, and the record is finished
    rec = Journal(tmp_path / "journal").latest_for("web")
    assert rec.finished and rec.result == "converted"
    assert rec.original_inactive() == original
    assert (rec.path / "original-live.xml").exists()
    assert oct(rec.inactive_path.stat().st_mode & 0o777) == "0o600"
    assert oct(rec.path.stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "journal").stat().st_mode & 0o777) == "0o700"


def test_lifecycle_event_ends_the_wait(conn, host, tmp_path):
    """With the event loop running, the shutdown wait ends on VIR_DOMAIN_EVENT_STOPPED, not polling."""
    from vfpool_tui.core.conversion import engine as engine_mod

    assert engine_mod.ensure_event_loop()
    c = conn
    slow_poll = Options(shutdown_timeout=5.0, poll_interval=3.0, start_timeout=2.0)
    eng = engine_for(c, tmp_path, host, slow_poll)
    plan = plan_for(eng, c, host, ["web"])
    t0 = time.monotonic()
    out = eng.run(plan)
    assert out.ok
    assert time.monotonic() - t0 < 2.5  # a 3 s poll interval was never waited out


def test_shut_off_guest_is_only_redefined(conn, host, tmp_path):
    faults = InjectedConn(conn)  # no fault: only to record the calls
    eng = engine_for(faults, tmp_path, host)
    out = eng.run(plan_for(eng, faults, host, ["cold"]))
    g = out.of("cold")
    assert g.result is Result.CONVERTED and g.state == "shut off"
    assert not running(conn, "cold")
    assert [c for c in faults.calls] == [("define", "cold")]
    ref = domain_xml.parse_domain(inactive(conn, "cold")).devices[0]
    assert (ref.network, ref.mac) == ("pool-a", "52:54:00:00:00:03")


# --------------------------------------------------------------------------- shutdown timeout / force


def test_guest_that_never_shuts_down_is_left_unchanged(conn, host, tmp_path):
    faults = InjectedConn(conn, ignore_shutdown={"web"})  # INJECTED: ignores ACPI
    eng = engine_for(faults, tmp_path, host, Options(shutdown_timeout=0.3, poll_interval=0.02))
    original = inactive(conn, "web")
    t0 = time.monotonic()
    out = eng.run(plan_for(eng, faults, host, ["web"]))
    g = out.of("web")
    assert 0.3 <= time.monotonic() - t0 < 3
    assert g.result is Result.UNCHANGED and "did not shut down within 0.3 s" in g.message
    assert running(conn, "web") and inactive(conn, "web") == original
    assert ("destroy", "web") not in faults.calls and ("define", "web") not in faults.calls


def test_force_after_destroys_then_converts(conn, host, tmp_path):
    faults = InjectedConn(conn, ignore_shutdown={"web"})  # INJECTED: ignores ACPI
    eng = engine_for(faults, tmp_path, host, Options(shutdown_timeout=5, force_after=0.2, poll_interval=0.02))
    events, sink = collect()
    out = eng.run(plan_for(eng, faults, host, ["web"]), sink)
    assert out.of("web").result is Result.CONVERTED
    assert ("destroy", "web") in faults.calls and running(conn, "web")
    assert any("forcing it off" in e.message for e in events)


def test_force_key_from_ui(conn, host, tmp_path):
    faults = InjectedConn(conn, ignore_shutdown={"web"})  # INJECTED: ignores ACPI
    eng = engine_for(faults, tmp_path, host, Options(shutdown_timeout=10, poll_interval=0.02))

    def sink(ev):
        if ev.step is Step.SHUTDOWN and ev.state is StepState.WAITING:
            eng.force("web")

    t0 = time.monotonic()
    out = eng.run(plan_for(eng, faults, host, ["web"]), sink)
    assert out.of("web").result is Result.CONVERTED and time.monotonic() - t0 < 3


# --------------------------------------------------------------------------- failures and rollback


def test_define_failure_restarts_the_untouched_guest(conn, host, tmp_path):
    faults = InjectedConn(conn, define_fail={"web": [1]})  # INJECTED: define refused
    original = inactive(conn, "web")
    eng = engine_for(faults, tmp_path, host)
    out = eng.run(plan_for(eng, faults, host, ["web"]))
    g = out.of("web")
    assert g.result is Result.ROLLED_BACK and "define failed" in g.message and "injected" in g.message
    assert running(conn, "web") and inactive(conn, "web") == original
    assert Journal(tmp_path / "journal").latest_for("web").result == "rolled-back"


def test_start_failure_redefines_original_and_starts_it(conn, host, tmp_path):
    faults = InjectedConn(conn, start_fail={"web": 1})  # INJECTED: no free VF at start
    original = inactive(conn, "web")
    eng = engine_for(faults, tmp_path, host)
    events, sink = collect()
    out = eng.run(plan_for(eng, faults, host, ["web"]), sink)
    g = out.of("web")
    assert g.result is Result.ROLLED_BACK, g.message
    assert "requires exclusive access to interfaces" in g.message
    assert running(conn, "web") and inactive(conn, "web") == original
    assert [c for c in faults.calls if c[0] in ("define", "create")] == [
        ("define", "web"), ("create", "web"), ("define", "web"), ("create", "web")]
    assert any(e.step is Step.ROLLBACK and e.state is StepState.OK for e in events)


def test_rollback_failure_says_state_and_backup_then_journal_restores(conn, host, tmp_path):
    # INJECTED: start fails (no VF) and re-defining the original fails too
    faults = InjectedConn(conn, start_fail={"web": 1}, define_fail={"web": [2]})
    original = inactive(conn, "web")
    eng = engine_for(faults, tmp_path, host)
    out = eng.run(plan_for(eng, faults, host, ["web"]))
    g = out.of("web")
    assert g.result is Result.FAILED
    assert "shut off" in g.message and "DEFINED ON POOL 'pool-a'" in g.message
    assert f"virsh define {g.backup}" in g.message
    assert not running(conn, "web")
    # nothing lost: the backup named in the message is the original definition
    assert open(g.backup).read() == original
    # the journal rollback (fault gone) restores the original and starts it, as it was running
    rec = Journal(tmp_path / "journal").latest_for("web")
    assert rec.result == "failed"
    back = ConversionEngine(conn, Journal(tmp_path / "journal"), FAST).rollback(rec)
    assert back.result is Result.ROLLED_BACK, back.message
    assert inactive(conn, "web") == original and running(conn, "web")


def test_restart_failure_after_restore_is_reported(conn, host, tmp_path):
    faults = InjectedConn(conn, start_fail={"web": 2})  # INJECTED: both starts fail
    original = inactive(conn, "web")
    eng = engine_for(faults, tmp_path, host)
    g = eng.run(plan_for(eng, faults, host, ["web"])).of("web")
    assert g.result is Result.FAILED
    assert "SHUT OFF with its original definition" in g.message and g.backup in g.message
    assert inactive(conn, "web") == original and not running(conn, "web")


# --------------------------------------------------------------------------- interruption, journal


class Crash(BaseException):
    """SIMULATED crash: the process dies right after an event (nothing after it runs, the journal
    stays as it was). A BaseException, so no engine handler catches it, as no handler runs on
    SIGKILL; the real SIGKILL is test_sigkill_after_define_then_resume_and_rollback."""


def _crash_at(step, state):
    def sink(ev):
        if ev.step is step and ev.state is state:
            raise Crash(f"{step} {state}")
    return sink


def crash_run(eng, plan, step, state):
    with pytest.raises(Crash):
        eng.run(plan, _crash_at(step, state))


def _cancel_at(step, state, guest="web"):
    cancel = threading.Event()

    def sink(ev):
        if ev.step is step and ev.state is state and ev.guest == guest:
            cancel.set()
    return cancel, sink


CRASH_POINTS = [
    (Step.SHUTDOWN, StepState.OK, False),  # shut off, original definition
    (Step.DEFINE, StepState.OK, False),  # shut off, defined on the pool
    (Step.START, StepState.OK, True),  # running on the pool, not verified
]


@pytest.mark.parametrize("step, state, up", CRASH_POINTS)
def test_crashed_run_is_resumed_from_the_journal(conn, host, tmp_path, step, state, up):
    eng = engine_for(conn, tmp_path, host)
    crash_run(eng, plan_for(eng, conn, host, ["web"]), step, state)
    assert running(conn, "web") is up
    journal = Journal(tmp_path / "journal")
    [rec] = journal.unfinished()
    assert rec.guest == "web" and rec.was_running
    res = ConversionEngine(conn, journal, FAST).resume(rec)
    assert res.result is Result.CONVERTED, res.message
    assert running(conn, "web") and hardcoded_sources(inactive(conn, "web")) == ()
    assert journal.unfinished() == []


@pytest.mark.parametrize("step, state, up", CRASH_POINTS)
def test_crashed_run_is_rolled_back_from_the_journal(conn, host, tmp_path, step, state, up):
    original = inactive(conn, "web")
    eng = engine_for(conn, tmp_path, host)
    crash_run(eng, plan_for(eng, conn, host, ["web"]), step, state)
    journal = Journal(tmp_path / "journal")
    [rec] = journal.unfinished()
    res = ConversionEngine(conn, journal, FAST).rollback(rec)
    assert res.result is Result.ROLLED_BACK, res.message
    assert inactive(conn, "web") == original and running(conn, "web")
    assert journal.unfinished() == []
    with pytest.raises(PlanError, match="already on its original definition"):
        ConversionEngine(conn, journal, FAST).rollback(journal.latest_for("web"))


def test_rollback_of_a_finished_conversion_undoes_it(conn, host, tmp_path):
    original = inactive(conn, "web")
    eng = engine_for(conn, tmp_path, host)
    assert eng.run(plan_for(eng, conn, host, ["web"])).ok
    rec = Journal(tmp_path / "journal").latest_for("web")
    res = eng.rollback(rec)
    assert res.result is Result.ROLLED_BACK
    assert inactive(conn, "web") == original and running(conn, "web")


def test_crash_mid_run_leaves_a_readable_unfinished_record(conn, host, tmp_path):
    """A torn last log line (the process died mid-write) does not hide the record."""
    eng = engine_for(conn, tmp_path, host)
    crash_run(eng, plan_for(eng, conn, host, ["web"]), Step.SHUTDOWN, StepState.OK)
    journal = Journal(tmp_path / "journal")
    [rec] = journal.unfinished()
    with open(rec.path / "log.jsonl", "a") as fh:
        fh.write('{"kind": "step", "step": "def')
    [again] = journal.unfinished()
    assert again.last_step["step"] == "shutdown"
    assert ConversionEngine(conn, journal, FAST).resume(again).result is Result.CONVERTED


# --------------------------------------------------------------------------- stop requests (Ctrl-C, SIGHUP)


@pytest.mark.parametrize("step, state", [(Step.SHUTDOWN, StepState.OK), (Step.DEFINE, StepState.STARTED)])
def test_stop_before_the_new_definition_restarts_the_original(conn, host, tmp_path, step, state):
    """Ctrl-C / SIGHUP after the guest went down: it is started again, never left down."""
    original = inactive(conn, "web")
    eng = engine_for(conn, tmp_path, host)
    cancel, sink = _cancel_at(step, state)
    out = eng.run(plan_for(eng, conn, host, ["web"]), sink, cancel)
    g = out.of("web")
    assert out.cancelled
    if step is Step.SHUTDOWN:
        assert g.result is Result.ROLLED_BACK and "stopped on request" in g.message, g.message
        assert inactive(conn, "web") == original
    else:  # the define was already under way: finished, then started on the pool
        assert g.result is Result.CONVERTED, g.message
        assert hardcoded_sources(inactive(conn, "web")) == ()
    assert running(conn, "web") and g.state == "running"
    assert Journal(tmp_path / "journal").unfinished() == []


@pytest.mark.parametrize("step, state", [(Step.DEFINE, StepState.OK), (Step.START, StepState.STARTED)])
def test_stop_after_define_finishes_on_the_pool(conn, host, tmp_path, step, state):
    eng = engine_for(conn, tmp_path, host)
    cancel, sink = _cancel_at(step, state)
    out = eng.run(plan_for(eng, conn, host, ["web", "cold"]), sink, cancel)
    assert out.cancelled
    assert out.of("web").result is Result.CONVERTED, out.of("web").message
    assert out.of("cold").result in (Result.CONVERTED, Result.SKIPPED)  # finished, or never touched
    assert not running(conn, "cold")
    assert running(conn, "web") and hardcoded_sources(inactive(conn, "web")) == ()
    assert Journal(tmp_path / "journal").unfinished() == []


def test_stop_during_shutdown_wait_waits_then_restarts(conn, host, tmp_path):
    """INJECTED: the guest powers off 0.3 s after the ACPI request (the test driver does it at once).
    A stop request in the wait must not walk away from a guest that is about to power off."""
    faults = InjectedConn(conn, acpi_delay={"web": 0.3})
    original = inactive(conn, "web")
    eng = engine_for(faults, tmp_path, host)
    cancel, sink = _cancel_at(Step.SHUTDOWN, StepState.WAITING)
    events, rec = collect()
    out = eng.run(plan_for(eng, faults, host, ["web"]), lambda e: (rec(e), sink(e)), cancel)
    g = out.of("web")
    assert g.result is Result.ROLLED_BACK, g.message
    assert running(conn, "web") and inactive(conn, "web") == original
    assert ("define", "web") not in faults.calls
    assert any("stop requested" in e.message for e in events)


def test_stop_before_start_skips_untouched_guests(conn, host, tmp_path):
    eng = engine_for(conn, tmp_path, host)
    cancel = threading.Event()
    cancel.set()
    original = inactive(conn, "web")
    out = eng.run(plan_for(eng, conn, host, ["web", "cold"]), None, cancel)
    assert [g.result for g in out.guests] == [Result.SKIPPED, Result.SKIPPED]
    assert inactive(conn, "web") == original and running(conn, "web")


# --------------------------------------------------------------------------- lock, concurrency


def test_second_instance_is_refused(conn, host, tmp_path):
    jdir = tmp_path / "journal"
    Journal(jdir).ensure()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from vfpool_tui.core.conversion.lock import ConversionLock as L; "
         f"l=L({str(jdir)!r}).acquire('convert'); print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        eng = engine_for(conn, tmp_path, host)
        plan = plan_for(eng, conn, host, ["web"])
        original = inactive(conn, "web")
        with pytest.raises(LockBusy, match=f"pid {holder.pid}"):
            eng.run(plan)
        assert inactive(conn, "web") == original and running(conn, "web")
    finally:
        holder.kill()
        holder.wait()
    # the kernel drops a dead holder's lock: no stale lock
    with ConversionLock(jdir):
        pass


def test_lock_in_same_process_refused():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        with ConversionLock(d):
            with pytest.raises(LockBusy, match="another vfpool-tui is converting"):
                ConversionLock(d).acquire()


def test_concurrency_bound_and_independent_failures(tmp_path):
    doms = standard_domains(extra_apps=6)
    c = open_node(write_node(tmp_path / "n.xml", doms))
    h = make_host()
    # INJECTED: each shutdown takes 0.1 s so the workers overlap; app2's start fails
    faults = InjectedConn(c, shutdown_delay=0.1, start_fail={"app2": 1})
    eng = engine_for(faults, tmp_path, h, Options(shutdown_timeout=2, poll_interval=0.02, concurrency=2))
    apps = [f"app{i}" for i in range(5)]  # app0-3 hold pool-a VFs, app4 one of PF B
    plan = plan_for(eng, faults, h, apps, allow_other_pf=True)
    assert (plan.pool_free, plan.vfs_available, plan.vfs_needed) == (1, 5, 5)
    assert plan.ok, plan.refused
    inflight, peak, lock = set(), [0], threading.Lock()
    done = []

    def sink(ev):
        with lock:
            if ev.step is Step.DONE:
                done.append((ev.guest, ev.result))
            if ev.step is Step.PRECHECK and ev.state is StepState.STARTED:
                inflight.add(ev.guest)
            elif ev.step is Step.DONE:
                inflight.discard(ev.guest)
            peak[0] = max(peak[0], len(inflight))

    out = eng.run(plan, sink)
    assert peak[0] == 2
    assert sorted(done) == sorted((g.guest, g.result) for g in out.guests)  # one DONE per guest
    results = {g.guest: g.result for g in out.guests}
    assert results.pop("app2") is Result.ROLLED_BACK
    assert set(results.values()) == {Result.CONVERTED}
    assert all(running(c, a) for a in apps)


def test_stop_on_error_skips_the_rest(tmp_path):
    c = open_node(write_node(tmp_path / "n.xml", standard_domains(extra_apps=4)))
    h = make_host()
    faults = InjectedConn(c, start_fail={"app0": 1})  # INJECTED
    eng = engine_for(faults, tmp_path, h, Options(shutdown_timeout=2, poll_interval=0.02, concurrency=1,
                                                  stop_on_error=True))
    out = eng.run(plan_for(eng, faults, h, ["app0", "app1", "app2"]))
    assert [g.result for g in out.guests] == [Result.ROLLED_BACK, Result.SKIPPED, Result.SKIPPED]
    assert hardcoded_sources(inactive(c, "app1")) == (vf_addr(PF_A, 5),)


def test_vf_budget_never_overcommits():
    cancel = threading.Event()
    b = VfBudget(free=1, releasers=1)
    assert b.take(1, cancel, 1)
    got = []
    t = threading.Thread(target=lambda: got.append(b.take(1, cancel, 2)))
    t.start()
    time.sleep(0.1)
    assert got == []  # waits: no VF free, one guest may still give one back
    b.give_back(1)
    b.releaser_done()
    t.join(2)
    assert got == [True] and b.free == 0
    assert b.take(1, cancel, 0.1) is False  # nobody left to free one: fail at once
    assert VfBudget(None, 0).take(5, cancel, 0)  # unknown capacity: libvirt's start is the bound


# --------------------------------------------------------------------------- verify on a real host


PORT_XML = """<networkport>
  <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
  <owner><name>web</name><uuid>11111111-0000-4000-8000-000000000001</uuid></owner>
  <mac address='52:54:00:00:00:01'/>
  <plug type='hostdev-pci' managed='yes'>
    <driver name='vfio'/>
    <address domain='0x0000' bus='0x02' slot='0x10' function='0x6'/>
  </plug>
</networkport>"""

LIVE_XML = """<domain type='kvm' id='3'>
  <name>web</name>
  <uuid>11111111-0000-4000-8000-000000000001</uuid>
  <devices>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:00:00:01'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x6'/>
      </source>
      <alias name='ua-net0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:aa:00:02'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x7'/>
      </source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </interface>
  </devices>
</domain>"""


def test_parse_port():
    from vfpool_tui.core.conversion.engine import parse_port

    assert parse_port(PORT_XML) == ("11111111-0000-4000-8000-000000000001", "52:54:00:00:00:01",
                                    "0000:02:10.6")


def test_verify_reads_the_vf_from_ports_and_live_xml(conn, host, tmp_path):
    """On a real host the running guest's live XML shows the VF it got (LIBVIRT-FACTS.md); the
    live XML and the port list are INJECTED here because the test driver allocates no VF."""
    from vfpool_tui.core.conversion import engine as engine_mod

    eng = engine_for(conn, tmp_path, host)
    gp = plan_for(eng, conn, host, ["web"]).guests[0]
    res = convert_domain(gp.old_xml, "pool-a", gp.sources, dict(gp.macs))

    class Port:
        def XMLDesc(self, flags=0):
            return PORT_XML

    class Net:
        def listAllPorts(self, flags=0):
            return [Port()]  # INJECTED: only 02:10.6 is known from a port

    class Conn:
        def networkLookupByName(self, name):
            return Net()

    class Dom:
        def XMLDesc(self, flags=0):
            return LIVE_XML  # INJECTED: live XML as real libvirt prints a running pool guest

    eng.conn = Conn()
    ctx = engine_mod._Ctx(guest="web", uuid=gp.uuid, network="pool-a", sources=gp.sources,
                          pool_sources=(), macs={}, was_running=True, dom=Dom(), changes=res.changes)
    vfs, macs = eng._what_it_got(ctx)
    assert vfs == ("0000:02:10.6", "0000:02:10.7")  # from the port, then from the live XML
    assert macs == ("52:54:00:00:00:01", "52:54:00:aa:00:02")


# --------------------------------------------------------------------------- review findings


def test_backup_round_trips_in_a_fresh_connection(conn, host, tmp_path):
    """The backup file, defined in a libvirt that never saw the guest, gives back the same definition."""
    original = inactive(conn, "web")
    eng = engine_for(conn, tmp_path, host)
    g = eng.run(plan_for(eng, conn, host, ["web"])).of("web")
    fresh = libvirt.open("test:///default")
    try:
        with open(g.backup) as fh:
            dom = fresh.defineXML(fh.read())
        assert dom.XMLDesc(INACTIVE) == original
    finally:
        fresh.close()


def test_stale_plan_is_refused_when_an_unfinished_record_exists(conn, host, tmp_path):
    """The TUI plans, then runs: a guest left by a crash (shut off, original definition) must not be
    'converted as a shut-off guest' and left down; it is refused until resumed or rolled back."""
    eng = engine_for(conn, tmp_path, host)
    plan = plan_for(eng, conn, host, ["web"])
    crash_run(eng, plan, Step.SHUTDOWN, StepState.OK)
    assert not running(conn, "web")
    g = eng.run(plan).of("web")
    assert g.result is Result.UNCHANGED and "unfinished conversion" in g.message
    assert hardcoded_sources(inactive(conn, "web")) != ()
    again = plan_for(eng, conn, host, ["web"])
    assert "unfinished conversion" in again.refused[0].reason


def test_paused_after_planning_is_refused_at_run_time(conn, host, tmp_path):
    eng = engine_for(conn, tmp_path, host)
    plan = plan_for(eng, conn, host, ["web"])
    conn.lookupByName("web").suspend()
    original = inactive(conn, "web")
    g = eng.run(plan).of("web")
    assert g.result is Result.UNCHANGED and "paused" in g.message
    assert conn.lookupByName("web").state()[0] == libvirt.VIR_DOMAIN_PAUSED
    assert inactive(conn, "web") == original


def test_managed_save_image_is_refused(conn, host, tmp_path):
    """Starting a guest with a managed save image restores the saved machine (hard-coded VF)."""
    conn.lookupByName("web").managedSave(0)
    eng = engine_for(conn, tmp_path, host)
    plan = plan_for(eng, conn, host, ["web"])
    assert "managed save image" in plan.refused[0].reason and "managedsave-remove" in plan.refused[0].reason


def test_snapshots_are_noted_and_autostart_kept(conn, host, tmp_path):
    dom = conn.lookupByName("web")
    dom.setAutostart(1)
    dom.snapshotCreateXML("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    eng = engine_for(conn, tmp_path, host)
    plan = plan_for(eng, conn, host, ["web"])
    assert any("1 snapshot(s)" in n for n in plan.guests[0].notes)
    assert eng.run(plan).ok
    assert conn.lookupByName("web").autostart() == 1
    assert eng.rollback(Journal(tmp_path / "journal").latest_for("web")).result is Result.ROLLED_BACK
    assert conn.lookupByName("web").autostart() == 1


def test_new_definition_is_defined_with_libvirts_own_validation(conn, host, tmp_path):
    faults = InjectedConn(conn)
    eng = engine_for(faults, tmp_path, host)
    assert eng.run(plan_for(eng, faults, host, ["web"])).ok
    assert faults.define_flags == [libvirt.VIR_DOMAIN_DEFINE_VALIDATE]


def test_guest_undefined_by_someone_else_is_not_recreated(conn, host, tmp_path):
    """Someone runs `virsh undefine web` while we wait for its shutdown (real test driver)."""
    eng = engine_for(conn, tmp_path, host)

    def sink(ev):
        if ev.step is Step.SHUTDOWN and ev.state is StepState.STARTED:
            conn.lookupByName("web").undefine()

    g = eng.run(plan_for(eng, conn, host, ["web"]), sink).of("web")
    assert g.result is Result.FAILED and "no longer exists" in g.message and "not re-created" in g.message
    assert f"virsh define {g.backup}" in g.message
    assert "web" not in [d.name() for d in conn.listAllDomains()]


def test_definition_edited_during_shutdown_is_not_overwritten(conn, host, tmp_path):
    """Someone edits the guest (virsh edit) during the shutdown wait: that edit is kept."""
    eng = engine_for(conn, tmp_path, host)
    edited = []

    def sink(ev):
        if ev.step is Step.SHUTDOWN and ev.state is StepState.STARTED:
            xml = inactive(conn, "web").replace("<vcpu placement='static'>1</vcpu>",
                                                "<vcpu placement='static'>2</vcpu>")
            conn.defineXML(xml)
            edited.append(inactive(conn, "web"))

    g = eng.run(plan_for(eng, conn, host, ["web"]), sink).of("web")
    assert g.result is Result.ROLLED_BACK and "changed by someone else" in g.message, g.message
    assert inactive(conn, "web") == edited[0] and running(conn, "web")


class LostConn(InjectedConn):
    """INJECTED: the libvirt connection dies (every call fails as the remote driver fails) once
    ``dead`` is set."""

    DEAD = ("internal error: client socket is closed", libvirt.VIR_ERR_INTERNAL_ERROR)

    def __init__(self, conn, **kw):
        super().__init__(conn, **kw)
        self.dead = False

    def _check(self):
        if self.dead:
            raise injected_error(self.DEAD[1], self.DEAD[0])

    def lookupByUUIDString(self, uuid):
        self._check()
        return LostDom(self._conn.lookupByUUIDString(uuid), self)

    def defineXMLFlags(self, xml, flags=0):
        self._check()
        return super().defineXMLFlags(xml, flags)

    def networkLookupByName(self, name):
        self._check()
        return self._conn.networkLookupByName(name)


class LostDom(InjectedDom):
    def __getattr__(self, attr):
        value = getattr(self._dom, attr)
        if not callable(value):
            return value

        def call(*a, **kw):
            self._f._check()
            return value(*a, **kw)
        return call

    def create(self):
        self._f._check()
        return super().create()


@pytest.mark.parametrize("step, state", [(Step.SHUTDOWN, StepState.OK), (Step.DEFINE, StepState.OK)])
def test_connection_lost_mid_run_is_reported_and_resumable(conn, host, tmp_path, step, state):
    faults = LostConn(conn)
    eng = engine_for(faults, tmp_path, host)
    plan = plan_for(eng, faults, host, ["web"])

    def sink(ev):
        if ev.step is step and ev.state is state:
            faults.dead = True

    g = eng.run(plan, sink).of("web")
    assert g.result is Result.INTERRUPTED, g.message
    assert "lost track of it" in g.message and "client socket is closed" in g.message
    assert "unknown state" in g.message and g.backup in g.message and "vfpool-tui resume" in g.message
    journal = Journal(tmp_path / "journal")
    [rec] = journal.unfinished()
    faults.dead = False  # libvirt answers again
    assert ConversionEngine(conn, journal, FAST).resume(rec).result is Result.CONVERTED
    assert running(conn, "web") and hardcoded_sources(inactive(conn, "web")) == ()


def test_define_error_after_the_connection_dropped_is_not_called_untouched(conn, host, tmp_path):
    """INJECTED: define fails and libvirt stops answering: the engine must not claim the old
    definition is untouched, nor restart anything; it says the state is unknown."""
    faults = LostConn(conn)
    eng = engine_for(faults, tmp_path, host)

    def sink(ev):
        if ev.step is Step.DEFINE and ev.state is StepState.STARTED:
            faults.dead = True

    g = eng.run(plan_for(eng, faults, host, ["web"]), sink).of("web")
    assert g.result is Result.INTERRUPTED and "untouched" not in g.message
    assert "unknown state" in g.message


def test_timeout_message_warns_the_acpi_request_is_still_out(conn, host, tmp_path):
    faults = InjectedConn(conn, ignore_shutdown={"web"})  # INJECTED: ignores ACPI (for now)
    eng = engine_for(faults, tmp_path, host, Options(shutdown_timeout=0.2, poll_interval=0.02))
    g = eng.run(plan_for(eng, faults, host, ["web"])).of("web")
    assert g.result is Result.UNCHANGED
    assert "may still act on it" in g.message and "virsh start web" in g.message


def test_vfs_are_reserved_before_any_guest_goes_down(tmp_path):
    """A plan short of VFs run anyway (the TUI could): the guest without a VF is never shut down."""
    doms = [
        domain("keep", "33333333-0000-4000-8000-000000000001", [iface_hostdev(vf_addr(PF_B, 0), "52:54:00:00:03:01")]),
        domain("x1", "33333333-0000-4000-8000-000000000002", [iface_hostdev(vf_addr(PF_A, 0), "52:54:00:00:03:02")]),
        domain("x2", "33333333-0000-4000-8000-000000000003", [iface_hostdev(vf_addr(PF_A, 1), "52:54:00:00:03:03")]),
    ]
    c = open_node(write_node(tmp_path / "n.xml", doms))
    h = make_host(vfs_b=2)
    faults = InjectedConn(c)
    eng = engine_for(faults, tmp_path, h, Options(shutdown_timeout=2, poll_interval=0.02, concurrency=2))
    plan = plan_for(eng, faults, h, ["x1", "x2"], network="pool-b", allow_other_pf=True)
    assert not plan.ok
    out = eng.run(plan)
    results = sorted(g.result for g in out.guests)
    assert results == sorted([Result.CONVERTED, Result.UNCHANGED])
    short = next(g for g in out.guests if g.result is Result.UNCHANGED)
    assert "no free VF" in short.message and "nothing changed" in short.message
    assert running(c, short.guest) and ("shutdown", short.guest) not in faults.calls


def test_rollback_refusal_does_not_leak_the_lock(conn, host, tmp_path):
    eng = engine_for(conn, tmp_path, host)
    faults = InjectedConn(conn, define_fail={"web": [1]})  # INJECTED
    eng2 = engine_for(faults, tmp_path, host)
    assert eng2.run(plan_for(eng2, faults, host, ["web"])).of("web").result is Result.ROLLED_BACK
    rec = Journal(tmp_path / "journal").latest_for("web")
    with pytest.raises(PlanError):
        eng.rollback(rec)
    ConversionLock(tmp_path / "journal").acquire().release()  # free again in this process


def test_rollback_keeps_the_definition_it_replaces(conn, host, tmp_path):
    """Rollback of a conversion finished long ago: later edits are saved before the original returns."""
    eng = engine_for(conn, tmp_path, host)
    assert eng.run(plan_for(eng, conn, host, ["web"])).ok
    later = inactive(conn, "web").replace("<vcpu placement='static'>1</vcpu>", "<vcpu placement='static'>3</vcpu>")
    conn.defineXML(later)
    later = inactive(conn, "web")
    rec = Journal(tmp_path / "journal").latest_for("web")
    events, sink = collect()
    assert eng.rollback(rec, sink).result is Result.ROLLED_BACK
    [saved] = list(rec.path.glob("before-rollback-*.xml"))
    assert saved.read_text() == later and oct(saved.stat().st_mode & 0o777) == "0o600"
    assert any(str(saved) in e.message for e in events)


def test_disk_full_refuses_before_touching_the_guest(conn, host, tmp_path, monkeypatch):
    """INJECTED: ENOSPC on the journal write."""
    import errno
    import os as os_mod

    from vfpool_tui.core.conversion import journal as journal_mod

    real_write = os_mod.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    faults = InjectedConn(conn)
    eng = engine_for(faults, tmp_path, host)
    plan = plan_for(eng, faults, host, ["web"])
    Journal(tmp_path / "journal").ensure()
    monkeypatch.setattr(journal_mod.os, "write", full)
    original = inactive(conn, "web")
    g = eng.run(plan).of("web")
    monkeypatch.setattr(journal_mod.os, "write", real_write)
    assert g.result is Result.UNCHANGED and "No space left on device" in g.message
    assert faults.calls == [] and running(conn, "web") and inactive(conn, "web") == original
    assert list((tmp_path / "journal" / "conversions").iterdir()) == []  # no half record


@pytest.mark.parametrize("name", ["my guest", "ünïcode", "[bold]x", "-dash", "..", "a;rm -rf"])
def test_odd_guest_names_make_safe_journal_paths_and_quoted_commands(tmp_path, name):
    doms = [domain(name, "44444444-0000-4000-8000-000000000001",
                   [iface_hostdev(vf_addr(PF_A, 1), "52:54:00:00:04:01")])]
    c = open_node(write_node(tmp_path / "n.xml", doms))
    h = make_host()
    faults = InjectedConn(c, start_fail={name: 2})  # INJECTED: both starts fail
    eng = engine_for(faults, tmp_path, h)
    g = eng.run(plan_for(eng, faults, h, [name])).of(name)
    assert g.result is Result.FAILED
    conversions = tmp_path / "journal" / "conversions"
    [rec_dir] = list(conversions.iterdir())
    assert rec_dir.parent == conversions and rec_dir.name.isascii()
    assert all(ch.isalnum() or ch in "_.+-" for ch in rec_dir.name) and not rec_dir.name.startswith((".", "-"))
    import shlex
    cmd = g.message.split("start it with `")[1].split("`")[0]
    words = shlex.split(cmd)
    assert words[:2] == ["virsh", "start"]
    assert words[2] == (name if not name.startswith("-") else "44444444-0000-4000-8000-000000000001")


_CHILD = r'''
import sys, time
sys.path.insert(0, {tests!r})
import libvirt
from lxml import etree
from convert_fixtures import make_host, open_node
from vfpool_tui.core.conversion.engine import ConversionEngine, Options
from vfpool_tui.core.conversion.events import Step, StepState
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.scan import scan

node, state, jdir = {node!r}, {state!r}, {jdir!r}
c = open_node(node)
h = make_host({{"0000:02:10.2": "52:54:00:aa:00:02"}})

def dump():
    # what libvirtd would still know after this process dies: every domain as defined now
    root = etree.parse(node).getroot()
    for d in root.findall("domain"):
        root.remove(d)
    for dom in c.listAllDomains():
        el = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())
        if not dom.isActive():
            rs = etree.SubElement(el, "{{http://libvirt.org/schemas/domain/test/1.0}}runstate")
            rs.text = "5"
        root.append(el)
    etree.ElementTree(root).write(state)

def sink(ev):
    if ev.step is Step.DEFINE and ev.state is StepState.OK:
        dump()
        print("defined", flush=True)
        time.sleep(60)  # SIGKILLed here

eng = ConversionEngine(c, Journal(jdir), Options(shutdown_timeout=2, poll_interval=0.02))
eng.run(eng.plan(scan(conn=c, host=h), ["web"], "pool-a"), sink)
print("not killed", flush=True)
'''


@pytest.mark.parametrize("action", ["resume", "rollback"])
def test_sigkill_after_define_then_resume_and_rollback(node, host, tmp_path, action):
    """A real crash: the converting process is SIGKILLed right after the define step. libvirt's
    state at that moment is carried over to the next process (the test driver keeps state per
    process, libvirtd keeps it for real); the journal is what the killed process left on disk."""
    import os
    import signal

    original = open_node(node).lookupByName("web").XMLDesc(INACTIVE)
    state, jdir = tmp_path / "state.xml", tmp_path / "journal"
    code = _CHILD.format(tests=str(SUPPORT), node=str(node), state=str(state), jdir=str(jdir))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "defined"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    c = open_node(state)
    assert not running(c, "web") and hardcoded_sources(inactive(c, "web")) == ()
    journal = Journal(jdir)
    [rec] = journal.unfinished()
    assert rec.original_inactive() == original and rec.last_step["step"] == "define"
    ConversionLock(jdir).acquire().release()  # the kernel dropped the dead process's lock
    eng = ConversionEngine(c, journal, FAST)
    if action == "resume":
        assert eng.resume(rec).result is Result.CONVERTED
        assert hardcoded_sources(inactive(c, "web")) == ()
    else:
        assert eng.rollback(rec).result is Result.ROLLED_BACK
        assert inactive(c, "web") == original
    assert running(c, "web") and journal.unfinished() == []


def test_one_event_loop_for_the_backend_and_the_engine():
    """The TUI's backend starts libvirt's event loop before the engine asks for it: the engine must
    find it running (it used to register a second time, fail, and fall back to polling)."""
    from vfpool_tui.core.conversion import engine as engine_mod
    from vfpool_tui.core.conversion import shutdown
    from vfpool_tui.core.virt import libvirt_events

    assert libvirt_events.ensure_event_loop()  # as the backend does at connect
    assert shutdown.ensure_event_loop is libvirt_events.ensure_event_loop
    assert engine_mod.ensure_event_loop() and libvirt_events.event_loop_running()
