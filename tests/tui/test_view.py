"""The pool status words of ``tui/view.py`` (Pools view, host view, wizard) and troubleshoot's marks."""

from __future__ import annotations

from vfpool_tui.core.health.diagnose import pool_usage
from vfpool_tui.core.model import Host, Pool, Scan
from vfpool_tui.tui.troubleshoot_view import pool_mark
from vfpool_tui.tui.view import pool_status


def pool(active=True, capacity=4, in_use=0, free=4):
    return Pool(name="p", uuid="u", pfs=("eth3",), addresses=(), active=active, autostart=True,
                persistent=True, managed=True, capacity=capacity, in_use=in_use, free=free)


def test_an_active_pool_without_vfs_says_so_not_full():
    assert pool_status(pool(capacity=0, free=0))[0] == "NO VFS"
    assert pool_status(pool(capacity=4, in_use=4, free=0))[0] == "FULL"
    assert pool_status(pool(active=False, capacity=0, free=0))[0] == "INACTIVE"
    assert pool_status(pool())[0] == "active"


def test_troubleshoot_marks_an_active_pool_without_vfs_as_such():
    scan = Scan(host=Host(pfs=()), pools=(pool(capacity=0, free=0),))
    assert pool_mark(pool_usage(scan, "p")).word == "NO VFS"
