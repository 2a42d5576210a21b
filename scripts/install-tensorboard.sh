#!/usr/bin/env bash
# Installs TensorBoard from PyPI into a virtual environment that trainyard owns.
# Usage: scripts/install-tensorboard.sh [VENV_DIR]   (default: .venv in the repository root)
# Then point the server at it: [viz] tensorboard = "VENV_DIR/bin/tensorboard"
# (the server's default is DATA_DIR/tensorboard-venv/bin/tensorboard).
#
# A server running as root starts TensorBoard as the project's own user, so the environment
# is built on the system's Python (/usr/bin/python3), not one below a home folder that
# others cannot enter (pyenv's under /root), and VENV_DIR must be reachable by others.
set -euo pipefail
venv="${1:-$(cd "$(dirname "$0")/.." && pwd)/.venv}"
python=/usr/bin/python3
if [ ! -x "$python" ]; then
  python=$(command -v python3)
elif ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
# An environment made on another interpreter (under a private home) is made again.
if [ -x "$venv/bin/python3" ] && [ "$(readlink -f "$venv/bin/python3")" != "$(readlink -f "$python")" ]; then
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/tensorboard" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check tensorboard
fi
"$venv/bin/tensorboard" --version_tb >/dev/null
echo "$venv/bin/tensorboard"
