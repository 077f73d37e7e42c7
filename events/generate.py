#!/usr/bin/env python3
"""Writes the demo webhook deliveries: raw bodies under bodies/<platform>/ and, next to this script,
API Gateway HTTP API (payload 2.0) events that wrap them, signed with the demo secret.

    python3 events/generate.py

Everything is derived from the tables below, so running it twice gives the same bytes. Replaying the
envelopes in the order of story.json tells the demo's story (see README.md).
"""

import base64
import hashlib
import hmac
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET = b"demo-secret"
ACCOUNT = "123456789012"
API_ID = "demo4api7x"
REGION = "eu-west-1"
SHOP_DOMAIN = "demo-shop.myshopify.com"
WOO_SITE = "https://demo-woo.example/"

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


# --- small helpers ---------------------------------------------------------------------------------


def stable_hex(*parts, n=32):
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[:n]


def stable_uuid(*parts):
    h = stable_hex(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def epoch(iso_utc):
    """Seconds since 1970 for 'YYYY-MM-DDTHH:MM:SSZ' (UTC), without the datetime module's locale."""
    date, time = iso_utc.rstrip("Z").split("T")
    y, mo, d = (int(x) for x in date.split("-"))
    h, mi, s = (int(x) for x in time.split(":"))
    # Days from civil (Howard Hinnant's algorithm).
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + mi * 60 + s


def apigw_time(iso_utc):
    date, time = iso_utc.rstrip("Z").split("T")
    y, mo, d = date.split("-")
    return f"{d}/{MONTHS[int(mo) - 1]}/{y}:{time} +0000"


def money(cents):
    return f"{cents // 100}.{cents % 100:02d}"


def money_set(cents, currency):
    m = {"amount": money(cents), "currency_code": currency}
    return {"shop_money": m, "presentment_money": dict(m)}


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --- Shopify bodies --------------------------------------------------------------------------------
# The shop's time zone is America/New_York (-05:00 in November), as Shopify writes local times.

SHOP_CURRENCY = "USD"


def civil(t):
    """(year, month, day, hour, minute, second) of a Unix time (Howard Hinnant's civil_from_days)."""
    days, rest = divmod(t, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y += m <= 2
    h, rest = divmod(rest, 3600)
    mi, s = divmod(rest, 60)
    return y, m, d, h, mi, s


def local(iso_utc):
    """'2026-11-03T15:00:00Z' -> '2026-11-03T10:00:00-05:00'."""
    y, m, d, h, mi, s = civil(epoch(iso_utc) - 5 * 3600)
    return f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}-05:00"


CUSTOMERS = {
    "maya": {
        "id": 7310000000001,
        "email": "maya.chen@example.com",
        "first_name": "Maya",
        "last_name": "Chen",
        "phone": "+12125550101",
        "consent": "subscribed",
        "created": "2026-11-03T14:58:00Z",
        "address": {"address1": "12 Orchard St", "city": "New York", "province_code": "NY", "zip": "10002"},
    },
    "leo": {
        "id": 7310000000002,
        "email": "leo.martin@example.com",
        "first_name": "Léo",
        "last_name": "Martin",
        "phone": None,
        "consent": "subscribed",
        "created": "2026-11-05T16:20:00Z",
        "address": {"address1": "48 Atlantic Ave", "city": "Brooklyn", "province_code": "NY", "zip": "11201"},
    },
    "nora": {
        "id": 7310000000003,
        "email": "nora.quinn@example.com",
        "first_name": "Nora",
        "last_name": "Quinn",
        "phone": None,
        "consent": "subscribed",
        "created": "2026-11-02T14:15:00Z",
        "address": None,
    },
}

PRODUCTS = {
    "pour-over": (8800000000001, 8900000000001, "Ceramic Pour-Over Set", 2800, "Slow Mornings Co."),
    "ethiopia": (8800000000002, 8900000000002, "Ethiopia Yirgacheffe 250g", 1800, "Demo Roasters"),
    "colombia": (8800000000003, 8900000000003, "Colombia Huila 250g", 1800, "Demo Roasters"),
    "grinder": (8800000000004, 8900000000004, "Burr Grinder", 14900, "Grindwell"),
}


def shopify_address(c):
    a = c["address"] or {}
    return {
        "first_name": c["first_name"],
        "last_name": c["last_name"],
        "address1": a.get("address1"),
        "city": a.get("city"),
        "province_code": a.get("province_code"),
        "zip": a.get("zip"),
        "country_code": "US",
        "phone": c["phone"],
        "name": f'{c["first_name"]} {c["last_name"]}',
    }


def shopify_customer(key, updated=None, consent=None):
    c = CUSTOMERS[key]
    state = consent or c["consent"]
    return {
        "id": c["id"],
        "email": c["email"],
        "created_at": local(c["created"]),
        "updated_at": local(updated or c["created"]),
        "first_name": c["first_name"],
        "last_name": c["last_name"],
        "state": "enabled",
        "note": None,
        "verified_email": True,
        "tax_exempt": False,
        "phone": c["phone"],
        "email_marketing_consent": {
            "state": state,
            "opt_in_level": "single_opt_in",
            "consent_updated_at": local(updated or c["created"]),
        },
        "sms_marketing_consent": None,
        "tags": "",
        "currency": SHOP_CURRENCY,
        "tax_exemptions": [],
        "admin_graphql_api_id": f'gid://shopify/Customer/{c["id"]}',
        "default_address": shopify_address(c) if c["address"] else None,
    }


def shopify_order(number, customer, lines, created, updated, coupon=None, cancelled=None, financial="paid",
                  fulfillment=None):
    order_id = 6100000000000 + number
    subtotal = sum(PRODUCTS[p][3] * q for p, q in lines)
    discount = subtotal // 10 if coupon else 0
    total = subtotal - discount
    c = CUSTOMERS[customer]
    line_items = []
    for i, (p, q) in enumerate(lines, start=1):
        product_id, variant_id, title, price, vendor = PRODUCTS[p]
        line_id = order_id * 10 + i
        line_items.append({
            "id": line_id,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
            "name": title,
            "title": title,
            "product_id": product_id,
            "variant_id": variant_id,
            "variant_title": None,
            "vendor": vendor,
            "sku": p.upper(),
            "price": money(price),
            "price_set": money_set(price, SHOP_CURRENCY),
            "quantity": q,
            "current_quantity": q,
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "fulfillment_status": fulfillment,
            "total_discount": "0.00",
            "discount_allocations": [],
        })
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "number": number - 1000,
        "email": c["email"],
        "contact_email": c["email"],
        "phone": None,
        "created_at": local(created),
        "processed_at": local(created),
        "updated_at": local(updated),
        "cancelled_at": local(cancelled) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "closed_at": None,
        "currency": SHOP_CURRENCY,
        "presentment_currency": SHOP_CURRENCY,
        "financial_status": "voided" if cancelled else financial,
        "fulfillment_status": fulfillment,
        "buyer_accepts_marketing": c["consent"] == "subscribed",
        "subtotal_price": money(subtotal - discount),
        "subtotal_price_set": money_set(subtotal - discount, SHOP_CURRENCY),
        "total_discounts": money(discount),
        "total_discounts_set": money_set(discount, SHOP_CURRENCY),
        "total_tax": "0.00",
        "taxes_included": False,
        "total_price": money(total),
        "total_price_set": money_set(total, SHOP_CURRENCY),
        "discount_codes": [{"code": coupon, "amount": money(discount), "type": "percentage"}] if coupon else [],
        "source_name": "web",
        "test": False,
        "customer": shopify_customer(customer),
        "billing_address": shopify_address(c),
        "shipping_address": shopify_address(c),
        "line_items": line_items,
        "refunds": [],
        "shipping_lines": [],
        "tags": "",
        "note": None,
    }


