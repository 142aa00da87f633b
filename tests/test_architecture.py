"""The layers and the no-cycles rule of pyproject.toml's import-linter contracts hold.

The contracts: the UI and the commands stand on the core and never the other way round; inside the
core, scan > conversion | health | pools > host | virt > the base modules; no two modules of any
package import each other, directly or round a loop.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from paths import ROOT


def _lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "lint-imports (import-linter) is a test dependency: pip install -e '.[test]'"
    res = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_import_contracts_are_kept():
    out = _lint_imports()
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert len(contracts) >= 3
    for contract in contracts:  # every contract was run, and kept
        assert f"{contract['name']} KEPT" in " ".join(out.split())
    assert "0 broken" in out


def test_core_packages_say_what_they_hold():
    core = ROOT / "vfpool_tui" / "core"
    for init in sorted(core.glob("*/__init__.py")):
        doc = init.read_text().strip()
        assert doc.startswith('"""') and "Imports" in doc, f"{init.relative_to(ROOT)}: say what it holds and may import"


MAX_CLASS_LINES = 300
EXEMPT_CLASSES: set[tuple[str, str]] = set()  # none: every class stays under the limit


def test_no_class_over_300_lines():
    import ast

    too_long = []
    for path in sorted((ROOT / "vfpool_tui").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if isinstance(node, ast.ClassDef) and (rel, node.name) not in EXEMPT_CLASSES:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    too_long.append(f"{rel}: class {node.name} is {lines} lines")
    assert not too_long, "split these (at most 300 lines a class): " + "; ".join(too_long)
