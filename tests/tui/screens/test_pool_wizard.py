"""The pool wizard (`n`) on the demo host: pick, enable VFs, name, review, confirm, steps, result.

The app runs as in the other TUI tests: the demo host (discovered under umockdev once per session)
and the real libvirt test driver behind the app's own Backend, so the wizard's steps really define,
autostart and start a network in that connection. The test driver cannot fail a define or a start
over a PF, so those failures are INJECTED at the libvirt boundary (the connection the Backend hands
to ``execute`` is wrapped, only for the test that says so). sysfs writes (enabling VFs) go to a
small fake sysfs tree in tmp_path, never to /sys.
"""

from __future__ import annotations

import asyncio

import libvirt
import pytest
from textual.widgets import DataTable, Input, Static
from tui_helpers import async_test, static_text, wait_for_scans, wait_until

from vfpool_tui.core.pools.create import DEFINE, ENABLE_VFS, START, StepStatus
from vfpool_tui.tui.screens.pool_wizard import NAME, PICK, REVIEW, RUN, VFS, ConfirmCreate, PickStep, PoolWizard

PF_FREE = "0000:03:00.1"  # enp3s0f1: 4 VFs, no pool, VFs hard-coded in guests
PF_POOLED = "0000:03:00.0"  # enp3s0f0: has the pool sriov-pool-a
PF_NO_VFS = "0000:86:00.1"  # enp134s0f1np1: 0 of 8 VFs, no pool


async def call(app, fn, *args):
    """``fn(conn, *args)`` on the app's libvirt thread, awaited without blocking the loop."""
    return await asyncio.wait_for(asyncio.wrap_future(app.backend.call(fn, *args)), 10)


def _network_names(conn):
    return sorted(n.name() for n in conn.listAllNetworks(0))


class Wizard:
    """The wizard as the operator sees it: one screen per step, all sharing one state.

    Attributes of the shared state (``step`` of the step on top, ``plan``, ``result``, ``running`` ...)
    and of the step screen on top (``query_one``, ``check_action`` ...) read through this one object,
    wherever the steps took the operator.
    """

    def __init__(self, app) -> None:
        self.app = app

    @property
    def screen(self) -> PoolWizard:
        return next(s for s in reversed(self.app.screen_stack) if isinstance(s, PoolWizard))

    @property
    def step(self) -> str | None:
        return self.screen.STEP if any(isinstance(s, PoolWizard) for s in self.app.screen_stack) else None

    def __getattr__(self, attr):
        state = self.screen.state
        return getattr(state, attr) if hasattr(state, attr) else getattr(self.screen, attr)


async def open_wizard(pilot) -> Wizard:
    app = pilot.app
    await wait_for_scans(pilot)
    await wait_until(pilot, lambda: app.status.connected and not app.status.scanning)
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(app.screen, PoolWizard))
    return Wizard(app)


async def pick(pilot, wizard: Wizard, pci: str, key: str = "enter") -> None:
    table = wizard.query_one("#pf-table", DataTable)
    table.move_cursor(row=list(wizard.choices).index(pci))
    await pilot.pause()
    await pilot.press(key)
    await pilot.pause()


async def type_into(pilot, wizard: Wizard, selector: str, text: str, keys: bool = False) -> None:
    """Fill a field: key by key with ``keys`` (as typed), else at once (faster; same Changed event)."""
    field = wizard.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.pause()
    if keys:
        await pilot.press(*text)
    else:
        field.value = text
    await pilot.pause()


def text_of(wizard: Wizard, selector: str) -> str:
    return static_text(wizard.query_one(selector, Static), width=200)


async def to_review(pilot, wizard: Wizard) -> None:
    await pilot.press("enter")
    await wait_until(pilot, lambda: wizard.step == REVIEW and not wizard.planning)
    assert wizard.plan is not None, text_of(wizard, "#review-text")


async def confirm(pilot, wizard: Wizard) -> None:
    app = pilot.app
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmCreate))
    assert app.focused.id == "confirm-cancel"  # the default is to change nothing
    await pilot.press("tab")
    assert app.focused.id == "confirm-create"
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, PoolWizard) and wizard.step == RUN
                     and not wizard.running)


