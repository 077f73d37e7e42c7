#!/usr/bin/env bash
# make local: local AWS plus the Lambda emulator, so a developer can curl the functions or
# `make invoke`. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
start_moto "${MOTO_PORT:-5000}"
# Signed links: the functions and the CLI build and check them with these (docs/email.md).
export RETENTION_LINK_SECRET=${RETENTION_LINK_SECRET:-local-link-secret-not-for-production}
export RETENTION_PUBLIC_URL=${RETENTION_PUBLIC_URL:-http://127.0.0.1:9000/lambda-url/customer-pages}
./target/debug/retention init
./target/debug/retention store add --store demo-shop --platform shopify --webhook-secret demo-secret >/dev/null
./target/debug/retention store add --store demo-woo --platform woocommerce --webhook-secret demo-secret >/dev/null
cat <<MSG
Local AWS:      export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=$AWS_REGION AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
Links:          export RETENTION_LINK_SECRET=$RETENTION_LINK_SECRET RETENTION_PUBLIC_URL=$RETENTION_PUBLIC_URL
Stores:         demo-shop (shopify), demo-woo (woocommerce), webhook secret demo-secret
Invoke:         make invoke FUNCTION=order-webhook EVENT=events/shopify-orders-create.json
Curl:           curl -i -X POST http://127.0.0.1:9000/lambda-url/order-webhook/webhooks/shopify/demo-shop \\
                  -H 'x-shopify-topic: orders/create' -H 'x-shopify-hmac-sha256: …' --data-binary @events/bodies/shopify/orders-create.json
Stop:           Ctrl-C
MSG
exec cargo lambda watch --invoke-address 127.0.0.1 --invoke-port 9000
