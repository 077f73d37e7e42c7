//! What SES says happened to a message after it left: bounces, complaints, deliveries. SES reports
//! them through the configuration set's event destination, which reaches the `email-events`
//! function in one of two envelopes:
//!
//! - **EventBridge**: `{"source": "aws.ses", "detail-type": "Email Bounced", "detail": {…}}`, the
//!   detail being SES's event-publishing record (`eventType`, `mail`, `bounce` | `complaint` | …);
//! - **SNS**: `{"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "<JSON text>"}}, …]}`, each
//!   message an event-publishing record or, from an identity's feedback notifications, the older
//!   notification form (`notificationType` instead of `eventType`).
//!
//! A record finds its store through the message tags our sender puts on every email and SES echoes in
//! `mail.tags` (`{"store": ["demo-shop"], "message": ["…"], …}`). A record without a store tag is
//! not ours to act on (identity notifications carry no tags): it is ignored, never an error.
//!
//! The rule ([`FeedbackKind::effect`]): a permanent bounce or a complaint suppresses the address for
//! the store and counts against its reputation; a transient (or undetermined) bounce is counted,
//! never suppressed; a complaint whose feedback type is `not-spam` changes nothing.

use crate::email::reputation::DayCounts;
use crate::email::suppression::SuppressionReason;
use crate::ids::{Email, StoreId};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::fmt;

/// The tag our sender names the store with (see `retention_app::mail`).
pub const STORE_TAG: &str = "store";
/// The tag our sender names the outbox message with.
pub const MESSAGE_TAG: &str = "message";

/// SES's `bounceSubType` for an address on the account's own suppression list: SES did not try to
/// deliver, and such bounces do not count toward the account's bounce rate.
pub const ON_ACCOUNT_SUPPRESSION_LIST: &str = "OnAccountSuppressionList";

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackKind {
    /// `permanent`: SES's `bounceType` was `Permanent`; `Transient` and `Undetermined` are not.
    Bounce {
        permanent: bool,
        subtype: Option<String>,
    },
    /// A recipient's complaint; `feedback_type` is SES's `complaintFeedbackType` when the mailbox
    /// provider said (`abuse`, `fraud`, `not-spam`, …).
    Complaint {
        feedback_type: Option<String>,
    },
    Delivery,
    /// Any other event type (`Send`, `Open`, `DeliveryDelay`, …): nothing to do.
    Other(String),
}

/// One SES event about one message of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub store: StoreId,
    /// SES's message id (`mail.messageId`): what makes a redelivered event count once.
    pub ses_message_id: String,
    /// Our outbox message id (the `message` tag), when the email carried one.
    pub message: Option<String>,
    pub kind: FeedbackKind,
    pub recipients: Vec<Email>,
    /// When it happened (the bounce's, complaint's or delivery's timestamp; else the send's).
    pub at: DateTime<Utc>,
}

/// One record of an event: SES feedback for a store, or something ignored and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Feedback(Feedback),
    Ignored(String),
}

/// What a piece of feedback does to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Suppress the address for the store, with SES's detail for the operator.
    pub suppress: Option<(SuppressionReason, Option<String>)>,
    /// What to add to the store's day.
    pub counts: DayCounts,
    /// The kind's name in the marker that makes it count once: `bounce`, `transient`, `complaint`.
    pub marker: &'static str,
}

