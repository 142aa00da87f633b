"""tui.pool_history: each pool's use over the session, so an exhaustion that passed still shows."""

from __future__ import annotations

from vfpool_tui.core.model import Host, Pool, Scan
from vfpool_tui.tui.pool_history import PoolHistory


def _scan(in_use: int, blocked: int = 0, capacity: int | None = 8, active: bool = True) -> Scan:
    free = None if capacity is None else max(0, capacity - in_use - blocked)
    pool = Pool("passthrough", "u", ("eth3",), (), active, True, True, True, capacity=capacity,
                in_use=in_use, free=free, blocked=blocked)
    return Scan(host=Host(), pools=(pool,))


def test_an_exhaustion_that_passed_stays_in_the_sparkline_and_the_summary():
    h = PoolHistory()
    for when, used in (("12:00:00", 2), ("12:00:05", 8), ("12:00:09", 4)):
        h.record(_scan(used), when)
    spark = h.sparkline("passthrough")
    assert spark.plain == "▃█▅"
    full = [span for span in spark.spans if "red" in str(span.style)]
    assert [(s.start, s.end) for s in full] == [(1, 2)]  # only the full sample is red
    assert h.summary("passthrough") == "peak 8/8 over 3 scans since 12:00:00 · full in 1 of them, first at 12:00:05"


def test_blocked_vfs_count_as_taken_and_unknown_capacity_is_a_dot():
    h = PoolHistory(samples=2)
    h.record(_scan(6, blocked=2), "t1")
    h.record(_scan(0, capacity=None), "t2")
    h.record(_scan(1), "t3")  # only the last 2 samples are kept
    assert h.sparkline("passthrough").plain == "·▂"
    assert h.summary("nope") == "" and h.sparkline("nope").plain == ""


def test_an_inactive_pool_is_never_called_full():
    h = PoolHistory()
    h.record(_scan(0, capacity=0, active=False), "t1")
    assert h.samples("passthrough")[0].full is False