def shopify_refund(number, line_index, product, quantity, created, note):
    order_id = 6100000000000 + number
    refund_id = 9100000000000 + number
    amount = PRODUCTS[product][3] * quantity
    return {
        "id": refund_id,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "order_id": order_id,
        "created_at": local(created),
        "processed_at": local(created),
        "note": note,
        "restock": False,
        "user_id": 5500000000001,
        "duties": [],
        "total_duties_set": money_set(0, SHOP_CURRENCY),
        "return": None,
        "refund_line_items": [{
            "id": refund_id * 10 + 1,
            "line_item_id": order_id * 10 + line_index,
            "quantity": quantity,
            "restock_type": "no_restock",
            "location_id": None,
            "subtotal": float(money(amount)),  # Shopify sends this one as a JSON number; parsers read subtotal_set.
            "subtotal_set": money_set(amount, SHOP_CURRENCY),
            "total_tax": 0,
            "total_tax_set": money_set(0, SHOP_CURRENCY),
        }],
        "transactions": [{
            "id": 9200000000000 + number,
            "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{9200000000000 + number}",
            "order_id": order_id,
            "kind": "refund",
            "gateway": "shopify_payments",
            "status": "success",
            "message": None,
            "created_at": local(created),
            "test": False,
            "parent_id": 9300000000000 + number,
            "processed_at": local(created),
            "amount": money(amount),
            "currency": SHOP_CURRENCY,
        }],
        "order_adjustments": [],
        "refund_shipping_lines": [],
    }


