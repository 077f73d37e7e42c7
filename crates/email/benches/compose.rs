//! Emails composed per second on one core: the template rendered as HTML and text plus the MIME
//! message, for a marketing message with a coupon and unsubscribe headers (issue 10's figure; goal
//! ≥ 20,000/s). `make bench` runs it; BENCHMARKS.md has the figures.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use retention_app::ports::{Compose, ComposeRequest};
use retention_core::email::link::LinkSecret;
use retention_email::{sample, Composer, Links, Templates};

fn compose(c: &mut Criterion) {
    let composer = Composer::new(
        Templates::builtin(),
        Some(Links {
            secret: LinkSecret::new("0123456789abcdef0123456789abcdef").unwrap(),
            base: "https://api.example.com".into(),
        }),
    );
    let store = sample::store(Some("https://cdn.example.com/logo.png"));
    let profile = sample::profile("Ada", &[("Cat food", 3), ("Cat toys", 2), ("Litter", 1)]);
    let to = profile.person.email.clone().unwrap();
    let customer = sample::customer();
    let url = "https://api.example.com/u/eyJwIjoidW5zdWJzY3JpYmUiLCJzIjoiZGVtby1zaG9wIiwiYyI6ImMtMTAwMSJ9.6mQ0b2V8aW1rZm9vYmFyYmF6cXV4cXV1eGZvbw";
    let mailto = "mailto:hello@whiskers.example?subject=unsubscribe";
    let mut group = c.benchmark_group("compose");
    group.throughput(Throughput::Elements(1));
    for template in ["win-back", "post-purchase", "survey-invite"] {
        let message = sample::message(template);
        let req = ComposeRequest {
            store: &store,
            message: &message,
            customer: &customer,
            profile: &profile,
            to: &to,
            unsubscribe: Some((url, mailto)),
            now: sample::now(),
        };
        group.bench_function(template, |b| {
            b.iter(|| composer.compose(std::hint::black_box(&req)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, compose);
criterion_main!(benches);
