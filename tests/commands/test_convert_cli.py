"""``vfpool-tui convert`` / ``journal`` / ``resume`` / ``rollback`` against the libvirt test driver.

The test driver's state lives in the connection, so the commands are handed the test's own
connection (``_open`` patched) and a host model (``_scan`` patched); everything else is the real code.
"""

from __future__ import annotations

import time

import libvirt
import pytest
from convert_fixtures import conn, host, node  # noqa: F401  (fixtures)

from vfpool_tui import cli
from vfpool_tui.commands import convert as convert_cmd
from vfpool_tui.commands import journal as journal_cmd
from vfpool_tui.core.conversion.engine import ConversionEngine, Options
from vfpool_tui.core.conversion.events import Step, StepState
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.conversion.lock import ConversionLock
from vfpool_tui.core.conversion.transform import hardcoded_sources
from vfpool_tui.core.scan import scan

INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


class KeepOpen:
    """The test's connection, which the command may 'close' without ending the test driver state."""

    def __init__(self, c):
        self._c = c

    def __getattr__(self, attr):
        return getattr(self._c, attr)

    def close(self):
        return 0


@pytest.fixture
def wired(conn, host, monkeypatch, tmp_path):  # noqa: F811
    opened = []

    def fake_open(args, write):
        opened.append(write)
        return KeepOpen(conn)

    monkeypatch.setattr(convert_cmd, "_open", fake_open)
    monkeypatch.setattr(journal_cmd, "_open", fake_open)
    monkeypatch.setattr(convert_cmd, "_scan", lambda c, discovery=None: scan(conn=c, host=host, discovery=discovery))
    return tmp_path / "jdir" / "nested", opened


def run(*argv):
    return cli.main(list(argv))


def xml(conn, name):  # noqa: F811
    return conn.lookupByName(name).XMLDesc(INACTIVE)


def test_dry_run_prints_plan_and_diff_and_changes_nothing(conn, wired, capsys):  # noqa: F811
    jdir, _ = wired
    before = xml(conn, "web")
    assert run("convert", "web", "cold", "--network", "pool-a", "--dry-run", "--journal-dir", str(jdir)) == 0
    o = capsys.readouterr().out
    assert "plan: 2 guest(s) to network 'pool-a', 1 to restart" in o
    assert "web (running: shut down, define, start): 0000:02:10.1, 0000:02:10.2 -> 'pool-a'" in o
    assert "0000:02:10.2: keeps MAC 52:54:00:aa:00:02" in o
    assert "--- web (now)" in o and "+++ cold (on the pool)" in o
    assert "-    <interface type='hostdev' managed='yes'>" in o
    assert "+      <source network='pool-a'/>" in o
    assert "dry run: nothing changed" in o
    assert xml(conn, "web") == before and not jdir.exists()


def test_convert_yes_converts_and_creates_journal_0700(conn, wired, capsys):  # noqa: F811
    jdir, _ = wired
    rc = run("convert", "web", "cold", "--network", "pool-a", "--yes", "--journal-dir", str(jdir),
             "--shutdown-timeout", "5")
    o = capsys.readouterr().out
    assert rc == 0, o
    assert oct(jdir.stat().st_mode & 0o777) == "0o700"
    assert "web: shutdown ok" in o and "web: start ok" in o and "cold: define ok" in o
    assert "web: converted; running on pool 'pool-a' with unknown VF (MAC 52:54:00:00:00:01)" in o
    assert "converted: converted" not in o  # the result is said once
    assert hardcoded_sources(xml(conn, "web")) == () and hardcoded_sources(xml(conn, "cold")) == ()
    assert conn.lookupByName("web").isActive() and not conn.lookupByName("cold").isActive()


@pytest.mark.parametrize("argv, msg", [
    (["nosuch"], "cannot convert 'nosuch': no guest named 'nosuch'"),
    (["gpu"], "cannot convert 'gpu': no VF to convert: its PCI passthrough (0000:41:00.0) is not an SR-IOV VF"),
    (["onpool"], "cannot convert 'onpool': it is already on pool 'pool-a'"),
    (["portb"], "is on another PF than pool 'pool-a'"),
    (["web", "--network", "default"], "network 'default' is not a hostdev pool"),
    (["web", "--network", "nope"], "no network named 'nope'"),
    (["web", "--mac", "0000:02:10.2=zz"], "is not a MAC address"),
    (["web", "--concurrency", "0"], "--concurrency must be 1 or more"),
])
def test_refusals_are_one_line_and_change_nothing(conn, wired, capsys, argv, msg):  # noqa: F811
    jdir, _ = wired
    before = {n: xml(conn, n) for n in ("web", "gpu", "onpool", "portb")}
    base = ["convert", *argv]
    if "--network" not in argv:
        base += ["--network", "pool-a"]
    rc = run(*base, "--yes", "--journal-dir", str(jdir))
    err = capsys.readouterr().err
    assert rc == 1
    assert msg in err and err.count("\n") == 1 and err.startswith("vfpool-tui: ")
    assert {n: xml(conn, n) for n in before} == before and not jdir.exists()


