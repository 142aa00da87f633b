"""The installed app in a real terminal: tmux at 80x24, read back from the screen (capture-pane).

Pilot tests run the app headless and see widget values, not what a terminal shows; these run
``vfpool-tui --demo`` (the console script of .venv, stderr on the pty: Textual draws there) inside a
private tmux server and read the screen as an admin would. Every wait polls the screen with a
generous bound (the machine may be loaded); nothing sleeps for a fixed time to "let it settle".
Each test gets its own TMPDIR and HOME, so what the demo leaves behind is visible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux not installed: the real-terminal tests need it (apt-get install tmux)")

EXE = Path(sys.executable).parent / "vfpool-tui"
WAIT = 60.0  # seconds: the demo starts umockdev and libvirt's test driver; a loaded machine is slow


class Terminal:
    """One tmux server of our own (its own socket) running one command in an 80x24 window."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = f"vfpool-test-{uuid.uuid4().hex[:8]}"
        self.tmp, self.home = tmp_path / "tmp", tmp_path / "home"
        self.tmp.mkdir()
        self.home.mkdir()

    def tmux(self, *args: str) -> str:
        res = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def start(self, *args: str, width: int = 80, height: int = 24, env: str = "", under: str = "") -> None:
        """``under``: a command the app runs under (``umockdev-run -d FILE --``)."""
        env = (f"env TERM=xterm-256color TMPDIR={self.tmp} HOME={self.home} "
               f"XDG_CACHE_HOME={self.home}/.cache XDG_CONFIG_HOME={self.home}/.config {env}")
        cmd = f"{env} {under} {EXE} {' '.join(args)}; echo EXITED rc=$?; sleep 600"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", str(width), "-y", str(height), "-s", "t", cmd)
        self.tmux("set-option", "-t", "t", "escape-time", "0")

    def resize(self, width: int, height: int = 24) -> None:
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, what, timeout: float = WAIT) -> str:
        """Poll the screen until ``what`` (a string on it, or a predicate of it) holds."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            ok = what(screen) if callable(what) else what in screen
            if ok:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"not on the screen after {timeout:g} s: {what!r}\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        """Named keys, one at a time (an Escape right after another would read as alt+escape)."""
        for key in keys:
            self.tmux("send-keys", "-t", "t", key)

    def paste_speed(self, text: str) -> None:
        """The whole text as one write to the pty, as an SSH paste or a lagging link delivers it."""
        self.tmux("send-keys", "-t", "t", "-l", text)

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def term(tmp_path):
    if shutil.which("umockdev-run") is None:
        pytest.skip("umockdev-run not installed (apt-get install umockdev)")
    t = Terminal(tmp_path)
    yield t
    t.stop()


def start_demo(term: Terminal, *args: str, **kw) -> str:
    term.start("--demo", *args, **kw)
    return term.wait_for(lambda s: "DEMO" in s and "enp3s0f1" in s and "sriov-pool-a" in s)


def lines(screen: str) -> list[str]:
    return screen.splitlines()


def test_text_typed_into_the_filter_is_visible_while_it_has_focus(term):
    start_demo(term)
    term.keys("/")
    term.wait_for("/ filter")
    term.paste_speed("mlx")
    screen = term.wait_for("/ filter mlx")
    assert "enp134s0f0np0" in screen and "enp3s0f0 " not in screen.split("VFs of")[0]  # the filter applied
    term.keys("q")  # typed into the filter, not the app's quit key
    term.wait_for("/ filter mlxq")


def test_ctrl_p_opens_the_command_palette(term):
    start_demo(term)
    term.keys("C-p")
    term.wait_for("Search for commands")
    term.paste_speed("troubl")
    term.wait_for("Troubleshoot")


def test_key_bursts_at_paste_speed_land_exactly_in_the_wizard_name(term):
    start_demo(term)
    term.keys("n")
    term.wait_for("New pool")
    term.keys("Down", "Enter")
    term.wait_for("Network name")
    for burst in ("abcdefghijklmnop-N", "sriov-pool-a", "x-1", "pool-enp3s0f1-with-a-long-name", "q:cv?n",
                  "sriov-pool-b2"):
        term.keys("C-u")  # empty the field
        term.wait_for(lambda s: "<name></name>" in s or "<name/>" in s or "No XML yet" in s)
        term.paste_speed(burst)
        # the field's own row shows exactly the burst (nothing lost, nothing doubled)
        term.wait_for(lambda s, b=burst: any(line[:38].rstrip() == f" {b}" for line in s.splitlines()))
        if len(burst) < 24:  # and the XML beside it has it whole (longer names wrap there)
            term.wait_for(f"<name>{burst}</name>")


def test_quit_restores_the_terminal_and_the_demo_leaves_nothing_behind(term):
    def host():  # where a demo that touched the host would have written (never written here)
        return {p: sorted(os.listdir(p)) if os.path.isdir(p) else None
                for p in ("/etc/udev", "/etc/udev/rules.d", "/var/lib/vfpool-tui")}

    before = host()
    start_demo(term)
    assert term.tmux("display", "-p", "-t", "t", "#{alternate_on}").strip() == "1"
    term.keys("q")
    term.wait_for("EXITED rc=0")
    assert term.tmux("display", "-p", "-t", "t", "#{alternate_on} #{cursor_flag}").split() == ["0", "1"]
    assert "DEMO" not in term.screen()  # the app's screen is gone, the shell's is back
    assert sorted(p.name for p in term.tmp.rglob("*")) == [] and not any(term.home.iterdir())
    assert host() == before


def test_home_and_end_move_the_cursor_and_columns_follow_the_rows(term):
    start_demo(term)
    term.wait_for("VFs of enp3s0f0 ")
    term.keys("End")  # the last PF, not a sideways scroll
    screen = term.wait_for("VFs of enp134s0f1np1")
    assert lines(screen)[2].startswith(" PF ")  # the table did not scroll sideways
    term.keys("Home")
    term.wait_for("VFs of enp3s0f0 ")
    # a PF whose VFs have a long holder, then back: the columns are as wide as these rows again,
    # Pool whole and Driver (cut at 80 columns, as before) not pushed off the screen
    term.keys("Down")
    term.wait_for("legacy-app, legacy-app-clone")
    term.keys("Up")
    screen = term.wait_for(lambda s: "VFs of enp3s0f0 " in s and "? one of 3 guests  pool" in s)
    header = next(line for line in lines(screen) if line.startswith(" State"))
    assert "Pool          Dri" in header, header
    assert "sriov-pool-a" in screen


@pytest.mark.parametrize("width", [80, 100])
def test_the_status_line_is_one_row(term, width):
    start_demo(term, "--readonly", width=width)
    screen = term.wait_for(lambda s: "problems" in s.splitlines()[0] and "PFs" in s.splitlines()[1])
    first = lines(screen)[0]
    assert "read-only" in first and "6 PFs 24 VFs 4 pools 31 guests" in first and "!6 problems" in first
    assert lines(screen)[1].lstrip("━─").startswith("PFs")  # the pane right under it
    # read-only: n says why in one line instead of doing nothing
    term.keys("n")
    term.wait_for(lambda s: "Creating a pool needs a read-write" in s and "(--readonly)." in s)


def test_typing_a_mac_lands_in_the_mac_field(term):
    start_demo(term)
    term.keys("c")
    term.wait_for("Guests with a hard-coded VF")
    term.wait_for("ci-runner-01")
    # the last of the demo's seven candidates (the guests it cannot convert follow, dimmed):
    # pxe-installer, its VF on a PF with no pool
    term.keys("Home", *["Down"] * 6)
    term.wait_for("pxe-installer")
    term.keys("Space")
    term.wait_for("is on another PF")
    term.keys("a")
    term.wait_for("Use a pool on another PF?")
    term.keys("Right", "Enter")
    term.wait_for("Only re-defined (shut off, no downtime): pxe-installer")  # the plan, with its MAC field
    # Tab: pools, then the MAC field (scrolled into view when it has focus); the field is mounted a
    # moment after the plan's text, so Tab until it shows, as an operator would
    label = "MAC for pxe-installer VF 0000:03:10.3:"
    for _ in range(6):
        term.keys("Tab")
        deadline = time.monotonic() + 3
        while label not in term.screen() and time.monotonic() < deadline:
            time.sleep(0.1)
        if label in term.screen():
            break
    term.wait_for(label)
    term.paste_speed("52:54:00:aa:bb:cc")  # ':' opens the palette and 'a' is a key of this screen
    screen = term.wait_for("MAC for pxe-installer VF 0000:03:10.3:  52:54:00:aa:bb:cc")
    assert "Search for commands" not in screen
    term.wait_for("keeps MAC 52:54:00:aa:bb:cc")  # and the plan took it


def test_checkbox_state_reads_without_colour(term):
    start_demo(term, env="NO_COLOR=1")
    term.keys("n")
    term.wait_for("New pool")
    term.keys("Down", "Enter")
    term.wait_for("Network name")
    term.wait_for("▐X▌ managed='yes'")
    term.keys("Tab", "Space")  # from the name to the box
    screen = term.wait_for("▐ ▌ managed='no'")
    assert "▐X▌" not in screen


def test_a_burst_right_after_the_key_that_opens_a_field_lands_in_it(term):
    start_demo(term)
    term.keys("/")
    term.paste_speed("gx")  # at once: 'g' is the guests view's key
    screen = term.wait_for("/ filter gx")
    assert "Tasks" in screen and "Guests ·" not in screen  # still the host view


def _process(script: str, arg: str) -> int:
    """The pid of the Python process running ``script`` with ``arg``."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[1:2] == [script.encode()] and arg.encode() in argv:
            return int(cmdline.parent.name)
    raise AssertionError(f"no process runs {script} {arg}")


