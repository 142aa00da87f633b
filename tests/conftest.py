"""Every test gets its own demo CLI state (demo/state.py): `--demo` commands run by a test, in this
process or a child, never read or leave state in the user's own demo directory (/run/user/UID or /tmp)."""

import pytest


@pytest.fixture(autouse=True)
def _private_demo_state(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VFPOOL_DEMO_STATE", str(tmp_path_factory.mktemp("demo-state")))
