//! The contract's response schemas as a validator: the OpenAPI document in `contract/`,
//! converted to JSON Schema with every object closed and Rolemine's documented extensions
//! listed, so a response with a misspelt, invented or mistyped field fails a test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;

use serde_json::json;

/// The contract's OpenAPI document, `contract/iai-role-mining-beta.openapi.json`.
pub fn contract() -> serde_json::Value {
    contract_document().clone()
}

fn contract_document() -> &'static serde_json::Value {
    static CONTRACT: OnceLock<serde_json::Value> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../contract/iai-role-mining-beta.openapi.json");
        let text = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        serde_json::from_slice(&text).unwrap()
    })
}

/// Rolemine's extension fields in responses (each documented as "Extension" on its struct in
/// `crates/api/src`): (contract component, field, JSON Schema of the field). They are added to
/// the component's closed object; a field the contract already has is refused here.
pub fn extension_fields() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    let nullable_string = json!({"type": ["string", "null"]});
    let nullable_date_time = json!({"type": ["string", "null"], "format": "date-time"});
    vec![
        // Why provisioning failed, in provisionState FAILED (potential_roles.rs).
        (
            "RoleMiningPotentialRole",
            "provisionFailureMessage",
            nullable_string.clone(),
        ),
        // Whether the entitlement is common access in the session (potential_roles.rs).
        (
            "RoleMiningEntitlement",
            "commonAccess",
            json!({"type": "boolean"}),
        ),
        // Why an asynchronous export failed, and when its download expires (exports.rs).
        (
            "RoleMiningPotentialRoleExportResponse",
            "errorMessage",
            nullable_string.clone(),
        ),
        (
            "RoleMiningPotentialRoleExportResponse",
            "expiresAt",
            nullable_date_time.clone(),
        ),
        // Why a session failed, and since when its worker has been silent (sessions.rs).
        (
            "RoleMiningSessionResponse",
            "failureMessage",
            nullable_string.clone(),
        ),
        (
            "RoleMiningSessionResponse",
            "stalledSince",
            nullable_date_time.clone(),
        ),
        // How much of the population's access the roles explain (sessions.rs), and per role
        // the share of its members' access (potential_roles.rs); null until mined.
        (
            "RoleMiningSessionResponse",
            "assignmentsExplainedPercent",
            json!({"type": ["number", "null"]}),
        ),
        (
            "RoleMiningSessionResponse",
            "overGrants",
            json!({"type": ["integer", "null"]}),
        ),
        (
            "RoleMiningSessionResponse",
            "identitiesInRolesPercent",
            json!({"type": ["number", "null"]}),
        ),
        // How the session finds its roles (sessions.rs).
        (
            "RoleMiningSessionResponse",
            "method",
            json!({"type": "string", "enum": ["PEER_GROUPS", "MINIMAL_COVER"]}),
        ),
        (
            "RoleMiningPotentialRoleSummary",
            "accessExplainedPercent",
            json!({"type": ["number", "null"]}),
        ),
        (
            "RoleMiningPotentialRole",
            "accessExplainedPercent",
            json!({"type": ["number", "null"]}),
        ),
        ("RoleMiningSessionStatus", "failureMessage", nullable_string),
        (
            "RoleMiningSessionStatus",
            "stalledSince",
            nullable_date_time,
        ),
    ]
}

/// Values Rolemine serves where a contract schema is narrower, each required by
/// `contract/semantics.md`: (contract component, field or `""` for the component itself, the
/// JSON Schema accepted besides the contract's).
fn widened_values() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    vec![
        // semantics.md, Provisioning: provisionState is null while the role was never
        // provisioned (the newer contract versions declare it nullable; this version does on
        // RoleMiningPotentialRole but not on the summary).
        (
            "RoleMiningPotentialRoleSummary",
            "provisionState",
            json!({"type": "null"}),
        ),
        // semantics.md, Lifecycle: a session whose job fails carries a failure state, FAILED
        // (with failureMessage), instead of staying in a processing state.
        ("RoleMiningSessionState", "", json!({"const": "FAILED"})),
    ]
}

