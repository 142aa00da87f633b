"""How a conversion run behaves: timeouts, concurrency, when to force a guest off."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    shutdown_timeout: float = 120.0  # wait this long for a graceful shutdown
    force_after: float | None = None  # destroy if not off this many seconds after the ACPI request
    concurrency: int = 4
    stop_on_error: bool = False
    poll_interval: float = 1.0  # state polling while waiting (the fallback to lifecycle events)
    start_timeout: float = 30.0  # how long verify waits for the guest to report "running"
    vf_wait_timeout: float | None = None  # waiting for a free pool VF; None: shutdown_timeout + 30
