//! Minimal validators that check mock traffic against the contract files: OpenAPI 3 (HubSpot)
//! and Google discovery documents. They check what the specs say: the operation exists, every
//! query parameter is declared (with its enum), required fields are present, no undeclared
//! fields are sent, and JSON types match.
#![allow(dead_code)]

use serde_json::Value;
use wiremock::Request;

/// Validates `value` against an OpenAPI/discovery-style schema, resolving `$ref` with `resolve`.
pub fn validate(
    schema: &Value,
    value: &Value,
    at: &str,
    resolve: &dyn Fn(&str) -> Option<Value>,
) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(r).ok_or_else(|| format!("{at}: unresolved $ref {r}"))?;
        return validate(&target, value, at, resolve);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(s, value, at, resolve)?;
        }
        return Ok(());
    }
    if let Some(any) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        let errs: Vec<String> = any
            .iter()
            .filter_map(|s| validate(s, value, at, resolve).err())
            .collect();
        return if errs.len() < any.len() {
            Ok(())
        } else {
            Err(format!("{at}: matches none of anyOf/oneOf: {errs:?}"))
        };
    }
    if value.is_null() {
        return Ok(()); // nullable values are tolerated in fixtures
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(value)
    {
        return Err(format!("{at}: {value} not in enum {e:?}"));
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let has_props = schema.get("properties").is_some();
    match ty {
        Some("object") | None if has_props || schema.get("additionalProperties").is_some() => {
            let obj = value
                .as_object()
                .ok_or_else(|| format!("{at}: expected object, got {value}"))?;
            let props = schema.get("properties").and_then(Value::as_object);
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(r) {
                        return Err(format!("{at}: missing required field {r}"));
                    }
                }
            }
            for (k, v) in obj {
                let sub = props
                    .and_then(|p| p.get(k))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                match sub {
                    Some(s) => validate(s, v, &format!("{at}.{k}"), resolve)?,
                    None => {
                        if schema.get("additionalProperties") != Some(&Value::Bool(true)) {
                            return Err(format!("{at}: field {k} is not in the spec"));
                        }
                    }
                }
            }
            Ok(())
        }
        Some("object") => value
            .is_object()
            .then_some(())
            .ok_or_else(|| format!("{at}: expected object")),
        Some("array") => {
            let arr = value
                .as_array()
                .ok_or_else(|| format!("{at}: expected array, got {value}"))?;
            if let Some(items) = schema.get("items") {
                for (i, v) in arr.iter().enumerate() {
                    validate(items, v, &format!("{at}[{i}]"), resolve)?;
                }
            }
            Ok(())
        }
        Some("string") => {
            // Discovery documents encode int64 as strings.
            value
                .is_string()
                .then_some(())
                .ok_or_else(|| format!("{at}: expected string, got {value}"))
        }
        Some("integer") => (value.is_i64() || value.is_u64())
            .then_some(())
            .ok_or_else(|| format!("{at}: expected integer, got {value}")),
        Some("number") => value
            .is_number()
            .then_some(())
            .ok_or_else(|| format!("{at}: expected number, got {value}")),
        Some("boolean") => value
            .is_boolean()
            .then_some(())
            .ok_or_else(|| format!("{at}: expected boolean, got {value}")),
        Some("any") | None => Ok(()),
        Some(other) => Err(format!("{at}: unknown schema type {other}")),
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    if t.last().is_some_and(|l| l.starts_with("{+")) {
        return p.len() >= t.len() && t.iter().zip(&p).all(|(a, b)| a.starts_with('{') || a == b);
    }
    t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| a.starts_with('{') || a == b)
}

/// An OpenAPI 3 document.
pub struct OpenApi(pub Value);

impl OpenApi {
    pub fn load(rel: &str) -> Option<Self> {
        super::contract(rel).map(|t| Self(serde_json::from_str(&t).unwrap()))
    }

    fn resolver(&self) -> impl Fn(&str) -> Option<Value> + '_ {
        |r: &str| {
            let name = r.strip_prefix("#/components/schemas/")?;
            self.0["components"]["schemas"].get(name).cloned()
        }
    }

    /// Validates a fixture (e.g. a response body) against a named component schema.
    pub fn check_schema(&self, name: &str, value: &Value) {
        let schema = self.0["components"]["schemas"]
            .get(name)
            .unwrap_or_else(|| panic!("no schema {name}"));
        if let Err(e) = validate(schema, value, name, &self.resolver()) {
            panic!("fixture does not follow {name}: {e}");
        }
    }

    /// Checks one request: operation exists, query parameters declared, body valid.
    pub fn check_request(&self, req: &Request) -> Result<(), String> {
        let method = req.method.as_str().to_ascii_lowercase();
        let path = req.url.path();
        let (_, item) = self.0["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(t, item)| template_matches(t, path) && item.get(&method).is_some())
            // Prefer literal segments over templates (`/search` over `/{contactId}`).
            .min_by_key(|(t, _)| t.matches('{').count())
            .ok_or_else(|| format!("{method} {path}: no such operation in the spec"))?;
        let op = &item[&method];
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for (k, _) in req.url.query_pairs() {
            if !params
                .iter()
                .any(|p| p["in"] == "query" && p["name"] == k.as_ref())
            {
                return Err(format!(
                    "{method} {path}: query parameter {k} not in the spec"
                ));
            }
        }
        match op.get("requestBody") {
            Some(rb) => {
                let schema = &rb["content"]["application/json"]["schema"];
                if req.body.is_empty() {
                    if rb["required"] == true && !schema.is_null() {
                        return Err(format!("{method} {path}: body required"));
                    }
                    return Ok(());
                }
                let body: Value = serde_json::from_slice(&req.body)
                    .map_err(|e| format!("{method} {path}: body is not JSON: {e}"))?;
                if schema.is_null() || schema.as_object().is_some_and(serde_json::Map::is_empty) {
                    return Ok(());
                }
                validate(
                    schema,
                    &body,
                    &format!("{method} {path} body"),
                    &self.resolver(),
                )
            }
            None if req.body.is_empty() => Ok(()),
            None => Err(format!("{method} {path}: the spec takes no body")),
        }
    }
}

