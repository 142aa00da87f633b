"""core.capacity: one computation of who may hold each VF and the counts per PF, pool and problem.

Two kinds of test:

- random scans built from the model (hundreds, fast): the counts add up, a VF a running pool guest
  may hold is never free, and the PF free range is exactly what brute force over every way the
  unknown holders could sit gives;
- generated emulated hosts (bench/gen_host.py, under umockdev, real pyudev/sysfs and libvirt's test
  driver): every view (TUI rows and pool lines, header, ``scan`` JSON and text, ``pool list``,
  ``capacity --json``) shows the same numbers, read back from what each view printed.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import random
import re
import shutil
import subprocess
import sys

import pytest
from paths import ROOT, SUPPORT
from umockdev_run import UMOCKDEV_RUN, _env

from vfpool_tui.core import capacity
from vfpool_tui.core.capacity import Figures, Occupancy
from vfpool_tui.core.model import PF, VF, Guest, Host, Pool, Scan, UseKind, VfUse

# --------------------------------------------------------------------------- random model scans


def _pf(n: int, nvfs: int) -> PF:
    pci = f"0000:{n + 2:02x}:00.0"
    vfs = tuple(VF(index=i, pci=f"0000:{n + 2:02x}:10.{i}", pf_pci=pci, driver="vfio-pci", netdev=None,
                   iommu_group=i) for i in range(nvfs))
    return PF(pci=pci, netdevs=(f"eth{n}",), driver="ixgbe", vendor_id="8086", device_id="10fb",
              vendor="Intel", model="82599ES", numa_node=0, totalvfs=8, numvfs=nvfs, link="up", vfs=vfs)


def _use(guest: str, kind: UseKind, pci: str | None, active: bool, network: str | None = None) -> VfUse:
    return VfUse(guest=guest, guest_uuid=guest, kind=kind, pci=pci, active=active, network=network)


def random_scan(seed: int) -> Scan:
    rnd = random.Random(seed)
    pfs = tuple(_pf(n, rnd.randint(0, 5)) for n in range(rnd.randint(1, 3)))
    all_vfs = [v.pci for pf in pfs for v in pf.vfs]
    pool_defs: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []  # (name, pf devs, addresses)
    for i in range(rnd.randint(0, 3)):
        if all_vfs and rnd.random() < 0.4:  # an explicit address list, possibly across PFs
            pool_defs.append((f"p{i}", (), tuple(rnd.sample(all_vfs, rnd.randint(1, min(4, len(all_vfs)))))))
        else:
            pool_defs.append((f"p{i}", (rnd.choice(pfs).netdevs[0],), ()))
    guests_raw = []
    for g in range(rnd.randint(0, 9)):
        active = rnd.random() < 0.7
        uses = []
        for _ in range(rnd.randint(0, 2)):
            r = rnd.random()
            if r < 0.4 and all_vfs:
                kind = rnd.choice([UseKind.HOSTDEV, UseKind.INTERFACE_HOSTDEV])
                uses.append(_use(f"g{g}", kind, rnd.choice(all_vfs + ["0000:99:10.0"]), active))
            elif pool_defs:
                name = rnd.choice(pool_defs)[0]
                uses.append(_use(f"g{g}", UseKind.POOL, None, active, name))
        guests_raw.append(Guest(name=f"g{g}", uuid=f"g{g}", state="running" if active else "shut off",
                                active=active, persistent=True, autostart=False, vf_uses=tuple(uses)))
    host = Host(pfs=pfs, pci_devices=frozenset(all_vfs))
    # a running pool guest sometimes has a known VF (as a network port would tell): pick one of its
    # pool's VFs that no other known holder has
    guests = []
    taken: set[str] = set()
    for g in guests_raw:
        uses = []
        for u in g.vf_uses:
            if u.kind is UseKind.POOL and g.active and rnd.random() < 0.4:
                members = _members(pool_defs, u.network, host)
                free = [m for m in members if m not in taken]
                if free:
                    pci = rnd.choice(free)
                    taken.add(pci)
                    u = _use(u.guest, UseKind.POOL, pci, True, u.network)
            uses.append(u)
        guests.append(Guest(name=g.name, uuid=g.uuid, state=g.state, active=g.active, persistent=True,
                            autostart=False, vf_uses=tuple(uses)))
    pools = []
    for name, devs, addrs in pool_defs:
        members = _members(pool_defs, name, host)
        c = capacity.pool_counts(name, members, True, guests)
        pools.append(Pool(name=name, uuid=name, pfs=devs, addresses=addrs, active=True, autostart=True,
                          persistent=True, managed=True, capacity=c.size, in_use=c.in_use, free=c.free,
                          blocked=c.blocked, unknown=c.unknown, vf_pcis=members))
    return Scan(host=host, guests=tuple(guests), pools=tuple(pools))


def _members(pool_defs, name: str, host: Host) -> tuple[str, ...]:
    for n, devs, addrs in pool_defs:
        if n == name:
            if addrs:
                return addrs
            return tuple(v.pci for v in host.pf(devs[0]).vfs)
    raise KeyError(name)


def _brute_force_free(scan: Scan, fig: Figures) -> dict[str, tuple[int, int]]:
    """Every way the unknown holders could sit on their pool's may-be-held VFs: min/max free per PF."""
    per_pool = []
    for pool in scan.pools:
        maybe = [pci for pci, f in fig.vfs.items() if f.occupancy is Occupancy.POOL_MAYBE and f.pool == pool.name]
        k = sum(1 for g in scan.guests if g.active for u in g.vf_uses
                if u.kind is UseKind.POOL and u.network == pool.name and u.pci is None)
        per_pool.append(list(itertools.combinations(maybe, min(k, len(maybe)))) or [()])
    pf_of = {v.pci: pf.pci for pf in scan.host.pfs for v in pf.vfs}
    certain = {pf.pci: sum(1 for v in pf.vfs if fig.vfs[v.pci].free) for pf in scan.host.pfs}
    maybe_on = {pf.pci: [v.pci for v in pf.vfs if fig.vfs[v.pci].occupancy is Occupancy.POOL_MAYBE]
                for pf in scan.host.pfs}
    out = {pf: [None, None] for pf in certain}
    for choice in itertools.product(*per_pool):
        held = {pci for combo in choice for pci in combo}
        for pf in certain:
            free = certain[pf] + sum(1 for pci in maybe_on[pf] if pci not in held and pf_of[pci] == pf)
            lo, hi = out[pf]
            out[pf] = [free if lo is None else min(lo, free), free if hi is None else max(hi, free)]
    return {pf: tuple(v) for pf, v in out.items()}


