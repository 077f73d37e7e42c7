//! Issuing: terms, idempotency (also 50 at once), Idempotency-Key, collisions, errors, validation.

use super::*;
use retention_core::coupon::{CodePrefix, CouponCode};
use std::sync::Mutex;

#[tokio::test]
async fn issues_a_coupon_with_its_terms() {
    let t = Coupons::new("issue-terms", Platform::Generic, None).await;
    let (status, body) = t.post(&winback("501")).await;
    assert_eq!(status, 201, "{body}");
    let code = body["code"].as_str().unwrap();
    let groups: Vec<&str> = code.split('-').collect();
    assert_eq!(groups[0], "WINBACK", "{code}");
    assert_eq!(groups.len(), 5, "{code}");
    assert!(groups[1..].iter().all(|g| g.len() == 4
        && g.bytes()
            .all(|b| retention_core::coupon::code::ALPHABET.contains(&b))));
    assert_eq!(body["kind"], "percentage");
    assert_eq!(body["value"], "15");
    assert_eq!(body["minimum_order"], "50.00");
    assert_eq!(body["usage_limit"], 1);
    assert_eq!(body["status"], "issued");
    assert_eq!(body["checkout"]["state"], "not_needed");
    assert!(body["terms"]
        .as_str()
        .unwrap()
        .starts_with("15% off on orders of 50.00 USD or more, valid until"));
    let expires: DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - t.issuer.now()).num_days();
    assert_eq!(days, 30);
    let stored = t
        .table()
        .get_coupon(&t.store, &CouponCode::parse(code).unwrap())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.campaign.as_str(), "winback-2026");
    assert_eq!(stored.customer_id.as_str(), "501");
    // One transaction: the coupon and its (campaign, customer) marker.
    let before = t.table().requests();
    t.post(&winback("777")).await;
    let per_issue = t.table().requests() - before;
    // The API key read, the store read (cached for a minute on a warm instance; not in tests), and
    // one TransactWriteItems.
    assert_eq!(per_issue, 3);
    // The library entry point on a warm instance (store cached): one TransactWriteItems per new
    // coupon; a repeated request costs the failed transaction and two reads.
    let warm = issuer(
        t.table(),
        None,
        Default::default(),
        retention_app::coupons::CACHE_TTL,
    );
    let req = |c: &str| retention_core::coupon::IssueRequest::from_value(&winback(c)).unwrap();
    warm.issue(&t.store, &req("900"), None).await.unwrap();
    let before = t.table().requests();
    assert!(
        warm.issue(&t.store, &req("901"), None)
            .await
            .unwrap()
            .created
    );
    assert_eq!(t.table().requests() - before, 1, "a new coupon");
    let before = t.table().requests();
    assert!(
        !warm
            .issue(&t.store, &req("901"), None)
            .await
            .unwrap()
            .created
    );
    assert_eq!(t.table().requests() - before, 3, "a repeated request");
}

#[tokio::test]
async fn the_same_campaign_and_customer_always_get_the_same_coupon() {
    let t = Coupons::new("issue-same", Platform::Generic, None).await;
    let (s1, first) = t.post(&winback("501")).await;
    let (s2, again) = t.post(&winback("501")).await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(first["code"], again["code"]);
    assert_eq!(again["created"], false);
    // Different terms for the same (campaign, customer) still get the first coupon.
    let mut other_terms = winback("501");
    other_terms["value"] = json!(50);
    let (_, third) = t.post(&other_terms).await;
    assert_eq!(third["code"], first["code"]);
    assert_eq!(third["value"], "15");
    // Another customer, or another campaign, is another coupon.
    let (_, bob) = t.post(&winback("502")).await;
    assert_ne!(bob["code"], first["code"]);
    let mut birthday = winback("501");
    birthday["campaign"] = json!("birthday");
    let (_, b) = t.post(&birthday).await;
    assert_ne!(b["code"], first["code"]);
    assert_eq!(t.table().list_coupons(&t.store).await.unwrap().len(), 3);
}

#[tokio::test]
async fn fifty_identical_requests_at_once_store_exactly_one_coupon() {
    let t = Arc::new(Coupons::new("issue-fifty", Platform::Generic, None).await);
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let t = t.clone();
        running.spawn(async move { t.post(&winback("501")).await });
    }
    let mut codes = std::collections::BTreeSet::new();
    let mut created = 0;
    while let Some(r) = running.join_next().await {
        let (status, body) = r.unwrap();
        assert!(status == 201 || status == 200, "{status}: {body}");
        if status == 201 {
            created += 1;
        }
        codes.insert(body["code"].as_str().unwrap().to_string());
    }
    assert_eq!(created, 1, "exactly one request created the coupon");
    assert_eq!(codes.len(), 1, "every request got the same code: {codes:?}");
    let stored = t.table().list_coupons(&t.store).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].code.display(), codes.first().unwrap());
}

