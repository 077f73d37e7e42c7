//! infra/template.yaml against the code it deploys: the table is the one `retention init` creates,
//! every function crate has an entry built from its own binary, every HTTP route in the template is
//! one its handler answers, the roles name what they grant, and each function sends (recorded on the
//! wire, src/wire.rs) exactly what its role grants: no request it may not make, no unused grant.
//!
//! The template keeps CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`): reviewers read them,
//! and serde_norway hands them over as tagged values, so nothing needs the long form.

use lambda_http::http::Method;
use retention_dynamodb::schema::table_spec;
use retention_dynamodb::Table;
use retention_tests::*;
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn template() -> Value {
    let path = workspace_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::from_str(&text).expect("infra/template.yaml is YAML")
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().expect("resource name").to_string(), v))
        .collect()
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .collect()
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

/// The logical name behind `!Ref X`, `!GetAtt X.Arn` or `{Ref: X}`.
fn referenced(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().map(str::to_string),
        Value::Tagged(t) if t.tag == "!GetAtt" => t
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(str::to_string),
        Value::Mapping(m) => m
            .get("Ref")
            .and_then(Value::as_str)
            .or_else(|| m.get("Fn::GetAtt")?.get(0)?.as_str())
            .map(str::to_string),
        _ => None,
    }
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Null => vec![],
        one => vec![one],
    }
}

/// The table as a plain value, whichever side it was read from.
#[derive(Debug, PartialEq, Eq)]
struct TableShape {
    hash_key: String,
    range_key: String,
    /// Attribute name → type, for every key attribute of the table and its indexes.
    attributes: BTreeMap<String, String>,
    /// Index name → (hash key, range key, projection).
    indexes: BTreeMap<String, (String, String, String)>,
    ttl_attribute: String,
    billing: String,
}

fn from_spec() -> TableShape {
    let spec = table_spec();
    let mut attributes = BTreeMap::new();
    let mut indexes = BTreeMap::new();
    attributes.insert(spec.hash_key.to_string(), "S".to_string());
    attributes.insert(spec.range_key.to_string(), "S".to_string());
    for (name, hash, range) in &spec.global_indexes {
        attributes.insert(hash.to_string(), "S".to_string());
        attributes.insert(range.to_string(), "S".to_string());
        indexes.insert(
            name.to_string(),
            (hash.to_string(), range.to_string(), "ALL".to_string()),
        );
    }
    TableShape {
        hash_key: spec.hash_key.into(),
        range_key: spec.range_key.into(),
        attributes,
        indexes,
        ttl_attribute: spec.ttl_attribute.into(),
        billing: "PAY_PER_REQUEST".into(),
    }
}

fn keys(schema: &Value) -> (String, String) {
    let find = |kind: &str| {
        list(schema)
            .into_iter()
            .find(|k| k["KeyType"].as_str() == Some(kind))
            .map(|k| text(&k["AttributeName"]).to_string())
            .unwrap_or_else(|| panic!("no {kind} key in {schema:?}"))
    };
    (find("HASH"), find("RANGE"))
}

fn from_template(table: &Value) -> TableShape {
    let p = &table["Properties"];
    let (hash_key, range_key) = keys(&p["KeySchema"]);
    let attributes = list(&p["AttributeDefinitions"])
        .into_iter()
        .map(|a| {
            (
                text(&a["AttributeName"]).to_string(),
                text(&a["AttributeType"]).to_string(),
            )
        })
        .collect();
    let indexes = list(&p["GlobalSecondaryIndexes"])
        .into_iter()
        .map(|i| {
            let (h, r) = keys(&i["KeySchema"]);
            let projection = text(&i["Projection"]["ProjectionType"]).to_string();
            (text(&i["IndexName"]).to_string(), (h, r, projection))
        })
        .collect();
    let ttl = &p["TimeToLiveSpecification"];
    assert_eq!(ttl["Enabled"].as_bool(), Some(true), "TTL must be enabled");
    TableShape {
        hash_key,
        range_key,
        attributes,
        indexes,
        ttl_attribute: text(&ttl["AttributeName"]).to_string(),
        billing: text(&p["BillingMode"]).to_string(),
    }
}

