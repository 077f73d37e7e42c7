# Shared by demo.sh and local.sh: local AWS (moto, one request at a time) on a free port.
VENV_PY=${VENV_PY:-.venv/bin/python}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
export RETENTION_TABLE=${RETENTION_TABLE:-retention}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start_moto() {
  local portfile
  portfile=$(mktemp)
  MOTO_WATCH_STDIN=0 "$VENV_PY" tests/moto_server.py "${1:-0}" >"$portfile" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 100); do [[ -s $portfile ]] && break; sleep 0.1; done
  MOTO_PORT=$(head -1 "$portfile")
  rm -f "$portfile"
  [[ -n $MOTO_PORT ]] || { echo "moto did not start" >&2; exit 1; }
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts `cargo lambda watch` (the Lambda runtime emulator) on $LAMBDA_PORT (a free one when unset)
# and waits until it listens.
start_functions() {
  LAMBDA_PORT=${LAMBDA_PORT:-$(free_port)}
  cargo lambda watch --quiet --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" >"${1:-/dev/null}" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$LAMBDA_PORT") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "cargo lambda watch did not start" >&2
  exit 1
}