#[tokio::test]
async fn an_idempotency_key_is_honoured_and_reuse_with_another_body_is_409() {
    let t = Coupons::new("issue-idem", Platform::Generic, None).await;
    let store = t.store.to_string();
    let mut body = winback("501");
    body["campaign"] = json!("service-recovery");
    let (s1, a) = t
        .post_as(&store, &body, Some(&t.key), Some("ticket-81"))
        .await;
    // Same key, same request spelled differently: the same coupon.
    let mut respelled = body.clone();
    respelled["value"] = json!("15.0");
    let (s2, b) = t
        .post_as(&store, &respelled, Some(&t.key), Some("ticket-81"))
        .await;
    assert_eq!((s1, s2), (201, 200), "{a} {b}");
    assert_eq!(a["code"], b["code"]);
    // Same key, another request: refused, nothing written.
    let items = t.table().count_store_items(&t.store).await.unwrap();
    let mut changed = body.clone();
    changed["value"] = json!(20);
    let (s3, c) = t
        .post_as(&store, &changed, Some(&t.key), Some("ticket-81"))
        .await;
    assert_eq!(s3, 409, "{c}");
    assert!(c["error"].as_str().unwrap().contains("Idempotency-Key"));
    assert_eq!(t.table().count_store_items(&t.store).await.unwrap(), items);
    // Ad-hoc: another ticket for the same customer and campaign is another coupon.
    let (s4, d) = t
        .post_as(&store, &body, Some(&t.key), Some("ticket-82"))
        .await;
    assert_eq!(s4, 201);
    assert_ne!(d["code"], a["code"]);
}

#[tokio::test]
async fn a_colliding_code_is_drawn_again() {
    let table = fresh_table("issue-collide").await;
    let store = StoreId::parse("generic-shop").unwrap();
    register(&table, &store, Platform::Generic, &[SECRET]).await;
    // A generator that repeats its first code once: the conditional write must catch it.
    let script = Arc::new(Mutex::new(vec![
        "AAAA-BBBB-CCCC-DDDD",
        "AAAA-BBBB-CCCC-DDDD",
        "EEEE-FFFF-GGGG-HHHH",
    ]));
    let s = script.clone();
    let issuer = issuer(&table, None, Default::default(), Duration::ZERO).with_codes(Arc::new(
        move |_: Option<&CodePrefix>| CouponCode::parse(s.lock().unwrap().remove(0)).unwrap(),
    ));
    let req = |c: &str| retention_core::coupon::IssueRequest::from_value(&winback(c)).unwrap();
    let a = issuer.issue(&store, &req("501"), None).await.unwrap();
    let b = issuer.issue(&store, &req("502"), None).await.unwrap();
    assert_eq!(a.coupon.code.display(), "AAAA-BBBB-CCCC-DDDD");
    assert_eq!(b.coupon.code.display(), "EEEE-FFFF-GGGG-HHHH");
    assert!(script.lock().unwrap().is_empty());
    let stored = table.list_coupons(&store).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0].customer_id.as_str(),
        "501",
        "the first coupon is intact"
    );
}

