#!/usr/bin/env bash
# `make deploy`: build with SAM (cargo lambda, arm64) and deploy infra/template.yaml to your account.
#
# The first run asks its questions (`sam deploy --guided`: stack name, region, Stage, AlarmEmail…)
# and saves the answers in infra/samconfig.toml (yours, not the project's: keep it out of commits);
# later runs deploy with them. GUIDED=1 asks again. DRY_RUN=1 prints the commands instead.
#
# Needs: AWS credentials in the environment (AWS_PROFILE, or the usual variables) that may create
# IAM roles, and the arm64 Rust standard library (`rustup target add aarch64-unknown-linux-gnu`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SAM_VERSION=1.170.0 # aws-sam-cli on PyPI; pinned so every deploy builds the same way
sam_venv=$root/.venv/sam # its own venv: its boto3 pins must not move moto's
export PATH="$root/.venv/bin:$PATH" # cargo-lambda and zig, which sam build calls
# SAM copies <CodeUri>/target/lambda/<Binary>/bootstrap: the build must land in the workspace's target/.
unset CARGO_TARGET_DIR

run() {
    echo "+ $*"
    if [ -z "${DRY_RUN:-}" ]; then "$@"; fi
}

if [ ! -x "$sam_venv/bin/sam" ] || [ "$("$sam_venv/bin/sam" --version 2>/dev/null)" != "SAM CLI, version $SAM_VERSION" ]; then
    echo "== installing aws-sam-cli $SAM_VERSION into $sam_venv"
    run python3 -m venv "$sam_venv"
    run "$sam_venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_VERSION"
fi
sam=$sam_venv/bin/sam

config=$root/infra/samconfig.toml
run "$sam" build --template-file infra/template.yaml --build-dir .aws-sam/build --beta-features
if [ ! -f "$config" ] || [ -n "${GUIDED:-}" ]; then
    run "$sam" deploy --guided --template-file .aws-sam/build/template.yaml --config-file "$config" \
        --capabilities CAPABILITY_IAM
else
    run "$sam" deploy --template-file .aws-sam/build/template.yaml --config-file "$config"
fi

if [ -z "${DRY_RUN:-}" ]; then
    read -r stack region < <(python3 -c 'import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["default"]["deploy"]["parameters"]
print(p["stack_name"], p.get("region", ""))' "$config")
    "$sam" list stack-outputs --stack-name "$stack" ${region:+--region "$region"} --output table
fi
cat <<'EOF'

Next (README, "Deploy"): verify your SES identity and leave the SES sandbox; set RETENTION_TABLE to
the TableName output; register each store with `retention store add`; paste the webhook URL for its
platform (ShopifyWebhookUrl / WooCommerceWebhookUrl / GenericWebhookUrl, with {store_id} replaced)
into the store's admin.
EOF
