//! Coupon code generation and parsing, one core. `cargo bench -p retention-core --bench coupons`.
//! The `os_rng` case is what production issues (a `getrandom` call per code); `std_rng` shows the
//! cost of the sampling and formatting alone.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::SeedableRng;
use retention_core::coupon::{CodePrefix, CouponCode};
use std::hint::black_box;

fn generation(c: &mut Criterion) {
    let prefix = CodePrefix::parse("WINBACK").unwrap();
    let mut g = c.benchmark_group("coupon_code");
    g.throughput(Throughput::Elements(1));
    g.bench_function("generate/os_rng", |b| {
        b.iter(|| black_box(CouponCode::generate_secure(Some(&prefix))))
    });
    let mut rng = StdRng::seed_from_u64(1);
    g.bench_function("generate/std_rng", |b| {
        b.iter(|| black_box(CouponCode::generate(Some(&prefix), &mut rng)))
    });
    g.bench_function("parse", |b| {
        b.iter(|| black_box(CouponCode::parse(black_box(" winback-7kq4 m9xh-t2pc-rw3n ")).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);