@async_test
async def test_create_pool_shows_each_step_and_the_network_is_active_and_autostarted(demo_app):
    app = demo_app()
    seen: list[PoolWizard.StepUpdate] = []

    def hook(message):
        if isinstance(message, PoolWizard.StepUpdate):
            seen.append(message)

    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        wizard = await open_wizard(pilot)
        assert wizard.step == PICK
        await pick(pilot, wizard, PF_FREE)
        assert wizard.step == NAME
        await type_into(pilot, wizard, "#name", "wiz-pool", keys=True)
        preview = text_of(wizard, "#xml-preview")
        assert "<name>wiz-pool</name>" in preview and '<pf dev="enp3s0f1"/>' in preview
        assert 'managed="yes"' in preview
        assert "no network has this name" in text_of(wizard, "#name-why")
        await to_review(pilot, wizard)
        review = text_of(wizard, "#review-text")
        assert "hard-coded in 5 guests" in review and "nfv-router" in review
        assert "does not survive a reboot" in review
        # the udev rule is shown before anything is written, and only written when asked
        rule = text_of(wizard, "#rule-text")
        assert "70-vfpool-0000-03-00.1.rules" in rule and 'ATTR{sriov_numvfs}="4"' in rule
        assert not wizard.plan.persist
        await confirm(pilot, wizard)

        result = wizard.result
        assert result is not None and result.ok, result and result.error
        # each step was reported live, as it started and as it ended
        assert [(m.event.key, m.event.status) for m in seen][:2] == [
            (DEFINE, StepStatus.RUNNING), (DEFINE, StepStatus.DONE)]
        steps = text_of(wizard, "#run-steps")
        assert steps.count("done") == 4 and "FAILED" not in steps
        outcome = text_of(wizard, "#run-outcome")
        assert "'wiz-pool' is active and starts at boot" in outcome
        assert "0000:03:10.7" in outcome and "the PF's VFs in sysfs" in outcome
        assert "<pf dev='enp3s0f1'/>" in outcome  # net-dumpxml, as libvirt wrote it back

        def state(conn):
            net = conn.networkLookupByName("wiz-pool")
            return bool(net.isActive()), bool(net.autostart()), bool(net.isPersistent())

        assert await call(app, state) == (True, True, True)
        # the app rescans by itself and the new pool shows up
        await wait_until(pilot, lambda: any(p.name == "wiz-pool" for p in app.scan.pools))
        await pilot.press("escape")
        assert not isinstance(app.screen, PoolWizard)


