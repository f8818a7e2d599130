#!/usr/bin/env bash
# Runs the demo in the embedded mode (no Redis, PostgreSQL or broker needed):
#   ./scripts/demo.sh [arguments for `orchestrator demo`...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/_setup_venv.sh
source scripts/_setup_venv.sh
setup_venv

exec "$VENV/bin/orchestrator" demo "$@"
