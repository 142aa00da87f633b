"""The conversion screens on the demo host: pick, review (XML diff), confirm, progress, journal.

The engine runs for real against the app's own libvirt test-driver connection (the same one the
app scans), so every assertion on the result is read back through that connection
(``backend.call``). The test driver cannot fail a guest start: that failure is INJECTED at the
libvirt boundary (``virDomain.create`` patched for one guest) and named as such.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import libvirt
from textual.widgets import Input
from tui_helpers import async_test, static_text, wait_for_scans, wait_until

from vfpool_tui.core.conversion.events import Result, Step, StepState
from vfpool_tui.tui.screens.convert import ConvertScreen
from vfpool_tui.tui.screens.convert_confirm import ConfirmScreen
from vfpool_tui.tui.screens.convert_journal import JournalScreen
from vfpool_tui.tui.screens.convert_progress import ProgressScreen
from vfpool_tui.tui.screens.convert_review import ReviewScreen
from vfpool_tui.tui.widgets.keyed_table import KeyedTable

INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
SEQUENCE = (Step.PRECHECK, Step.BACKUP, Step.SHUTDOWN, Step.DEFINE, Step.START, Step.VERIFY)


def injected_error(message: str) -> libvirt.libvirtError:
    """A libvirtError as libvirt raises it (INJECTED: the test driver cannot fail a start)."""
    err = libvirt.libvirtError(message)
    err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_NONE, message, libvirt.VIR_ERR_ERROR,
               None, None, None, 0, 0)
    return err


async def libvirt_call(app, fn):
    """Run ``fn(conn)`` on the app's libvirt thread (the app's own connection) and wait for it."""
    import asyncio

    return await asyncio.wrap_future(app.backend.call(fn))


def guest_xml(name: str):
    return lambda conn: conn.lookupByName(name).XMLDesc(INACTIVE)


def guest_active(name: str):
    return lambda conn: bool(conn.lookupByName(name).isActive())


def unfinished_pxe_installer(jdir, uuid: str, original: str) -> None:
    """An interrupted conversion in the journal: begun (originals on disk), never finished."""
    from vfpool_tui.core.conversion.journal import Journal

    rec = Journal(jdir).begin(guest="pxe-installer", uuid=uuid, network="sriov-pool-a",
                              sources=("0000:03:10.3",), was_running=False, inactive_xml=original,
                              live_xml=None, new_xml=original, macs={}, pool_sources=[])
    rec.step("backup", "ok", "original XML saved")


async def open_convert(pilot) -> ConvertScreen:
    app = pilot.app
    await wait_for_scans(pilot)
    await wait_until(pilot, lambda: app.status.connected and not app.status.scanning)
    await pilot.press("c")
    await wait_until(pilot, lambda: isinstance(app.screen, ConvertScreen))
    screen = app.screen
    await wait_until(pilot, lambda: screen.query_one("#candidates", KeyedTable).row_count > 0)
    return screen


async def mark(pilot, screen: ConvertScreen, name: str) -> None:
    table = screen.query_one("#candidates", KeyedTable)
    table.focus()
    names = [table.get_row(k)[1].plain for k in table.shown_keys]
    table.move_cursor(row=names.index(name))
    await pilot.press("space")
    await wait_until(pilot, lambda: not screen.planning and (screen.plan is not None or screen.plan_error))


async def start_run(pilot) -> ProgressScreen:
    """From the pick screen: review, confirm (moving off the default Cancel), and the run starts."""
    app = pilot.app
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen))
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    await pilot.press("right", "enter")  # from Cancel to the action button
    await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen))
    return app.screen


async def review_and_confirm(pilot, screen: ConvertScreen) -> ProgressScreen:
    progress = await start_run(pilot)
    await wait_until(pilot, lambda: progress.finished, timeout=30)
    return progress


def ignore_acpi(monkeypatch, guest: str) -> None:
    """INJECTED: the guest OS ignores the ACPI shutdown request (the test driver always obeys)."""
    real_shutdown = libvirt.virDomain.shutdown

    def shutdown(dom):
        return 0 if dom.name() == guest else real_shutdown(dom)

    monkeypatch.setattr(libvirt.virDomain, "shutdown", shutdown)


def ok_steps(progress: ProgressScreen, guest: str) -> set[Step]:
    return {ev.step for ev in progress.rows[guest].events if ev.state is StepState.OK}


@async_test
async def test_running_guest_converted_through_every_screen(demo_app, tmp_path):
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        original = await libvirt_call(app, guest_xml("ci-runner-01"))
        await mark(pilot, screen, "ci-runner-01")
        assert screen.target == "sriov-pool-a"  # the pool on the guest's own PF, preselected
        assert screen.plan is not None and not screen.plan.refused
        assert "ci-runner-01" in static_text(screen.query_one("#plan-text"))

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review_text = static_text(*app.screen.query(".diff"), width=200)
        assert "<source network='sriov-pool-a'/>" in review_text
        assert "-    <interface type='hostdev' managed='yes'>" in review_text

        # the destructive dialog: default focus Cancel, names the guest and the downtime
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        dialog = app.screen
        assert dialog.focused is not None and dialog.focused.id == "cancel"
        body = static_text(dialog.query_one("#body"), width=200)
        assert "ci-runner-01" in body and "Downtime" in body and "shut down" in body
        await pilot.press("enter")  # Enter on the default button: Cancel
        await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert await libvirt_call(app, guest_xml("ci-runner-01")) == original  # nothing changed

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen))
        progress = app.screen
        await wait_until(pilot, lambda: progress.finished, timeout=30)

        assert set(SEQUENCE) <= ok_steps(progress, "ci-runner-01")
        assert progress.outcome.of("ci-runner-01").result is Result.CONVERTED
        table = progress.query_one("#progress", KeyedTable)
        assert table.get_row("ci-runner-01")[2].plain.strip() == "converted"
        assert "1 converted" in static_text(progress.query_one("#summary"))
        # the log names the libvirt calls and keeps the XML of the define
        log = "\n".join(e.text.plain for e in progress.log_entries)
        assert "virDomainShutdown" in log and "virDomainDefineXMLFlags" in log and "virDomainCreate" in log
        define = next(e for e in progress.log_entries if e.xml is not None)
        assert define.xml[0] == original and "<source network='sriov-pool-a'/>" in define.xml[1]

        xml = await libvirt_call(app, guest_xml("ci-runner-01"))
        assert "<interface type='network'>" in xml and "<source network='sriov-pool-a'/>" in xml
        assert "<mac address='52:54:00:66:82:c6'/>" in xml
        assert await libvirt_call(app, guest_active("ci-runner-01")) is True

        # x opens the XML before/after of the define
        progress.query_one("#log").focus()
        progress.query_one("#log").highlighted = progress.log_entries.index(define)
        await pilot.press("x")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "XmlScreen")
        assert "<source network='sriov-pool-a'/>" in static_text(app.screen.query_one("#xml"), width=200)
        await pilot.press("escape")

        await pilot.press("escape")  # close: back on the pick screen; the rescan dims the guest
        await wait_until(pilot, lambda: isinstance(app.screen, ConvertScreen))
        assert screen.last_outcome is progress.outcome
        table = screen.query_one("#candidates", KeyedTable)
        await wait_until(pilot, lambda: [table.get_row(k)[-1].plain for k in table.shown_keys
                                         if table.get_row(k)[1].plain == "ci-runner-01"]
                         == ["its VFs already come from pool 'sriov-pool-a'"])


@async_test
async def test_shut_off_guest_on_another_pf_is_only_redefined_with_the_mac_given(demo_app, tmp_path):
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        await mark(pilot, screen, "pxe-installer")
        # no pool on its PF: refused until another PF is allowed, explicitly
        assert screen.plan.refused and "another PF" in screen.plan.refused[0].reason
        await pilot.press("enter")
        assert isinstance(app.screen, ConvertScreen)  # cannot review a refused plan
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.focused.id == "cancel"
        assert "pxe-installer" in static_text(app.screen.query_one("#body"), width=200)
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: screen.other_pf_allowed == screen.marked and not screen.planning
                         and screen.plan is not None and not screen.plan.refused)
        gp = screen.plan.guests[0]
        assert gp.new_mac_sources == ("0000:03:10.3",) and not gp.was_running

        # a bare hostdev without admin MAC: the operator may give one, validated
        await wait_until(pilot, lambda: bool(screen.query("MacField Input")))
        field = screen.query_one("MacField Input", Input)
        field.focus()
        await pilot.press(*"01:02:03:04:05:06")  # multicast: refused
        await wait_until(pilot, lambda: bool(screen.bad_macs))
        await pilot.press("enter")
        assert isinstance(app.screen, ConvertScreen)
        field.value = ""
        await pilot.press(*"52:54:00:aa:bb:cc")
        await wait_until(pilot, lambda: not screen.bad_macs and not screen.planning
                         and screen.plan is not None
                         and screen.plan.guests[0].macs == (("0000:03:10.3", "52:54:00:aa:bb:cc"),))
        screen.query_one("#candidates").focus()

        progress = await review_and_confirm(pilot, screen)
        steps = {ev.step for ev in progress.rows["pxe-installer"].events}
        assert Step.SHUTDOWN not in steps and Step.START not in steps  # only re-defined
        assert {Step.PRECHECK, Step.BACKUP, Step.DEFINE, Step.VERIFY} <= ok_steps(progress, "pxe-installer")
        assert progress.outcome.of("pxe-installer").result is Result.CONVERTED
        xml = await libvirt_call(app, guest_xml("pxe-installer"))
        assert "<source network='sriov-pool-a'/>" in xml and "52:54:00:aa:bb:cc" in xml
        assert "<boot order='1'/>" in xml
        assert await libvirt_call(app, guest_active("pxe-installer")) is False


@async_test
async def test_injected_start_failure_is_rolled_back(demo_app, tmp_path, monkeypatch):
    real_create = libvirt.virDomain.create
    calls = []

    def create(dom):
        calls.append(dom.name())
        if dom.name() == "ci-runner-01" and calls.count("ci-runner-01") == 1:
            # INJECTED: the test driver never runs out of VFs
            raise injected_error("internal error: network 'sriov-pool-a' requires exclusive access "
                                 "to interfaces, but none are available (INJECTED)")
        return real_create(dom)

    monkeypatch.setattr(libvirt.virDomain, "create", create)
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        original = await libvirt_call(app, guest_xml("ci-runner-01"))
        await mark(pilot, screen, "ci-runner-01")
        progress = await review_and_confirm(pilot, screen)
        out = progress.outcome.of("ci-runner-01")
        assert out.result is Result.ROLLED_BACK and "INJECTED" in out.message
        assert progress.query_one("#progress", KeyedTable).get_row("ci-runner-01")[2].plain.strip() == "rolled back"
        summary = static_text(progress.query_one("#summary"), width=200)
        assert "1 rolled back" in summary and "original XML:" in summary and out.backup in summary
        assert calls.count("ci-runner-01") == 2  # the failed start, then the restart of the original
        assert await libvirt_call(app, guest_xml("ci-runner-01")) == original
        assert await libvirt_call(app, guest_active("ci-runner-01")) is True


@async_test
async def test_unfinished_journal_record_is_offered_and_rolled_back(demo_app, tmp_path):
    from vfpool_tui.core.conversion.journal import Journal

    jdir = tmp_path / "journal"
    app = demo_app(journal_dir=jdir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        await wait_until(pilot, lambda: app.status.connected and not app.status.scanning)
        original = await libvirt_call(app, guest_xml("pxe-installer"))
        uuid = await libvirt_call(app, lambda conn: conn.lookupByName("pxe-installer").UUIDString())
        # an interrupted conversion: begun (originals on disk), never finished
        unfinished_pxe_installer(jdir, uuid, original)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, JournalScreen))
        table = app.screen.query_one("#journal", KeyedTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        assert table.get_row(table.shown_keys[0])[0].plain == "pxe-installer"
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.focused.id == "cancel"
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen))
        progress = app.screen
        await wait_until(pilot, lambda: progress.finished, timeout=30)
        assert progress.outcome.of("pxe-installer").result is Result.ROLLED_BACK
        assert not Journal(jdir).unfinished()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JournalScreen))
        await wait_until(pilot, lambda: app.screen.query_one("#journal", KeyedTable).row_count == 0)


def test_readonly_session_cannot_open_it(demo_app):
    import asyncio

    async def run():
        app = demo_app(readonly=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_scans(pilot)
            await pilot.press("c")
            await pilot.pause()
            assert not isinstance(app.screen, ConvertScreen)

    asyncio.run(run())


def test_progress_snapshot_at_the_end_of_a_run(snap_compare, demo_app, monkeypatch):
    import time
    import types

    from vfpool_tui.core.conversion import sequence

    monkeypatch.setattr(ProgressScreen, "clock", staticmethod(lambda: 100.0))  # frozen elapsed
    # the engine's "shut off after N s": its monotonic clock frozen too (the test driver shuts a
    # guest down at once, so no wait depends on this clock advancing)
    monkeypatch.setattr(sequence, "time", types.SimpleNamespace(
        monotonic=lambda: 1000.0, time=time.time, sleep=time.sleep, strftime=time.strftime))

    async def run_before(pilot) -> None:
        screen = await open_convert(pilot)
        await mark(pilot, screen, "ci-runner-01")
        await review_and_confirm(pilot, screen)
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    # the log wraps the journal path, so the log's length (and so its scrollbar thumb) depends on
    # that path's length: pytest's tmp_path varies (pytest-of-USER/pytest-N/...), a mkdtemp name
    # under /tmp with a fixed prefix does not
    journal = Path(tempfile.mkdtemp(prefix="vfpool-snap-", dir="/tmp"))
    try:
        assert snap_compare(demo_app(journal_dir=journal / "journal"), terminal_size=(80, 24),
                            run_before=run_before)
    finally:
        shutil.rmtree(journal, ignore_errors=True)


@async_test
async def test_f_forces_off_a_guest_that_ignores_acpi(demo_app, tmp_path, monkeypatch):
    ignore_acpi(monkeypatch, "ci-runner-01")
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        await mark(pilot, screen, "ci-runner-01")
        progress = await start_run(pilot)
        await wait_until(pilot, lambda: progress.rows["ci-runner-01"].waiting_shutdown)
        table = progress.query_one("#progress", KeyedTable)
        assert table.get_row("ci-runner-01")[2].plain == "waiting (f)"
        table.focus()
        await pilot.press("f")
        await wait_until(pilot, lambda: progress.finished, timeout=30)
        messages = [ev.message for ev in progress.rows["ci-runner-01"].events]
        assert any("forcing it off (destroy) on request" in m for m in messages)
        assert progress.outcome.of("ci-runner-01").result is Result.CONVERTED
        assert await libvirt_call(app, guest_active("ci-runner-01")) is True


@async_test
async def test_escape_asks_then_stops_at_the_next_safe_point(demo_app, tmp_path, monkeypatch):
    ignore_acpi(monkeypatch, "ci-runner-01")
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        original = await libvirt_call(app, guest_xml("ci-runner-01"))
        await mark(pilot, screen, "ci-runner-01")
        progress = await start_run(pilot)
        await wait_until(pilot, lambda: progress.rows["ci-runner-01"].waiting_shutdown)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.focused.id == "cancel"  # "Keep going"
        assert "next safe point" in static_text(app.screen.query_one("#body"), width=200)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is progress)
        assert not progress.cancel.is_set()
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("right", "enter")
        # the ACPI request is out: the engine waits for the power-off rather than leave it half-way;
        # f forces it, then it is started again with its original definition
        await wait_until(pilot, lambda: any("stop requested" in ev.message
                                            for ev in progress.rows["ci-runner-01"].events))
        assert not progress.finished and progress.rows["ci-runner-01"].waiting_shutdown
        progress.query_one("#progress", KeyedTable).focus()
        await pilot.press("f")
        await wait_until(pilot, lambda: progress.finished, timeout=30)
        assert progress.outcome.cancelled
        assert progress.outcome.of("ci-runner-01").result is Result.ROLLED_BACK
        assert await libvirt_call(app, guest_xml("ci-runner-01")) == original
        assert await libvirt_call(app, guest_active("ci-runner-01")) is True
        assert "Stopped (cancelled)" in static_text(progress.query_one("#summary"), width=200)


@async_test
async def test_an_unfinished_conversion_is_offered_at_startup(demo_app, tmp_path):
    """An earlier run died mid-conversion: the next launch offers resume / roll back by itself."""
    from vfpool_tui.core.virt.connection import open_connection
    from vfpool_tui.demo import demo_uri

    conn = open_connection(demo_uri())  # a separate copy of the demo node: same guests, same UUIDs
    try:
        dom = conn.lookupByName("pxe-installer")
        original, uuid = dom.XMLDesc(INACTIVE), dom.UUIDString()
    finally:
        conn.close()
    jdir = tmp_path / "journal"
    unfinished_pxe_installer(jdir, uuid, original)
    app = demo_app(journal_dir=jdir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, JournalScreen))  # no key pressed
        table = app.screen.query_one("#journal", KeyedTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        assert table.get_row(table.shown_keys[0])[0].plain == "pxe-installer"


@async_test
async def test_the_demos_private_journal_is_removed_on_exit(demo_app):
    app = demo_app()  # --demo without --journal-dir: a private temporary journal
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.settings.journal_dir is not None)
        jdir = app.settings.journal_dir
        assert jdir.is_dir() and oct(jdir.stat().st_mode & 0o777) == "0o700"
    assert not jdir.exists()


@async_test
async def test_the_stop_dialog_goes_when_the_run_finishes_under_it(demo_app, tmp_path, monkeypatch):
    ignore_acpi(monkeypatch, "ci-runner-01")
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_convert(pilot)
        await mark(pilot, screen, "ci-runner-01")
        progress = await start_run(pilot)
        await wait_until(pilot, lambda: progress.rows["ci-runner-01"].waiting_shutdown)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        # the guest powers off while the question is open (forced here, as f would): the run ends
        progress.engine.force("ci-runner-01")
        await wait_until(pilot, lambda: progress.finished, timeout=30)
        # no "Stop the conversion?" over a run that shows Finished
        await wait_until(pilot, lambda: app.screen is progress)
        assert "Finished." in static_text(progress.query_one("#progress-status"), width=200)
        assert not progress.cancel.is_set()
        assert progress.outcome.of("ci-runner-01").result is Result.CONVERTED
        assert any("finished before it was stopped" in n.message for n in app._notifications)
        await pilot.press("escape")  # closes the finished run, asks nothing
        await wait_until(pilot, lambda: app.screen is screen)


@async_test
async def test_keys_typed_for_a_mac_go_into_the_mac_field_never_to_the_app(demo_app, tmp_path):
    from textual.command import CommandPalette

    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        await mark(pilot, screen, "pxe-installer")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: bool(screen.query("MacField Input")))
        field = screen.query_one("MacField Input", Input)
        # Tab from the guests: the pool list, then the MAC field (the plan pane is not a stop
        # while it has fields: keys typed there went to the screen and the app)
        screen.query_one("#candidates").focus()
        await pilot.press("tab", "tab")
        assert field.has_focus and not screen.query_one("#plan-box").can_focus
        await pilot.press(*"52:54:00:aa:bb:cc")  # ':' is the palette key, 'a' allows another PF
        assert field.value == "52:54:00:aa:bb:cc"
        assert app.screen is screen and not isinstance(app.screen, CommandPalette)
        assert screen.allow_other_pf  # 'a' did not toggle it back
        await wait_until(pilot, lambda: not screen.planning and screen.plan is not None
                         and screen.plan.guests[0].macs == (("0000:03:10.3", "52:54:00:aa:bb:cc"),))


# --------------------------------------------------------------------------- issue 12: the picker


def candidate_names(screen: ConvertScreen) -> dict[str, str]:
    """{guest: its Note cell} of the pick table, in table order."""
    table = screen.query_one("#candidates", KeyedTable)
    return {table.get_row(k)[1].plain: table.get_row(k)[-1].plain for k in table.shown_keys}


def define_pool(name: str, pf: str):
    """A pool network over PF, defined and started through the app's own connection."""
    xml = (f"<network><name>{name}</name><forward mode='hostdev' managed='yes'><pf dev='{pf}'/>"
           "</forward></network>")

    def run(conn):
        conn.networkDefineXML(xml).create()
    return run


