"""Several hosts in one console (issue 15): the hosts overview, opening and switching hosts, a lost
or slow host beside working ones, and a host read through libvirt's node-device API.

Every host is a generated test-driver node with its node devices (``gen_host.generate(...,
nodedevs=True)``) discovered with ``--discovery libvirt``, the way a remote hypervisor is: the app's
own per-host backends open them, nothing is mocked. The "lost" host is a libvirt URI whose socket
does not exist (libvirt refuses it); the "slow" one is a socket that accepts and never answers
(libvirt's open waits on it), both real libvirt client behaviour.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hosts_support import SilentLibvirtd, generate_hosts
from paths import ROOT
from tui_helpers import FROZEN_TIME, async_test, static_text, wait_until

from vfpool_tui.tui.app import TuiSettings, make_app
from vfpool_tui.tui.screens.guests import GuestsScreen
from vfpool_tui.tui.screens.host import HostScreen
from vfpool_tui.tui.screens.hosts import HostsScreen
from vfpool_tui.tui.widgets.banner import Banner
from vfpool_tui.tui.widgets.keyed_table import KeyedTable




@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> list[str]:
    return generate_hosts(tmp_path_factory.mktemp("hosts"))


@pytest.fixture(scope="module")
def cli_docs(hosts) -> dict[str, dict]:
    """What ``vfpool-tui scan --json`` says of each host (the CLI's own process and connections)."""
    args = [a for u in hosts for a in ("-c", u)]
    res = subprocess.run([sys.executable, "-m", "vfpool_tui", *args, "--discovery", "libvirt", "scan", "--json"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["uri"] for d in docs] == hosts and all(d["discovery"] == "libvirt" for d in docs)
    return dict(zip(hosts, docs))


def hosts_app(uris, **overrides):
    settings = TuiSettings(hosts=tuple(uris), discovery="libvirt", readonly=False, watch_udev=False,
                           clock=lambda: FROZEN_TIME, is_root=False, animate=False, debounce=0.05)
    for k, v in overrides.items():
        setattr(settings, k, v)
    return make_app(settings)


def lost_uri(tmp_path) -> str:
    return f"qemu+unix:///system?socket={tmp_path}/no-such-libvirtd.sock"


async def all_scanned(pilot, keys) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: all(app.sessions[k].scans_applied for k in keys), timeout=30)
    await wait_until(pilot, lambda: isinstance(app.screen, HostsScreen)
                     and app.screen.query_one("#hosts", KeyedTable).row_count == len(app.sessions))


def cells(table: KeyedTable, key: str) -> dict[str, str]:
    return {col: table.get_cell(key, col).plain for col, _ in table_columns()}


def table_columns():
    from vfpool_tui.tui.hosts_view import HOST_COLUMNS

    return HOST_COLUMNS


def expected_row(doc: dict) -> dict[str, str]:
    """The overview's figures worked out from the CLI's scan --json of the same host."""
    pfs = doc["pfs"]
    lo = sum(p["counts"]["free_min"] for p in pfs)
    hi = sum(p["counts"]["free_max"] for p in pfs)
    near = sum(1 for p in doc["pools"] if p["active"] and p["free"] is not None and p["free"] <= 1)
    problems = doc["problem_count"]["total"]
    return {
        "pfs": str(len(pfs)),
        "vfs": str(sum(len(p["vfs"]) for p in pfs)),
        "free": str(lo) if lo == hi else f"{lo}–{hi}",
        "pooled": str(sum(p["counts"]["pooled"] for p in pfs)),
        "hard": str(sum(p["counts"]["hard_coded"] for p in pfs)),
        "near": f"▲{near}" if near else "0",
        "problems": f"!{problems}" if problems else "0",
    }


def vf_guests(doc: dict) -> list[str]:
    """The guests the guests view lists first: those using VFs."""
    return sorted(g["uuid"] for g in doc["guests"] if g["vf_devices"])


def banner_text(app) -> str:
    return static_text(app.screen.query_one(Banner))


@async_test
async def test_overview_figures_equal_the_cli_scan_of_each_host(hosts, cli_docs):
    app = hosts_app(hosts)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current_mode == "hosts"
        await all_scanned(pilot, hosts)
        table = app.screen.query_one("#hosts", KeyedTable)
        assert table.all_keys == hosts  # in the order given
        for i, uri in enumerate(hosts):
            row = cells(table, uri)
            assert row.pop("host") == f"h{i}" and row.pop("state") == "● up"
            assert row == expected_row(cli_docs[uri]), uri
            assert app.sessions[uri].scan.meta["discovery"] == "libvirt"
        # some host has something in each column, so the comparison above is not all zeros
        docs = list(cli_docs.values())
        assert any(expected_row(d)["near"] != "0" for d in docs)
        assert all(int(expected_row(d)["hard"]) and int(expected_row(d)["pooled"]) for d in docs)
        head = banner_text(app)
        assert "3 hosts: ● 3 up" in head
        assert f"{sum(len(d['pfs']) for d in docs)} PFs" in head


@async_test
async def test_enter_opens_a_host_and_keys_switch_hosts(hosts, cli_docs):
    app = hosts_app(hosts)
    async with app.run_test(size=(80, 24)) as pilot:
        await all_scanned(pilot, hosts)
        await pilot.press("n")  # no host is open yet: nothing to create a pool on
        assert isinstance(app.screen, HostsScreen)

        await pilot.press("enter")  # the first row
        await wait_until(pilot, lambda: isinstance(app.screen, HostScreen))
        assert app.current.key == hosts[0]
        pfs = app.screen.query_one("#pfs", KeyedTable)
        assert pfs.all_keys == [p["pci"] for p in cli_docs[hosts[0]]["pfs"]]
        assert "● h0 via libvirt" in banner_text(app)

        await pilot.press("right_square_bracket")  # ]: the next host, same view
        await wait_until(pilot, lambda: app.current.key == hosts[1])
        assert isinstance(app.screen, HostScreen)
        await wait_until(pilot, lambda: pfs.all_keys == [p["pci"] for p in cli_docs[hosts[1]]["pfs"]])
        assert "● h1 via libvirt" in banner_text(app)
        assert app.index.scan.uri == hosts[1]

        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, GuestsScreen))
        guests = app.screen.query_one("#guests", KeyedTable)
        await wait_until(pilot, lambda: sorted(guests.all_keys)
                         == vf_guests(cli_docs[hosts[1]]))
        await pilot.press("left_square_bracket", "left_square_bracket")  # [ [: back past h0 to h2
        await wait_until(pilot, lambda: app.current.key == hosts[2])
        assert isinstance(app.screen, GuestsScreen)
        await wait_until(pilot, lambda: sorted(guests.all_keys)
                         == vf_guests(cli_docs[hosts[2]]))

        await pilot.press("s")  # back to the overview
        await wait_until(pilot, lambda: isinstance(app.screen, HostsScreen))
        assert app.current.key == hosts[2]