def test_other_pf_allowed_when_asked(conn, wired, capsys):  # noqa: F811
    jdir, _ = wired
    assert run("convert", "portb", "-n", "pool-a", "--allow-other-pf", "--yes", "--journal-dir", str(jdir)) == 0
    assert hardcoded_sources(xml(conn, "portb")) == ()


def test_device_by_device_each_onto_its_pool_the_rest_left(conn, wired, capsys):  # noqa: F811
    from libvirt_accepts import assert_libvirt_accepts

    from vfpool_tui.core.virt import domain_xml

    jdir, _ = wired
    # web: ua-net0 (0000:02:10.1) and a bare hostdev 0000:02:10.2, both on PF A (eth3); portb: PF B
    rc = run("convert", "web", "portb", "--device", "ua-net0=pool-a", "-d", "portb/52:54:00:00:00:05=pool-b",
             "--dry-run", "--journal-dir", str(jdir))
    o = capsys.readouterr().out
    assert rc == 0, o
    assert "plan: 2 guest(s) to networks 'pool-a', 'pool-b'" in o
    assert "web (running: shut down, define, start): 0000:02:10.1 -> 'pool-a'" in o
    assert "portb (running: shut down, define, start): 0000:03:10.0 -> 'pool-b'" in o
    assert run("convert", "web", "portb", "--device", "ua-net0=pool-a", "-d", "portb/52:54:00:00:00:05=pool-b",
               "--yes", "--journal-dir", str(jdir)) == 0
    web = xml(conn, "web")
    assert_libvirt_accepts(web)
    assert hardcoded_sources(web) == ("0000:02:10.2",)  # not named: left as it is
    assert {r.network for r in domain_xml.parse_domain(xml(conn, "portb")).devices} == {"pool-b"}
    assert Journal(jdir).latest_for("web").targets == {"0000:02:10.1": "pool-a"}


@pytest.mark.parametrize("argv, msg", [
    (["web"], "no pool for 'web': give --network NET (every device) or --device DEVICE=POOL"),
    (["web", "--device", "ua-net0"], "--device 'ua-net0': write it as [GUEST/]DEVICE=POOL"),
    (["web", "--device", "ua-nope=pool-a"], "none of the guests to convert has a VF device 'ua-nope'"),
    (["web", "--device", "cold/ua-net0=pool-a"], "'cold' is not one of the guests to convert"),
    (["web", "--device", "0000:02:10.2=pool-b"],
     "0000:02:10.2 (PF eth3) is on another PF than pool 'pool-b' (PF eth4): another port, perhaps another "
     "network; --device-other-pf DEVICE=POOL (this device) or --allow-other-pf to convert anyway"),
    (["web", "--device", "ua-net0=nope"], "no network named 'nope'"),
])
def test_device_refusals_are_one_line_and_change_nothing(conn, wired, capsys, argv, msg):  # noqa: F811
    jdir, _ = wired
    before = xml(conn, "web")
    rc = run("convert", *argv, "--yes", "--journal-dir", str(jdir))
    err = capsys.readouterr().err
    assert rc == 1 and msg in err and err.count("\n") == 1, err
    assert xml(conn, "web") == before and not jdir.exists()


def test_another_pf_allowed_for_one_device(conn, wired, capsys):  # noqa: F811
    jdir, _ = wired
    assert run("convert", "web", "--device-other-pf", "0000:02:10.2=pool-b", "--device", "ua-net0=pool-a",
               "--yes", "--journal-dir", str(jdir)) == 0, capsys.readouterr()
    assert Journal(jdir).latest_for("web").targets == {"0000:02:10.1": "pool-a", "0000:02:10.2": "pool-b"}
    assert hardcoded_sources(xml(conn, "web")) == ()