@async_test
async def test_unconvertible_guests_are_listed_dimmed_with_the_reason(demo_app, tmp_path):
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_convert(pilot)
        notes = candidate_names(screen)
        assert notes["ml-train"] == "no VF to convert: its PCI passthrough (0000:af:00.0) is not an SR-IOV VF"
        assert notes["web01"] == "its VFs already come from pool 'sriov-pool-a'"
        assert notes["pxe-installer"] == "VF on enp3s0f1: no pool over it"  # markable, a asks
        names = list(notes)
        assert names.index("ml-train") > names.index("pxe-installer")  # after the candidates
        table = screen.query_one("#candidates", KeyedTable)
        table.focus()
        table.move_cursor(row=names.index("ml-train"))
        await pilot.press("space")
        await pilot.pause()
        assert screen.marked == set()  # refused, with the reason (a notification)


@async_test
async def test_c_from_the_guests_view_marks_the_guest_under_the_cursor(demo_app, tmp_path):
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        await wait_until(pilot, lambda: app.status.connected and not app.status.scanning)
        await pilot.press("g")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "GuestsScreen")
        guests = app.screen.query_one("#guests", KeyedTable)
        key = next(k for k in guests.shown_keys if guests.get_row(k)[0].plain.strip().endswith("ci-runner-01")
                   or "ci-runner-01" in " ".join(c.plain for c in guests.get_row(k)))
        guests.move_cursor(row=guests.shown_keys.index(key))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConvertScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.marked == {key} and screen.plan is not None)
        assert [g.guest for g in screen.plan.guests] == ["ci-runner-01"]
        assert screen.query_one("#candidates", KeyedTable).current_key == key


