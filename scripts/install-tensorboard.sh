#!/usr/bin/env bash
# Installs TensorBoard from PyPI into a virtual environment that trainyard owns.
# Usage: scripts/install-tensorboard.sh [VENV_DIR]   (default: .venv in the repository root)
# Then point the server at it: [viz] tensorboard = "VENV_DIR/bin/tensorboard"
# (the server's default is DATA_DIR/tensorboard-venv/bin/tensorboard).
set -euo pipefail
venv="${1:-$(cd "$(dirname "$0")/.." && pwd)/.venv}"
if [ ! -x "$venv/bin/tensorboard" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check tensorboard
fi
"$venv/bin/tensorboard" --version_tb >/dev/null
echo "$venv/bin/tensorboard"
