//! Local AWS itself: tests/moto_server.py changes how moto rolls back a cancelled TransactWriteItems
//! (only the items it touches, not copies of whole tables), and every other test here relies on that
//! rollback being moto's own.

use retention_tests::*;
use std::process::Command;

#[test]
fn the_rollback_patch_behaves_as_stock_moto_on_random_transactions() {
    let out = Command::new(python())
        .arg(workspace_root().join("tests/moto_rollback_check.py"))
        .output()
        .expect("run tests/moto_rollback_check.py");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
