#!/usr/bin/env bash
# Init time of every function against a hello-world lambda_runtime function, built alike, one run.
#
# Builds the release binaries for the machine's own architecture (they must run here), with the
# workspace's release profile, in $CARGO_TARGET_DIR (default /work/target-infra… or target-infra/ beside
# the workspace) so the shared debug target dir is never blocked, then runs measure.py.
#   RUNS=200 bench/init-time/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/../target-infra}
export PATH="$root/.venv/bin:$PATH"
case "$(uname -m)" in
aarch64) arch=arm64 flag=--arm64 ;;
*) arch=x86_64 flag=--x86-64 ;;
esac

# The baseline is only a baseline if it is built the same way.
python3 - "$root/Cargo.toml" "$here/hello/Cargo.toml" <<'PY'
import sys, tomllib
a, b = (tomllib.load(open(p, "rb"))["profile"]["release"] for p in sys.argv[1:])
if a != b:
    sys.exit(f"[profile.release] differs: workspace {a} vs hello {b}; copy the workspace's")
PY

ARCH=$arch nice -n 10 bash "$root/scripts/build.sh"
(cd "$here/hello" && nice -n 10 cargo lambda build --release "$flag")

# The event each function is handed twice after init (first request, then warm); none: init only.
event_for() {
    case "$1" in
    hello | order-webhook) echo "$root/events/shopify-orders-create.json" ;;
    coupon-issuer) echo "$here/events/coupon-issuer-check.json" ;;
    esac
}
with_event() {
    local e
    e=$(event_for "$1")
    echo "$1=$2${e:+=$e}"
}

# Run exactly what `make build` ships: the bootstrap inside each zip.
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
args=("$(with_event hello "$CARGO_TARGET_DIR/lambda/hello/bootstrap")")
for zip in "$CARGO_TARGET_DIR"/lambda/*/bootstrap.zip; do
    name=$(basename "$(dirname "$zip")")
    [ "$name" = hello ] && continue
    # Only what this workspace builds now (a stale directory of a removed function is skipped).
    grep -qs "name = \"$name\"" "$root"/crates/*/Cargo.toml || continue
    mkdir -p "$unpacked/$name"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$unpacked/$name"
    chmod +x "$unpacked/$name/bootstrap"
    args+=("$(with_event "$name" "$unpacked/$name/bootstrap")")
done
# MEASURE_ARGS: more options for measure.py (--system-roots, --warmup N).
# shellcheck disable=SC2086
python3 "$here/measure.py" --runs "${RUNS:-200}" ${MEASURE_ARGS:-} "${args[@]}"
