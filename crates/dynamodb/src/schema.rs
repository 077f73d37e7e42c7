//! The table's definition, in one place: `retention init` creates it from here, and a test compares
//! it with infra/template.yaml.

use crate::keys::{GSI1, GSI1PK, GSI1SK, PK, SK, TTL};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use retention_aws::AwsError;

/// A plain description of the table, comparable with what a template declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub hash_key: &'static str,
    pub range_key: &'static str,
    /// (index name, hash key, range key), all projecting every attribute.
    pub global_indexes: Vec<(&'static str, &'static str, &'static str)>,
    pub ttl_attribute: &'static str,
}

pub fn table_spec() -> TableSpec {
    TableSpec {
        hash_key: PK,
        range_key: SK,
        global_indexes: vec![(GSI1, GSI1PK, GSI1SK)],
        ttl_attribute: TTL,
    }
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, AwsError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| AwsError::build("building the key schema", e))
}

fn string_attr(name: &str) -> Result<AttributeDefinition, AwsError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| AwsError::build("building the attribute definitions", e))
}

/// Creates the table (on-demand) and enables TTL. Returns false when it already existed.
pub async fn create_table(client: &Client, name: &str) -> Result<bool, AwsError> {
    let spec = table_spec();
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(spec.hash_key, KeyType::Hash)?)
        .key_schema(key(spec.range_key, KeyType::Range)?)
        .attribute_definitions(string_attr(spec.hash_key)?)
        .attribute_definitions(string_attr(spec.range_key)?);
    for (index, hash, range) in &spec.global_indexes {
        req = req
            .attribute_definitions(string_attr(hash)?)
            .attribute_definitions(string_attr(range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*index)
                    .key_schema(key(hash, KeyType::Hash)?)
                    .key_schema(key(range, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(|e| AwsError::build("building the index", e))?,
            );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(false)
        }
        Err(e) => return Err(AwsError::sdk("creating the table", e)),
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(spec.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(|e| AwsError::build("building the TTL specification", e))?,
        )
        .send()
        .await
        .map_err(|e| AwsError::sdk("enabling TTL", e))?;
    Ok(true)
}
