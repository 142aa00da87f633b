"""The installed app in a real terminal: tmux at 80x24, read back from the screen (capture-pane).

Pilot tests run the app headless and see widget values, not what a terminal shows; these run
``vfpool-tui --demo`` (the console script of .venv, stderr on the pty: Textual draws there) inside a
private tmux server and read the screen as an admin would. Every wait polls the screen with a
generous bound (the machine may be loaded); nothing sleeps for a fixed time to "let it settle".
Each test gets its own TMPDIR and HOME, so what the demo leaves behind is visible.
"""

from __future__ import annotations

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

    def start(self, *args: str) -> None:
        env = (f"env TERM=xterm-256color TMPDIR={self.tmp} HOME={self.home} "
               f"XDG_CACHE_HOME={self.home}/.cache XDG_CONFIG_HOME={self.home}/.config")
        cmd = f"{env} {EXE} {' '.join(args)}; echo EXITED rc=$?; sleep 600"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", "-s", "t", cmd)
        self.tmux("set-option", "-t", "t", "escape-time", "0")

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


def start_demo(term: Terminal) -> str:
    term.start("--demo")
    return term.wait_for(lambda s: "DEMO" in s and "enp3s0f1" in s and "sriov-pool-a" in s)


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