def shopify_checkout(customer, product, created):
    c = CUSTOMERS[customer]
    token = stable_hex("checkout", customer, created)
    product_id, variant_id, title, price, vendor = PRODUCTS[product]
    return {
        "id": 9400000000001,
        "token": token,
        "cart_token": stable_hex("cart", customer, created),
        "email": c["email"],
        "buyer_accepts_marketing": False,
        "created_at": local(created),
        "updated_at": local(created),
        "completed_at": None,
        "closed_at": None,
        "currency": SHOP_CURRENCY,
        "presentment_currency": SHOP_CURRENCY,
        "source_name": "web",
        "name": "#9400000000001",
        "abandoned_checkout_url": f"https://{SHOP_DOMAIN}/60021178580/checkouts/{token}/recover?key={stable_hex('key', token)}",
        "discount_codes": [],
        "line_items": [{
            "key": stable_hex("line", token),
            "title": title,
            "product_id": product_id,
            "variant_id": variant_id,
            "vendor": vendor,
            "quantity": 1,
            "price": money(price),
        }],
        "subtotal_price": money(price),
        "total_discounts": "0.00",
        "total_line_items_price": money(price),
        "total_tax": "0.00",
        "total_price": money(price),
        "customer": shopify_customer(customer),
    }


SHOPIFY = [
    # (topic, UTC time of delivery, body)
    ("customers/create", "2026-11-02T14:15:02Z", shopify_customer("nora")),
    ("orders/create", "2026-11-03T15:00:03Z",
     shopify_order(1001, "maya", [("pour-over", 1), ("ethiopia", 2)], "2026-11-03T15:00:00Z", "2026-11-03T15:00:01Z")),
    ("orders/cancelled", "2026-11-05T18:42:04Z",
     shopify_order(1002, "leo", [("grinder", 1)], "2026-11-05T16:21:00Z", "2026-11-05T18:42:00Z",
                   cancelled="2026-11-05T18:42:00Z")),
    ("orders/updated", "2026-11-06T10:30:05Z",
     shopify_order(1001, "maya", [("pour-over", 1), ("ethiopia", 2)], "2026-11-03T15:00:00Z", "2026-11-06T10:30:00Z",
                   fulfillment="fulfilled")),
    ("customers/update", "2026-11-06T19:02:03Z", shopify_customer("leo", "2026-11-06T19:02:00Z", "unsubscribed")),
    ("refunds/create", "2026-11-08T12:10:04Z",
     shopify_refund(1001, 2, "ethiopia", 1, "2026-11-08T12:10:00Z", "Bag arrived torn")),
    ("orders/paid", "2026-11-17T09:45:06Z",
     shopify_order(1003, "maya", [("colombia", 2)], "2026-11-17T09:45:00Z", "2026-11-17T09:45:02Z",
                   coupon="WELCOME10")),
    ("checkouts/create", "2026-11-20T21:05:02Z", shopify_checkout("leo", "grinder", "2026-11-20T21:05:00Z")),
    ("customers/data_request", "2026-11-21T08:00:02Z", {
        "shop_id": 60021178580,
        "shop_domain": SHOP_DOMAIN,
        "orders_requested": [],
        "customer": {"id": CUSTOMERS["nora"]["id"], "email": CUSTOMERS["nora"]["email"], "phone": None},
        "data_request": {"id": 4400001},
    }),
    ("customers/redact", "2026-11-22T08:00:02Z", {
        "shop_id": 60021178580,
        "shop_domain": SHOP_DOMAIN,
        "customer": {"id": CUSTOMERS["nora"]["id"], "email": CUSTOMERS["nora"]["email"], "phone": None},
        "orders_to_redact": [],
    }),
    ("shop/redact", "2026-11-22T20:00:02Z", {"shop_id": 60021178580, "shop_domain": SHOP_DOMAIN}),
]


