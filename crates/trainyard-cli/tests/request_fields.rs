//! No request field is silently ignored: every field of every request body the API takes (as
//! the OpenAPI document generated from the `trainyard-api` types lists them) has a row in the
//! README's "Request fields" table saying what trainyard does with it. A new field without a
//! row fails here.

use serde_json::Value;
use std::collections::BTreeSet;

/// `#/components/schemas/Name` -> `Name`.
fn schema_name(reference: &str) -> String {
    reference.rsplit('/').next().unwrap_or(reference).to_owned()
}

/// Adds the properties of `schema` (owned by the type `owner`) to `fields`, and the types it
/// refers to, to `todo`. Inline `allOf`/`oneOf`/`anyOf` parts (serde's `flatten`) belong to
/// the owner.
fn collect(
    schema: &Value,
    owner: &str,
    fields: &mut BTreeSet<(String, String)>,
    todo: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        todo.push(schema_name(r));
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect(part, owner, fields, todo);
        }
    }
    if let Some(items) = schema.get("items") {
        collect(items, owner, fields, todo);
    }
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        fields.insert((owner.to_owned(), name.clone()));
        refs_in(property, todo);
    }
}

/// Every `$ref` anywhere inside `value`.
fn refs_in(value: &Value, todo: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                todo.push(schema_name(r));
            }
            map.values().for_each(|v| refs_in(v, todo));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, todo)),
        _ => {}
    }
}

/// `(type, field)` of every row of the README's request-field table.
fn readme_rows() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("### Request fields")
        .nth(1)
        .expect("a '### Request fields' section in the README");
    section
        .lines()
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let unquote = |c: &str| c.strip_prefix('`')?.strip_suffix('`').map(str::to_owned);
            Some((unquote(cells.get(1)?)?, unquote(cells.get(2)?)?))
        })
        .collect()
}

#[test]
fn every_request_field_has_a_row_in_the_readme() {
    let doc = serde_json::to_value(trainyard_server::http::openapi::build()).unwrap();
    let schemas = &doc["components"]["schemas"];
    // The request bodies of every operation, as the document has them.
    let mut todo = Vec::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().into_iter().flatten().map(|(_, o)| o) {
            if let Some(body) = operation.pointer("/requestBody/content") {
                refs_in(body, &mut todo);
            }
        }
    }
    assert!(
        todo.contains(&"CreateJobRequest".to_owned())
            && todo.contains(&"CreateVisualizationRequest".to_owned()),
        "the document's request bodies: {todo:?}"
    );
    let (mut seen, mut fields) = (BTreeSet::new(), BTreeSet::new());
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            collect(&schemas[&name], &name, &mut fields, &mut todo);
        }
    }
    assert!(fields.len() > 40, "too few fields found: {fields:?}");
    let rows = readme_rows();
    let missing: Vec<String> = fields
        .difference(&rows)
        .map(|(t, f)| format!("{t}.{f}"))
        .collect();
    assert!(
        missing.is_empty(),
        "request fields without a row in the README's 'Request fields' table (say what trainyard does with each, or refuse it): {missing:?}"
    );
}
