"""The troubleshoot view on the demo host: pools worst first with capacity versus use, who waits /
blocks / holds, findings with what to do, `w` why for a guest, `e` libvirt's pasted error, `c` to
the conversion screen on a blocking guest, refresh on a new scan; one snapshot at 80x24."""

from __future__ import annotations

from textual import events
from textual.widgets import Input, TextArea

from tui_helpers import async_test, static_text, wait_for_scans, wait_until
from vfpool_tui.tui.screens.problems import ProblemsScreen
from vfpool_tui.tui.screens.troubleshoot import TroubleshootScreen
from vfpool_tui.tui.screens.why import WhyScreen
from vfpool_tui.tui.widgets.keyed_table import KeyedTable

EXHAUSTED = ("internal error: network 'sriov-pool-b' requires exclusive access to interfaces, "
             "but none are available")


def _plain(table: KeyedTable, key: str, column: str) -> str:
    return table.get_cell(key, column).plain


def _who(screen: TroubleshootScreen) -> list[tuple[str, str, str]]:
    table = screen.query_one("#ts-who", KeyedTable)
    return [(_plain(table, k, "role"), _plain(table, k, "guest"), _plain(table, k, "vf"))
            for k in table.shown_keys]


def _findings(screen) -> str:
    """The findings pane's text, its wrapped lines joined (spaces collapsed)."""
    return " ".join(static_text(*screen.query("#ts-findings, #why-findings"), width=200).split())


async def _open(pilot) -> TroubleshootScreen:
    await wait_for_scans(pilot)
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, TroubleshootScreen)
                     and pilot.app.screen.query_one("#ts-pools", KeyedTable).row_count > 0)
    return pilot.app.screen


async def _pool(pilot, screen: TroubleshootScreen, name: str) -> None:
    pools = screen.query_one("#ts-pools", KeyedTable)
    pools.focus()
    pools.select_key(name)
    await wait_until(pilot, lambda: screen.pool_name == name)


async def _guest(pilot, screen: TroubleshootScreen, role: str, guest: str) -> None:
    """Focus the guest table with the cursor on ``guest``'s ``role`` row."""
    who = screen.query_one("#ts-who", KeyedTable)
    await pilot.press("enter")  # from the pools table into its guests
    await wait_until(pilot, lambda: who.has_focus)
    key = next(k for k, w in screen.who.items() if w.role == role and w.guest == guest)
    who.select_key(key)
    await pilot.pause()


@async_test
async def test_t_opens_pools_worst_first_with_capacity_and_use(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        pools = screen.query_one("#ts-pools", KeyedTable)
        assert pools.has_focus
        # the pool where a waiting guest cannot start comes first; inactive ones stand out in words
        assert pools.shown_keys == ["sriov-pool-b", "sriov-pool-gone", "sriov-pool-novfs", "sriov-pool-a"]
        b = {c: _plain(pools, "sriov-pool-b", c)
             for c in ("status", "used", "free", "blocked", "waiting", "short", "pf")}
        assert b == {"status": "SHORT", "used": "7/8", "free": "1", "blocked": "0", "waiting": "2",
                     "short": "1", "pf": "8/64 +56"}
        assert _plain(pools, "sriov-pool-gone", "status") == "INACTIVE"
        assert _plain(pools, "sriov-pool-novfs", "status") == "INACTIVE"
        assert _plain(pools, "sriov-pool-a", "status") == "BLOCKED"
        assert _plain(pools, "sriov-pool-gone", "used") == "0/?"
        # the worst pool is selected: who waits, who holds, the findings with what to do
        assert screen.pool_name == "sriov-pool-b"
        who = _who(screen)
        assert who[:2] == [("◇ waits", "app-08", "needs one"), ("◇ waits", "app-09", "needs one")]
        assert [w[1] for w in who if w[0] == "● holds"] == [f"app-0{i}" for i in range(1, 8)]
        text = _findings(screen)
        assert "7 of 8 in use, 1 free; 2 shut-off guests waiting: short by 1" in text
        assert "8 of 64 VFs enabled, room for 56 more" in text
        assert "Pool sriov-pool-b has 1 free VF(s) for 2 shut-off guests configured on it." in text
        assert "→ Start the guests that matter first, or add capacity." in text
        # an inactive pool explains itself from the scan's problems
        await _pool(pilot, screen, "sriov-pool-novfs")
        text = _findings(screen)
        assert "INACTIVE" in text and "pool-pf-no-vfs" in text and "Enable VFs" in text

        # the problems view stays on p; t comes back to the same place
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ProblemsScreen))
        await pilot.press("t")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.pool_name == "sriov-pool-novfs"
        # Esc from the pools table: back to the host view
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.current_mode == "host")


@async_test
async def test_the_troubleshoot_task_on_the_host_view_opens_it(demo_app):
    from textual.widgets import OptionList

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        tasks = app.screen.query_one("#tasks", OptionList)
        tasks.focus()
        tasks.highlighted = [o.id for o in tasks.options].index("troubleshoot")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TroubleshootScreen))


