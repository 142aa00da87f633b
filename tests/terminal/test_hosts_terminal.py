"""Several hosts in a real terminal (tmux at 80x24): ``vfpool-tui --discovery libvirt -c ... -c ...``
opens on the hosts overview, Enter opens a host, ``]`` switches, ``s`` comes back, and ``q`` quits at
once although one host never answers.

The hosts are generated test-driver nodes with their node devices; the host that never answers is
a unix socket that accepts and stays silent (libvirt's open waits on it). The program is the
console script of .venv with stderr on the pty, read back with capture-pane.
"""

from __future__ import annotations

import shutil
import time

import pytest
from hosts_support import SilentLibvirtd, generate_hosts

from test_real_terminal import Terminal

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux not installed: the real-terminal tests need it (apt-get install tmux)")



@pytest.fixture
def silent_libvirtd(tmp_path):
    daemon = SilentLibvirtd(tmp_path / "silent.sock")
    yield daemon
    daemon.close()


@pytest.fixture
def term(tmp_path):
    t = Terminal(tmp_path)
    yield t
    t.stop()


def test_hosts_overview_in_a_real_terminal(term, tmp_path, silent_libvirtd):
    uris = generate_hosts(tmp_path)
    slow = silent_libvirtd.uri
    term.start("--discovery", "libvirt", "-c", uris[0], "-c", slow, "-c", uris[1], "-c", uris[2])
    def rows_of(screen: str) -> dict[str, str]:
        rows: dict[str, str] = {}
        for line in screen.splitlines():  # the table's rows (the first line naming each host)
            if line.split()[:1] in (["h0"], ["h1"], ["h2"], ["localhost"]):
                rows.setdefault(line.split()[0], line)
        return rows

    def scanned(screen: str) -> bool:
        rows = rows_of(screen)
        return "4 hosts: ● 3 up ○ 1 connecting" in screen and all(
            h in rows and "—" not in rows[h] for h in ("h0", "h1", "h2"))

    rows = rows_of(term.wait_for(scanned))
    assert "● up" in rows["h0"] and "● up" in rows["h2"] and "▲1" in rows["h2"]
    assert "○ connecting" in rows["localhost"] and "—" in rows["localhost"]
    assert silent_libvirtd.clients, "libvirt should be waiting on the silent socket"

    term.keys("Enter")
    term.wait_for(lambda s: "● h0 via libvirt" in s and "VFs of" in s)
    term.keys("]", "]")  # past the silent host (its view says it is still connecting) to h1
    term.wait_for("● h1 via libvirt")
    term.keys("s")
    term.wait_for("Hosts · 4")

    t0 = time.monotonic()
    term.keys("q")
    term.wait_for("EXITED rc=0", timeout=10)
    assert time.monotonic() - t0 < 5  # the silent host's waiting connect does not hold up quitting
    assert "Hosts" not in term.screen()  # the terminal is given back