@async_test
async def test_another_pf_is_asked_per_guest_each_time(demo_app, tmp_path):
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        await mark(pilot, screen, "pxe-installer")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: bool(screen.other_pf_allowed) and not screen.planning
                         and screen.plan is not None and not screen.plan.refused)
        await mark(pilot, screen, "legacy-app-clone")  # a VF on the same other PF: not allowed by the first answer
        assert [r.guest for r in screen.plan.refused] == ["legacy-app-clone"]
        await mark(pilot, screen, "pxe-installer")  # unmarked: its answer goes with it
        await mark(pilot, screen, "pxe-installer")
        assert sorted(r.guest for r in screen.plan.refused) == ["legacy-app-clone", "pxe-installer"]


@async_test
async def test_the_confirm_dialog_repeats_the_reviews_warnings(demo_app, tmp_path):
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        await mark(pilot, screen, "pxe-installer")  # boots from its bare hostdev, MAC unknown
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: not screen.planning and screen.plan is not None and not screen.plan.refused)
        assert screen.plan.guests[0].boot_warnings
        screen.query_one("#candidates").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = static_text(app.screen.query_one("#review-plan"), width=300)
        assert "<boot order='1'/>" in review and "DHCP/PXE reservation" in review
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = static_text(app.screen.query_one("#body"), width=300)
        assert "Warnings (from the review)" in body
        assert "pxe-installer: 0000:03:10.3: the guest boots from this device (<boot order='1'/>)" in body
        assert "DHCP/PXE reservation for its old MAC no longer matches" in body
        assert app.screen.focused.id == "cancel"