/// What `retention init` (`schema::create_table`) really creates, read back from local AWS.
async fn from_created_table() -> TableShape {
    let table = fresh_table("infra").await;
    let client = table.client();
    let described = client
        .describe_table()
        .table_name(table.name())
        .send()
        .await
        .expect("describe table")
        .table
        .expect("table");
    let key_pair = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        let find = |kind: &str| {
            schema
                .iter()
                .find(|k| k.key_type().as_str() == kind)
                .map(|k| k.attribute_name().to_string())
                .unwrap_or_else(|| panic!("no {kind} key"))
        };
        (find("HASH"), find("RANGE"))
    };
    let (hash_key, range_key) = key_pair(described.key_schema());
    let attributes = described
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_string(),
                a.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    let indexes = described
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let (h, r) = key_pair(i.key_schema());
            let projection = i
                .projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            (
                i.index_name().unwrap_or_default().to_string(),
                (h, r, projection),
            )
        })
        .collect();
    let ttl = client
        .describe_time_to_live()
        .table_name(table.name())
        .send()
        .await
        .expect("describe TTL")
        .time_to_live_description
        .expect("TTL description");
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED"),
        "retention init enables TTL"
    );
    TableShape {
        hash_key,
        range_key,
        attributes,
        indexes,
        ttl_attribute: ttl.attribute_name().unwrap_or_default().to_string(),
        billing: described
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str().to_string())
            .unwrap_or_default(),
    }
}

fn the_table(t: &Value) -> &Value {
    let tables = of_type(t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table, as docs/data-model.md says");
    tables[0].1
}

#[tokio::test]
async fn the_template_table_is_the_one_retention_init_creates() {
    let t = template();
    let table = the_table(&t);
    let declared = from_template(table);
    assert_eq!(declared, from_spec(), "template vs schema::table_spec()");
    assert_eq!(
        declared,
        from_created_table().await,
        "template vs the table `retention init` created"
    );

    // What the template adds to what `init` creates: the table outlives the stack and a bad deploy.
    let p = &table["Properties"];
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(table["UpdateReplacePolicy"].as_str(), Some("Retain"));
}

/// A workspace crate that is a Lambda function: a `[[bin]]` and a lambda runtime dependency.
#[derive(Debug)]
struct FunctionCrate {
    package: String,
    dir: PathBuf,
    binaries: Vec<String>,
}

/// What `cargo <args> --offline` prints in the workspace (the cargo running the tests).
fn cargo(args: &[&str]) -> Vec<u8> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("cargo {}: {e}", args[0]));
    assert!(
        out.status.success(),
        "cargo {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn function_crates() -> Vec<FunctionCrate> {
    let out = cargo(&["metadata", "--format-version", "1", "--no-deps"]);
    let meta: serde_json::Value = serde_json::from_slice(&out).expect("metadata JSON");
    let mut found = Vec::new();
    for p in meta["packages"].as_array().expect("packages") {
        let is_lambda = p["dependencies"].as_array().into_iter().flatten().any(|d| {
            d["kind"].is_null()
                && matches!(d["name"].as_str(), Some("lambda_http" | "lambda_runtime"))
        });
        let binaries: Vec<String> = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .map(|t| t["name"].as_str().expect("target name").to_string())
            .collect();
        if is_lambda && !binaries.is_empty() {
            let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest path"));
            found.push(FunctionCrate {
                package: p["name"].as_str().expect("name").to_string(),
                dir: manifest.parent().expect("crate dir").to_path_buf(),
                binaries,
            });
        }
    }
    found
}

/// Function property, or the Globals value when the function does not set it.
fn effective<'a>(t: &'a Value, function: &'a Value, property: &str) -> &'a Value {
    let own = &function["Properties"][property];
    if own.is_null() {
        &t["Globals"]["Function"][property]
    } else {
        own
    }
}

#[test]
fn every_function_crate_has_a_template_entry_built_from_its_binary() {
    let t = template();
    let crates = function_crates();
    assert!(
        crates.iter().any(|c| c.package == "order-webhook"),
        "the discovery finds the known function crate: {crates:?}"
    );
    let functions = of_type(&t, "AWS::Serverless::Function");
    let infra = workspace_root().join("infra");
    let root = workspace_root().canonicalize().expect("workspace root");
    let mut built: BTreeMap<String, String> = BTreeMap::new();
    for (name, f) in &functions {
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        let binary = text(&f["Metadata"]["BuildProperties"]["Binary"]).to_string();
        // SAM's cargo-lambda builder copies <CodeUri>/target/lambda/<Binary>/bootstrap, and cargo
        // puts target/ at the workspace root: CodeUri must be the workspace root.
        let code = infra.join(text(&f["Properties"]["CodeUri"]));
        assert_eq!(
            code.canonicalize().ok().as_ref(),
            Some(&root),
            "{name}: CodeUri must be the workspace root"
        );
        assert_eq!(
            text(effective(&t, f, "Runtime")),
            "provided.al2023",
            "{name}"
        );
        assert_eq!(
            list(effective(&t, f, "Architectures"))
                .iter()
                .map(|a| text(a))
                .collect::<Vec<_>>(),
            ["arm64"],
            "{name}"
        );
        assert!(
            built.insert(binary.clone(), name.clone()).is_none(),
            "two functions build {binary}"
        );
    }
    for c in &crates {
        assert!(
            c.dir.starts_with(&root),
            "{} is in the workspace",
            c.package
        );
        for bin in &c.binaries {
            assert!(
                built.remove(bin).is_some(),
                "function crate {} (binary {bin}) has no AWS::Serverless::Function in \
                 infra/template.yaml with Metadata.BuildProperties.Binary: {bin}",
                c.package
            );
        }
    }
    assert!(
        built.is_empty(),
        "template functions whose binary is no function crate's: {built:?}"
    );
}

