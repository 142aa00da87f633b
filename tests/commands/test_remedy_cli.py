"""``vfpool-tui remedy ...`` as a subprocess on the demo host (umockdev's emulated SR-IOV host, whose
emulated kernel creates VFs when sriov_numvfs is written, and libvirt's test driver).

The test driver has no node devices for the demo's VFs and no re-attach (LIBVIRT-FACTS.md): the
demo's release-vfs gets libvirt's real answer, "Node device not found", and says so; the re-attach
itself is tested with that one call injected in tests/core/remedy/test_remedies.py and for real on
the private libvirtd (tests/real/test_real_remedy.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from paths import ROOT

pytestmark = [pytest.mark.umockdev,
              pytest.mark.skipif(not shutil.which("umockdev-run"), reason="umockdev-run missing")]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vfpool_tui", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8"))


def test_dry_runs_print_the_plan_and_change_nothing():
    p = cli("remedy", "release-vfs", "--demo", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert "give 0000:03:10.7 back to its host driver (virNodeDeviceReAttach pci_0000_03_10_7)" in p.stdout
    assert "dry run: nothing changed" in p.stdout
    p = cli("remedy", "restart-pool", "sriov-pool-a", "--demo", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert "stop network 'sriov-pool-a' (virNetworkDestroy)" in p.stdout
    assert "guests shut down and started again" in p.stdout
    assert cli("remedy", "journal", "--demo").stdout.startswith("no remedy runs")


@pytest.mark.parametrize("args", [("release-vfs",), ("restart-pool", "sriov-pool-a"),
                                  ("grow-pf", "enp3s0f1", "--numvfs", "6")])
def test_readonly_refuses_each_in_one_line(args):
    p = cli("remedy", *args, "--demo", "--readonly", "--yes")
    assert p.returncode == 1
    assert p.stderr.strip().count("\n") == 0 and "--readonly" in p.stderr, p.stderr
    assert "journal:" not in p.stdout


def test_refusals_are_one_line_and_change_nothing():
    p = cli("remedy", "release-vfs", "0000:03:10.1", "--demo", "--yes")
    assert p.returncode == 1
    assert "refused: VF 0000:03:10.1 is named in the definition of nfv-router" in p.stderr
    p = cli("remedy", "grow-pf", "enp3s0f1", "--numvfs", "2", "--demo", "--yes")
    assert p.returncode == 1 and "has 4 VFs already" in p.stderr


def test_no_terminal_and_no_yes_changes_nothing():
    p = cli("remedy", "grow-pf", "enp3s0f1", "--numvfs", "6", "--demo")
    assert p.returncode == 1 and "without --yes" in p.stderr
    assert "journal:" not in p.stdout


def test_release_on_the_demo_says_libvirts_answer():
    p = cli("remedy", "release-vfs", "--demo", "--yes")
    assert p.returncode == 1
    assert ("reattach failed: Node device not found: no node device with matching name "
            "'pci_0000_03_10_7'") in p.stdout
    assert "unchanged: nothing released" in p.stdout


def test_grow_pf_on_the_demo_runs_the_sequence_and_is_journalled():
    p = cli("remedy", "grow-pf", "enp3s0f1", "--numvfs", "6", "--persist-numvfs", "--demo", "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [ln.split(" ", 1)[1] for ln in p.stdout.splitlines() if ln[:2].isdigit() and ln[2] == ":"]
    ok = [ln for ln in lines if " ok: " in ln]
    # both guests are shut down first (in parallel: their lines come in either order)
    assert sorted(ok[:2]) == ["legacy-app: shutdown ok: shut off after 0.0 s",
                              "nfv-router: shutdown ok: shut off after 0.0 s"]
    assert "PF enp3s0f1: numvfs ok: wrote 0, 6" in ok
    assert any(ln.startswith("PF enp3s0f1: vfs ok: 6 VFs there after") for ln in ok)  # the emulated kernel's
    assert "legacy-app: start ok: running again" in ok and "nfv-router: start ok: running again" in ok
    j = cli("remedy", "journal", "--demo")
    assert "Grow enp3s0f1 (0000:03:00.1) from 4 to 6 VFs" in j.stdout and " done" in j.stdout
    # the guests run again in the shared demo state
    s = cli("scan", "--demo", "--json")
    import json

    guests = {g["name"]: g["state"] for g in json.loads(s.stdout)["guests"]}
    assert guests["legacy-app"] == "running" and guests["nfv-router"] == "running"
