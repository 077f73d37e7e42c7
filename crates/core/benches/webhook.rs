//! CPU per webhook, no I/O: verify the signature, parse the order, fold it into a profile, for the
//! 5,845-byte Shopify `orders/create` body of the conformance corpus. The peer in the same run is the
//! least any receiver must do with those bytes: one HMAC and a bare `serde_json` parse.
//! The ratio (goal ≤ 2) goes to BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use retention_core::profile::Profile;
use retention_core::signature;
use retention_core::webhook::{self, Change, Parsed, Platform};
use std::path::PathBuf;

fn body() -> Vec<u8> {
    let dir = std::env::var_os("RETENTION_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    let path = dir.join("webhooks/shopify_orders_create_gnikyt-laravel-shopify.json");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("CONFORMANCE CORPUS MISSING: {}: {e}", path.display()))
}

fn webhook(c: &mut Criterion) {
    let body = body();
    assert_eq!(body.len(), 5845);
    let secret = b"00000000000000000000000000000000";
    let signature = signature::sign_base64_body(secret, &body);
    let secrets = [std::str::from_utf8(secret).unwrap()];

    let mut g = c.benchmark_group("shopify_orders_create_5845B");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("peer: hmac + serde_json::Value", |b| {
        b.iter(|| {
            let mac = signature::hmac_sha256(secret, &[black_box(&body)]);
            let v: serde_json::Value = serde_json::from_slice(black_box(&body)).unwrap();
            (mac, v)
        })
    });
    g.bench_function("engine: verify + parse + profile", |b| {
        b.iter(|| {
            signature::verify_base64_body(
                "X-Shopify-Hmac-Sha256",
                &secrets,
                black_box(&body),
                Some(&signature),
            )
            .unwrap();
            let Ok(Parsed::Change(change)) =
                webhook::parse(Platform::Shopify, Some("orders/create"), black_box(&body))
            else {
                panic!("the corpus order must parse")
            };
            let Change::Order(order) = *change else {
                panic!("an order")
            };
            let mut profile = Profile::default();
            profile.apply_order(&order);
            black_box(profile.stats())
        })
    });
    g.finish();
}

criterion_group!(benches, webhook);
criterion_main!(benches);