# --- WooCommerce bodies ----------------------------------------------------------------------------
# WordPress runs in Europe/Rome (+01:00 in November): `date_*` are local, `date_*_gmt` UTC.

WOO_CURRENCY = "EUR"
SOFIA = {
    "id": 21,
    "email": "sofia.rossi@example.com",
    "first_name": "Sofia",
    "last_name": "Rossi",
    "username": "sofia.rossi",
    "phone": "",
    "created": "2026-11-01T17:30:00Z",
}
WOO_PRODUCTS = {
    "apron": (301, "Linen Apron &ndash; Sage", 3000),
    "spoon": (302, "Olive Wood Spoon", 800),
    "board": (303, "Walnut Cutting Board", 4600),
}


def wc_dates(prefix, iso_utc):
    y, m, d, h, mi, s = civil(epoch(iso_utc) + 3600)
    return {prefix: f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}", f"{prefix}_gmt": iso_utc.rstrip("Z")}


def wc_billing(phone):
    return {
        "first_name": SOFIA["first_name"],
        "last_name": SOFIA["last_name"],
        "company": "",
        "address_1": "Via dei Serpenti 14",
        "address_2": "",
        "city": "Roma",
        "state": "RM",
        "postcode": "00184",
        "country": "IT",
        "email": SOFIA["email"],
        "phone": phone,
    }


def wc_customer(updated=None, phone=""):
    body = {"id": SOFIA["id"]}
    body.update(wc_dates("date_created", SOFIA["created"]))
    body.update(wc_dates("date_modified", updated or SOFIA["created"]))
    body.update({
        "email": SOFIA["email"],
        "first_name": SOFIA["first_name"],
        "last_name": SOFIA["last_name"],
        "role": "customer",
        "username": SOFIA["username"],
        "billing": wc_billing(phone),
        "shipping": {k: v for k, v in wc_billing(phone).items() if k not in ("email", "phone")},
        "is_paying_customer": updated is not None,
        "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g",
        "meta_data": [],
    })
    return body