/// A Google discovery document.
pub struct Discovery(pub Value);

impl Discovery {
    pub fn load(rel: &str) -> Option<Self> {
        super::contract(rel).map(|t| Self(serde_json::from_str(&t).unwrap()))
    }

    fn resolver(&self) -> impl Fn(&str) -> Option<Value> + '_ {
        |r: &str| self.0["schemas"].get(r).cloned()
    }

    /// Validates a fixture against a named schema.
    pub fn check_schema(&self, name: &str, value: &Value) {
        let schema = self.0["schemas"]
            .get(name)
            .unwrap_or_else(|| panic!("no schema {name}"));
        if let Err(e) = validate(schema, value, name, &self.resolver()) {
            panic!("fixture does not follow {name}: {e}");
        }
    }

    fn methods(v: &Value, out: &mut Vec<Value>) {
        if let Some(m) = v.get("methods").and_then(Value::as_object) {
            out.extend(m.values().cloned());
        }
        if let Some(r) = v.get("resources").and_then(Value::as_object) {
            for sub in r.values() {
                Self::methods(sub, out);
            }
        }
    }

    /// Checks one request against the discovery methods (path relative to the service path).
    pub fn check_request(&self, req: &Request) -> Result<(), String> {
        let service_path = self.0["servicePath"].as_str().unwrap_or("");
        let mut all = Vec::new();
        Self::methods(&self.0, &mut all);
        let path = req.url.path().trim_start_matches('/');
        let method = req.method.as_str();
        let m = all
            .iter()
            .filter(|m| m["httpMethod"] == method)
            .filter(|m| {
                let p = m["flatPath"].as_str().or(m["path"].as_str()).unwrap_or("");
                let full = format!("{service_path}{p}");
                template_matches(&full, path)
                    || template_matches(
                        &format!("{service_path}{}", m["path"].as_str().unwrap_or("")),
                        path,
                    )
            })
            .min_by_key(|m| m["path"].as_str().unwrap_or("").matches('{').count())
            .ok_or_else(|| format!("{method} {path}: no such method in the discovery doc"))?;
        let params = &m["parameters"];
        let globals = &self.0["parameters"];
        for (k, v) in req.url.query_pairs() {
            let p = params
                .get(k.as_ref())
                .or_else(|| globals.get(k.as_ref()))
                .ok_or_else(|| format!("{method} {path}: query parameter {k} not in the spec"))?;
            if let Some(e) = p["enum"].as_array()
                && !e.iter().any(|x| x == v.as_ref())
            {
                return Err(format!("{method} {path}: {k}={v} not in {e:?}"));
            }
            match p["type"].as_str() {
                Some("integer") if v.parse::<i64>().is_err() => {
                    return Err(format!("{method} {path}: {k}={v} is not an integer"));
                }
                Some("boolean") if v != "true" && v != "false" => {
                    return Err(format!("{method} {path}: {k}={v} is not a boolean"));
                }
                _ => {}
            }
        }
        if let Some(obj) = params.as_object() {
            for (name, p) in obj {
                if p["required"] == true
                    && p["location"] == "query"
                    && !req.url.query_pairs().any(|(k, _)| k == name.as_str())
                {
                    return Err(format!(
                        "{method} {path}: required query parameter {name} missing"
                    ));
                }
            }
        }
        match m.get("request") {
            Some(r) if !req.body.is_empty() => {
                let body: Value = serde_json::from_slice(&req.body)
                    .map_err(|e| format!("{method} {path}: body is not JSON: {e}"))?;
                validate(r, &body, &format!("{method} {path} body"), &self.resolver())
            }
            Some(_) => Err(format!("{method} {path}: body expected")),
            None if req.body.is_empty() => Ok(()),
            None => Err(format!("{method} {path}: the method takes no body")),
        }
    }
}

/// Asserts every request the server saw follows `check`.
pub async fn assert_all_follow(
    server: &wiremock::MockServer,
    check: impl Fn(&Request) -> Result<(), String>,
) -> usize {
    let reqs = server.received_requests().await.unwrap_or_default();
    for r in &reqs {
        if let Err(e) = check(r) {
            panic!("request does not follow the contract: {e}");
        }
    }
    reqs.len()
}
