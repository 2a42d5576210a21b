#!/usr/bin/env bash
# Property-based API check: schemathesis (PyPI) generates requests from the server's own
# /openapi.json and checks every answer against it (status documented, content type, body
# schema, headers) and that none is a 5xx. Runs against a live `trainyard serve` on a free
# loopback port with a fresh data directory. Seeded and bounded (-n), so CI stays short
# and repeatable.
#
#   scripts/api-check.sh [VENV_DIR]      # default .venv-api; needs target/debug/trainyard
#   scripts/api-check.sh --install-only [VENV_DIR]   # only the virtualenv (CI makes it while
#                                                     # the tests build)
set -euo pipefail
cd "$(dirname "$0")/.."
install_only=0
[[ "${1:-}" == --install-only ]] && { install_only=1; shift; }
VENV=${1:-.venv-api}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
BIN=${TRAINYARD_BIN:-target/debug/trainyard}
EXAMPLES=${API_CHECK_EXAMPLES:-30}

if ! "$VENV/bin/python" -c "import schemathesis, openapi_spec_validator" 2>/dev/null; then
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis==4.32.5' 'openapi-spec-validator>=0.7'
fi
[[ $install_only == 1 ]] && exit 0
[ -x "$BIN" ] || cargo build --locked -p trainyard-cli

WORK=$(mktemp -d)
# A server running as root runs jobs as the project's user, who must pass through here.
chmod 711 "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/config.toml" <<EOF
data_dir = "$WORK/data"
[[projects]]
id = "api-check"
tokens = ["api-check-token"]
[executor]
cores = 4
memory_gb = 8
stop_grace_seconds = 1
EOF
# It holds a token: the server refuses a configuration with secrets that others may read.
chmod 600 "$WORK/config.toml"
"$BIN" serve --config "$WORK/config.toml" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.1
done

curl -sf "http://127.0.0.1:$PORT/openapi.json" -o "$WORK/openapi.json"
"$VENV/bin/python" -c "
import json, sys
from openapi_spec_validator import validate
validate(json.load(open(sys.argv[1])))
print('openapi.json: valid OpenAPI', json.load(open(sys.argv[1]))['openapi'])
" "$WORK/openapi.json"

# Every request is made in the configured project with its token; the two checks left out
# judge the API's documented leniency (numbers as strings, unknown ids answered 400), not
# conformance of the answers.
printf '[parameters]\n"path.project_id" = "api-check"\n' >"$WORK/schemathesis.toml"
cd "$WORK"
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
  -H "X-Auth-Token: api-check-token" \
  --checks all --exclude-checks positive_data_acceptance,negative_data_rejection \
  --phases examples,coverage,fuzzing -n "$EXAMPLES" --seed 12 --workers 1 \
  --no-color --warnings off
