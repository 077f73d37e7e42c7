//! Small, realistic bodies written for these tests.

use serde_json::{json, Value};

pub fn shopify_order(id: u64, customer: u64, email: &str, total: &str, updated_at: &str) -> Value {
    json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "email": email,
        "created_at": "2024-03-01T10:00:00-05:00",
        "updated_at": updated_at,
        "cancelled_at": null,
        "currency": "USD",
        "total_price": total,
        "total_price_set": {"shop_money": {"amount": total, "currency_code": "USD"}, "presentment_money": {"amount": total, "currency_code": "USD"}},
        "financial_status": "paid",
        "buyer_accepts_marketing": true,
        "discount_codes": [{"code": "welcome10", "amount": "1.00", "type": "fixed_amount"}],
        "line_items": [
            {"id": 1, "product_id": 111, "title": "Salmon cat food", "quantity": 2, "price": "5.00", "product_type": "Cat food"},
            {"id": 2, "product_id": 222, "title": "Feather wand", "quantity": 1, "price": "3.00"}
        ],
        "refunds": [],
        "customer": {
            "id": customer,
            "admin_graphql_api_id": format!("gid://shopify/Customer/{customer}"),
            "email": email,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"}
        }
    })
}

pub fn cancelled(mut order: Value, updated_at: &str) -> Value {
    order["cancelled_at"] = json!(updated_at);
    order["updated_at"] = json!(updated_at);
    order["cancel_reason"] = json!("customer");
    order
}

pub fn shopify_refund(id: u64, order_id: u64, amount: &str) -> Value {
    json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Refund/{id}"),
        "order_id": order_id,
        "created_at": "2024-03-05T10:00:00-05:00",
        "note": "damaged",
        "refund_line_items": [],
        "transactions": [{"id": 9, "order_id": order_id, "kind": "refund", "status": "success", "amount": amount, "currency": "USD"}]
    })
}

pub fn shopify_customer(
    id: u64,
    email: &str,
    first: &str,
    subscribed: bool,
    updated_at: &str,
) -> Value {
    json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Customer/{id}"),
        "email": email,
        "first_name": first,
        "last_name": "Lovelace",
        "created_at": "2024-01-01T00:00:00-05:00",
        "updated_at": updated_at,
        "email_marketing_consent": {"state": if subscribed {"subscribed"} else {"unsubscribed"}}
    })
}

pub fn woo_order(
    id: u64,
    customer: u64,
    email: &str,
    total: &str,
    modified: &str,
    status: &str,
) -> Value {
    json!({
        "id": id,
        "status": status,
        "currency": "EUR",
        "date_created_gmt": "2024-04-01T09:00:00",
        "date_modified_gmt": modified,
        "total": total,
        "customer_id": customer,
        "billing": {"first_name": "Grace", "last_name": "Hopper", "email": email, "phone": "555"},
        "line_items": [{"id": 5, "name": "Dog leash", "product_id": 93, "quantity": 1, "total": total}],
        "coupon_lines": [{"id": 1, "code": "spring5", "discount": "5.00"}],
        "refunds": []
    })
}

pub fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}
