#!/usr/bin/env bash
# Set up (if needed) and open vfpool-tui on the built-in demo hypervisor.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
exec .venv/bin/vfpool-tui --demo "$@"
