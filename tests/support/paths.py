"""Where things are, for every test module whatever its depth under tests/."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent  # the repository
DATA = TESTS / "data"
SUPPORT = TESTS / "support"