@async_test
async def test_a_guest_on_two_pfs_goes_onto_a_pool_per_device(demo_app, tmp_path):
    from vfpool_tui.tui.screens.convert_devices import DevicePoolsScreen

    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_convert(pilot)
        await libvirt_call(app, define_pool("wan", "enp3s0f1"))
        await libvirt_call(app, define_pool("lan", "enp134s0f0np0"))
        n = app.scans_applied
        app.request_scan("test")
        await wait_until(pilot, lambda: app.scans_applied > n and {"wan", "lan"} <= {p.name for p in app.scan.pools})
        await wait_until(pilot, lambda: screen._generation == app.generation)
        await mark(pilot, screen, "nfv-router")
        # marked: each device onto the pool over its own PF (its port layout kept)
        assert screen.plan is not None and not screen.plan.refused, screen.plan.refused
        [gp] = screen.plan.guests
        assert dict(gp.targets) == {"0000:86:00.2": "lan", "0000:03:10.1": "wan"}

        # p: the lan device left as it is; only the wan device is converted
        table = screen.query_one("#candidates", KeyedTable)
        table.move_cursor(row=list(candidate_names(screen)).index("nfv-router"))
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, DevicePoolsScreen))
        dialog = app.screen
        lan_row = [u.pci for u in dialog.uses].index("0000:86:00.2")
        dialog.query_one("#devices").highlighted = lan_row
        await pilot.press("left")  # lan -> the last choice: left as it is
        assert dialog.chosen["0000:86:00.2"] is None
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConvertScreen) and not screen.planning
                         and screen.plan is not None and screen.plan.guests
                         and screen.plan.guests[0].sources == ("0000:03:10.1",))
        # and back: both devices, each onto its own pool, through review, confirm and the run
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, DevicePoolsScreen))
        app.screen.query_one("#devices").highlighted = lan_row
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConvertScreen) and not screen.planning
                         and screen.plan is not None and len(screen.plan.guests[0].sources) == 2)
        screen.query_one("#candidates").focus()
        progress = await review_and_confirm(pilot, screen)
        out = progress.outcome.of("nfv-router")
        assert out.result is Result.CONVERTED, out.message
        xml = await libvirt_call(app, guest_xml("nfv-router"))
        from libvirt_accepts import assert_libvirt_accepts

        assert_libvirt_accepts(xml)
        assert "<source network='wan'/>" in xml and "<source network='lan'/>" in xml