@pytest.mark.parametrize("seed", range(300))
def test_random_scans_add_up_and_never_call_a_maybe_held_vf_free(seed):
    scan = random_scan(seed)
    fig = Figures(scan)
    for pf in scan.host.pfs:
        c = fig.pf(pf.pci)
        assert c.hard + c.pooled + c.unpooled == c.vfs == len(pf.vfs)
        assert c.pool_held + c.pool_unknown + c.pool_free == c.pooled
        assert 0 <= c.held_unknown_lo <= c.held_unknown_hi <= c.pool_unknown
        assert (c.free_lo, c.free_hi) == _brute_force_free(scan, fig)[pf.pci]
    for pool in scan.pools:
        p = fig.pool(pool.name)
        assert p.in_use + p.blocked + p.free == p.size or (p.free == 0 and p.over > 0)
        assert p.unknown <= p.in_use
        members = [fig.vf(a) for a in pool.vf_pcis if fig.vf(a) and fig.vf(a).pool == pool.name]
        if p.unknown:  # a running guest may hold any of them: none is free
            assert not any(f.occupancy is Occupancy.POOL_FREE for f in members)
    for pci, f in fig.vfs.items():
        if f.free:
            assert not f.holders and not f.maybe_holders
    assert fig.problems.total == len(scan.problems)


