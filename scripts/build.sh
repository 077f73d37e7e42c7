#!/usr/bin/env bash
# `make build`: a release zip per Lambda function, for arm64 (what infra/template.yaml declares).
#
# A function is a workspace crate with a [[bin]] that depends on lambda_http or lambda_runtime (the
# same rule as tests/it/infra.rs), so a new function crate is built without touching this file.
# Output: $CARGO_TARGET_DIR (default target/)/lambda/<binary>/bootstrap.zip, and a size table.
#
#   ARCH=x86_64 scripts/build.sh      build for x86_64 instead (what bench/init-time runs here)
#   CARGO_TARGET_DIR=… scripts/build.sh   keep release builds out of the debug target dir
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH" # cargo-lambda and the zig it links with (make venv)

arch=${ARCH:-arm64}
case "$arch" in
arm64) target=aarch64-unknown-linux-gnu flag=--arm64 ;;
x86_64) target=x86_64-unknown-linux-gnu flag=--x86-64 ;;
*)
    echo "ARCH must be arm64 or x86_64, not $arch" >&2
    exit 2
    ;;
esac

if ! command -v cargo-lambda >/dev/null; then
    echo "cargo-lambda not found: run 'make venv' (it is pinned in requirements-dev.txt)" >&2
    exit 1
fi
if ! rustup target list --installed | grep -qx "$target"; then
    echo "== rustup target add $target"
    rustup target add "$target" || {
        echo "the Rust standard library for $target is not installed and could not be fetched;" >&2
        echo "install it with 'rustup target add $target' where the Rust dist server is reachable" >&2
        exit 1
    }
fi

mapfile -t functions < <(python3 - <<'EOF'
import glob, tomllib
for manifest in sorted(glob.glob("crates/*/Cargo.toml")):
    with open(manifest, "rb") as f:
        m = tomllib.load(f)
    deps = m.get("dependencies", {})
    if m.get("bin") and ("lambda_http" in deps or "lambda_runtime" in deps):
        for b in m["bin"]:
            print(m["package"]["name"], b["name"])
EOF
)
if [ ${#functions[@]} -eq 0 ]; then
    echo "no function crates found under crates/" >&2
    exit 1
fi

args=()
for f in "${functions[@]}"; do
    read -r package binary <<<"$f"
    args+=(-p "$package" --bin "$binary")
done

out=${CARGO_TARGET_DIR:-$root/target}
echo "== cargo lambda build --release $flag --output-format zip ${args[*]}"
start=$(date +%s)
cargo lambda build --release "$flag" --output-format zip "${args[@]}"
echo "== built in $(($(date +%s) - start)) s ($target, profile.release of Cargo.toml)"

printf '%-20s %12s %12s\n' function "zip bytes" "bootstrap"
status=0
for f in "${functions[@]}"; do
    read -r _ binary <<<"$f"
    zip="$out/lambda/$binary/bootstrap.zip"
    if [ ! -f "$zip" ]; then
        echo "missing $zip" >&2
        status=1
        continue
    fi
    unpacked=$(python3 -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
    printf '%-20s %12s %12s\n' "$binary" "$(stat -c %s "$zip")" "$unpacked"
done
exit $status
