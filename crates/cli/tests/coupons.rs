//! `retention coupons …` and the store API key, the binary against moto.

use std::collections::HashSet;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

struct Cli {
    table: String,
    dir: std::path::PathBuf,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Cli {
    fn new(name: &str) -> Self {
        let table = format!(
            "cpn-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&table);
        std::fs::create_dir_all(&dir).unwrap();
        let cli = Self { table, dir };
        cli.ok(&["init"]);
        cli
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_retention"))
            .args(args)
            .envs(retention_tests::aws_env())
            .env("RETENTION_TABLE", &self.table)
            .env("RETENTION_SSM_PREFIX", format!("/{}", self.table))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            text(&out.stderr)
        );
        (text(&out.stdout), text(&out.stderr))
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        text(&out.stderr)
    }

    fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }
}

fn api_key(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("rtk_"))
        .unwrap_or_else(|| panic!("no API key in {stdout}"))
        .to_string()
}

#[test]
fn store_add_shows_an_api_key_once_and_rotate_key_replaces_it() {
    let cli = Cli::new("key");
    let (out, _) = cli.ok(&[
        "store",
        "add",
        "--store",
        "s1",
        "--platform",
        "generic",
        "--webhook-secret",
        "secret-123",
    ]);
    let first = api_key(&out);
    assert_eq!(first.len(), 36);
    // Updating the store shows no key (there is one already).
    let (out, _) = cli.ok(&[
        "store",
        "add",
        "--store",
        "s1",
        "--platform",
        "generic",
        "--webhook-secret",
        "secret-456",
    ]);
    assert!(!out.contains("rtk_"), "{out}");
    let (out, _) = cli.ok(&["store", "rotate-key", "--store", "s1"]);
    assert_ne!(api_key(&out), first);
    let err = cli.fails(&["store", "rotate-key", "--store", "nope"]);
    assert!(err.contains("no store nope"), "{err}");
}

/// Enough customers for the distinctness check and the rerun to mean something, few enough for
/// `make test`: about 40 s on 2 cores with tests/moto_server.py's rollback patch, where stock moto
/// took 26 minutes (BENCHMARKS.md, "Bulk issue against local AWS").
const CUSTOMERS: usize = 2_000;

#[test]
fn bulk_issue_gives_every_customer_one_distinct_code_and_is_safe_to_rerun() {
    let cli = Cli::new("bulk");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "s1",
        "--platform",
        "generic",
        "--webhook-secret",
        "secret-123",
    ]);
    let ids: Vec<String> = (1..=CUSTOMERS).map(|i| format!("c{i}")).collect();
    let file = cli.file("customers.txt", &ids.join("\n"));
    let args = [
        "coupons",
        "issue",
        "--store",
        "s1",
        "--campaign",
        "winback",
        "--customers",
        &file,
        "--kind",
        "percentage",
        "--value",
        "15",
        "--expires-in-days",
        "30",
        "--prefix",
        "WB",
    ];
    let (out, err) = cli.ok(&args);
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines.len(), CUSTOMERS, "{err}");
    let codes: HashSet<&str> = lines.iter().map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(codes.len(), CUSTOMERS);
    assert!(codes.iter().all(|c| c.starts_with("WB-")));
    assert!(
        err.contains(&format!(
            "issued {CUSTOMERS} new, 0 already issued, 0 failed"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{CUSTOMERS} distinct code(s)")),
        "{err}"
    );
    // Again: the same coupons, nothing new.
    let (again, err) = cli.ok(&args);
    assert!(
        err.contains(&format!("issued 0 new, {CUSTOMERS} already issued")),
        "{err}"
    );
    let mut a: Vec<&str> = out.lines().collect();
    let mut b: Vec<&str> = again.lines().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // Show, check, revoke one.
    let code = lines[0].split(',').nth(1).unwrap();
    let (shown, _) = cli.ok(&["coupons", "show", "--store", "s1", "--code", code]);
    assert!(shown.contains("\"status\": \"issued\""), "{shown}");
    let (checked, _) = cli.ok(&[
        "coupons",
        "check",
        "--store",
        "s1",
        "--code",
        &code.to_lowercase(),
        "--customer",
        "nobody",
    ]);
    assert!(
        checked.contains("NOT valid") && checked.contains("other_customer"),
        "{checked}"
    );
    cli.ok(&["coupons", "revoke", "--store", "s1", "--code", code]);
    let (checked, _) = cli.ok(&["coupons", "check", "--store", "s1", "--code", code]);
    assert!(checked.contains("revoked"), "{checked}");
    let (listed, _) = cli.ok(&["coupons", "list", "--store", "s1"]);
    assert_eq!(listed.lines().count(), CUSTOMERS);
}

#[test]
fn bulk_issue_refuses_bad_terms_before_writing() {
    let cli = Cli::new("bad");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "s1",
        "--platform",
        "generic",
        "--webhook-secret",
        "secret-123",
    ]);
    let file = cli.file("c.txt", "c1\nc2\n");
    let err = cli.fails(&[
        "coupons",
        "issue",
        "--store",
        "s1",
        "--campaign",
        "x",
        "--customers",
        &file,
        "--kind",
        "percentage",
        "--value",
        "150",
        "--expires-in-days",
        "30",
    ]);
    assert!(err.contains("--value"), "{err}");
    let err = cli.fails(&[
        "coupons",
        "issue",
        "--store",
        "nope",
        "--campaign",
        "x",
        "--customers",
        &file,
        "--kind",
        "free-shipping",
        "--expires-in-days",
        "30",
    ]);
    assert!(err.contains("no store nope"), "{err}");
    let (listed, _) = cli.ok(&["coupons", "list", "--store", "s1"]);
    assert_eq!(listed, "");
    // Credentials are checked for shape, and the error does not repeat them.
    let creds = cli.file(
        "creds.json",
        "{\"platform\": \"shopify\", \"access_token\": \"shpat_secret\"}",
    );
    let err = cli.fails(&[
        "coupons",
        "set-credentials",
        "--store",
        "s1",
        "--file",
        &creds,
    ]);
    assert!(
        err.contains("credentials") && !err.contains("shpat_secret"),
        "{err}"
    );
    let creds = cli.file(
        "creds.json",
        "{\"platform\": \"shopify\", \"shop_url\": \"https://x.myshopify.com\", \"access_token\": \"shpat_secret\"}",
    );
    let (out, _) = cli.ok(&[
        "coupons",
        "set-credentials",
        "--store",
        "s1",
        "--file",
        &creds,
    ]);
    assert!(
        out.contains("SecureString") && !out.contains("shpat_secret"),
        "{out}"
    );
}
