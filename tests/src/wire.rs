//! What a function really sends to AWS, recorded below the SDK: an HTTP client that writes down
//! each request (the service it is signed for, its operation, its body) and passes it on unchanged.
//! Every adapter built from the wrapped [`Aws`] is recorded, whichever service it calls, so the
//! role test (tests/it/infra.rs) compares the template with the wire, not with the code's opinion
//! of itself; the email issue's tests read the same record to see the headers and tags SES got.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use retention_aws::Aws;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// One request as it left the SDK.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The SigV4 signing name from the credential scope: `dynamodb`, `ssm`, `ses`, `sqs`, ….
    pub service: String,
    /// The operation from `X-Amz-Target` (`DynamoDB_20120810.Query` → `Query`), for the JSON
    /// protocols; `None` for REST services, whose operation is the method and path.
    pub operation: Option<String>,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Sent {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The IAM actions this request needs, each with the resource it names: the table, or
    /// `table/index/NAME` for a Query on an index. A TransactWriteItems needs the action of each
    /// item it carries (PutItem, UpdateItem, DeleteItem, ConditionCheckItem), not one of its own.
    pub fn actions(&self) -> Vec<(String, String)> {
        let op = self.operation.clone().unwrap_or_else(|| self.path.clone());
        let body = self.json();
        let resource = |v: &serde_json::Value| -> String {
            if let Some(url) = v["QueueUrl"].as_str() {
                // SQS names a queue by URL; IAM by name (the ARN's last part).
                return url.rsplit('/').next().unwrap_or("").to_string();
            }
            let table = v["TableName"].as_str().unwrap_or("").to_string();
            match v["IndexName"].as_str() {
                Some(index) => format!("{table}/index/{index}"),
                None if table.is_empty() => v["Name"].as_str().unwrap_or("").to_string(),
                None => table,
            }
        };
        let action = |name: &str| format!("{}:{name}", self.service);
        if self.service == "ses" {
            return self.ses_actions(&body);
        }
        match op.as_str() {
            "TransactWriteItems" => body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item.as_object()?.iter().next())
                .map(|(kind, inner)| {
                    let name = match kind.as_str() {
                        "ConditionCheck" => "ConditionCheckItem".to_string(),
                        other => format!("{other}Item"),
                    };
                    (action(&name), resource(inner))
                })
                .collect(),
            "BatchWriteItem" => body["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(table, _)| (action("BatchWriteItem"), table.clone()))
                .collect(),
            // One IAM action covers a batch and a single message.
            "SendMessageBatch" => vec![(action("SendMessage"), resource(&body))],
            _ => vec![(action(&op), resource(&body))],
        }
    }
}

impl Sent {
    /// SES v2 is a REST API: the action is the method and path. SendEmail with Raw content needs
    /// `ses:SendEmail` and `ses:SendRawEmail`, each on the sender's identity (`identity/ADDRESS`)
    /// and on the configuration set it names; the account's quota and suppression list take no
    /// resource (`""`, as `Resource: "*"` reads in the role test).
    fn ses_actions(&self, body: &serde_json::Value) -> Vec<(String, String)> {
        let path = self.path.split('?').next().unwrap_or_default();
        let path = path.find("/v2/").map(|i| &path[i..]).unwrap_or(path);
        let none = |a: &str| vec![(format!("ses:{a}"), String::new())];
        match (self.method.as_str(), path) {
            ("POST", "/v2/email/outbound-emails") => {
                let from = body["FromEmailAddress"].as_str().unwrap_or_default();
                let address = from
                    .rsplit_once('<')
                    .map(|(_, a)| a.trim_end_matches('>'))
                    .unwrap_or(from);
                let mut resources = vec![format!("identity/{address}")];
                if let Some(set) = body["ConfigurationSetName"].as_str() {
                    resources.push(format!("configuration-set/{set}"));
                }
                let mut actions = vec!["ses:SendEmail"];
                if !body["Content"]["Raw"].is_null() {
                    actions.push("ses:SendRawEmail");
                }
                actions
                    .into_iter()
                    .flat_map(|a| resources.iter().map(move |r| (a.to_string(), r.clone())))
                    .collect()
            }
            ("GET", "/v2/email/account") => none("GetAccount"),
            ("PUT", "/v2/email/suppression/addresses") => none("PutSuppressedDestination"),
            ("POST", "/v2/email/identities") => vec![(
                "ses:CreateEmailIdentity".into(),
                format!(
                    "identity/{}",
                    body["EmailIdentity"].as_str().unwrap_or_default()
                ),
            )],
            (m, p) => vec![(format!("ses:{m} {p}"), String::new())],
        }
    }
}

/// The recorder: clone it freely, every clone writes to the same list.
#[derive(Debug, Clone)]
pub struct Wire {
    inner: SharedHttpClient,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl Wire {
    /// `aws` with its HTTP client wrapped: what the returned configuration sends is recorded here.
    pub fn around(aws: &Aws) -> (Aws, Wire) {
        let sdk = aws.sdk_config();
        let wire = Wire {
            inner: sdk
                .http_client()
                .expect("the functions' configuration has an HTTP client"),
            sent: Arc::default(),
        };
        let recorded = sdk.to_builder().http_client(wire.clone()).build();
        (Aws::from(recorded), wire)
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// Every (IAM action, resource) the recorded requests needed.
    pub fn actions(&self) -> BTreeSet<(String, String)> {
        self.sent().iter().flat_map(Sent::actions).collect()
    }
}

impl HttpClient for Wire {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Recording {
            inner: self.inner.http_connector(settings, components),
            sent: self.sent.clone(),
        })
    }
}

#[derive(Debug)]
struct Recording {
    inner: SharedHttpConnector,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl HttpConnector for Recording {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let header = |name: &str| request.headers().get(name).map(str::to_string);
        // `Credential=KEY/DATE/REGION/SERVICE/aws4_request`
        let service = header("authorization")
            .and_then(|a| {
                let scope = a
                    .split("Credential=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .to_string();
                scope.split('/').nth(3).map(str::to_string)
            })
            .unwrap_or_default();
        let operation =
            header("x-amz-target").and_then(|t| t.rsplit('.').next().map(str::to_string));
        let uri = request.uri().to_string();
        let path = uri
            .split_once("://")
            .map_or(uri.as_str(), |(_, rest)| {
                rest.find('/').map_or("/", |i| &rest[i..])
            })
            .to_string();
        self.sent.lock().unwrap().push(Sent {
            service,
            operation,
            method: request.method().to_string(),
            path,
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: request.body().bytes().unwrap_or_default().to_vec(),
        });
        self.inner.call(request)
    }
}
