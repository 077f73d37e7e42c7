#!/usr/bin/env bash
# The release profile, chosen by measurement: builds the functions (x86_64, this machine's
# architecture, so that it can run here) under each variant of [profile.release], zips the
# stripped binary as cargo-lambda does, and runs measure.py over all of them against hello-world
# in one interleaved run. Each variant is a full rebuild of the SDK in its own target directory
# (about 10 minutes each on 2 cores).
#
#   VARIANTS="committed opt-s opt-z nopie thin cgu16" RUNS=100 bench/init-time/profiles.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${PROFILES_DIR:-$root/../target-profiles}
mkdir -p "$base"

# The committed profile is lto = true, codegen-units = 1, opt-level = 3, strip, panic = "abort";
# each variant changes one thing through cargo's CARGO_PROFILE_RELEASE_* variables.
variant_env() {
    case "$1" in
    committed) ;;
    opt-s) echo CARGO_PROFILE_RELEASE_OPT_LEVEL=s ;;
    opt-z) echo CARGO_PROFILE_RELEASE_OPT_LEVEL=z ;;
    thin) echo CARGO_PROFILE_RELEASE_LTO=thin ;;
    cgu16) echo CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 ;;
    # Not a profile setting: a position-dependent executable, which needs no start-up relocations
    # (and gives up address-space randomisation of the executable itself).
    nopie) echo RUSTFLAGS=-Crelocation-model=static ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
    esac
}

# --target, so that RUSTFLAGS reach only what runs on Lambda, not build scripts and proc macros.
triple=$(rustc -vV | sed -n 's/^host: //p')
args=()
for v in ${VARIANTS:-committed opt-s opt-z nopie}; do
    dir=$base/$v
    echo "== $v: $(variant_env "$v")"
    # shellcheck disable=SC2046
    (cd "$root" && env $(variant_env "$v") CARGO_TARGET_DIR="$dir" nice -n 10 \
        cargo build --release --target "$triple" -p order-webhook --bin order-webhook -p coupon-issuer --bin coupon-issuer)
    for f in order-webhook coupon-issuer; do
        python3 - "$dir/$triple/release/$f" "$dir/$f.zip" <<'PY'
import sys, zipfile
src, out = sys.argv[1:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open(src, "rb").read())
PY
        echo "$v $f: bootstrap $(stat -c %s "$dir/$triple/release/$f") B, zip $(stat -c %s "$dir/$f.zip") B" | tee -a "$base/sizes.txt"
    done
    args+=("ow-$v=$dir/$triple/release/order-webhook=$root/events/shopify-orders-create.json")
    args+=("ci-$v=$dir/$triple/release/coupon-issuer=$here/events/coupon-issuer-check.json")
done

hello=${CARGO_TARGET_DIR:-$root/../target-infra}/lambda/hello/bootstrap
[ -x "$hello" ] || (cd "$here/hello" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/../target-infra} cargo lambda build --release --x86-64)
python3 "$here/measure.py" --runs "${RUNS:-100}" "hello=$hello=$root/events/shopify-orders-create.json" "${args[@]}"