/// Every function: its own role, its own log group, an alarm on its errors.
#[test]
fn every_function_has_its_own_role_logs_and_alarm() {
    let t = template();
    let roles: BTreeSet<String> = of_type(&t, "AWS::IAM::Role")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    let mut used = BTreeSet::new();
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        let role = referenced(&f["Properties"]["Role"])
            .unwrap_or_else(|| panic!("{name} names its role with !GetAtt <Role>.Arn"));
        assert!(roles.contains(&role), "{name}: {role} is an AWS::IAM::Role");
        assert!(used.insert(role.clone()), "{name} shares role {role}");
        assert!(
            referenced(&f["Properties"]["LoggingConfig"]["LogGroup"]).is_some(),
            "{name} logs to a log group of the stack (with a retention)"
        );
        let alarmed = alarms.iter().any(|(_, a)| {
            let p = &a["Properties"];
            let dims = list(&p["Dimensions"]).into_iter().chain(
                list(&p["Metrics"])
                    .into_iter()
                    .flat_map(|m| list(&m["MetricStat"]["Metric"]["Dimensions"])),
            );
            dims.into_iter()
                .any(|d| referenced(&d["Value"]).as_deref() == Some(name.as_str()))
        });
        assert!(alarmed, "{name} has no alarm on its errors");
    }
}

/// No `*` action, and no `*` resource where one can be named: a wildcard only as the last segment
/// of a named path (SSM parameters of stores that do not exist yet), never for a service, account,
/// table or log group.
#[test]
fn roles_grant_named_actions_on_named_resources() {
    let t = template();
    for (name, role) in of_type(&t, "AWS::IAM::Role") {
        assert!(
            role["Properties"]["ManagedPolicyArns"].is_null(),
            "{name}: managed policies grant on *; write the statements"
        );
        for policy in list(&role["Properties"]["Policies"]) {
            for s in list(&policy["PolicyDocument"]["Statement"]) {
                let actions: Vec<&str> = list(&s["Action"]).iter().map(|a| text(a)).collect();
                for a in &actions {
                    assert!(!a.contains('*'), "{name}: action {a}");
                }
                for resource in list(&s["Resource"]) {
                    let r = arn_text(resource);
                    // Actions without resource-level permissions can only be granted on `*`.
                    if r == "*" && actions.iter().all(|a| NO_RESOURCE_LEVEL.contains(a)) {
                        continue;
                    }
                    // A store's SES sender identities are its addresses and domains: not
                    // known when deploying, and SES gives them no path.
                    if r.ends_with(":identity/*")
                        && actions.iter().all(|a| a.starts_with("ses:Send"))
                    {
                        continue;
                    }
                    assert!(wildcard_only_under_a_named_path(&r), "{name}: resource {r}");
                }
            }
        }
    }
}

/// IAM actions that take no resource ARN (AWS's service authorization reference).
const NO_RESOURCE_LEVEL: [&str; 2] = ["ses:GetAccount", "ses:PutSuppressedDestination"];

/// `…:parameter/retention/${Stage}/stores/*` is; `*`, `…:table/*` and `…/*/x` are not.
fn wildcard_only_under_a_named_path(arn: &str) -> bool {
    match arn.strip_suffix("/*") {
        None => !arn.contains('*'),
        Some(prefix) => !prefix.contains('*') && prefix.matches('/').count() >= 2,
    }
}

/// The text of an ARN as written: plain, `!Sub "…"`, `!Sub ["…", {…}]`, or `!GetAtt X.Arn`.
fn arn_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) if t.tag == "!Sub" => match &t.value {
            Value::Sequence(parts) => text(&parts[0]).to_string(),
            other => text(other).to_string(),
        },
        Value::Tagged(t) if t.tag == "!GetAtt" || t.tag == "!Ref" => text(&t.value).to_string(),
        other => panic!("a resource ARN the test cannot read: {other:?}"),
    }
}