@async_test
async def test_no_switching_away_from_a_conversion(hosts):
    app = hosts_app(hosts)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await all_scanned(pilot, hosts)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HostScreen))
        await pilot.press("c")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConvertScreen")
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        assert app.current.key == hosts[0] and type(app.screen).__name__ == "ConvertScreen"
        assert any("it works on h0" in n.message for n in app._notifications)


@async_test
async def test_a_lost_host_shows_as_such_while_the_others_work(hosts, cli_docs, tmp_path):
    lost = lost_uri(tmp_path)
    uris = [hosts[0], lost, hosts[1]]
    app = hosts_app(uris)
    async with app.run_test(size=(80, 24)) as pilot:
        await all_scanned(pilot, uris)
        await wait_until(pilot, lambda: app.sessions[lost].status.connected is False)
        table = app.screen.query_one("#hosts", KeyedTable)
        row = cells(table, lost)
        assert row.pop("host") == "localhost" and row.pop("state") == "✖ down"
        assert set(row.values()) == {"—"}  # nothing is known of it: never zeros
        for uri in (hosts[0], hosts[1]):
            row = cells(table, uri)
            assert row.pop("state") == "● up"
            row.pop("host")
            assert row == expected_row(cli_docs[uri])
        assert "● 2 up ✖ 1 down" in banner_text(app)
        table.select_key(lost)
        await pilot.pause()
        info = static_text(app.screen.query_one("#host-info"))
        assert "no-such-libvirtd.sock" in info and "cannot connect to libvirt" in info

        await pilot.press("enter")  # its own views say what is wrong
        await wait_until(pilot, lambda: isinstance(app.screen, HostScreen))
        head = banner_text(app)
        assert "no libvirt" in head and "cannot connect to libvirt" in head
        await pilot.press("right_square_bracket")  # the next host works as ever
        await wait_until(pilot, lambda: app.current.key == hosts[1] and "● h1 via libvirt" in banner_text(app))