def _children(pid: int) -> list[str]:
    """The processes whose parent is ``pid`` (zombies too), as their /proc stat lines."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        if int(text.rpartition(")")[2].split()[1]) == pid:
            out.append(text)
    return out


def test_the_command_on_this_machine_shows_its_cards_and_guests_and_keeps_no_child(term):
    """``vfpool-tui --connect URI`` as an admin runs it on a hypervisor (the cards: sysfs under
    umockdev; the guests: libvirt's test driver): what it shows is what ``scan --json`` reads, and
    its first look's child process (begun before Textual is imported: tests/core/test_head_start.py
    checks that, and that the app takes it) is gone by then; an untaken one would still be there."""
    from paths import DATA

    hosts, node = DATA / "hosts" / "intel-82599.umockdev", DATA / "nodes" / "holders.xml"
    under = f"umockdev-run -d {hosts} --"
    expected = json.loads(subprocess.run(
        [*under.split(), str(EXE), "scan", "--json", "--connect", f"test://{node}"],
        capture_output=True, text=True, timeout=120, check=True).stdout)
    header = (f"{len(expected['pfs'])} PFs {sum(len(pf['vfs']) for pf in expected['pfs'])} VFs "
              f"{len(expected['pools'])} pools {len(expected['guests'])} guests")
    term.start("--connect", f"test://{node}", under=under)
    screen = term.wait_for(header)
    assert all(pf["name"] in screen for pf in expected["pfs"])
    app = _process(str(EXE), f"test://{node}")  # the interpreter running the console script
    assert _children(app) == []  # the first look's child was reaped once read
    term.keys("q")
    term.wait_for("EXITED rc=0")