/// (function logical name, method, path) for every HTTP API event in the template.
fn http_routes(t: &Value) -> Vec<(String, String, String)> {
    let mut routes = Vec::new();
    for (name, f) in of_type(t, "AWS::Serverless::Function") {
        if let Some(events) = f["Properties"]["Events"].as_mapping() {
            for (_, e) in events {
                if e["Type"].as_str() == Some("HttpApi") {
                    routes.push((
                        name.clone(),
                        text(&e["Properties"]["Method"]).to_uppercase(),
                        text(&e["Properties"]["Path"]).to_string(),
                    ));
                }
            }
        }
    }
    routes
}

fn binary_of(t: &Value, function: &str) -> String {
    text(&t["Resources"][function]["Metadata"]["BuildProperties"]["Binary"]).to_string()
}

const PLATFORMS: [&str; 3] = ["shopify", "woocommerce", "generic"];
const NO_STORE: &str = "no-such-store";

/// The function crates whose routers this test can call.
struct Handlers {
    order_webhook: order_webhook::App,
    coupon_issuer: coupon_issuer::Issuer,
    customer_pages: customer_pages::App,
}

impl Handlers {
    async fn new() -> Self {
        Self {
            order_webhook: order_webhook::App::new(webhook_ports(
                &fresh_table("infra-routes").await,
            )),
            coupon_issuer: issuer(
                &fresh_table("infra-routes").await,
                None,
                Default::default(),
                Duration::ZERO,
            ),
            customer_pages: customer_pages::App::new(
                customer_pages::ports(std::sync::Arc::new(fresh_table("infra-routes").await), None),
                retention_core::email::link::LinkSecret::new("infra-routes-link-secret").unwrap(),
            ),
        }
    }

    /// What `binary` answers an unsigned, unauthenticated request on an empty table, as
    /// "<status> <error>"; `None` for a binary this test does not know yet.
    async fn answer(&self, binary: &str, method: &str, path: &str) -> Option<String> {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let req = request(method, path, &[], b"{}".to_vec());
        let resp = match binary {
            "order-webhook" => order_webhook::handle(&self.order_webhook, req).await,
            "coupon-issuer" => coupon_issuer::handle(&self.coupon_issuer, req).await,
            "customer-pages" => customer_pages::handle(&self.customer_pages, req).await,
            _ => return None,
        }
        .expect("infallible");
        let body: serde_json::Value = match resp.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        Some(format!(
            "{} {}",
            resp.status().as_u16(),
            body["error"].as_str().unwrap_or_default()
        ))
    }
}

/// The concrete paths a route template stands for, and what a handler that serves the route answers
/// on an empty table: it gets as far as looking the store up.
fn cases(binary: &str, path: &str) -> Vec<(String, String)> {
    let fill = |p: &str| {
        p.replace("{store_id}", NO_STORE)
            .replace("{code}", "WB-7KQ4-M9XH")
    };
    match binary {
        "order-webhook" => PLATFORMS
            .iter()
            .map(|platform| {
                (
                    fill(&path.replace("{platform}", platform)),
                    format!("404 unknown {platform} store {NO_STORE}"),
                )
            })
            .collect(),
        // A token that is no token: the page that says so (HTML, so no JSON error).
        "customer-pages" => vec![(path.replace("{token}", "not-a-token"), "400 ".to_string())],
        _ => vec![(fill(path), format!("404 unknown store {NO_STORE}"))],
    }
}

#[tokio::test]
async fn every_http_route_in_the_template_is_served_by_its_function() {
    let t = template();
    let stage = text(&t["Parameters"]["Stage"]["Default"]).to_string();
    let routes = http_routes(&t);
    assert!(!routes.is_empty(), "the webhook route is in the template");
    let handlers = Handlers::new().await;

    for (function, method, path) in &routes {
        let binary = binary_of(&t, function);
        for (concrete, expected) in cases(&binary, path) {
            // HTTP APIs with a named stage hand the handler the stage in the path.
            for p in [concrete.clone(), format!("/{stage}{concrete}")] {
                let got = handlers
                    .answer(&binary, method, &p)
                    .await
                    .unwrap_or_else(|| {
                        panic!(
                        "{function} (binary {binary}) serves {method} {path}: add its handler to \
                         Handlers in tests/it/infra.rs"
                    )
                    });
                assert_eq!(got, expected, "{function} {method} {p}");
            }
        }
    }

    // The check can fail: a path or a method the handler does not serve is answered as such.
    assert_eq!(
        handlers
            .answer("order-webhook", "POST", "/webhooks/shopify")
            .await
            .unwrap(),
        "404 no such route; use /webhooks/{platform}/{store_id}"
    );
    assert!(handlers
        .answer("coupon-issuer", "GET", "/stores/s1/coupons")
        .await
        .unwrap()
        .starts_with("405 "));
}

