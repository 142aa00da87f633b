"""Several --connect: scan and doctor give one document per host (JSON Lines), concurrently, and a
host that cannot be reached neither stops nor delays the others' answers."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from paths import ROOT

_spec = importlib.util.spec_from_file_location("gen_host", ROOT / "bench" / "gen_host.py")
gen_host = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("gen_host", gen_host)
_spec.loader.exec_module(gen_host)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vfpool_tui", *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)


@pytest.fixture
def two_hosts(tmp_path):
    uris = []
    for i, (pfs, guests) in enumerate(((2, 8), (3, 14))):
        _, node = gen_host.generate(tmp_path / f"h{i}", pfs=pfs, vfs=4, guests=guests, nodedevs=True)
        uris.append(f"test://{node}")
    return uris


def test_scan_json_gives_one_document_per_host_in_order(two_hosts, tmp_path):
    gone = f"test://{tmp_path}/gone.xml"
    res = _cli("-c", two_hosts[0], "--discovery", "libvirt", "scan", "--json", "-c", gone, "-c", two_hosts[1])
    assert res.returncode == 1  # one host could not be read
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["uri"] for d in docs] == [two_hosts[0], gone, two_hosts[1]]
    assert [len(docs[0]["pfs"]), len(docs[2]["pfs"])] == [2, 3]  # each host's own PFs, via libvirt
    assert docs[1]["error"].startswith("cannot connect to libvirt at")
    # each document is what a single-host scan says
    alone = json.loads(_cli("-c", two_hosts[1], "--discovery", "libvirt", "scan", "--json").stdout)
    assert docs[2] == alone


def test_doctor_exit_status_is_the_worst_host(two_hosts, tmp_path):
    res = _cli("-c", two_hosts[0], "-c", two_hosts[1], "--discovery", "libvirt", "doctor", "--json")
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["uri"] for d in docs] == two_hosts
    assert res.returncode == max(d["exit_status"] for d in docs)


def test_commands_for_one_host_refuse_several(two_hosts):
    res = _cli("-c", two_hosts[0], "-c", two_hosts[1], "pool", "list")
    assert res.returncode == 2
    assert "pool works on one host: give --connect once" in res.stderr