impl FeedbackKind {
    /// The rule, per recipient: `None` when the feedback changes nothing (deliveries, other
    /// events, `not-spam` complaints).
    pub fn effect(&self) -> Option<Effect> {
        match self {
            FeedbackKind::Bounce {
                permanent: true,
                subtype,
            } => Some(Effect {
                suppress: Some((SuppressionReason::Bounce, subtype.clone())),
                counts: if subtype.as_deref() == Some(ON_ACCOUNT_SUPPRESSION_LIST) {
                    DayCounts::default()
                } else {
                    DayCounts {
                        bounced: 1,
                        ..DayCounts::default()
                    }
                },
                marker: "bounce",
            }),
            FeedbackKind::Bounce {
                permanent: false, ..
            } => Some(Effect {
                suppress: None,
                counts: DayCounts {
                    transient: 1,
                    ..DayCounts::default()
                },
                marker: "transient",
            }),
            FeedbackKind::Complaint { feedback_type } => {
                if feedback_type.as_deref() == Some("not-spam") {
                    return None;
                }
                Some(Effect {
                    suppress: Some((SuppressionReason::Complaint, feedback_type.clone())),
                    counts: DayCounts {
                        complained: 1,
                        ..DayCounts::default()
                    },
                    marker: "complaint",
                })
            }
            FeedbackKind::Delivery | FeedbackKind::Other(_) => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            FeedbackKind::Bounce {
                permanent: true, ..
            } => "bounce (permanent)",
            FeedbackKind::Bounce { .. } => "bounce (transient)",
            FeedbackKind::Complaint { .. } => "complaint",
            FeedbackKind::Delivery => "delivery",
            FeedbackKind::Other(t) => t,
        }
    }
}

impl Feedback {
    /// The marker that makes this feedback count once for `recipient`: SES's message id, the kind
    /// and the address (a message may bounce softly, then for good: two markers).
    pub fn marker(&self, effect: &Effect, recipient: &Email) -> String {
        format!(
            "{}#{}#{}",
            self.ses_message_id,
            effect.marker,
            recipient.as_str()
        )
    }
}

/// Why an event could not be read. Names the field, with its path from the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    #[error("the event is not valid JSON: {0}")]
    Json(String),
    #[error("the event is neither an EventBridge event nor an SNS batch (expected `detail` with `source: aws.ses`, or `Records`)")]
    Unrecognized,
    #[error("missing field `{0}`")]
    Missing(String),
    #[error("field `{field}` is invalid: {reason}")]
    Invalid { field: String, reason: String },
}

fn missing(path: impl fmt::Display) -> FeedbackError {
    FeedbackError::Missing(path.to_string())
}
fn invalid(path: impl fmt::Display, reason: impl fmt::Display) -> FeedbackError {
    FeedbackError::Invalid {
        field: path.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses the raw text of an event (a sample file, a test).
pub fn parse_str(text: &str) -> Result<Vec<Notice>, FeedbackError> {
    let v: Value = serde_json::from_str(text).map_err(|e| FeedbackError::Json(e.to_string()))?;
    parse_event(&v)
}

/// Parses an event as Lambda hands it over: one notice per record (EventBridge: one; SNS: one per
/// record of the batch).
pub fn parse_event(event: &Value) -> Result<Vec<Notice>, FeedbackError> {
    let Some(o) = event.as_object() else {
        return Err(FeedbackError::Unrecognized);
    };
    if let Some(records) = o.get("Records") {
        let records = records
            .as_array()
            .ok_or_else(|| invalid("Records", "is not an array"))?;
        return records
            .iter()
            .enumerate()
            .map(|(i, r)| sns_record(i, r))
            .collect();
    }
    if let Some(detail) = o.get("detail") {
        let source = o.get("source").and_then(Value::as_str).unwrap_or_default();
        if source != "aws.ses" {
            return Ok(vec![Notice::Ignored(format!(
                "an EventBridge event from {source:?}, not aws.ses"
            ))]);
        }
        return Ok(vec![record(&Path::root("detail"), detail)?]);
    }
    Err(FeedbackError::Unrecognized)
}

fn sns_record(i: usize, r: &Value) -> Result<Notice, FeedbackError> {
    let at = Path::root(format!("Records[{i}]"));
    let source = r
        .get("EventSource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if source != "aws:sns" {
        return Ok(Notice::Ignored(format!(
            "record {i} comes from {source:?}, not aws:sns"
        )));
    }
    let sns = at.child("Sns");
    let message = r
        .get("Sns")
        .and_then(|s| s.get("Message"))
        .ok_or_else(|| missing(sns.child("Message")))?
        .as_str()
        .ok_or_else(|| invalid(sns.child("Message"), "is not a string"))?;
    let v: Value = serde_json::from_str(message)
        .map_err(|e| invalid(sns.child("Message"), format!("is not JSON: {e}")))?;
    record(&sns.child("Message"), &v)
}

/// A dotted path to a field, for error messages.
#[derive(Clone)]
struct Path(String);

impl Path {
    fn root(s: impl Into<String>) -> Self {
        Path(s.into())
    }
    fn child(&self, name: &str) -> Path {
        Path(format!("{}.{name}", self.0))
    }
    fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }
}
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn object<'v>(
    path: &Path,
    v: &'v Value,
) -> Result<&'v serde_json::Map<String, Value>, FeedbackError> {
    v.as_object()
        .ok_or_else(|| invalid(path, "is not a JSON object"))
}