def wc_order(order_id, status, lines, created, modified, coupon=None, refunds=(), phone=""):
    subtotal = sum(WOO_PRODUCTS[p][2] * q for p, q in lines)
    discount = subtotal // 10 if coupon else 0
    total = subtotal - discount
    body = {
        "id": order_id,
        "parent_id": 0,
        "status": status,
        "currency": WOO_CURRENCY,
        "version": "9.4.2",
        "prices_include_tax": True,
    }
    body.update(wc_dates("date_created", created))
    body.update(wc_dates("date_modified", modified))
    body.update({
        "discount_total": money(discount),
        "discount_tax": "0.00",
        "shipping_total": "0.00",
        "shipping_tax": "0.00",
        "cart_tax": "0.00",
        "total": money(total),
        "total_tax": "0.00",
        "customer_id": SOFIA["id"],
        "order_key": f"wc_order_{stable_hex('key', order_id, n=13)}",
        "billing": wc_billing(phone),
        "shipping": {k: v for k, v in wc_billing(phone).items() if k not in ("email", "phone")},
        "payment_method": "stripe",
        "payment_method_title": "Credit card",
        "transaction_id": f"pi_{stable_hex('pi', order_id, n=24)}",
        "customer_ip_address": "203.0.113.7",
        "customer_user_agent": "Mozilla/5.0",
        "created_via": "checkout",
        "customer_note": "",
        "date_completed": None,
        "date_paid": wc_dates("date_paid", created)["date_paid"],
        "cart_hash": stable_hex("cart", order_id),
        "number": str(order_id),
        "meta_data": [],
        "line_items": [
            {
                "id": order_id * 10 + i,
                "name": WOO_PRODUCTS[p][1],
                "product_id": WOO_PRODUCTS[p][0],
                "variation_id": 0,
                "quantity": q,
                "tax_class": "",
                "subtotal": money(WOO_PRODUCTS[p][2] * q),
                "subtotal_tax": "0.00",
                "total": money(WOO_PRODUCTS[p][2] * q - (WOO_PRODUCTS[p][2] * q // 10 if coupon else 0)),
                "total_tax": "0.00",
                "taxes": [],
                "meta_data": [],
                "sku": p.upper(),
                "price": WOO_PRODUCTS[p][2] // 100,
            }
            for i, (p, q) in enumerate(lines, start=1)
        ],
        "tax_lines": [],
        "shipping_lines": [],
        "fee_lines": [],
        "coupon_lines": [{"id": order_id * 10 + 9, "code": coupon.lower(), "discount": money(discount),
                          "discount_tax": "0.00", "meta_data": []}] if coupon else [],
        "refunds": [{"id": rid, "reason": reason, "total": f"-{money(amount)}"} for rid, reason, amount in refunds],
        "set_paid": False,
    })
    return body


WOO = [
    ("customer.created", "2026-11-01T17:30:02Z", wc_customer()),
    ("order.created", "2026-11-02T09:12:03Z",
     wc_order(501, "processing", [("apron", 1), ("spoon", 2)], "2026-11-02T09:12:00Z", "2026-11-02T09:12:01Z")),
    ("order.updated", "2026-11-05T15:40:04Z",
     wc_order(501, "completed", [("apron", 1), ("spoon", 2)], "2026-11-02T09:12:00Z", "2026-11-05T15:40:00Z",
              refunds=[(503, "Spoon cracked in transit", 800)])),
    ("customer.updated", "2026-11-06T08:05:02Z", wc_customer("2026-11-06T08:05:00Z", phone="+39 06 5550 1234")),
    ("order.restored", "2026-11-16T11:00:03Z",
     wc_order(502, "processing", [("board", 1)], "2026-11-15T19:20:00Z", "2026-11-16T11:00:00Z",
              coupon="WELCOME10", phone="+39 06 5550 1234")),
    ("order.deleted", "2026-11-18T10:00:02Z", {"id": 499}),
]
WOO_WEBHOOK_IDS = {
    "customer.created": 12, "order.created": 13, "order.updated": 14, "customer.updated": 15,
    "order.restored": 16, "order.deleted": 17,
}


# --- envelopes -------------------------------------------------------------------------------------


def envelope(platform, store, headers, body, when, base64_body=False):
    path = f"/webhooks/{platform}/{store}"
    t = epoch(when)
    user_agent = headers["user-agent"]
    raw = body.encode()
    headers = {
        **headers,
        "content-length": str(len(raw)),
        "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "x-amzn-trace-id": f"Root=1-{t:08x}-{stable_hex('trace', platform, when, n=24)}",
        "x-forwarded-for": "23.227.38.65" if platform == "shopify" else "198.51.100.24",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{platform}/{store_id}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": dict(sorted(headers.items())),
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": headers["x-forwarded-for"],
                "userAgent": user_agent,
            },
            "requestId": base64.b64encode(bytes.fromhex(stable_hex("request", platform, when, n=20))).decode()[:16],
            "routeKey": "POST /webhooks/{platform}/{store_id}",
            "stage": "$default",
            "time": apigw_time(when),
            "timeEpoch": t * 1000,
        },
        "pathParameters": {"platform": platform, "store_id": store},
        "body": base64.b64encode(raw).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


def sign(raw):
    return base64.b64encode(hmac.new(SECRET, raw, hashlib.sha256).digest()).decode()


def slug(topic):
    return topic.replace("/", "-").replace(".", "-").replace("_", "-")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


def main():
    replay = []

    for topic, when, body in SHOPIFY:
        text = compact(body)
        raw = text.encode()
        write(HERE / "bodies" / "shopify" / f"{slug(topic)}.json", text)
        headers = {
            "accept": "*/*",
            "content-type": "application/json",
            "user-agent": "Shopify-Captain-Hook",
            "x-shopify-api-version": "2024-10",
            "x-shopify-event-id": stable_uuid("event", topic, when),
            "x-shopify-hmac-sha256": sign(raw),
            "x-shopify-shop-domain": SHOP_DOMAIN,
            "x-shopify-topic": topic,
            "x-shopify-triggered-at": when.replace("Z", ".000000000Z"),
            "x-shopify-webhook-id": stable_uuid("webhook", topic, when),
        }
        name = f"shopify-{slug(topic)}.json"
        write(HERE / name, json.dumps(envelope("shopify", "demo-shop", headers, text, when), indent=2,
                                      ensure_ascii=False) + "\n")
        replay.append(name)

    # WooCommerce pings the URL, unsigned, when the webhook is saved. API Gateway HTTP APIs hand form
    # bodies to Lambda base64-encoded.
    ping_headers = {
        "accept": "*/*",
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
    }
    write(HERE / "woocommerce-ping.json",
          json.dumps(envelope("woocommerce", "demo-woo", ping_headers, "webhook_id=12", "2026-11-01T17:00:00Z",
                              base64_body=True), indent=2) + "\n")
    replay.append("woocommerce-ping.json")

    for topic, when, body in WOO:
        # WordPress escapes slashes in JSON (wp_json_encode); keep that, it is what gets signed.
        text = compact(body).replace("/", "\\/")
        raw = text.encode()
        write(HERE / "bodies" / "woocommerce" / f"{slug(topic)}.json", text)
        resource, event = topic.split(".")
        headers = {
            "accept": "*/*",
            "content-type": "application/json",
            "user-agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
            "x-wc-webhook-delivery-id": stable_hex("delivery", topic, when),
            "x-wc-webhook-event": event,
            "x-wc-webhook-id": str(WOO_WEBHOOK_IDS[topic]),
            "x-wc-webhook-resource": resource,
            "x-wc-webhook-signature": sign(raw),
            "x-wc-webhook-source": WOO_SITE,
            "x-wc-webhook-topic": topic,
        }
        name = f"woocommerce-{slug(topic)}.json"
        write(HERE / name, json.dumps(envelope("woocommerce", "demo-woo", headers, text, when), indent=2,
                                      ensure_ascii=False) + "\n")
        replay.append(name)

    write(HERE / "story.json", json.dumps({
        "secret": SECRET.decode(),
        "stores": {"demo-shop": "shopify", "demo-woo": "woocommerce"},
        "replay": replay,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