@pytest.fixture
def silent_libvirtd(tmp_path):
    daemon = SilentLibvirtd(tmp_path / "silent.sock")
    yield daemon
    daemon.close()  # the waiting open fails now, and its thread ends


@async_test
async def test_a_slow_host_does_not_stall_the_others_nor_quitting(hosts, cli_docs, silent_libvirtd):
    slow = silent_libvirtd.uri
    uris = [slow, *hosts[:2]]
    app = hosts_app(uris)
    t0 = time.monotonic()
    async with app.run_test(size=(80, 24)) as pilot:
        await all_scanned(pilot, hosts[:2])
        assert silent_libvirtd.clients, "libvirt should be waiting on the silent socket"
        table = app.screen.query_one("#hosts", KeyedTable)
        await wait_until(pilot, lambda: cells(table, hosts[1])["state"] == "● up")
        assert cells(table, slow)["state"] == "○ connecting"
        assert app.sessions[slow].scans_applied == 0  # its libvirt thread waits in the open
        for uri in hosts[:2]:
            row = cells(table, uri)
            del row["host"], row["state"]
            assert row == expected_row(cli_docs[uri])
        assert "○ 1 connecting" in banner_text(app)
        # its own views wait too, and say so; the other hosts still open
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HostScreen))
        assert "○ localhost: connecting" in banner_text(app)
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: app.current.key == hosts[0] and "● h0 via libvirt" in banner_text(app))
        assert time.monotonic() - t0 < 20
        await pilot.press("q")
    # its libvirt thread still waits in the open: a daemon thread, so it does not hold up the
    # process's exit (tests/terminal checks that the real program quits at once)
    thread = app.sessions[slow].backend._executor._thread
    assert thread.is_alive() and thread.daemon
    assert app.sessions[slow].backend.connected is False


SNAP_BASE = "/tmp/vfpool-hosts-snapshot"  # the overview shows the highlighted host's URI


@pytest.fixture
def fixed_hosts():
    """The three hosts at a path that is the same on every run and in every checkout (the snapshot
    shows the highlighted host's URI); a lock keeps two test runs from sharing it at once."""
    import fcntl
    import shutil
    from pathlib import Path

    base = Path(SNAP_BASE)
    with open(f"{SNAP_BASE}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(base, ignore_errors=True)
        uris = generate_hosts(base)
        yield uris, f"qemu+unix:///system?socket={base}/no-such-libvirtd.sock"
        shutil.rmtree(base, ignore_errors=True)


def test_overview_snapshot(snap_compare, fixed_hosts):
    uris, lost = fixed_hosts
    app = hosts_app([uris[0], lost, *uris[1:]], reconcile_every=None)

    async def run_before(pilot) -> None:
        await all_scanned(pilot, app.sessions)
        await wait_until(pilot, lambda: app.sessions[lost].status.connected is False)
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