def test_a_pool_of_eight_with_seven_guests_of_unknown_vf_has_one_free_on_its_pf_too():
    pf = _pf(0, 8)
    guests = tuple(Guest(name=f"app-{i}", uuid=str(i), state="running", active=True, persistent=True,
                         autostart=True, vf_uses=(_use(f"app-{i}", UseKind.POOL, None, True, "pool-b"),))
                   for i in range(7))
    members = tuple(v.pci for v in pf.vfs)
    c = capacity.pool_counts("pool-b", members, True, guests)
    pool = Pool(name="pool-b", uuid="u", pfs=("eth0",), addresses=(), active=True, autostart=True,
                persistent=True, managed=True, capacity=c.size, in_use=c.in_use, free=c.free,
                blocked=c.blocked, unknown=c.unknown, vf_pcis=members)
    fig = Figures(Scan(host=Host(pfs=(pf,)), guests=guests, pools=(pool,)))
    assert (c.size, c.in_use, c.free, c.unknown) == (8, 7, 1, 7)
    pfc = fig.pf(pf.pci)
    assert (pfc.pooled, pfc.free_lo, pfc.free_hi, pfc.held_unknown_lo) == (8, 1, 1, 7)
    assert {f.occupancy for f in fig.vfs.values()} == {Occupancy.POOL_MAYBE}
    assert len(fig.vf(members[0]).maybe_holders) == 7


# --------------------------------------------------------------------------- every view agrees

_spec = importlib.util.spec_from_file_location("gen_host", ROOT / "bench" / "gen_host.py")
gen_host = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("gen_host", gen_host)
_spec.loader.exec_module(gen_host)

needs_umockdev = pytest.mark.skipif(UMOCKDEV_RUN is None or shutil.which("umockdev-run") is None,
                                    reason="umockdev-run not installed")

HOSTS = [(1, 4, 6), (2, 3, 10), (2, 8, 25), (3, 5, 17), (4, 2, 30), (2, 6, 0), (5, 7, 40), (1, 1, 3)]