/// Every URL the stack prints is a route of the template, and the webhook URLs reach the handler.
#[tokio::test]
async fn the_urls_in_the_outputs_are_routes_the_handlers_serve() {
    let t = template();
    let routes = http_routes(&t);
    let handlers = Handlers::new().await;
    let mut platforms = BTreeSet::new();
    for (name, output) in t["Outputs"].as_mapping().expect("Outputs") {
        let Value::Tagged(sub) = &output["Value"] else {
            continue;
        };
        let url = sub.value.as_str().unwrap_or_default();
        let Some(path) = url
            .strip_prefix("https://")
            .and_then(|u| u.split_once("/${Stage}"))
            .map(|(_, p)| p)
        else {
            continue;
        };
        let route = routes
            .iter()
            .find(|(_, _, r)| segments_match(r, path))
            .unwrap_or_else(|| panic!("{name:?}: {url} is no route of the template"));
        if let Some(rest) = path.strip_prefix("/webhooks/") {
            let platform = rest.split('/').next().expect("platform").to_string();
            assert_eq!(
                handlers
                    .answer(
                        &binary_of(&t, &route.0),
                        &route.1,
                        &path.replace("{store_id}", NO_STORE)
                    )
                    .await
                    .expect("known handler"),
                format!("404 unknown {platform} store {NO_STORE}"),
                "{name:?}: {url}"
            );
            platforms.insert(platform);
        }
    }
    assert_eq!(
        platforms,
        PLATFORMS.iter().map(|p| p.to_string()).collect(),
        "one webhook URL per platform"
    );
}

/// `/a/{x}/c` matches `/a/b/c`; a `{placeholder}` left in the URL (for the operator to fill) matches
/// the route's own.
fn segments_match(route: &str, path: &str) -> bool {
    let (r, p): (Vec<_>, Vec<_>) = (route.split('/').collect(), path.split('/').collect());
    r.len() == p.len()
        && r.iter()
            .zip(&p)
            .all(|(r, p)| r == p || (r.starts_with('{') && !p.is_empty()))
}

/// The statements that cover what a function's own code calls: every one but the logs Lambda
/// writes for it, the dead-letter queue Lambda itself sends failed events to, and the queue an
/// event source mapping polls for it.
fn code_statements<'a>(t: &'a Value, function: &str) -> Vec<&'a Value> {
    let role = referenced(&t["Resources"][function]["Properties"]["Role"])
        .unwrap_or_else(|| panic!("{function}: Role is not a reference to a role in the template"));
    list(&t["Resources"][role.as_str()]["Properties"]["Policies"])
        .into_iter()
        .flat_map(|p| list(&p["PolicyDocument"]["Statement"]))
        .filter(|s| !matches!(text(&s["Sid"]), "DeadLetters" | "EventSource"))
        .filter(|s| {
            list(&s["Action"])
                .iter()
                .all(|a| !text(a).starts_with("logs:"))
        })
        .collect()
}

/// The AWS services a function's own code calls, by its role.
fn services_the_role_grants(t: &Value, function: &str) -> BTreeSet<String> {
    code_statements(t, function)
        .into_iter()
        .flat_map(|s| list(&s["Action"]))
        .map(|a| text(a).split(':').next().unwrap_or_default().to_string())
        .collect()
}

/// (action, resource) for every grant of the function's code, the resource as the part of the ARN
/// after the account (`table/${Name}`, `table/${Name}/index/GSI1`,
/// `parameter/retention/${Stage}/stores/*`).
fn grants(t: &Value, function: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for s in code_statements(t, function) {
        assert_eq!(text(&s["Effect"]), "Allow");
        for action in list(&s["Action"]) {
            for resource in list(&s["Resource"]) {
                let arn = arn_text(resource)
                    .replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", "region")
                    .replace("${AWS::AccountId}", "account");
                let tail = arn.splitn(6, ':').nth(5).unwrap_or_default().to_string();
                out.insert((text(action).to_string(), tail));
            }
        }
    }
    out
}

/// Whether a resource the code named falls under a granted one (`*` ends a granted path).
fn covered(granted: &str, used: &str) -> bool {
    match granted.strip_suffix('*') {
        Some(prefix) => used.starts_with(prefix),
        None => granted == used,
    }
}

