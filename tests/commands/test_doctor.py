"""``doctor`` (one versioned document, exit 0/1/2) and ``metrics`` (Prometheus text, parsed with
prometheus_client's own parser), on the demo host and on test-driver nodes of known health."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from vfpool_tui.core.health import doctor

needs_umockdev = pytest.mark.skipif(shutil.which("umockdev-run") is None, reason="umockdev-run not installed")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vfpool_tui", *args], capture_output=True, text=True,
                          timeout=90, check=False)


def _node(tmp_path, *domains: etree._Element) -> str:
    node = etree.Element("node")
    net = etree.SubElement(node, "network")
    etree.SubElement(net, "name").text = "default"
    etree.SubElement(net, "bridge", name="virbr0")  # an isolated network: no forward, no IP needed
    for d in domains:
        node.append(d)
    path = tmp_path / "node.xml"
    path.write_bytes(etree.tostring(node))
    return f"test://{path}"


def _domain(name: str, network: str) -> etree._Element:
    d = etree.Element("domain", type="test")
    etree.SubElement(d, "name").text = name
    etree.SubElement(d, "memory").text = "65536"
    os_ = etree.SubElement(d, "os")
    etree.SubElement(os_, "type").text = "hvm"
    devs = etree.SubElement(d, "devices")
    iface = etree.SubElement(devs, "interface", type="network")
    etree.SubElement(iface, "source", network=network)
    return d


def _metrics(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@needs_umockdev
@pytest.mark.umockdev
def test_doctor_on_the_demo_is_one_document_with_a_remedy_for_every_problem():
    res = _cli("doctor", "--demo", "--json")
    assert res.returncode == 2, res.stderr  # the demo has errors
    doc = json.loads(res.stdout)
    assert (doc["schema"], doc["schema_version"], doc["status"], doc["exit_status"]) == \
        ("vfpool-tui/doctor", 1, "error", 2)
    scan = json.loads(_cli("scan", "--demo", "--json").stdout)
    assert doc["counts"]["problems"] == scan["problem_count"]
    assert [p["kind"] for p in doc["problems"]] == [p["kind"] for p in scan["problems"]]
    assert all(p["remedy"] and p["remedy"] != "See the message." for p in doc["problems"])
    remedies = {p["kind"]: p["remedy"] for p in doc["problems"]}
    assert remedies["pool-vf-hardcoded"] == "vfpool-tui convert ci-runner-01 --network sriov-pool-a"
    # legacy-app's VF is on enp3s0f1, where there is no pool: never a pool over another port
    assert remedies["vf-multiple-guests"].startswith("vfpool-tui pool create --pf enp3s0f1 ")
    # where the tool has a remedy of its own, the doctor names its command (issue 13)
    assert remedies["vfio-unused"] == "vfpool-tui remedy release-vfs 0000:03:10.7"
    assert remedies["pool-pf-no-vfs"].startswith("vfpool-tui remedy grow-pf enp24s0f1 --numvfs N ")
    pools = {p["name"]: p for p in doc["pools"]}
    assert pools["sriov-pool-b"]["near_exhaustion"] and not pools["sriov-pool-a"]["near_exhaustion"]
    assert pools["sriov-pool-b"]["if_all_started"]["fail"] == ["app-09"]
    for p in scan["pools"]:  # the same figures as scan
        assert (pools[p["name"]]["size"], pools[p["name"]]["in_use"], pools[p["name"]]["free"]) == \
            (p["capacity"], p["in_use"], p["free"])


def test_doctor_exit_status_follows_the_worst_problem(tmp_path):
    healthy = _cli("--connect", _node(tmp_path, _domain("web", "default")), "doctor", "--json")
    assert healthy.returncode == 0, healthy.stderr
    assert json.loads(healthy.stdout)["status"] == "ok"
    # a running guest (not autostarted) on a network that is gone: a warning, nothing worse
    (tmp_path / "w").mkdir()
    warn = _cli("--connect", _node(tmp_path / "w", _domain("web", "gone-net")), "doctor", "--json")
    doc = json.loads(warn.stdout)
    assert warn.returncode == 1 and doc["status"] == "warning", doc
    assert [p["kind"] for p in doc["problems"]] == ["guest-network-missing"]
    assert "gone-net" in doc["problems"][0]["message"]


def test_doctor_without_libvirt_says_error_in_the_document(tmp_path):
    res = _cli("--connect", f"test://{tmp_path}/no-such-node.xml", "doctor", "--json")
    assert res.returncode == 2
    doc = json.loads(res.stdout)
    assert doc["status"] == "error" and doc["errors"] and doc["schema_version"] == 1


def test_status_ignores_info_problems():
    from vfpool_tui.core.model import Host, Problem, ProblemKind, Scan

    info = Problem(ProblemKind.VFIO_UNUSED, "info", "idle VF", pcis=("0000:03:10.7",))
    assert doctor.report(Scan(host=Host(), problems=(info,)))["status"] == "ok"


@needs_umockdev
@pytest.mark.umockdev
def test_metrics_parse_and_match_the_doctor(tmp_path):
    res = _cli("metrics", "--demo")
    assert res.returncode == 0, res.stderr
    m = _metrics(res.stdout)
    assert m[("vfpool_up", ())] == 1
    doc = json.loads(_cli("doctor", "--demo", "--json").stdout)
    for p in doc["pools"]:
        labels = (("pool", p["name"]),)
        assert m[("vfpool_pool_in_use", labels)] == p["in_use"]
        assert m[("vfpool_pool_blocked", labels)] == p["blocked"]
        assert m[("vfpool_pool_active", labels)] == (1 if p["active"] else 0)
        if p["size"] is None:
            assert ("vfpool_pool_size", labels) not in m and ("vfpool_pool_free", labels) not in m
        else:
            assert m[("vfpool_pool_size", labels)] == p["size"] and m[("vfpool_pool_free", labels)] == p["free"]
    for pf in doc["pfs"]:
        labels = (("pci", pf["pci"]), ("pf", pf["name"]))
        assert m[("vfpool_pf_vfs_enabled", labels)] == pf["enabled"]
        assert m[("vfpool_pf_vfs_total", labels)] == pf["total"]
    by_kind = {}
    for p in doc["problems"]:
        by_kind[(p["kind"], p["severity"])] = by_kind.get((p["kind"], p["severity"]), 0) + 1
    for (kind, sev), n in by_kind.items():
        assert m[("vfpool_problems", (("kind", kind), ("severity", sev)))] == n
    # a kind that is absent is exported as 0, so an alert can compare against it
    assert m[("vfpool_problems", (("kind", "host-no-iommu"), ("severity", "error")))] == 0


@needs_umockdev
@pytest.mark.umockdev
def test_metrics_file_is_replaced_atomically(tmp_path):
    out = tmp_path / "textfile" / "vfpool.prom"
    out.parent.mkdir()
    out.write_text("old contents\n")
    res = _cli("metrics", "--demo", "--output", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert _metrics(out.read_text())[("vfpool_up", ())] == 1
    assert [p.name for p in out.parent.iterdir()] == ["vfpool.prom"]  # no temporary file left


def test_metrics_without_libvirt_export_up_0(tmp_path):
    res = _cli("--connect", f"test://{tmp_path}/no-such-node.xml", "metrics")
    assert res.returncode == 2
    m = _metrics(res.stdout)
    assert m[("vfpool_up", ())] == 0
    assert not any(name.startswith("vfpool_pool_") for name, _ in m)
