"""make demo's coupon act: issue a win-back coupon through the coupon-issuer function, then replay an
order carrying it through the order-webhook function (twice: the second is a duplicate).

Usage: python3 scripts/demo_coupon.py LAMBDA_PORT API_KEY CODE_FILE   (the code is written to CODE_FILE)
Talks only to the local Lambda emulator (cargo lambda watch); standard library only."""

import base64
import copy
import datetime
import hashlib
import hmac
import json
import sys
import urllib.request

port, api_key, code_file = sys.argv[1], sys.argv[2], sys.argv[3]


def invoke(function: str, event: dict) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(), method="POST")
    return json.load(urllib.request.urlopen(req))


template = json.load(open("events/shopify-orders-create.json"))


def http_event(method: str, path: str, headers: dict, body: bytes) -> dict:
    event = copy.deepcopy(template)
    event["routeKey"] = f"{method} {path}"
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["headers"] = {"content-type": "application/json", **headers}
    event["body"] = body.decode()
    event["isBase64Encoded"] = False
    return event


issue = {
    "customer_id": "7310000000001", "email": "maya.chen@example.com", "campaign": "winback-demo",
    "kind": "percentage", "value": 15, "currency": "USD", "minimum_order": "20.00",
    "expires_in_days": 30, "prefix": "WINBACK",
}
r = invoke("coupon-issuer", http_event("POST", "/stores/demo-shop/coupons",
                                       {"authorization": f"Bearer {api_key}"}, json.dumps(issue).encode()))
coupon = json.loads(r["body"])
print(f"  POST /stores/demo-shop/coupons              -> {r['statusCode']} code {coupon.get('code')}, "
      f"expires {coupon.get('expires_at')}, {coupon.get('terms')}")
r = invoke("coupon-issuer", http_event("POST", "/stores/demo-shop/coupons",
                                       {"authorization": f"Bearer {api_key}"}, json.dumps(issue).encode()))
print(f"  the same request again                      -> {r['statusCode']} code {json.loads(r['body']).get('code')} (same coupon)")
r = invoke("coupon-issuer", http_event("POST", "/stores/demo-shop/coupons",
                                       {"authorization": "Bearer rtk_wrong"}, json.dumps(issue).encode()))
print(f"  with a wrong API key                        -> {r['statusCode']} {r['body']}")

code = coupon["code"]
body = json.loads(open("events/bodies/shopify/orders-create.json").read())
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
body.update({"id": 6100000009001, "admin_graphql_api_id": "gid://shopify/Order/6100000009001",
             "name": "#1009", "created_at": now, "updated_at": now,
             "discount_codes": [{"code": code.lower(), "amount": "9.60", "type": "percentage"}]})
raw = json.dumps(body).encode()
signature = base64.b64encode(hmac.new(b"demo-secret", raw, hashlib.sha256).digest()).decode()
headers = {"x-shopify-topic": "orders/create", "x-shopify-hmac-sha256": signature,
           "x-shopify-webhook-id": "demo-coupon-order-1", "x-shopify-shop-domain": "demo-shop.myshopify.com"}
for attempt in ("order #1009 with the code", "the same delivery again"):
    r = invoke("order-webhook", http_event("POST", "/webhooks/shopify/demo-shop", headers, raw))
    print(f"  {attempt:43} -> {r['statusCode']} {r['body']}")
open(code_file, "w").write(code)
