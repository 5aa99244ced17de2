//! HubSpot CRM v3/v4 wire types, as described by `contracts/hubspot/crm-*.openapi.json`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `Filter` of a search request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Property to compare.
    pub property_name: String,
    /// `EQ`, `GT`, ...
    pub operator: String,
    /// Value to compare with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `FilterGroup`: filters ANDed together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterGroup {
    /// The filters.
    pub filters: Vec<Filter>,
}

/// `PublicObjectSearchRequest`. Every field is sent, which satisfies both the derived spec
/// and the official one (where all are required).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// Groups ORed together.
    pub filter_groups: Vec<FilterGroup>,
    /// Sort property names.
    pub sorts: Vec<String>,
    /// Properties to return.
    pub properties: Vec<String>,
    /// Page size.
    pub limit: u32,
    /// Paging cursor (`"0"` for the first page).
    pub after: String,
}

/// `SimplePublicObject` (and the `WithAssociations` variant; extra fields are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObject {
    /// Record id.
    pub id: String,
    /// Properties (values may be null).
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    /// Created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Updated.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Archived flag.
    #[serde(default)]
    pub archived: Option<bool>,
}

impl SimplePublicObject {
    /// A non-empty property value.
    #[must_use]
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .and_then(|v| v.as_deref())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// `NextPage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextPage {
    /// Cursor.
    pub after: String,
}

/// `ForwardPaging`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ForwardPaging {
    /// Next page, if any.
    #[serde(default)]
    pub next: Option<NextPage>,
}

/// `CollectionResponseWithTotalSimplePublicObjectForwardPaging` (search results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Total matches.
    #[serde(default)]
    pub total: u64,
    /// This page.
    pub results: Vec<SimplePublicObject>,
    /// Paging.
    #[serde(default)]
    pub paging: Option<ForwardPaging>,
}

/// `PublicObjectId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectId {
    /// Record id.
    pub id: String,
}

/// `AssociationSpec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpec {
    /// `HUBSPOT_DEFINED`, `USER_DEFINED` or `INTEGRATOR_DEFINED`.
    pub association_category: String,
    /// Association type id.
    pub association_type_id: u32,
}

/// `PublicAssociationsForObject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociationsForObject {
    /// Target record.
    pub to: ObjectId,
    /// Association types.
    pub types: Vec<AssociationSpec>,
}

/// `SimplePublicObjectInputForCreate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateInput {
    /// Properties to set.
    pub properties: BTreeMap<String, String>,
    /// Associations to create with it.
    pub associations: Vec<AssociationsForObject>,
}

/// `SimplePublicObjectInput` (PATCH).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateInput {
    /// Properties to set.
    pub properties: BTreeMap<String, String>,
}

/// `BatchReadInputSimplePublicObjectId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReadInput {
    /// Ids to read.
    pub inputs: Vec<ObjectId>,
    /// Properties to return.
    pub properties: Vec<String>,
    /// Properties with history (none).
    pub properties_with_history: Vec<String>,
}

/// `BatchResponseSimplePublicObject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// Records read.
    pub results: Vec<SimplePublicObject>,
}

/// `MultiAssociatedObjectWithLabel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedObject {
    /// The associated record id.
    pub to_object_id: serde_json::Value,
}

impl AssociatedObject {
    /// The id as text (HubSpot sends it as a string in the spec, a number in practice).
    #[must_use]
    pub fn id(&self) -> Option<String> {
        match &self.to_object_id {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// `CollectionResponseMultiAssociatedObjectWithLabelForwardPaging`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssociationPage {
    /// Associated records.
    pub results: Vec<AssociatedObject>,
    /// Paging.
    #[serde(default)]
    pub paging: Option<ForwardPaging>,
}

/// HubSpot's standard `Error` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Error category (`VALIDATION_ERROR`, `CONFLICT`, `RATE_LIMITS`, ...).
    #[serde(default)]
    pub category: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Finer category.
    #[serde(default)]
    pub sub_category: Option<String>,
    /// Request id for support.
    #[serde(default)]
    pub correlation_id: Option<String>,
}
