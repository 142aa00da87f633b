"""The demo never touches the host: every path it writes is in its one private directory.

The installed command runs as an admin would run it (``vfpool-tui --demo ...``, which runs itself
again under umockdev-run), through every write path the demo has: ``pool create --numvfs
--persist-numvfs`` (sriov_numvfs, a udev rule) and ``convert`` (the journal and its lock). Each run
gets its own TMPDIR and HOME, so what it leaves behind can be seen without other processes on the
machine getting in the way; the host paths a real run would write (/etc/udev, /var/lib/vfpool-tui)
are compared before and after, never written by the test itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vfpool_tui.demo import DemoPaths

HOST_PATHS = ("/etc/udev", "/etc/udev/rules.d", "/var/lib/vfpool-tui", "/sys/bus/pci/devices/0000:86:00.1")


def host_state() -> dict[str, object]:
    """What the host shows at the paths the demo must never write (existence, entries, mtime)."""
    out: dict[str, object] = {}
    for p in HOST_PATHS:
        try:
            st = os.stat(p)
        except OSError:
            out[p] = None
            continue
        out[p] = (st.st_mtime_ns, sorted(os.listdir(p)) if os.path.isdir(p) else None)
    return out


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def run_demo(tmp_path):
    if shutil.which("umockdev-run") is None:
        pytest.skip("umockdev-run not installed (apt-get install umockdev)")
    exe = Path(sys.executable).parent / "vfpool-tui"
    tmp, home = tmp_path / "tmp", tmp_path / "home"
    tmp.mkdir()
    home.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_RUNTIME_DIR=str(tmp_path / "run"))
    env.pop("VFPOOL_DEMO_PRIVATE", None)

    def run(*args: str) -> str:
        res = subprocess.run([str(exe), "--demo", *args], env=env, capture_output=True, text=True,
                             timeout=180, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout + res.stderr

    run.tmp, run.home = tmp, home
    return run


def test_every_demo_write_stays_in_its_private_dir_and_goes_with_it(run_demo):
    before = host_state()

    out = run_demo("pool", "create", "--pf", "enp134s0f1np1", "--name", "x", "--numvfs", "4",
                   "--persist-numvfs", "--yes")
    # the udev rule was written, and where: in the demo's private directory under this TMPDIR
    m = re.search(r"wrote (\S+/70-vfpool-0000-86-00\.1\.rules)", out)
    assert m, out
    rule = Path(m.group(1))
    private = rule.parents[4]
    assert private.parent == run_demo.tmp and private.name.startswith("vfpool-tui-demo-"), rule
    assert rule == Path(DemoPaths(private, umockdev=True).udev_root) / "etc/udev/rules.d" / rule.name
    # sriov_numvfs was written (to umockdev's /sys, inside the private directory) and VFs appeared
    assert "0 -> 4 VFs (wrote 4; 4 VFs there after" in out, out
    assert "is active and starts at boot" in out

    out = run_demo("convert", "ci-runner-01", "--network", "sriov-pool-a", "--yes")
    assert "ci-runner-01: converted" in out, out  # a conversion writes its journal and takes the lock

    # both runs are over: their private directories (testbed, journal, lock, rule) went with them,
    # nothing was left in TMPDIR or HOME, and the host paths are as they were
    assert tree(run_demo.tmp) == [] and tree(run_demo.home) == []
    assert host_state() == before


def test_demo_and_journal_dir_cannot_be_combined(run_demo, tmp_path):
    exe = Path(sys.executable).parent / "vfpool-tui"
    res = subprocess.run([str(exe), "--demo", "journal", "--journal-dir", str(tmp_path / "j")],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and "no --journal-dir" in res.stderr
    assert not (tmp_path / "j").exists()
