"""Reverting a finished conversion (core/conversion/revert.py) on libvirt's test driver.

A start failure of the original definition (its VF taken by another guest meanwhile) cannot happen
in the test driver, which checks no PCI device; it is INJECTED at the libvirt boundary (InjectedConn).
"""

from __future__ import annotations

import pytest
from convert_fixtures import conn, host, node  # noqa: F401  (fixtures)
from engine_helpers import InjectedConn, collect, engine_for, inactive, plan_for, running

from vfpool_tui.core.conversion.engine import PlanError, RevertRefused
from vfpool_tui.core.conversion.events import Result, Step, StepState
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.conversion.transform import hardcoded_sources


def _converted(conn, host, tmp_path, guest):
    original = inactive(conn, guest)
    eng = engine_for(conn, tmp_path, host)
    out = eng.run(plan_for(eng, conn, host, [guest])).of(guest)
    assert out.result is Result.CONVERTED, out.message
    return eng, original, Journal(tmp_path / "journal").latest_for(guest)


def test_revert_puts_a_running_guest_back_through_shutdown_define_start(conn, host, tmp_path):
    eng, original, rec = _converted(conn, host, tmp_path, "web")
    sources = hardcoded_sources(original)
    events, sink = collect()
    out = eng.revert(rec, sink)
    assert out.result is Result.ROLLED_BACK and out.message.startswith("reverted: running"), out.message
    assert inactive(conn, "web") == original
    assert running(conn, "web") and hardcoded_sources(inactive(conn, "web")) == sources
    steps = [(e.step, e.state) for e in events if e.state in (StepState.OK, StepState.FAILED)]
    assert steps == [(Step.PRECHECK, StepState.OK), (Step.SHUTDOWN, StepState.OK), (Step.DEFINE, StepState.OK),
                     (Step.START, StepState.OK), (Step.VERIFY, StepState.OK), (Step.DONE, StepState.OK)]
    again = Journal(tmp_path / "journal").latest_for("web")
    assert again.finished and again.result == Result.ROLLED_BACK
    assert [s["action"] for s in again.steps if s.get("kind") == "reopen"] == ["revert"]
    with pytest.raises(PlanError, match="was not converted"):  # a second revert has nothing to undo
        eng.revert(again)


def test_revert_of_a_shut_off_guest_only_redefines(conn, host, tmp_path):
    eng, original, rec = _converted(conn, host, tmp_path, "cold")
    out = eng.revert(rec)
    assert out.result is Result.ROLLED_BACK, out.message
    assert inactive(conn, "cold") == original and not running(conn, "cold")


def test_revert_refused_with_the_diff_when_the_definition_changed_since(conn, host, tmp_path):
    eng, original, rec = _converted(conn, host, tmp_path, "web")
    dom = conn.lookupByName("web")
    edited = dom.XMLDesc(0x2).replace("<memory", "<description>resized by ops</description>\n  <memory", 1)
    conn.defineXML(edited)
    before = inactive(conn, "web")
    with pytest.raises(RevertRefused) as err:
        eng.revert(rec)
    assert "changed since its conversion" in str(err.value)
    assert "+  <description>resized by ops</description>" in err.value.diff
    assert err.value.diff.startswith("--- web (as converted)\n+++ web (now)\n")
    assert inactive(conn, "web") == before and running(conn, "web")  # nothing touched
    assert Journal(tmp_path / "journal").latest_for("web").result == Result.CONVERTED


def test_revert_of_an_unfinished_conversion_is_refused(conn, host, tmp_path):
    eng, original, rec = _converted(conn, host, tmp_path, "web")
    eng.journal.open(rec).reopen("resume")  # as a crashed resume leaves it
    with pytest.raises(PlanError, match="unfinished"):
        eng.revert(Journal(tmp_path / "journal").latest_for("web"))


def test_original_that_cannot_start_goes_back_on_the_pool_running(conn, host, tmp_path):
    _, original, rec = _converted(conn, host, tmp_path, "web")
    on_pool = inactive(conn, "web")
    faulty = InjectedConn(conn, start_fail={"web": 1})  # INJECTED: its hard-coded VF is taken meanwhile
    eng = engine_for(faulty, tmp_path, host)
    out = eng.revert(rec)
    assert out.result is Result.UNCHANGED, out.message
    assert out.message.startswith("not reverted: starting it on its original definition failed")
    assert "running on pool 'pool-a' as before" in out.message
    assert inactive(conn, "web") == on_pool and running(conn, "web")
    assert Journal(tmp_path / "journal").latest_for("web").result == Result.CONVERTED