/// The contract's component schemas as JSON Schema `$defs` ([`json_schema`]), with Rolemine's
/// [`extension_fields`] and [`widened_values`].
fn contract_defs() -> &'static serde_json::Value {
    static DEFS: OnceLock<serde_json::Value> = OnceLock::new();
    DEFS.get_or_init(|| {
        let schemas = contract_document()["components"]["schemas"]
            .as_object()
            .unwrap();
        let mut defs: serde_json::Map<String, serde_json::Value> = schemas
            .iter()
            .map(|(name, schema)| (name.clone(), json_schema(schema, schemas)))
            .collect();
        for (component, field, schema) in extension_fields() {
            let properties = defs
                .get_mut(component)
                .and_then(|c| c.get_mut("properties"))
                .and_then(serde_json::Value::as_object_mut)
                .unwrap_or_else(|| panic!("no object {component} in the contract"));
            assert!(
                !properties.contains_key(field),
                "the contract has {component}.{field}: it is no extension"
            );
            properties.insert(field.to_owned(), schema);
        }
        for (component, field, also) in widened_values() {
            let mut target = defs
                .get_mut(component)
                .unwrap_or_else(|| panic!("no {component} in the contract"));
            if !field.is_empty() {
                target = target
                    .get_mut("properties")
                    .and_then(|p| p.get_mut(field))
                    .unwrap_or_else(|| panic!("no {component}.{field} in the contract"));
            }
            *target = json!({"anyOf": [target.take(), also]});
        }
        serde_json::Value::Object(defs)
    })
}