def test_mac_option_for_bare_hostdev(conn, wired, capsys, monkeypatch):  # noqa: F811
    from convert_fixtures import make_host

    jdir, _ = wired
    monkeypatch.setattr(convert_cmd, "_scan", lambda c, discovery=None: scan(conn=c, host=make_host(), discovery=discovery))  # MAC unknown
    run("convert", "web", "-n", "pool-a", "--dry-run", "--journal-dir", str(jdir))
    assert "the guest will see a new MAC" in capsys.readouterr().out
    assert run("convert", "web", "-n", "pool-a", "--mac", "0000:02:10.2=52:54:00:12:34:56", "--yes",
               "--journal-dir", str(jdir)) == 0
    assert "<mac address='52:54:00:12:34:56'/>" in xml(conn, "web")


def test_without_yes_and_no_terminal_refused(conn, wired, capsys, monkeypatch):  # noqa: F811
    jdir, _ = wired
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    before = xml(conn, "web")
    assert run("convert", "web", "-n", "pool-a", "--journal-dir", str(jdir)) == 1
    assert "without --yes" in capsys.readouterr().err
    assert xml(conn, "web") == before


def test_readonly_refused(conn, wired, capsys):  # noqa: F811
    jdir, _ = wired
    assert run("--readonly", "convert", "web", "-n", "pool-a", "--yes", "--journal-dir", str(jdir)) == 1
    assert "cannot run with --readonly" in capsys.readouterr().err


def test_second_instance_refused(conn, wired, capsys):  # noqa: F811
    jdir, _ = wired
    Journal(jdir).ensure()
    before = xml(conn, "web")
    with ConversionLock(jdir).acquire("convert other"):
        assert run("convert", "web", "-n", "pool-a", "--yes", "--journal-dir", str(jdir)) == 1
    err = capsys.readouterr().err
    assert "another vfpool-tui is converting guests" in err and "convert other" in err
    assert xml(conn, "web") == before and conn.lookupByName("web").isActive()


class Crash(BaseException):
    """SIMULATED crash right after an event: nothing after it runs (see test_engine.Crash)."""


def _interrupted_record(conn, host, jdir):  # noqa: F811
    """An unfinished conversion as a crash after shutdown leaves it (guest off, original definition)."""

    def sink(ev):
        if ev.step is Step.SHUTDOWN and ev.state is StepState.OK:
            raise Crash()

    eng = ConversionEngine(conn, Journal(jdir), Options(shutdown_timeout=2, poll_interval=0.02))
    with pytest.raises(Crash):
        eng.run(eng.plan(scan(conn=conn, host=host), ["web"], "pool-a"), sink)


def test_journal_lists_then_rollback_restores(conn, host, wired, capsys):  # noqa: F811
    jdir, _ = wired
    original = xml(conn, "web")
    _interrupted_record(conn, host, jdir)
    assert not conn.lookupByName("web").isActive()
    assert run("journal", "--journal-dir", str(jdir)) == 0
    o = capsys.readouterr().out
    assert "web -> pool-a" in o and "UNFINISHED" in o and "original-inactive.xml" in o
    # an unfinished conversion blocks a new one of the same guest
    assert run("convert", "web", "-n", "pool-a", "--yes", "--journal-dir", str(jdir)) == 1
    assert "unfinished conversion" in capsys.readouterr().err
    assert run("rollback", "web", "--yes", "--journal-dir", str(jdir), "--shutdown-timeout", "5") == 0
    o = capsys.readouterr().out
    assert "web: rolled-back" in o
    assert xml(conn, "web") == original and conn.lookupByName("web").isActive()
    assert run("journal", "--journal-dir", str(jdir)) == 0
    assert "no unfinished conversions" in capsys.readouterr().out
    assert run("rollback", "web", "--yes", "--journal-dir", str(jdir)) == 1
    assert "already on its original definition" in capsys.readouterr().err


def test_resume_finishes(conn, host, wired, capsys):  # noqa: F811
    jdir, _ = wired
    _interrupted_record(conn, host, jdir)
    assert run("resume", "--yes", "--journal-dir", str(jdir)) == 0
    o = capsys.readouterr().out
    assert "web: converted" in o
    assert conn.lookupByName("web").isActive() and hardcoded_sources(xml(conn, "web")) == ()
    assert run("resume", "--yes", "--journal-dir", str(jdir)) == 0
    assert "no unfinished conversions" in capsys.readouterr().out


def test_demo_journal_is_the_shared_demo_state_journal():
    """--demo commands share the demo state's journal (demo/state.py), kept 0700 like any journal;
    it used to be a fresh temporary directory per run, left behind and unknown to the next command."""
    import argparse
    import os

    d = convert_cmd.journal_dir(argparse.Namespace(journal_dir=None, demo=True))
    assert d == os.path.join(os.environ["VFPOOL_DEMO_STATE"], "journal")  # tests/conftest.py
    assert not d.startswith("/var/lib")
    Journal(d).ensure()
    assert oct(os.stat(d).st_mode & 0o777) == "0o700"
    assert convert_cmd.journal_dir(argparse.Namespace(journal_dir=None, demo=False)) == "/var/lib/vfpool-tui"


