"""`--demo` CLI commands share one demo state, journal included (vfpool_tui/demo/state.py): what one
command changed, the next one sees; `demo-reset` removes it. Real processes under umockdev-run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

needs_umockdev = pytest.mark.skipif(shutil.which("umockdev-run") is None, reason="umockdev-run not installed")


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI in a child process whose temporary files go to ``tmp`` (TMPDIR)."""
    return subprocess.run([sys.executable, "-m", "vfpool_tui", *args], capture_output=True, text=True,
                          timeout=90, check=False, env=dict(os.environ, TMPDIR=str(tmp)))


@needs_umockdev
@pytest.mark.umockdev
def test_convert_then_rollback_then_revert_see_each_others_work(tmp_path):
    state = Path(os.environ["VFPOOL_DEMO_STATE"])  # private to this test (tests/conftest.py)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    res = _cli(tmp, "--demo", "convert", "ci-runner-01", "--network", "sriov-pool-a", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ci-runner-01: converted; running on pool 'sriov-pool-a'" in res.stdout
    res = _cli(tmp, "--demo", "journal", "--all")
    assert "ci-runner-01 -> sriov-pool-a" in res.stdout and "converted" in res.stdout
    assert str(state / "journal") in res.stdout
    res = _cli(tmp, "--demo", "scan", "--json")
    assert res.returncode == 0 and '"sriov-pool-a"' in res.stdout
    res = _cli(tmp, "--demo", "rollback", "ci-runner-01", "--yes")  # the bug: "no conversion of 'ci-runner-01'"
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rolled-back" in res.stdout
    res = _cli(tmp, "--demo", "revert", "ci-runner-01", "--yes")  # already back: nothing to revert
    assert res.returncode == 1 and "was not converted (rolled-back)" in res.stdout, res.stdout + res.stderr
    assert list(tmp.glob("vfpool-tui-demo-journal-*")) == []  # no per-run temporary journal left behind
    res = _cli(tmp, "demo-reset")
    assert res.returncode == 0 and f"removed {state}" in res.stdout
    assert not state.exists()


def test_the_default_demo_state_is_a_private_temporary_directory(monkeypatch, tmp_path):
    from vfpool_tui.demo import state

    monkeypatch.delenv("VFPOOL_DEMO_STATE")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert state.state_dir() == tmp_path / "vfpool-tui-demo"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert state.state_dir() == Path("/tmp") / f"vfpool-tui-demo-{os.getuid()}"
    # a directory another user could have planted (or one open to others) is refused
    monkeypatch.setenv("VFPOOL_DEMO_STATE", str(tmp_path / "shared"))
    (tmp_path / "shared").mkdir(mode=0o777)
    os.chmod(tmp_path / "shared", 0o777)
    with pytest.raises(PermissionError, match="not a private directory"):
        state.prepare()
