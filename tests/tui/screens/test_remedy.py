"""Remedies from the troubleshoot view (Pilot, demo host): `f` on a pool offers what fixes its
findings, the plan in a confirmation whose default is Cancel, then the conversion's progress screen.

The grow runs for real against a private sysfs tree whose kernel part (VFs appear when
sriov_numvfs is written) is the demo's emulated kernel; libvirt is the app's own test-driver
connection. Nothing is injected here.
"""

from __future__ import annotations

from textual.widgets import Button

from tui_helpers import async_test, static_text, wait_for_scans, wait_until
from vfpool_tui.core.host import sriov
from vfpool_tui.core.remedy.outcome import RemedyResult
from vfpool_tui.tui.screens.convert_confirm import ConfirmScreen
from vfpool_tui.tui.screens.remedy import PickRemedy, RemedyProgressScreen
from vfpool_tui.tui.screens.troubleshoot import TroubleshootScreen
from vfpool_tui.tui.widgets.keyed_table import KeyedTable

PF = "0000:18:00.1"  # enp24s0f1: 0 of 64 VFs; pool sriov-pool-novfs over it (inactive)


async def _troubleshoot_on(pilot, pool: str) -> TroubleshootScreen:
    await wait_for_scans(pilot)
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, TroubleshootScreen)
                     and pilot.app.screen.query_one("#ts-pools", KeyedTable).row_count > 0)
    screen = pilot.app.screen
    table = screen.query_one("#ts-pools", KeyedTable)
    table.focus()
    table.select_key(pool)
    await wait_until(pilot, lambda: screen.pool_name == pool)
    return screen


def _sysfs(tmp_path):
    from vfpool_tui.demo.kernel import SriovEmulator

    root = tmp_path / "sys"
    dev = root / "bus" / "pci" / "devices" / PF
    dev.mkdir(parents=True)
    for name, value in (("sriov_numvfs", "0"), ("sriov_totalvfs", "64"), ("sriov_offset", "79"),
                        ("sriov_stride", "1")):
        (dev / name).write_text(value + "\n")
    return root, SriovEmulator(root, interval=0.02).start()


@async_test
async def test_grow_from_the_troubleshoot_view_previews_confirms_and_runs(demo_app, tmp_path):
    root, kernel = _sysfs(tmp_path)
    try:
        app = demo_app(sysfs_root=str(root), udev_root=str(tmp_path / "root"))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _troubleshoot_on(pilot, "sriov-pool-novfs")
            text = " ".join(static_text(screen.query_one("#ts-findings"), width=200).split())
            assert "Fix (f): grow enp24s0f1 from 0 to 1 VFs · release 1 leaked VF to the host driver" in text
            # f: the two remedies; Enter on the first (grow): its plan, Cancel focused
            await pilot.press("f")
            await wait_until(pilot, lambda: isinstance(app.screen, PickRemedy))
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            confirm = app.screen
            assert isinstance(confirm.focused, Button) and confirm.focused.id == "cancel"
            body = static_text(confirm.query_one("#body"), width=200)
            assert f"write 1 to {root}/bus/pci/devices/{PF}/sriov_numvfs" in body
            assert "vfpool-tui remedy grow-pf enp24s0f1 --numvfs 1" in body
            await pilot.press("enter")  # Cancel: nothing changes
            await wait_until(pilot, lambda: isinstance(app.screen, TroubleshootScreen))
            assert sriov.read_numvfs(PF, str(root)) == 0
            # again, and this time "Do it"
            await pilot.press("f")
            await wait_until(pilot, lambda: isinstance(app.screen, PickRemedy))
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("right", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, RemedyProgressScreen))
            progress = app.screen
            await wait_until(pilot, lambda: progress.finished, timeout=30)
            assert progress.error is None and progress.outcome.result is RemedyResult.DONE, progress.outcome
            assert sriov.read_numvfs(PF, str(root)) == 1 and sriov.present_vfs(PF, str(root)) == 1
            rows = progress.query_one("#progress", KeyedTable)
            assert "PF enp24s0f1" in rows.shown_keys
            summary = static_text(progress.query_one("#summary"), width=200)
            assert summary.startswith("done: Grow enp24s0f1 (0000:18:00.1) from 0 to 1 VFs")
            assert "journal: " in summary and "/remedies/" in summary
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, TroubleshootScreen))
    finally:
        kernel.stop()


@async_test
async def test_readonly_refuses_a_remedy_in_one_line(demo_app):
    app = demo_app(readonly=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await _troubleshoot_on(pilot, "sriov-pool-novfs")
        await pilot.press("f")
        await pilot.pause()
        assert not isinstance(app.screen, (PickRemedy, ConfirmScreen))
        messages = [n.message for n in app._notifications]
        assert messages == ["A remedy needs a read-write connection: this session is read-only (--readonly)."]