@async_test
async def test_pool_a_shows_the_hard_coded_guest_blocking_a_pool_vf(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await _pool(pilot, screen, "sriov-pool-a")
        who = _who(screen)
        assert ("■ blocks", "ci-runner-01", "0000:03:11.0") in who
        assert ("◇ waits", "db-ünïcode", "needs one") in who
        # a holder whose VF libvirt does not say: "unknown"; names verbatim, not markup
        assert ("● holds", "web[bold]01", "unknown") in who
        text = _findings(screen)
        assert "1 VF of sriov-pool-a is also hard-coded in a running guest." in text
        assert ("→ Convert ci-runner-01 to sriov-pool-a (vfpool-tui convert --network sriov-pool-a "
                "ci-runner-01).") in text
        assert "c on a ■ blocks row" in text
        # the blocker's own finding names the same VF: not repeated
        assert "is hard-coded in ci-runner-01 and also in pool" not in text


@async_test
async def test_w_on_a_waiting_guest_shows_why_it_does_not_start(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await _guest(pilot, screen, "waits", "app-09")
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WhyScreen))
        why = app.screen
        assert why.query_one("#why-guest", Input).value == "app-09"
        text = _findings(why)
        assert "▲ warning Pool sriov-pool-b has 1 free VF(s) for 2 shut-off guests" in text
        assert "Whichever guests start first get the VFs" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.query_one("#ts-who", KeyedTable).has_focus


@async_test
async def test_pasted_libvirt_error_is_explained(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await _guest(pilot, screen, "waits", "app-09")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, WhyScreen)
                         and isinstance(app.focused, TextArea))
        why = app.screen
        app.post_message(events.Paste(EXHAUSTED))  # as the terminal delivers a bracketed paste
        await wait_until(pilot, lambda: why.error.strip() == EXHAUSTED)
        text = _findings(why)
        assert "libvirt's message means: the pool sriov-pool-b had no free VF" in text
        assert "(pool-exhausted)" in text
        assert "✖ error libvirt found no free VF in pool sriov-pool-b (now: 7 of 8 in use, 1 free)." in text
        assert "Running guests holding its VFs: app-01, app-02" in text
        assert "→ The PF has 8 of 64 VFs enabled: enabling more (sriov_numvfs)" in text
        assert "→ Shut down a guest that holds a VF from this pool" in text


@async_test
async def test_error_without_a_guest_and_a_guest_name_completed_verbatim(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        # e on the pools table: no guest yet, libvirt's message alone
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, WhyScreen))
        why = app.screen
        assert why.query_one("#why-guest", Input).value == ""
        app.post_message(events.Paste(EXHAUSTED))
        await wait_until(pilot, lambda: why.error.strip() == EXHAUSTED)
        text = _findings(why)
        assert "(pool-exhausted)" in text and "sriov-pool-b: 7 of 8 in use" in text
        assert "Type the guest that failed to start" in text
        # the guest's name, completed from the scan (→ accepts the suggestion), shown verbatim
        why.query_one("#why-guest", Input).focus()
        await pilot.press(*"web[")
        await pilot.press("right")
        await wait_until(pilot, lambda: why.guest == "web[bold]01")
        text = _findings(why)
        assert "web[bold]01 is running and holds a VF of sriov-pool-a" in text
        # the box title carries the name as text, not markup
        assert why.query_one("#why-box")._border_title.plain == "Why does web[bold]01 not start?"
        # an unknown name is said so
        why.query_one("#why-guest", Input).value = "nope"
        await wait_until(pilot, lambda: "No guest named nope" in _findings(why))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)


@async_test
async def test_c_on_a_blocking_guest_opens_the_converter_with_it_marked_and_the_pool_chosen(demo_app, tmp_path):
    from vfpool_tui.tui.screens.convert import ConvertScreen

    app = demo_app(journal_dir=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await _pool(pilot, screen, "sriov-pool-a")
        await _guest(pilot, screen, "blocks", "ci-runner-01")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConvertScreen))
        cands = app.screen.query_one("#candidates", KeyedTable)
        uuid = app.index.guest_by_name["ci-runner-01"].uuid
        await wait_until(pilot, lambda: cands.current_key is not None)
        conv = app.screen
        assert conv.marked == {uuid} and conv.target == "sriov-pool-a"
        assert _plain(cands, uuid, "mark") == "✓"
        # the converter's own plan takes it: nothing refused
        await wait_until(pilot, lambda: conv.plan is not None and not conv.planning)
        assert [g.guest for g in conv.plan.guests] == ["ci-runner-01"] and not conv.plan.refused


