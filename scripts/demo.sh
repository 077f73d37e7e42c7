#!/usr/bin/env bash
# make demo: the engine end to end on local AWS. Starts moto and the Lambda emulator, creates the table,
# registers two stores, replays signed Shopify and WooCommerce webhooks through the real order-webhook
# function, imports a history, prints the profiles, runs the churn scan through the churn-scan function
# (its jobs fanned out over a local SQS queue by scripts/scan_poller.py), prints the run report and the
# riskiest customers with their reasons, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
retention() { ./target/debug/retention "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Local AWS"
start_moto
echo "moto on $AWS_ENDPOINT_URL (DynamoDB, one request at a time)"
# The churn scan's job queue, before the functions start: churn-scan reads its URL from the env.
export RETENTION_SCAN_QUEUE_URL
RETENTION_SCAN_QUEUE_URL=$("$VENV_PY" -c 'import boto3; import os; print(boto3.client("sqs", region_name=os.environ["AWS_REGION"]).create_queue(QueueName="retention-scan-jobs")["QueueUrl"])')
WATCH_LOG=$(mktemp)
# Signed links (unsubscribe, surveys): the deployment's secret and where customer-pages answers; the
# functions read them too, so they are set before the emulator starts.
LAMBDA_PORT=$(free_port)
export RETENTION_LINK_SECRET=demo-link-secret-not-for-production
export RETENTION_PUBLIC_URL="http://127.0.0.1:${LAMBDA_PORT}/lambda-url/customer-pages"
start_functions "$WATCH_LOG"
echo "Lambda emulator (cargo lambda watch) on 127.0.0.1:$LAMBDA_PORT"

say "retention init, store add"
retention init
retention store add --store demo-shop --platform shopify --webhook-secret demo-secret \
  --name "Slow Mornings" --from-email hello@slow-mornings.example --timezone America/New_York --currency USD
retention store add --store demo-woo --platform woocommerce --webhook-secret demo-secret \
  --name "Bottega Demo" --timezone Europe/Rome --currency EUR

say "Signed webhooks through the order-webhook function (events/, in story order)"
invoke() {
  local out status body
  out=$(cargo lambda invoke order-webhook --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file "events/$1")
  status=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["statusCode"], r["body"])' "$out")
  printf '  %-40s -> %s\n' "$1" "$status"
}
for event in $(python3 -c 'import json; print("\n".join(e for e in json.load(open("events/story.json"))["replay"] if "shop-redact" not in e))'); do
  invoke "$event"
done
say "The same delivery again, and a forged one"
invoke shopify-orders-create.json
python3 - "$LAMBDA_PORT" <<'PY'
import json, sys, urllib.request
event = json.load(open("events/shopify-orders-create.json"))
event["headers"]["x-shopify-hmac-sha256"] = "Zm9yZ2VkIHNpZ25hdHVyZQ=="
req = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/2015-03-31/functions/order-webhook/invocations",
    data=json.dumps(event).encode(), method="POST")
r = json.load(urllib.request.urlopen(req))
print(f"  {'forged shopify-orders-create.json':40} -> {r['statusCode']} {r['body']}")
PY

say "Coupons: a win-back coupon through the coupon-issuer function, redeemed by an order webhook"
API_KEY=$(retention store rotate-key --store demo-shop | awk '/rtk_/{print $1}')
CODE_FILE=$(mktemp)
python3 scripts/demo_coupon.py "$LAMBDA_PORT" "$API_KEY" "$CODE_FILE"
CODE=$(cat "$CODE_FILE")
rm -f "$CODE_FILE"
retention coupons show --store demo-shop --code "$CODE"
retention coupons check --store demo-shop --code "$CODE" --customer 7310000000001 || true

say "retention import (history from before the engine was installed)"
retention import --store demo-shop demo/history-demo-shop.csv
echo "-- again (idempotent):"
retention import --store demo-shop demo/history-demo-shop.csv

say "Profiles: demo-shop"
retention customer list --store demo-shop
say "Profiles: demo-woo"
retention customer list --store demo-woo
say "One customer by email, as JSON (identity and figures; --json also lists every order state)"
retention customer show --store demo-shop --email maya.chen@example.com --json |
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(json.dumps({k: d[k] for k in ("customer_id", "person", "stats")}, indent=2, ensure_ascii=False))'

CDNOW=${RETENTION_DATASETS_DIR:-../shared/datasets}/cdnow/CDNOW_sample.txt
if [[ -f $CDNOW ]]; then
  say "Churn models: retention model fit on the CDNOW sample (offline; what the scan runs per store)"
  CSV=$(mktemp --suffix=.csv)
  awk 'BEGIN{print "customer_id,date,amount"} {printf "%s,%s-%s-%s,%s\n", $2, substr($3,1,4), substr($3,5,2), substr($3,7,2), $5}' "$CDNOW" >"$CSV"
  retention model fit --transactions "$CSV" --calibration-end 1997-09-30 --holdout-end 1998-06-30 --unit weeks
  rm -f "$CSV"
