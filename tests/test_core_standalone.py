"""The core and `scan` never import the UI: import each in a fresh interpreter and look."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

import pytest
from paths import ROOT

CORE = sorted(m.name for m in pkgutil.walk_packages([str(ROOT / "vfpool_tui" / "core")], prefix="vfpool_tui.core."))
MODULES = ["vfpool_tui.core", *CORE, "vfpool_tui.commands.scan"]

PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))
print(','.join(bad))
"""


def test_core_modules_found():
    assert {"vfpool_tui.core.virt.inventory", "vfpool_tui.core.health.problems", "vfpool_tui.core.scan"} <= set(CORE)


@pytest.mark.parametrize("module", MODULES)
def test_imports_without_textual_or_rich(module):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", PROBE, module], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"{module} imports {res.stdout.strip()}"