fn field<'v>(
    path: &Path,
    o: &'v serde_json::Map<String, Value>,
    name: &str,
) -> Result<&'v Value, FeedbackError> {
    match o.get(name) {
        None | Some(Value::Null) => Err(missing(path.child(name))),
        Some(v) => Ok(v),
    }
}

fn opt_text(
    path: &Path,
    o: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, FeedbackError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(path.child(name), "is not a string")),
    }
}

fn text(
    path: &Path,
    o: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<String, FeedbackError> {
    opt_text(path, o, name)?.ok_or_else(|| missing(path.child(name)))
}

fn time(
    path: &Path,
    o: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, FeedbackError> {
    opt_text(path, o, name)?
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    invalid(
                        path.child(name),
                        format!("{s:?} is not an RFC 3339 time: {e}"),
                    )
                })
        })
        .transpose()
}

/// An address as SES writes it: bare, or (rarely) `Name <address>`.
fn address(path: &Path, s: &str) -> Result<Email, FeedbackError> {
    let bare = match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    Email::parse(bare).map_err(|e| invalid(path, e))
}

/// SES's message ids are short and plain; anything else is not SES's (it also ends up in a key).
fn message_id(path: &Path, s: String) -> Result<String, FeedbackError> {
    if s.len() > 200
        || s.chars()
            .any(|c| c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(invalid(path, "is not an SES message id"));
    }
    Ok(s)
}