@async_test
async def test_a_finished_conversion_is_reverted_from_the_journal_view(demo_app, tmp_path):
    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_convert(pilot)
        original = await libvirt_call(app, guest_xml("ci-runner-01"))
        await mark(pilot, screen, "ci-runner-01")
        progress = await review_and_confirm(pilot, screen)
        assert progress.outcome.of("ci-runner-01").result is Result.CONVERTED
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConvertScreen))
        await pilot.press("j")
        await wait_until(pilot, lambda: isinstance(app.screen, JournalScreen))
        journal = app.screen
        table = journal.query_one("#journal", KeyedTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        row = table.get_row(table.shown_keys[0])
        assert row[0].plain == "ci-runner-01" and "v: revert" in row[-1].plain
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.focused.id == "cancel"
        await pilot.press("enter")  # Cancel: nothing happens
        await wait_until(pilot, lambda: app.screen is journal)
        assert await libvirt_call(app, guest_xml("ci-runner-01")) != original
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen))
        progress = app.screen
        await wait_until(pilot, lambda: progress.finished, timeout=30)
        out = progress.outcome.of("ci-runner-01")
        assert out.result is Result.ROLLED_BACK and out.message.startswith("reverted: running"), out.message
        assert await libvirt_call(app, guest_xml("ci-runner-01")) == original
        assert await libvirt_call(app, guest_active("ci-runner-01")) is True
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is journal and table.row_count == 0)
