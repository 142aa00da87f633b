"""Names and XML from libvirt are shown verbatim: never read as markup, non-ASCII kept."""

from __future__ import annotations

from vfpool_tui.core.model import Guest, Scan, UseKind, VfUse
from vfpool_tui.tui.messages import LibvirtEvent
from vfpool_tui.tui.screens.details import DetailsScreen
from vfpool_tui.tui.screens.guests import GuestsScreen
from vfpool_tui.tui.widgets.keyed_table import KeyedTable

from tui_helpers import async_test, static_text, wait_for_scans, wait_until

NASTY = "[bold]x[/]"
UNICODE = "db-ünïcode-漢字"


def _scan(host) -> Scan:
    vf = host.pfs[0].vfs[0]
    use = VfUse(guest=NASTY, guest_uuid="u-1", kind=UseKind.HOSTDEV, pci=vf.pci, active=True,
                xml=f"<hostdev mode='subsystem' type='pci'><!-- {NASTY} --></hostdev>")
    return Scan(host=host, guests=(
        Guest(name=NASTY, uuid="u-1", state="running", active=True, persistent=True, autostart=False,
              vf_uses=(use,)),
        Guest(name=UNICODE, uuid="u-2", state="shut off", active=False, persistent=True, autostart=None,
              vf_uses=(VfUse(guest=UNICODE, guest_uuid="u-2", kind=UseKind.POOL, pci=None, active=False,
                             network="p[red]ool"),)),
    ), uri="test:///fixture")


@async_test
async def test_guest_names_render_verbatim(demo_app, demo_host):
    app = demo_app(scanner=lambda conn: _scan(demo_host), use_libvirt=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_scans(pilot)
        vfs = app.screen.query_one("#vfs", KeyedTable)
        assert vfs.get_cell(demo_host.pfs[0].vfs[0].pci, "holder").plain == NASTY
        app.post_message(LibvirtEvent("domain", NASTY, "started"))
        await pilot.pause(0.2)
        assert f"domain {NASTY} started" in app.status.last_event
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, GuestsScreen))
        guests = app.screen.query_one("#guests", KeyedTable)
        await wait_until(pilot, lambda: guests.row_count == 2)
        names = [guests.get_row(k)[0].plain.strip() for k in guests.shown_keys]
        assert names == [NASTY, UNICODE]
        svg = app.export_screenshot()
        # the nine characters, not a bold "x"; the non-ASCII name as itself (SVG uses &#160; for spaces)
        assert "[bold]x[/]" in svg and "漢字" in svg
        guests.select_key("u-1")
        await pilot.press("d")
        assert isinstance(app.screen, DetailsScreen)
        text = static_text(*app.screen.query("Static"))
        assert f"<!-- {NASTY} -->" in text and NASTY in text


def test_control_characters_are_escaped():
    from vfpool_tui.tui.view import cell

    assert cell("a\nb\x1b[31m").plain == "a\\x0ab\\x1b[31m"


def test_a_very_long_guest_name_is_cut_in_tables_not_in_details():
    """One 200-character name must not push every other column off an 80-column screen."""
    from vfpool_tui.core.model import Host
    from vfpool_tui.tui.view import NAME_MAX, Index, guest_rows, safe

    name = "[b]" + "x" * 197
    g = Guest(name, "u-long", "running", True, True, False,
              (VfUse(name, "u-long", UseKind.HOSTDEV, "0000:03:10.0", True),))
    row = guest_rows(Index(Scan(Host(), (g,))))[0]
    shown = row.cells[0].plain
    assert len(shown) == NAME_MAX + 2 and shown.endswith("…") and shown[2:].startswith("[b]xxx")
    assert safe(name) == name  # the whole name is still what details show