def test_core_does_not_import_ui():
    import subprocess
    import sys

    code = ("import sys, vfpool_tui.core.conversion.engine, vfpool_tui.core.conversion.transform, vfpool_tui.core.conversion.journal, "
            "vfpool_tui.commands.convert, vfpool_tui.commands.journal; "
            "print(any(m.split('.')[0] in ('textual', 'rich') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_unwritable_journal_dir_refused_before_touching(conn, wired, capsys):  # noqa: F811
    """/proc refuses new directories even to root: a real unwritable journal location."""
    before = xml(conn, "web")
    rc = run("convert", "web", "-n", "pool-a", "--yes", "--journal-dir", "/proc/vfpool-tui-test/j")
    err = capsys.readouterr().err
    assert rc == 1 and "cannot create the journal directory /proc/vfpool-tui-test/j" in err
    assert err.count("\n") == 1
    assert xml(conn, "web") == before and conn.lookupByName("web").isActive()


def test_sighup_mid_run_brings_the_guest_back_up(conn, wired, capsys, monkeypatch):  # noqa: F811
    """The SSH session drops (SIGHUP, sent for real to this process) after the guest went down: it
    is started again on its original definition, not left down until someone runs resume."""
    import os
    import signal

    jdir, _ = wired
    before = xml(conn, "web")
    real_print = convert_cmd.print_event

    def printer(ev):
        real_print(ev)
        if ev.step is Step.SHUTDOWN and ev.state is StepState.OK:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.2)  # let the main thread run the handler

    monkeypatch.setattr(convert_cmd, "print_event", printer)
    rc = run("convert", "web", "-n", "pool-a", "--yes", "--journal-dir", str(jdir), "--shutdown-timeout", "5")
    o = capsys.readouterr().out
    assert rc == 130 and "SIGHUP: stopping" in o
    assert "web: rolled-back" in o
    assert xml(conn, "web") == before and conn.lookupByName("web").isActive()
    assert Journal(jdir).unfinished() == []


def test_second_ctrl_c_stops_at_once_leaving_the_journal(monkeypatch, capsys):
    """First Ctrl-C: graceful stop. A second one exits at once, like a crash (the journal keeps the
    unfinished conversion). os._exit is replaced here because it would end the test process."""
    import signal
    import threading

    exits = []
    monkeypatch.setattr(convert_cmd.os, "_exit", lambda status: exits.append(status))
    cancel = threading.Event()
    with convert_cmd.CancelOnSignals(cancel) as handler:
        handler._handler(signal.SIGHUP, None)
        assert cancel.is_set() and exits == []
        handler._handler(signal.SIGHUP, None)  # the session is gone: keep bringing guests back up
        assert exits == []
        handler._handler(signal.SIGINT, None)  # the operator insists
        assert exits == [130]
    out = capsys.readouterr().out
    assert "Ctrl-C again: stop at once" in out and "vfpool-tui resume" in out


def test_revert_undoes_finished_conversions_and_refuses_a_changed_one_with_the_diff(conn, wired, capsys):  # noqa: F811
    jdir, _ = wired
    web, cold = xml(conn, "web"), xml(conn, "cold")
    assert run("convert", "web", "cold", "--network", "pool-a", "--yes", "--journal-dir", str(jdir)) == 0
    conn.defineXML(xml(conn, "cold").replace("<memory", "<description>edited</description><memory", 1))
    capsys.readouterr()
    rc = run("revert", "web", "cold", "--yes", "--journal-dir", str(jdir))
    o = capsys.readouterr().out
    assert rc == 1, o  # one refused
    assert "web: shutdown ok" in o and "web: define ok" in o and "web: start ok" in o
    assert "\nweb: reverted: running with its original definition" in o  # the outcome line
    assert "cold: 'cold' was changed since its conversion" in o
    assert "--- cold (as converted)\n+++ cold (now)\n" in o and "+  <description>edited</description>" in o
    assert xml(conn, "web") == web and conn.lookupByName("web").isActive()
    assert xml(conn, "cold") != cold and hardcoded_sources(xml(conn, "cold")) == ()  # left as it was
    assert run("revert", "nosuch", "--yes", "--journal-dir", str(jdir)) == 1
    assert "no conversion of 'nosuch'" in capsys.readouterr().err