/// What a recorded request named, in the template's terms: the test's table is `${Name}`, its SSM
/// prefix is the stage's.
pub(crate) fn as_deployed(
    (action, resource): &(String, String),
    table: &str,
    ssm_prefix: &str,
) -> (String, String) {
    let resource = if action.starts_with("ses:") {
        // The test's configuration set is the stage's; identities and `*` are as sent.
        match resource.strip_prefix("configuration-set/") {
            Some(_) => "configuration-set/retention-${Stage}".to_string(),
            None => resource.clone(),
        }
    } else if action.starts_with("sqs:") {
        assert!(
            resource.starts_with("scan-iam"),
            "{action} on {resource}, not the test's queue"
        );
        "retention-${Stage}-scan-jobs".to_string()
    } else if action.starts_with("ssm:") {
        let name = resource
            .strip_prefix(ssm_prefix)
            .unwrap_or_else(|| panic!("{action} on {resource}, outside the test's prefix"));
        format!("parameter/retention/${{Stage}}{name}")
    } else {
        let rest = resource
            .strip_prefix(table)
            .unwrap_or_else(|| panic!("{action} on {resource}, not the test's table"));
        format!("table/${{Name}}{rest}")
    };
    (action.clone(), resource)
}

/// Every request the function's wiring sent is one its role allows, and every grant was used by
/// one: what a function can reach and what it is allowed are the same set.
pub(crate) fn assert_role_matches(function: &str, used: &BTreeSet<(String, String)>) {
    let t = template();
    let granted = grants(&t, function);
    for (action, resource) in used {
        assert!(
            granted
                .iter()
                .any(|(a, r)| a == action && covered(r, resource)),
            "{function} sends {action} on {resource}, which its role does not grant \
             (grants: {granted:?})"
        );
    }
    for (action, resource) in &granted {
        assert!(
            used.iter()
                .any(|(a, r)| a == action && covered(resource, r)),
            "{function}'s role grants {action} on {resource}, which its code never sent \
             (sent: {used:?})"
        );
    }
}

/// A table handle for the function under test, on the same table as `setup` but through a
/// recording client; setup writes (stores, keys, credentials) go through `setup` unrecorded.
fn recorded(setup: &Table) -> (Table, retention_tests::wire::Wire, retention_aws::Aws) {
    let (aws, wire) = retention_tests::wire::Wire::around(&aws());
    let table = Table::new(retention_dynamodb::client(&aws), setup.name());
    (table, wire, aws)
}