fi

say "The churn scan: a scheduled event starts demo-shop's run, SQS fans out its 4 segments to 3 workers"
out=$(cargo lambda invoke churn-scan --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file events/scan/demo-shop.json)
echo "  events/scan/demo-shop.json -> $out"
"$VENV_PY" scripts/scan_poller.py "$RETENTION_SCAN_QUEUE_URL" "$LAMBDA_PORT" 3
say "retention scan runs, and the run's report (a run is one store and day: this resumes the done run)"
retention scan runs --store demo-shop
retention scan --store demo-shop 2>/dev/null
say "The riskiest customers, and why (retention scores, retention customer show)"
RISKIEST=$(retention scores --store demo-shop | python3 scripts/riskiest.py 3)
[[ -n $RISKIEST ]] && retention customer show --store demo-shop --customer "$RISKIEST" | grep -E "^customer|churn risk|segment|why"

say "Email: the store's branding, and a win-back broadcast queued in the outbox (twice: the key makes it once)"
retention store set --store demo-shop --from-email hello@demo-shop.example \
  --postal-address "1 Market Street, San Francisco, CA 94105" --brand-color "#0a7c59" \
  --logo-url https://demo-shop.example/logo.png --quiet-hours 21:00-08:00 --max-send-rate 5
retention email queue --store demo-shop --template win-back --all --key winback-demo \
  --coupon-percent 15 --coupon-days 14 --now 2026-12-04T12:00:00Z
retention email queue --store demo-shop --template win-back --all --key winback-demo \
  --coupon-percent 15 --coupon-days 14 --now 2026-12-04T12:00:00Z
retention email outbox --store demo-shop

say "Email: the sender (as the email-sender function drains every minute), paced, once"
retention email verify-sender --store demo-shop
# Queued for 07:00 in New York, inside quiet hours (21:00-08:00): a drain then defers it; at 12:00 it goes.
retention email send --store demo-shop --now 2026-12-04T17:00:00Z
retention email send --store demo-shop --now 2026-12-04T17:00:00Z
retention email outbox --store demo-shop
mkdir -p target/demo/previews
if [[ -n ${RISKIEST:-} ]]; then
  for t in win-back vip-early-access post-purchase birthday survey-invite; do
    retention email preview --store demo-shop --template "$t" --customer "$RISKIEST" \
      --out "target/demo/previews/$t.html" --text "target/demo/previews/$t.txt"
  done
  echo "previews of every template for customer $RISKIEST in target/demo/previews/"
fi

say "Email: the customer clicks unsubscribe (the link taken from the email SES kept), through customer-pages"
UNSUB=$("$VENV_PY" scripts/unsubscribe_link.py "$AWS_ENDPOINT_URL" hello@demo-shop.example)
echo "List-Unsubscribe: $UNSUB"
curl -s -o /dev/null -w "GET  (a link scanner, or the confirm page): %{http_code}; changes nothing\n" "$UNSUB"
curl -s -o /dev/null -w "POST (RFC 8058 one-click): %{http_code}; consent withdrawn\n" \
  -X POST -H 'content-type: application/x-www-form-urlencoded' --data 'List-Unsubscribe=One-Click' "$UNSUB"
BAD=${UNSUB%?}; [[ ${UNSUB: -1} == A ]] && BAD+=B || BAD+=A
curl -s -o /dev/null -w "a tampered link: %{http_code}; changes nothing\n" -X POST "$BAD"
retention email queue --store demo-shop --template win-back --all --key winback-demo-2 \
  --now 2026-12-05T12:00:00Z >/dev/null
echo "a second broadcast, after the unsubscribe:"
retention email send --store demo-shop --now 2026-12-06T12:00:00Z

say "Email: SES reports a permanent bounce and a complaint; email-events suppresses the addresses"
for e in bounce-permanent complaint; do
  cargo lambda invoke email-events --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
    --data-file "events/ses/$e.eventbridge.json"
  echo
done
retention email suppressions --store demo-shop
retention email status --store demo-shop

say "Function logs (structured JSON: one line per request, one per scan job)"
grep '"function":"order-webhook"' "$WATCH_LOG" | tail -2 || true
grep '"target":"scan"' "$WATCH_LOG" | grep -v 'scan run done' | tail -2 || true
rm -f "$WATCH_LOG"
say "Done: everything started here is stopped."