fn first_tag(tags: Option<&Value>, name: &str) -> Option<String> {
    match tags?.get(name)? {
        Value::Array(a) => a.first()?.as_str().map(str::to_owned),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// One SES record: an event-publishing record (`eventType`) or a notification (`notificationType`).
fn record(path: &Path, v: &Value) -> Result<Notice, FeedbackError> {
    let o = object(path, v)?;
    let kind_name = match (
        opt_text(path, o, "eventType")?,
        opt_text(path, o, "notificationType")?,
    ) {
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => return Err(missing(path.child("eventType"))),
    };
    let mail_path = path.child("mail");
    let mail = object(&mail_path, field(path, o, "mail")?)?;
    let tags = mail.get("tags");
    if tags.is_some_and(|t| !t.is_object() && !t.is_null()) {
        return Err(invalid(mail_path.child("tags"), "is not a JSON object"));
    }
    let Some(store_tag) = first_tag(tags, STORE_TAG) else {
        return Ok(Notice::Ignored(format!(
            "a {kind_name} event without a `{STORE_TAG}` tag (not sent by this engine, or an identity notification)"
        )));
    };
    let store = match StoreId::parse(store_tag.as_str()) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Notice::Ignored(format!(
                "a {kind_name} event whose store tag is not a store id: {e}"
            )))
        }
    };
    let ses_message_id = message_id(
        &mail_path.child("messageId"),
        text(&mail_path, mail, "messageId")?,
    )?;
    let sent_at = time(&mail_path, mail, "timestamp")?;
    let (kind, recipients, at) = match kind_name.as_str() {
        "Bounce" => {
            let p = path.child("bounce");
            let b = object(&p, field(path, o, "bounce")?)?;
            let permanent = match text(&p, b, "bounceType")?.as_str() {
                "Permanent" => true,
                // Undetermined (and any type SES adds later) is counted like a transient bounce:
                // suppressing on a guess would lose a customer.
                _ => false,
            };
            let subtype = opt_text(&p, b, "bounceSubType")?;
            let recipients = recipients(&p, b, "bouncedRecipients")?;
            let at = time(&p, b, "timestamp")?;
            (FeedbackKind::Bounce { permanent, subtype }, recipients, at)
        }
        "Complaint" => {
            let p = path.child("complaint");
            let c = object(&p, field(path, o, "complaint")?)?;
            let feedback_type = opt_text(&p, c, "complaintFeedbackType")?;
            let recipients = recipients(&p, c, "complainedRecipients")?;
            let at = time(&p, c, "timestamp")?;
            (FeedbackKind::Complaint { feedback_type }, recipients, at)
        }
        "Delivery" => {
            let p = path.child("delivery");
            let (recipients, at) = match o.get("delivery") {
                Some(d @ Value::Object(_)) => {
                    let d = object(&p, d)?;
                    let list = match d.get("recipients") {
                        Some(Value::Array(a)) => a
                            .iter()
                            .enumerate()
                            .map(|(i, r)| {
                                let rp = p.child("recipients").index(i);
                                r.as_str()
                                    .ok_or_else(|| invalid(&rp, "is not a string"))
                                    .and_then(|s| address(&rp, s))
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                        _ => vec![],
                    };
                    (list, time(&p, d, "timestamp")?)
                }
                _ => (vec![], None),
            };
            (FeedbackKind::Delivery, recipients, at)
        }
        other => (FeedbackKind::Other(other.to_owned()), vec![], None),
    };
    let at = at
        .or(sent_at)
        .ok_or_else(|| missing(mail_path.child("timestamp")))?;
    Ok(Notice::Feedback(Feedback {
        store,
        ses_message_id,
        message: first_tag(tags, MESSAGE_TAG),
        kind,
        recipients,
        at,
    }))
}

fn recipients(
    path: &Path,
    o: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Vec<Email>, FeedbackError> {
    let list = path.child(name);
    let a = field(path, o, name)?
        .as_array()
        .ok_or_else(|| invalid(&list, "is not an array"))?;
    a.iter()
        .enumerate()
        .map(|(i, r)| {
            let rp = list.index(i);
            let r = object(&rp, r)?;
            address(&rp.child("emailAddress"), &text(&rp, r, "emailAddress")?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mail(tags: Value) -> Value {
        json!({
            "timestamp": "2026-12-04T10:00:00.000Z",
            "source": "shop@demo-shop.example",
            "messageId": "0100018c-abc-000000",
            "destination": ["maya.chen@example.com"],
            "tags": tags,
        })
    }

    fn ours() -> Value {
        json!({"store": ["demo-shop"], "message": ["m-1"], "kind": ["broadcast"], "ses:configuration-set": ["retention"]})
    }

    fn bounce(kind: &str, subtype: &str) -> Value {
        json!({
            "eventType": "Bounce",
            "bounce": {
                "bounceType": kind,
                "bounceSubType": subtype,
                "bouncedRecipients": [{"emailAddress": "Maya.Chen@example.com", "status": "5.1.1"}],
                "timestamp": "2026-12-04T10:00:05.000Z",
                "feedbackId": "f-1",
            },
            "mail": mail(ours()),
        })
    }

    fn eventbridge(detail_type: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "e-1", "source": "aws.ses", "detail-type": detail_type,
               "time": "2026-12-04T10:00:06Z", "region": "us-east-1", "resources": [], "detail": detail})
    }

    fn one(v: &Value) -> Feedback {
        match parse_event(v).unwrap().as_slice() {
            [Notice::Feedback(f)] => f.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_permanent_bounce_names_its_store_message_and_recipient() {
        let f = one(&eventbridge(
            "Email Bounced",
            bounce("Permanent", "NoEmail"),
        ));
        assert_eq!(f.store.as_str(), "demo-shop");
        assert_eq!(f.ses_message_id, "0100018c-abc-000000");
        assert_eq!(f.message.as_deref(), Some("m-1"));
        assert_eq!(
            f.kind,
            FeedbackKind::Bounce {
                permanent: true,
                subtype: Some("NoEmail".into())
            }
        );
        assert_eq!(
            f.recipients,
            [Email::parse("maya.chen@example.com").unwrap()]
        );
        assert_eq!(f.at.to_rfc3339(), "2026-12-04T10:00:05+00:00");
        let e = f.kind.effect().unwrap();
        assert_eq!(e.suppress.unwrap().0, SuppressionReason::Bounce);
        assert_eq!(e.counts.bounced, 1);
        assert_eq!(
            f.marker(&f.kind.effect().unwrap(), &f.recipients[0]),
            "0100018c-abc-000000#bounce#maya.chen@example.com"
        );
    }

    #[test]
    fn transient_and_undetermined_bounces_are_counted_never_suppressed() {
        for t in ["Transient", "Undetermined"] {
            let f = one(&eventbridge("Email Bounced", bounce(t, "General")));
            let e = f.kind.effect().unwrap();
            assert_eq!(e.suppress, None, "{t}");
            assert_eq!(e.counts.transient, 1);
            assert_eq!(e.counts.bounced, 0);
            assert_eq!(e.marker, "transient");
        }
    }

    #[test]
    fn an_address_on_the_account_list_is_suppressed_but_not_counted() {
        let f = one(&eventbridge(
            "Email Bounced",
            bounce("Permanent", ON_ACCOUNT_SUPPRESSION_LIST),
        ));
        let e = f.kind.effect().unwrap();
        assert!(e.suppress.is_some());
        assert_eq!(e.counts, DayCounts::default());
    }

    #[test]
    fn complaints_suppress_except_not_spam() {
        let complaint = |ft: Option<&str>| {
            let mut c = json!({
                "eventType": "Complaint",
                "complaint": {"complainedRecipients": [{"emailAddress": "leo@example.com"}],
                              "timestamp": "2026-12-04T11:00:00Z"},
                "mail": mail(ours()),
            });
            if let Some(ft) = ft {
                c["complaint"]["complaintFeedbackType"] = json!(ft);
            }
            one(&eventbridge("Email Complaint Received", c))
        };
        let abuse = complaint(Some("abuse")).kind.effect().unwrap();
        assert_eq!(
            abuse.suppress,
            Some((SuppressionReason::Complaint, Some("abuse".into())))
        );
        assert_eq!(abuse.counts.complained, 1);
        assert!(complaint(None).kind.effect().unwrap().suppress.is_some());
        assert_eq!(complaint(Some("not-spam")).kind.effect(), None);
    }

    #[test]
    fn an_sns_batch_reads_both_record_forms() {
        let mut notification = bounce("Permanent", "General");
        let o = notification.as_object_mut().unwrap();
        o.remove("eventType");
        o.insert("notificationType".into(), json!("Bounce"));
        let delivery = json!({"eventType": "Delivery", "mail": mail(ours()),
            "delivery": {"timestamp": "2026-12-04T10:00:02Z", "recipients": ["maya.chen@example.com"]}});
        let batch = json!({"Records": [
            {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Type": "Notification", "Message": bounce("Transient", "MailboxFull").to_string()}},
            {"EventSource": "aws:sns", "Sns": {"Message": notification.to_string()}},
            {"EventSource": "aws:sns", "Sns": {"Message": delivery.to_string()}},
        ]});
        let notices = parse_event(&batch).unwrap();
        let kinds: Vec<_> = notices
            .iter()
            .map(|n| match n {
                Notice::Feedback(f) => f.kind.name().to_owned(),
                Notice::Ignored(why) => why.clone(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["bounce (transient)", "bounce (permanent)", "delivery"]
        );
        let Notice::Feedback(d) = &notices[2] else {
            unreachable!()
        };
        assert_eq!(d.kind.effect(), None);
        assert_eq!(d.recipients.len(), 1);
    }

    #[test]
    fn events_that_are_not_ours_are_ignored_not_errors() {
        let mut untagged = bounce("Permanent", "General");
        untagged["mail"]["tags"] = json!({"ses:configuration-set": ["x"]});
        let mut no_tags = bounce("Permanent", "General");
        no_tags["mail"].as_object_mut().unwrap().remove("tags");
        let mut bad_store = bounce("Permanent", "General");
        bad_store["mail"]["tags"]["store"] = json!(["no/such"]);
        for detail in [untagged, no_tags, bad_store] {
            let n = parse_event(&eventbridge("Email Bounced", detail)).unwrap();
            assert!(matches!(n.as_slice(), [Notice::Ignored(_)]), "{n:?}");
        }
        let foreign =
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert!(matches!(
            parse_event(&foreign).unwrap().as_slice(),
            [Notice::Ignored(_)]
        ));
        let open = json!({"eventType": "Open", "mail": mail(ours()), "open": {}});
        assert_eq!(
            one(&eventbridge("Email Opened", open)).kind,
            FeedbackKind::Other("Open".into())
        );
    }

    #[test]
    fn malformed_events_name_the_problem() {
        let err = |v: Value| parse_event(&v).unwrap_err().to_string();
        assert!(parse_str("{not json")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
        assert!(err(json!([1])).contains("neither"));
        assert!(err(json!({"hello": 1})).contains("neither"));
        let mut b = bounce("Permanent", "General");
        b["bounce"]
            .as_object_mut()
            .unwrap()
            .remove("bouncedRecipients");
        assert_eq!(
            err(eventbridge("Email Bounced", b)),
            "missing field `detail.bounce.bouncedRecipients`"
        );
        let mut b = bounce("Permanent", "General");
        b["bounce"]["bouncedRecipients"][0]["emailAddress"] = json!("nobody");
        assert!(err(eventbridge("Email Bounced", b))
            .starts_with("field `detail.bounce.bouncedRecipients[0].emailAddress` is invalid"));
        let mut b = bounce("Permanent", "General");
        b["bounce"]["timestamp"] = json!("yesterday");
        assert!(err(eventbridge("Email Bounced", b)).contains("detail.bounce.timestamp"));
        let mut b = bounce("Permanent", "General");
        b["mail"].as_object_mut().unwrap().remove("messageId");
        assert_eq!(
            err(eventbridge("Email Bounced", b)),
            "missing field `detail.mail.messageId`"
        );
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{oops"}}]});
        assert!(err(sns).starts_with("field `Records[0].Sns.Message` is invalid: is not JSON"));
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {}}]});
        assert_eq!(err(sns), "missing field `Records[0].Sns.Message`");
    }

    #[test]
    fn an_address_in_angle_brackets_is_read() {
        let mut b = bounce("Permanent", "General");
        b["bounce"]["bouncedRecipients"][0]["emailAddress"] = json!("Maya <maya@example.com>");
        assert_eq!(
            one(&eventbridge("Email Bounced", b)).recipients[0].as_str(),
            "maya@example.com"
        );
    }

    mod never_panics {
        use super::super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                prop_oneof![
                    Just("Bounce".to_string()),
                    Just("Complaint".to_string()),
                    Just("Permanent".to_string()),
                    Just("aws.ses".to_string()),
                    Just("aws:sns".to_string()),
                    Just("a@b.co".to_string()),
                    Just("2026-12-04T10:00:00Z".to_string()),
                    ".{0,12}",
                ]
                .prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map(
                        prop_oneof![
                            Just("Records".to_string()),
                            Just("EventSource".to_string()),
                            Just("Sns".to_string()),
                            Just("Message".to_string()),
                            Just("source".to_string()),
                            Just("detail".to_string()),
                            Just("eventType".to_string()),
                            Just("notificationType".to_string()),
                            Just("mail".to_string()),
                            Just("tags".to_string()),
                            Just("store".to_string()),
                            Just("messageId".to_string()),
                            Just("timestamp".to_string()),
                            Just("bounce".to_string()),
                            Just("bounceType".to_string()),
                            Just("bouncedRecipients".to_string()),
                            Just("complaint".to_string()),
                            Just("complainedRecipients".to_string()),
                            Just("emailAddress".to_string()),
                            Just("delivery".to_string()),
                            Just("recipients".to_string()),
                        ],
                        inner,
                        0..5,
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn no_event_makes_it_panic(v in json_value()) {
                let _ = parse_event(&v);
                // The same value as an SNS message string.
                let wrapped = serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": v.to_string()}}]});
                let _ = parse_event(&wrapped);
            }

            #[test]
            fn no_text_makes_it_panic(s in ".{0,200}") {
                let _ = parse_str(&s);
            }
        }
    }
}