def _probe(tmp_path, pfs: int, vfs: int, guests: int) -> dict:
    host, node = gen_host.generate(tmp_path, pfs=pfs, vfs=vfs, guests=guests)
    cmd = [UMOCKDEV_RUN, "-d", str(host), "--", sys.executable, str(SUPPORT / "figures_probe.py"),
           f"test://{node}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env(), cwd=ROOT)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _range(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}–{hi}"


@needs_umockdev
@pytest.mark.umockdev
@pytest.mark.parametrize("pfs,vfs,guests", HOSTS)
def test_every_view_shows_the_same_figures(tmp_path, pfs, vfs, guests):
    out = _probe(tmp_path, pfs, vfs, guests)
    data = out["scan"]
    assert data["pfs"], "the emulated host has PFs"
    hard_off: dict[str, set[str]] = {}  # pool VFs hard-coded only in shut-off guests
    running_hard = {d["pci"] for g in data["guests"] if g["active"] for d in g["vf_devices"] if d["kind"] != "pool"}
    for g in data["guests"]:
        for d in g["vf_devices"]:
            if d["kind"] != "pool" and not g["active"] and d["pci"] not in running_hard:
                hard_off.setdefault(d["pci"], set()).add(g["name"])

    for i, pf in enumerate(data["pfs"]):
        c = pf["counts"]
        assert c["hard_coded"] + c["pooled"] + c["unpooled"] == len(pf["vfs"])
        assert c["pool_held"] + c["pool_unknown"] + c["pool_free"] == c["pooled"]
        occ = [v["occupancy"] for v in pf["vfs"]]
        assert occ.count("hard-coded") == c["hard_coded"] and occ.count("free") == c["unpooled"]
        # the TUI's PF row shows the same numbers
        row = out["tui_pfs"][pf["pci"]]
        assert row == {"vfs": f"{pf['numvfs']}/{pf['totalvfs']}", "pooled": str(c["pooled"]),
                       "hard": str(c["hard_coded"]), "free": _range(c["free_min"], c["free_max"])}
        # so does the text of `scan` (a PF with VFs)
        if pf["numvfs"]:
            line = out["enabled_lines"][i]  # one such line per PF, in order
            assert line.startswith(f"  {pf['numvfs']} of {pf['totalvfs']} VFs enabled")
            assert f"{c['pooled']} pooled, {c['hard_coded']} hard-coded, " in line
        # a VF shown as free in the TUI is free in the JSON, and the other way round
        for v in pf["vfs"]:
            tui_free = out["tui_vf_states"][v["pci"]] in ("free", "pool")
            assert (v["occupancy"] in ("free", "pool-free", "pool-held")) == tui_free or \
                out["tui_vf_states"][v["pci"]] == "problem"
            if v["occupancy"] == "pool-unknown":
                assert v["may_be_held_by"] and not v["holders"]

    list_rows = {ln.split()[0]: ln.split() for ln in out["pool_list"].splitlines()[1:-1]}
    cap_rows = {r["name"]: r for r in out["capacity"]["pools"]}
    for p in data["pools"]:
        size, in_use, blocked, free, unknown = p["capacity"], p["in_use"], p["blocked"], p["free"], p["unknown"]
        if size is not None:
            assert in_use + blocked + free == size or (free == 0 and in_use + blocked > size)
        cap = "?" if size is None else size
        assert out["tui_pools"][p["name"]] == {"used": f"{in_use}/{'—' if size is None else size}",
                                              "free": "—" if free is None else str(free)}
        line = out["tui_lines"][p["name"]]
        assert f" {in_use}/{cap} used" in line
        if free is not None:
            assert f"· {free} free" in line
        if blocked:
            assert f"· {blocked} blocked" in line
        row = list_rows[p["name"]]
        used_cell = f"{in_use} ({unknown}?)" if unknown else str(in_use)
        expected_tail = f"{'unknown' if size is None else size} {used_cell} {blocked} " \
                        f"{'unknown' if free is None else free}".split()
        assert row[-len(expected_tail):] == expected_tail, row
        r = cap_rows[p["name"]]
        assert (r["capacity"], r["in_use"], r["blocked"], r["free"], r["unknown"]) == (size, in_use, blocked, free, unknown)

    # a pool over a single PF that holds no other pool: the PF's free VFs are the pool's free count,
    # less its VFs hard-coded only in shut-off guests (libvirt would hand those out: a problem says so)
    pf_by_name = {pf["name"]: pf for pf in data["pfs"]}
    for p in data["pools"]:
        if len(p["pfs"]) == 1 and p["pfs"][0] in pf_by_name and p["capacity"] is not None:
            pf = pf_by_name[p["pfs"][0]]
            c = pf["counts"]
            off = sum(1 for v in p["vfs"] if v in hard_off)
            assert c["free_min"] == c["free_max"] == \
                c["unpooled"] + max(0, p["capacity"] - p["in_use"] - p["blocked"] - off)

    n = len(data["problems"])
    assert out["header_problems"] == out["problem_rows"] == data["problem_count"]["total"] == n
    assert re.search(rf"^Problems \({n}\)$" if n else r"^Problems: none found$", out["text"], re.M)


def test_without_libvirt_no_vf_is_free_for_sure():
    # libvirt could not be read (the TUI shows the hardware alone): any guest may hold any VF, so
    # none is counted free, hard-coded or pooled as a fact; the free count is the range 0..all
    scan = Scan(host=Host(pfs=(_pf(0, 4), _pf(1, 2))), libvirt_error="cannot connect to libvirt")
    fig = Figures(scan)
    assert {f.occupancy for f in fig.vfs.values()} == {Occupancy.UNKNOWN}
    for pf, n in zip(scan.host.pfs, (4, 2)):
        c = fig.pf(pf.pci)
        assert (c.unknown, c.free_lo, c.free_hi, c.hard, c.pooled, c.unpooled) == (n, 0, n, 0, 0, 0)