#[tokio::test]
async fn bad_requests_are_answered_clearly_and_write_nothing() {
    let t = Coupons::new("issue-errors", Platform::Generic, None).await;
    let store = t.store.to_string();
    let before = t.table().count_store_items(&t.store).await.unwrap();
    let ok = winback("501");
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let cases: Vec<(&str, (u16, Value), u16, &str)> = vec![
        (
            "no key",
            t.post_as(&store, &ok, None, None).await,
            401,
            "authorization",
        ),
        (
            "wrong key",
            t.post_as(&store, &ok, Some("rtk_notthekey"), None).await,
            401,
            "not valid",
        ),
        (
            "another store's key",
            t.post_as(
                &store,
                &ok,
                Some("rtk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                None,
            )
            .await,
            401,
            "not valid",
        ),
        (
            "unknown store",
            t.post_as("no-such-store", &ok, Some(&t.key), None).await,
            404,
            "unknown store",
        ),
        (
            "bad kind",
            t.post(&with("kind", json!("bogo"))).await,
            400,
            "`kind`",
        ),
        (
            "bad value",
            t.post(&with("value", json!(150))).await,
            400,
            "`value`",
        ),
        (
            "bad currency",
            t.post(&with("currency", json!("DOLLARS"))).await,
            400,
            "`currency`",
        ),
        (
            "bad usage limit",
            t.post(&with("usage_limit", json!(0))).await,
            400,
            "`usage_limit`",
        ),
        (
            "bad expiry",
            t.post(&with("expires_in_days", json!("soon"))).await,
            400,
            "`expires_in_days`",
        ),
        (
            "past expiry",
            t.post(&{
                let mut b = ok.clone();
                b.as_object_mut().unwrap().remove("expires_in_days");
                b["expires_at"] = json!("2020-01-01");
                b
            })
            .await,
            400,
            "`expires_at`",
        ),
        (
            "missing customer",
            t.post(&{
                let mut b = ok.clone();
                b.as_object_mut().unwrap().remove("customer_id");
                b
            })
            .await,
            400,
            "`customer_id`",
        ),
        (
            "unknown field",
            t.post(&with("expiry", json!(3))).await,
            400,
            "`expiry`",
        ),
        (
            "not JSON",
            answer(
                &t.issuer,
                request(
                    Method::POST,
                    &format!("/stores/{store}/coupons"),
                    &[("authorization", format!("Bearer {}", t.key))],
                    b"{".to_vec(),
                ),
            )
            .await,
            400,
            "`body`",
        ),
        (
            "GET on the collection",
            answer(
                &t.issuer,
                request(
                    Method::GET,
                    &format!("/stores/{store}/coupons"),
                    &[],
                    vec![],
                ),
            )
            .await,
            405,
            "POST",
        ),
        (
            "no route",
            answer(&t.issuer, request(Method::POST, "/coupons", &[], vec![])).await,
            404,
            "route",
        ),
    ];
    for (name, (status, body), want, needle) in cases {
        assert_eq!(status, want, "{name}: {body}");
        let text = body.to_string().to_lowercase();
        assert!(
            text.contains(&needle.to_lowercase()),
            "{name}: {body} should mention {needle}"
        );
    }
    assert_eq!(
        t.table().count_store_items(&t.store).await.unwrap(),
        before,
        "a rejected request wrote something"
    );
    let (status, body) = t.check("NOPE-NOPE", &[]).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn the_validation_endpoint_says_whether_and_why_not() {
    let t = Coupons::new("issue-validate", Platform::Generic, None).await;
    let (_, issued) = t.post(&winback("501")).await;
    let code = issued["code"].as_str().unwrap();
    // Customers type codes loosely.
    let loose = code.to_lowercase().replace('-', "");
    type Case<'a> = (&'a [(&'a str, &'a str)], bool, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (&[], true, None),
        (
            &[
                ("customer_id", "501"),
                ("order_total", "80.00"),
                ("currency", "USD"),
            ],
            true,
            None,
        ),
        (&[("customer_id", "502")], false, Some("other_customer")),
        (
            &[
                ("customer_id", "501"),
                ("order_total", "20.00"),
                ("currency", "USD"),
            ],
            false,
            Some("below_minimum"),
        ),
        (
            &[
                ("customer_id", "501"),
                ("order_total", "80.00"),
                ("currency", "EUR"),
            ],
            false,
            Some("currency"),
        ),
    ];
    for (query, valid, reason) in cases {
        let (status, body) = t.check(&loose, query).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["valid"], valid, "{query:?}: {body}");
        assert_eq!(body["reason"].as_str(), reason, "{query:?}: {body}");
        assert_eq!(body["code"], code);
    }
    let (status, body) = t.check(code, &[("order_total", "80.00")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`currency`"));
    t.advance(chrono::Duration::days(31));
    let (_, body) = t.check(code, &[("customer_id", "501")]).await;
    assert_eq!(
        (body["valid"].as_bool(), body["reason"].as_str()),
        (Some(false), Some("expired"))
    );
    assert_eq!(body["status"], "expired");
    // Revoked coupons say so.
    let (_, other) = t.post(&winback("502")).await;
    let other_code = CouponCode::parse(other["code"].as_str().unwrap()).unwrap();
    assert!(t
        .table()
        .revoke_coupon(&t.store, &other_code, t.issuer.now())
        .await
        .unwrap());
    let (_, body) = t.check(other_code.display(), &[]).await;
    assert_eq!(body["reason"], "revoked");
    assert_eq!(body["status"], "revoked");
}