/// order-webhook, through the wiring its `main.rs` uses, handles every sample event (orders,
/// refunds, customer updates, both redactions, WooCommerce deletes and restores) and an order that
/// redeems an issued coupon; the requests it sent are exactly what its role grants.
#[tokio::test]
async fn order_webhook_sends_exactly_what_its_role_grants() {
    let setup = fresh_table("iam-webhook").await;
    let (table, wire, _) = recorded(&setup);
    let app = order_webhook::App::with(
        order_webhook::Ports::on(std::sync::Arc::new(table)),
        std::sync::Arc::new(chrono::Utc::now),
        Duration::ZERO,
    );
    crate::events::tell_the_story(&setup, &app).await;

    let store = retention_core::StoreId::parse("iam-shop").unwrap();
    register(
        &setup,
        &store,
        retention_core::webhook::Platform::Shopify,
        &[SECRET],
    )
    .await;
    let offer = serde_json::json!({"customer_id": "501", "email": "c501@example.com",
        "campaign": "winback", "kind": "percentage", "value": 15, "expires_in_days": 30});
    let req = retention_core::coupon::IssueRequest::from_value(&offer).unwrap();
    let code = issuer(&setup, None, Default::default(), Duration::ZERO)
        .issue(&store, &req, None)
        .await
        .unwrap()
        .coupon
        .code;
    let mut order = crate::fixtures::shopify_order(
        1001,
        501,
        "c501@example.com",
        "80.00",
        &chrono::Utc::now().to_rfc3339(),
    );
    order["discount_codes"] = serde_json::json!([{"code": code.display(), "amount": "12.00",
        "type": "percentage"}]);
    let body = serde_json::to_vec(&order).unwrap();
    let (status, answer) = send(
        &app,
        shopify_webhook(&store, "orders/create", "iam-1", SECRET, &body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let coupon = setup.get_coupon(&store, &code).await.unwrap().unwrap();
    assert_eq!(coupon.redemptions.len(), 1, "the order redeemed the code");

    let used = wire
        .actions()
        .iter()
        .map(|a| as_deployed(a, setup.name(), "-"))
        .collect();
    assert_role_matches("OrderWebhookFunction", &used);
}

/// coupon-issuer, through its `main.rs` wiring, issues (creating the code in a Shopify checkout and
/// a WooCommerce one, whose restriction comes from the customer's profile), answers a repeat and a
/// validity check; what it sent is exactly what its role grants.
#[tokio::test]
async fn coupon_issuer_sends_exactly_what_its_role_grants() {
    use retention_platforms::mock::{self, Mock};
    use secrecy::SecretString;
    let setup = fresh_table("iam-coupons").await;
    let (table, wire, aws) = recorded(&setup);
    let prefix = format!("/t/iam-coupons-{}", std::process::id());
    let shopify = Mock::start(mock::shopify_check, vec![], |_| mock::shopify_created(55)).await;
    let woo = Mock::start(mock::woo_check, vec![], |_| mock::woo_created(800, "x")).await;
    let unrecorded = retention_ssm::PlatformSecrets::new(&retention_tests::aws(), &prefix);
    let key = retention_core::coupon::ApiKey::generate_secure();
    let mut stores = Vec::new();
    for (id, platform, creds) in [
        (
            "iam-shopify",
            retention_core::webhook::Platform::Shopify,
            serde_json::json!({"platform": "shopify", "shop_url": shopify.url,
                            "access_token": mock::SHOPIFY_TOKEN}),
        ),
        (
            "iam-woo",
            retention_core::webhook::Platform::Woocommerce,
            serde_json::json!({"platform": "woocommerce", "base_url": woo.url,
                            "consumer_key": mock::WOO_KEY, "consumer_secret": mock::WOO_SECRET}),
        ),
    ] {
        let store = retention_core::StoreId::parse(id).unwrap();
        register(&setup, &store, platform, &[SECRET]).await;
        setup
            .put_api_key(&store, &key.hash(), chrono::Utc::now())
            .await
            .unwrap();
        unrecorded
            .put(&store, &SecretString::from(creds.to_string()))
            .await
            .unwrap();
        stores.push(store);
    }
    // The WooCommerce customer has ordered before: the code is restricted to their address.
    let order = crate::fixtures::shopify_order(
        9001,
        77,
        "grace@example.com",
        "42.00",
        &chrono::Utc::now().to_rfc3339(),
    );
    let parsed = match retention_core::webhook::parse(
        retention_core::webhook::Platform::Shopify,
        Some("orders/create"),
        &serde_json::to_vec(&order).unwrap(),
    )
    .unwrap()
    {
        retention_core::webhook::Parsed::Change(c) => *c,
        other => panic!("{other:?}"),
    };
    deliveries(&setup)
        .apply(&stores[1], &parsed, &["w1".into()], chrono::Utc::now())
        .await
        .unwrap();

    let secrets = retention_ssm::PlatformSecrets::new(&aws, &prefix);
    let checkouts = retention_platforms::PlatformCheckouts::new(
        std::sync::Arc::new(secrets),
        Default::default(),
        Duration::ZERO,
    );
    let issuer = coupon_issuer::Issuer::new(coupon_issuer::ports(
        std::sync::Arc::new(table),
        Some(std::sync::Arc::new(checkouts)),
    ))
    .with_cache_ttl(Duration::ZERO);
    let auth = || {
        vec![
            ("authorization", format!("Bearer {}", key.expose())),
            ("content-type", "application/json".to_string()),
        ]
    };
    for store in &stores {
        let offer = serde_json::json!({"customer_id": "77", "campaign": "winback",
            "kind": "percentage", "value": 15, "expires_in_days": 30});
        let post = || {
            request(
                Method::POST,
                &format!("/stores/{store}/coupons"),
                &auth(),
                offer.to_string().into_bytes(),
            )
        };
        let first = coupon_issuer::handle(&issuer, post()).await.unwrap();
        assert_eq!(first.status(), 201, "{store}: {:?}", first.body());
        let body: serde_json::Value = match first.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(body["checkout"]["state"], "created", "{store}: {body}");
        let again = coupon_issuer::handle(&issuer, post()).await.unwrap();
        assert_eq!(again.status(), 200);
        let code = body["code"].as_str().unwrap();
        let check = request(
            Method::GET,
            &format!("/stores/{store}/coupons/{code}"),
            &auth(),
            vec![],
        );
        assert_eq!(
            coupon_issuer::handle(&issuer, check)
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        woo.requests()[0].body["email_restrictions"],
        serde_json::json!(["grace@example.com"])
    );

    let used = wire
        .actions()
        .iter()
        .map(|a| as_deployed(a, setup.name(), &prefix))
        .collect();
    assert_role_matches("CouponIssuerFunction", &used);
}

/// churn-scan, through its `main.rs` wiring, handles the hourly tick (which lists the stores and
/// starts a run), every job of that run (pages of customers, checkpoints, the fit, scores, the
/// report) and the `scan runs` reads; what it sent is exactly what its role grants.
#[tokio::test]
async fn churn_scan_sends_exactly_what_its_role_grants() {
    let setup = fresh_table("iam-scan").await;
    let store = retention_core::StoreId::parse("iam-scan-shop").unwrap();
    let s = retention_core::store::Store {
        id: store.clone(),
        platform: retention_core::webhook::Platform::Generic,
        webhook_secrets: vec![SECRET.into()],
        name: None,
        from_email: None,
        timezone: Some("UTC".into()),
        currency: Some(retention_core::Currency::parse("USD").unwrap()),
        mail: Default::default(),
    };
    assert!(setup.put_store(&s, 0).await.unwrap());
    let d = retention_tests::deliveries(&setup);
    for i in 0..30 {
        let body = serde_json::to_vec(&crate::fixtures::shopify_order(
            2000 + i,
            600 + i % 12,
            &format!("c{}@example.com", i % 12),
            "25.00",
            "2026-06-01T10:00:00Z",
        ))
        .unwrap();
        let parsed = retention_core::webhook::parse(
            retention_core::webhook::Platform::Shopify,
            Some("orders/create"),
            &body,
        )
        .unwrap();
        if let retention_core::webhook::Parsed::Change(c) = parsed {
            d.apply(&store, &c, &[format!("iam-{i}")], chrono::Utc::now())
                .await
                .unwrap();
        }
    }
    let (table, wire, aws) = recorded(&setup);
    let sqs = retention_sqs::client(&aws);
    let queue_name = format!("scan-iam-{}", std::process::id());
    let url = sqs
        .create_queue()
        .queue_name(&queue_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = std::sync::Arc::new(retention_sqs::JobQueue::new(sqs.clone(), url.clone()));
    let app = churn_scan::App::new(churn_scan::Ports::on(std::sync::Arc::new(table), queue))
        .with_clock(retention_function::fixed_clock(
            chrono::DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
        ));
    let tick =
        serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let ticked = churn_scan::handle(&app, tick.clone()).await.unwrap();
    assert!(ticked.to_string().contains("started"), "{ticked}");
    // The poller's own requests (receive, delete) go through a client that is not recorded.
    let poller = retention_sqs::client(&retention_tests::aws());
    loop {
        let got = poller
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            break;
        }
        let records: Vec<serde_json::Value> = got
            .iter()
            .map(|m| serde_json::json!({"messageId": m.message_id, "body": m.body, "eventSource": "aws:sqs"}))
            .collect();
        let answer = churn_scan::handle(&app, serde_json::json!({ "Records": records }))
            .await
            .unwrap();
        assert_eq!(
            answer["batchItemFailures"],
            serde_json::json!([]),
            "{answer}"
        );
        for m in &got {
            poller
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    let runs = retention_app::ports::ScanRuns::runs(&setup, &store, 5)
        .await
        .unwrap();
    assert_eq!(runs[0].phase, retention_core::scan::Phase::Done, "{runs:?}");
    // Done: the next tick reads the run and its report and sends nothing.
    churn_scan::handle(&app, tick).await.unwrap();
    let used = wire
        .actions()
        .iter()
        .filter(|(a, _)| a != "sqs:CreateQueue")
        .map(|a| as_deployed(a, setup.name(), "-"))
        .collect();
    assert_role_matches("ChurnScanFunction", &used);
}

/// The AWS SDKs a package links (`cargo tree -e normal`), by IAM service prefix.
fn sdks_linked(package: &str) -> BTreeSet<String> {
    let out = cargo(&["tree", "-p", package, "-e", "normal", "--prefix", "none"]);
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.strip_prefix("aws-sdk-"))
        .map(|sdk| match sdk {
            "sesv2" => "ses".to_string(),
            other => other.to_string(),
        })
        .collect()
}

/// Each function links exactly the SDKs of the services its role lets it call: no SDK it cannot
/// use (order-webhook has no aws-sdk-ssm, aws-sdk-sesv2 or aws-sdk-sqs), and no grant without code.
#[test]
fn each_function_links_the_sdks_its_role_allows_and_no_other() {
    let t = template();
    let crates = function_crates();
    for (name, _) in of_type(&t, "AWS::Serverless::Function") {
        let binary = binary_of(&t, &name);
        let package = crates
            .iter()
            .find(|c| c.binaries.contains(&binary))
            .unwrap_or_else(|| panic!("{name}: no crate builds {binary}"));
        assert_eq!(
            sdks_linked(&package.package),
            services_the_role_grants(&t, &name),
            "{name} ({}): SDKs linked vs services its role grants",
            package.package
        );
    }
    assert!(!sdks_linked("order-webhook").contains("ssm"));
}