@async_test
async def test_taken_or_invalid_name_shows_why_and_blocks(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        await pick(pilot, wizard, PF_FREE)
        await wait_until(pilot, lambda: wizard.taken_known)
        for name, why in (("sriov-pool-b", "a network named 'sriov-pool-b' already exists"),
                          ("default", "a network named 'default' already exists"),  # not a pool
                          ("a/b", "may not contain '/'"),
                          ("", "the network name is empty")):
            await type_into(pilot, wizard, "#name", name)
            assert why in text_of(wizard, "#name-why"), name
            await pilot.press("enter")
            assert wizard.step == NAME, name
        await type_into(pilot, wizard, "#name", "ok-name")
        await type_into(pilot, wizard, "#vlan", "5000")
        assert "out of range" in text_of(wizard, "#vlan-why")
        await pilot.press("enter")
        assert wizard.step == NAME
        await type_into(pilot, wizard, "#vlan", "42")
        assert '<tag id="42"/>' in text_of(wizard, "#xml-preview")
        # Esc goes back one step, then closes
        await pilot.press("escape")
        assert wizard.step == PICK
        await pilot.press("escape")
        assert not isinstance(app.screen, PoolWizard)
        assert "ok-name" not in await call(app, _network_names)


@async_test
async def test_pf_with_a_pool_shows_it_and_offers_no_duplicate(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        # the host view's cursor was on the first PF: the wizard starts there
        assert wizard._highlighted().pf.pci == PF_POOLED
        info = text_of(wizard, "#pf-info")
        assert "Already has a pool: network 'sriov-pool-a'" in info and "none is created" in info
        assert wizard.check_action("next", ()) is None  # shown disabled in the footer
        before = await call(app, _network_names)
        await pilot.press("enter")
        await pilot.press("v")
        assert wizard.step == PICK
        assert await call(app, _network_names) == before


@async_test
async def test_pf_without_vfs_offers_to_enable_them(demo_app, tmp_path):
    sysfs = tmp_path / "sys"
    numvfs = sysfs / "bus" / "pci" / "devices" / PF_NO_VFS / "sriov_numvfs"
    numvfs.parent.mkdir(parents=True)
    numvfs.write_text("0\n")
    (numvfs.parent / "sriov_totalvfs").write_text("8\n")
    # the kernel's part (VFs appear when the count is written) is the demo's emulated kernel
    from vfpool_tui.demo.kernel import SriovEmulator

    kernel = SriovEmulator(sysfs, interval=0.02).start()
    app = demo_app(sysfs_root=str(sysfs), udev_root=str(tmp_path / "root"))
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        await pick(pilot, wizard, PF_NO_VFS)
        assert wizard.step == VFS
        assert "has 0 of 8 VFs enabled" in text_of(wizard, "#vfs-intro")
        assert wizard.query_one("#numvfs", Input).value == "8"
        for value, why in (("9", "at most 8 VFs"), ("0", "at least 1 VF")):
            await type_into(pilot, wizard, "#numvfs", value)
            assert why in text_of(wizard, "#numvfs-why")
            await pilot.press("enter")
            assert wizard.step == VFS
        await type_into(pilot, wizard, "#numvfs", "4")
        assert "enable 4 of 8 VFs" in text_of(wizard, "#numvfs-why")
        await pilot.press("enter")
        assert wizard.step == NAME and "4 VFs (to enable)" in text_of(wizard, "#name-pf")
        await to_review(pilot, wizard)
        assert [s.key for s in wizard.plan.steps][0] == ENABLE_VFS
        # ask for the udev rule too (space on the box), then create; the box's state reads
        # without colour (NO_COLOR): an X when checked, a blank when not
        box = wizard.query_one("#persist")
        assert box.render_line(0).text.startswith("▐ ▌")
        box.focus()
        await pilot.press("space")
        await wait_until(pilot, lambda: wizard.plan is not None and wizard.plan.persist)
        assert box.render_line(0).text.startswith("▐X▌")
        scans: list[str] = []
        real_request = app.request_scan
        app.request_scan = lambda reason: (scans.append(reason), real_request(reason))[1]
        await confirm(pilot, wizard)
        assert wizard.result.ok, wizard.result.error
        assert numvfs.read_text().strip() == "4"
        rule = tmp_path / "root" / "etc/udev/rules.d/70-vfpool-0000-86-00.1.rules"
        assert 'ATTR{sriov_numvfs}="4"' in rule.read_text()
        assert any("4 VFs there after" in e.message for e in wizard.result.events)  # waited for them
        # the result names the new VFs at once (read from sysfs after the write), and the views
        # underneath were asked to rescan as soon as the VFs were there, not only at the end
        vfs = ("0000:86:00.2", "0000:86:00.3", "0000:86:00.4", "0000:86:00.5")
        assert wizard.result.vf_addresses == vfs and wizard.result.vf_source == "sysfs"
        shown = text_of(wizard, "#run-outcome")
        assert "Pool VFs (4, the PF's VFs in sysfs" in shown and all(a in shown for a in vfs)
        assert scans[0] == "VFs enabled" and "pool created" in scans
    kernel.stop()


@async_test
async def test_the_demos_udev_rule_goes_to_its_private_dir_not_etc(demo_app):
    """The issue: the demo wrote /etc/udev/rules.d/70-vfpool-*.rules on the machine running it."""
    from pathlib import Path

    from vfpool_tui.demo import demo_paths

    etc = Path("/etc/udev/rules.d")
    before = sorted(etc.iterdir()) if etc.is_dir() else None
    app = demo_app()  # the demo's own settings: no sysfs or udev root given
    private = demo_paths().private
    assert Path(app.settings.udev_root).is_relative_to(private)
    assert Path(app.settings.sysfs_root).is_relative_to(private)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        await pick(pilot, wizard, PF_FREE)
        await to_review(pilot, wizard)
        wizard.query_one("#persist").focus()
        await pilot.press("space")
        await wait_until(pilot, lambda: wizard.plan is not None and wizard.plan.persist)
        assert str(private) in text_of(wizard, "#rule-text")  # the operator sees where it goes
        await confirm(pilot, wizard)
        assert wizard.result.ok, wizard.result.error
        rule = Path(app.settings.udev_root) / "etc/udev/rules.d/70-vfpool-0000-03-00.1.rules"
        assert 'ATTR{sriov_numvfs}="4"' in rule.read_text()
        assert wizard.plan.rule_path == rule
    assert (sorted(etc.iterdir()) if etc.is_dir() else None) == before


@async_test
async def test_changing_a_count_in_use_is_refused_with_the_guests_named(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        await pick(pilot, wizard, PF_FREE, key="v")
        assert wizard.step == VFS
        intro = text_of(wizard, "#vfs-intro")
        assert "0 is written first, which DESTROYS all 4 current VFs" in intro
        await type_into(pilot, wizard, "#numvfs", "2")
        why = text_of(wizard, "#numvfs-why")
        assert "running guests hold some of them (legacy-app, nfv-router)" in why
        await pilot.press("enter")
        assert wizard.step == VFS
        await type_into(pilot, wizard, "#numvfs", "4")  # the same count: nothing written
        assert "keep 4 VFs" in text_of(wizard, "#numvfs-why")
        await pilot.press("enter")
        assert wizard.step == NAME and wizard.numvfs is None


# --------------------------------------------------------------------------- injected failures


def injected_error(code, message):
    """A libvirtError as libvirt raises it (INJECTED: the test driver cannot produce it here)."""
    err = libvirt.libvirtError(message)
    err.err = (code, libvirt.VIR_FROM_NETWORK, message, libvirt.VIR_ERR_ERROR, None, None, None, 0, 0)
    return err


class _FailingNet:
    def __init__(self, net, fail):
        self._net, self._fail = net, fail

    def __getattr__(self, attr):
        if attr in self._fail:
            def boom(*_a, **_k):
                raise self._fail[attr]
            return boom
        return getattr(self._net, attr)


class InjectingConn:
    """The Backend's real connection, with a define that fails, or networks whose start fails."""

    def __init__(self, conn, define=None, **net_fail):
        self._conn, self._define, self._net_fail = conn, define, net_fail

    def __getattr__(self, attr):
        return getattr(self._conn, attr)

    def networkDefineXMLFlags(self, xml, flags):
        if self._define is not None:
            raise self._define
        return _FailingNet(self._conn.networkDefineXMLFlags(xml, flags), self._net_fail)

    def networkDefineXML(self, xml):
        if self._define is not None:
            raise self._define
        return _FailingNet(self._conn.networkDefineXML(xml), self._net_fail)


FAILURES = [
    pytest.param(dict(define=injected_error(libvirt.VIR_ERR_INTERNAL_ERROR,
                                            "internal error: injected define failure")),
                 DEFINE, "injected define failure", (), id="define"),
    pytest.param(dict(create=injected_error(libvirt.VIR_ERR_INTERNAL_ERROR,
                                            "internal error: No usable Vf's present on SRIOV PF enp3s0f1")),
                 START, "No usable Vf's present", ("undefine network 'wiz-fail'",), id="start"),
]


@pytest.mark.parametrize("inject, step, message, undone", FAILURES)
@async_test
async def test_injected_failure_is_shown_and_leaves_no_network(demo_app, inject, step, message, undone):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        await pick(pilot, wizard, PF_FREE)
        await type_into(pilot, wizard, "#name", "wiz-fail")
        await to_review(pilot, wizard)

        def wrap(_conn):  # on the libvirt thread, like every other use of the connection
            backend = app.backend
            backend._conn = InjectingConn(backend._conn, **inject)

        await call(app, wrap)
        await confirm(pilot, wizard)

        def unwrap(_conn):
            backend = app.backend
            backend._conn = backend._conn._conn

        await call(app, unwrap)
        result = wizard.result
        assert result is not None and not result.ok
        assert result.failed_step == step and not result.left_behind
        steps = text_of(wizard, "#run-steps")
        assert "FAILED" in steps and message in steps
        outcome = text_of(wizard, "#run-outcome")
        assert "Failed:" in outcome and message in outcome
        for title in undone:
            assert f"undo: {title}  undone" in steps
            assert "Nothing this wizard did is left behind" in outcome
        if not undone:
            assert "nothing needed undoing" in outcome
        assert not wizard.query_one("#run-convert").display
        assert "wiz-fail" not in await call(app, _network_names)


@async_test
async def test_readonly_never_reaches_execute(demo_app):
    app = demo_app(readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        await pilot.press("n")  # the app refuses to open it
        await pilot.pause()
        assert not isinstance(app.screen, PoolWizard)
        await app.push_screen(PickStep())  # and the wizard itself refuses, opened any other way
        wizard = Wizard(app)
        await pick(pilot, wizard, PF_FREE)
        await to_review(pilot, wizard)
        assert wizard.check_action("create", ()) is None
        await pilot.press("enter")
        assert not isinstance(app.screen, ConfirmCreate)
        wizard._confirmed(True)
        await pilot.pause()
        assert wizard.step == REVIEW and wizard.result is None and not wizard.running


# --------------------------------------------------------------------------- snapshot


def test_name_and_preview_snapshot(snap_compare, demo_app):
    async def run_before(pilot) -> None:
        wizard = await open_wizard(pilot)
        await pick(pilot, wizard, PF_FREE)
        await wait_until(pilot, lambda: wizard.step == NAME and wizard.taken_known)
        await type_into(pilot, wizard, "#vlan", "100")
        await pilot.pause(0.2)

    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=run_before)