@async_test
async def test_c_is_disabled_when_read_only(demo_app):
    app = demo_app(readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        assert screen.check_action("convert", ()) is None
        assert screen.active_bindings["c"].enabled is False


@async_test
async def test_a_new_scan_redraws_the_view(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        pools = screen.query_one("#ts-pools", KeyedTable)
        scans = app.scans_applied
        # app-03 stops (on the app's libvirt thread): its VF frees, and it now waits too
        app.backend.call(lambda conn: conn.lookupByName("app-03").destroy())
        await wait_until(pilot, lambda: app.scans_applied > scans
                         and _plain(pools, "sriov-pool-b", "used") == "6/8")
        assert _plain(pools, "sriov-pool-b", "free") == "2"
        assert _plain(pools, "sriov-pool-b", "waiting") == "3"
        assert _plain(pools, "sriov-pool-b", "short") == "1"
        assert ("◇ waits", "app-03", "needs one") in _who(screen)
        assert "6 of 8 in use, 2 free; 3 shut-off guests waiting" in _findings(screen)
        assert pools.current_key == "sriov-pool-b"


def test_snapshot(snap_compare, demo_app):
    async def run_before(pilot) -> None:
        await wait_for_scans(pilot)
        await wait_until(pilot, lambda: not pilot.app.status.scanning and pilot.app.status.connected)
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TroubleshootScreen)
                         and pilot.app.screen.pool_name == "sriov-pool-b"
                         and pilot.app.screen.query_one("#ts-who", KeyedTable).row_count == 9)
        # the cursor row painted by a key press (as test_snapshots does for the host view)
        await pilot.press("down", "up")
        await wait_until(pilot, lambda: pilot.app.screen.pool_name == "sriov-pool-b")
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=run_before)


IN_USE = ("Requested operation is not valid: PCI device 0000:03:10.5 is in use by driver QEMU, "
          "domain legacy-app")


async def _why(pilot, guest: str = "") -> WhyScreen:
    pilot.app.action_why(guest)
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, WhyScreen))
    return pilot.app.screen


@async_test
async def test_w_focuses_the_error_box_and_nothing_typed_is_lost(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await _guest(pilot, screen, "waits", "app-09")
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WhyScreen))
        why = app.screen
        area = why.query_one("#why-error", TextArea)
        assert area.has_focus  # typed or pasted text lands in the error box
        await pilot.press(*"no VF")
        assert area.text == "no VF" and why.guest == "app-09"
        # Tab on to the Guest field: it does not select the name, so a paste there adds to it,
        # and a paste that is libvirt's error goes to the error box, the name stays
        field = why.query_one("#why-guest", Input)
        field.focus()
        await pilot.pause()
        assert field.selection.is_empty
        app.post_message(events.Paste(EXHAUSTED))
        await wait_until(pilot, lambda: area.text == EXHAUSTED and area.has_focus)
        assert field.value == "app-09" and why.guest == "app-09"
        assert "libvirt found no free VF in pool sriov-pool-b" in _findings(why)
        # a paste that is not an error goes into the field once, where the cursor is
        field.focus()
        await pilot.pause()
        app.post_message(events.Paste("-x"))
        await wait_until(pilot, lambda: field.value != "app-09")
        assert field.value == "app-09-x"


@async_test
async def test_an_error_is_never_explained_for_another_guest(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot)
        why = await _why(pilot, "legacy-app-clone")
        app.post_message(events.Paste(IN_USE))
        await wait_until(pilot, lambda: why.error.strip() == IN_USE)
        text = _findings(why)
        assert "VF 0000:03:10.5 is in use by legacy-app" in text and "not applied" not in text
        # the Guest field changes: the error was legacy-app-clone's, it is not old-vm's
        why.query_one("#why-guest", Input).value = "old-vm"
        await wait_until(pilot, lambda: why.guest == "old-vm")
        text = _findings(why)
        assert "That error was entered for legacy-app-clone: not applied to old-vm" in text
        assert "0000:03:10.5 is in use" not in text.split("not applied to old-vm")[1]
        assert "old-vm hard-codes VF 0000:03:11.1, which this host does not have" in text
        await pilot.press("escape")


@async_test
async def test_the_domain_libvirt_names_decides_whose_error_it_is(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot)
        # pasted with no guest: libvirt says legacy-app holds the VF, so the failed start is the
        # other guest's that hard-codes it
        why = await _why(pilot)
        app.post_message(events.Paste(IN_USE))
        await wait_until(pilot, lambda: why.guest == "legacy-app-clone")
        assert why.query_one("#why-guest", Input).value == "legacy-app-clone"
        assert "VF 0000:03:10.5 is in use by legacy-app" in _findings(why)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, WhyScreen))
        # pasted for a guest it cannot be about: said so, not applied
        for guest, said in (("legacy-app", "it says legacy-app holds VF 0000:03:10.5: it is the error "
                                           "of another guest's start"),
                            ("old-vm", "it names VF 0000:03:10.5, which old-vm does not use")):
            why = await _why(pilot, guest)
            app.post_message(events.Paste(IN_USE))
            await wait_until(pilot, lambda: why.error.strip() == IN_USE)
            text = _findings(why)
            assert f"libvirt's error is not about {guest}: {said}; not applied." in text
            assert "It may be the error of legacy-app-clone." in text
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, WhyScreen))