/// One OpenAPI 3.0 schema as JSON Schema (2020-12), given the contract's component `schemas`:
/// - `nullable: true` admits null: `null` joins `type` and `enum`, and a `$ref` or composition is
///   wrapped as `anyOf: [schema, {"type": "null"}]`;
/// - `#/components/schemas/X` becomes `#/$defs/X`;
/// - an `allOf` of objects becomes one object with all their properties ([`merged_all_of`]);
/// - every object with `properties` and no `additionalProperties` is closed
///   (`additionalProperties: false`), so a misspelt or invented field fails;
/// - `example` (OpenAPI only) is dropped; other annotations stay.
fn json_schema(
    schema: &serde_json::Value,
    schemas: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    use serde_json::Value;
    let Value::Object(schema) = schema else {
        return schema.clone(); // `additionalProperties: true/false`
    };
    let mut schema = merged_all_of(schema, schemas).unwrap_or_else(|| schema.clone());
    let nullable = schema.remove("nullable") == Some(Value::Bool(true));
    schema.remove("example");
    let mut converted: serde_json::Map<String, Value> = schema
        .into_iter()
        .map(|(key, value)| {
            let value = match key.as_str() {
                "$ref" => Value::String(def_ref(value.as_str().unwrap())),
                "properties" => Value::Object(
                    value
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(name, property)| (name.clone(), json_schema(property, schemas)))
                        .collect(),
                ),
                "items" | "additionalProperties" | "not" => json_schema(&value, schemas),
                "allOf" | "anyOf" | "oneOf" => Value::Array(
                    value
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|member| json_schema(member, schemas))
                        .collect(),
                ),
                _ => value,
            };
            (key, value)
        })
        .collect();
    if converted.contains_key("properties") && !converted.contains_key("additionalProperties") {
        converted.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    if !nullable {
        return Value::Object(converted);
    }
    if let Some(values) = converted.get_mut("enum").and_then(Value::as_array_mut) {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    if ["$ref", "allOf", "anyOf", "oneOf"]
        .iter()
        .any(|key| converted.contains_key(*key))
    {
        return json!({"anyOf": [converted, {"type": "null"}]});
    }
    match converted.get_mut("type") {
        Some(Value::String(single)) => {
            let single = single.clone();
            converted.insert("type".to_owned(), json!([single, "null"]));
        }
        Some(Value::Array(types)) if !types.contains(&json!("null")) => types.push(json!("null")),
        _ => {}
    }
    Value::Object(converted)
}

/// `#/components/schemas/X` as `#/$defs/X`.
fn def_ref(target: &str) -> String {
    format!("#/$defs/{}", component_name(target))
}

/// `X` of `#/components/schemas/X`.
fn component_name(target: &str) -> &str {
    target
        .strip_prefix("#/components/schemas/")
        .unwrap_or_else(|| panic!("unexpected schema reference {target}"))
}

/// An `allOf` as one object with its members' properties (members may be component references),
/// the rest of `schema` kept: closing each member on its own would refuse every instance, since
/// each member would refuse the others' fields. `None` without `allOf`.
fn merged_all_of(
    schema: &serde_json::Map<String, serde_json::Value>,
    schemas: &serde_json::Map<String, serde_json::Value>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let members = schema.get("allOf")?.as_array().unwrap();
    let mut properties = serde_json::Map::new();
    let mut required: Vec<serde_json::Value> = Vec::new();
    for member in members {
        let member = match member["$ref"].as_str() {
            Some(target) => &schemas[component_name(target)],
            None => member,
        };
        let plain_object = member["properties"].is_object()
            && [
                "$ref",
                "allOf",
                "anyOf",
                "oneOf",
                "additionalProperties",
                "nullable",
            ]
            .iter()
            .all(|key| member.get(key).is_none());
        assert!(plain_object, "cannot merge allOf member {member}");
        properties.extend(member["properties"].as_object().unwrap().clone());
        for name in member["required"].as_array().into_iter().flatten() {
            if !required.contains(name) {
                required.push(name.clone());
            }
        }
    }
    let mut merged = schema.clone();
    merged.remove("allOf");
    merged.insert("type".to_owned(), json!("object"));
    merged.insert(
        "properties".to_owned(),
        serde_json::Value::Object(properties),
    );
    if !required.is_empty() {
        merged.insert("required".to_owned(), serde_json::Value::Array(required));
    }
    Some(merged)
}

/// What is wrong with `body` as the contract's `operation_id` answer with `status` (empty when
/// nothing): the response schema and the components it references, from the contract file,
/// converted by [`json_schema`] with Rolemine's extensions; formats (`date-time`, `uuid`) are
/// checked.
pub fn contract_violations(
    operation_id: &str,
    status: u16,
    body: &serde_json::Value,
) -> Vec<String> {
    let contract = contract_document();
    let operation = contract["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .find(|op| op["operationId"] == operation_id)
        .unwrap_or_else(|| panic!("no operation {operation_id} in the contract"));
    let mut response = &operation["responses"][status.to_string()];
    if let Some(target) = response["$ref"].as_str() {
        let name = target
            .strip_prefix("#/components/responses/")
            .unwrap_or_else(|| panic!("unexpected response reference {target}"));
        response = &contract["components"]["responses"][name];
    }
    let mut schema = response["content"]["application/json"]["schema"].clone();
    assert!(
        !schema.is_null(),
        "{operation_id} has no JSON {status} response"
    );
    // The PATCH operations declare `{"type": "object", "items": {"$ref": ...}}`: an object whose
    // intended shape is the referenced one (`items` means nothing on an object).
    if schema["type"] == "object" && schema["items"]["$ref"].is_string() {
        schema = schema["items"].clone();
    }
    let mut schema = json_schema(
        &schema,
        contract["components"]["schemas"].as_object().unwrap(),
    );
    schema["$defs"] = contract_defs().clone();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    validator
        .iter_errors(body)
        .take(10)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

/// Asserts that `body` is what the contract's `operation_id` answers with `status`
/// ([`contract_violations`]).
pub fn assert_contract_shape(operation_id: &str, status: u16, body: &serde_json::Value) {
    let errors = contract_violations(operation_id, status, body);
    assert!(
        errors.is_empty(),
        "{operation_id} {status} does not match the contract:\n{}\nbody: {}",
        errors.join("\n"),
        serde_json::to_string(body)
            .unwrap()
            .chars()
            .take(2000)
            .collect::<String>()
    );
}
