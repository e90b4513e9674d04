//! A manual trigger's input schema: JSON Schema text, compiled once when the
//! workflow is deployed or loaded, and used for every invoke after.

use std::sync::Arc;

use serde_json::Value;

/// The largest input schema a manual trigger may declare.
const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// A compiled JSON Schema. Kept as its text; read back by compiling it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InputSchema {
    text: String,
    validator: Arc<jsonschema::Validator>,
}

impl InputSchema {
    /// Compiles `text`, or says why it is not a schema. The draft is the one
    /// the schema's `$schema` names (2020-12 if none). A `$ref` can only point
    /// inside the schema: the host fetches no URL and reads no file.
    pub fn compile(text: &str) -> Result<Self, String> {
        if text.len() > MAX_SCHEMA_BYTES {
            return Err(format!("it is {} bytes; the limit is {MAX_SCHEMA_BYTES}", text.len()));
        }
        let schema: Value = serde_json::from_str(text).map_err(|e| format!("it is not JSON: {e}"))?;
        if !schema.is_object() && !schema.is_boolean() {
            return Err("a JSON Schema is an object (or true or false)".into());
        }
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| format!("it is not a valid JSON Schema: {e}"))?;
        Ok(Self { text: text.to_owned(), validator: Arc::new(validator) })
    }

    /// The schema as declared.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn validator(&self) -> &jsonschema::Validator {
        &self.validator
    }
}

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("InputSchema").field(&self.text).finish()
    }
}

impl PartialEq for InputSchema {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for InputSchema {}

impl TryFrom<String> for InputSchema {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        InputSchema::compile(&text)
    }
}

impl From<InputSchema> for String {
    fn from(schema: InputSchema) -> String {
        schema.text
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_schema_never_makes_the_host_fetch_anything() {
        for reference in ["http://127.0.0.1:9/schema.json", "file:///etc/passwd"] {
            let schema = json!({ "$ref": reference }).to_string();
            assert!(InputSchema::compile(&schema).is_err(), "{reference} was resolved");
        }
        let local = json!({ "$defs": { "n": { "type": "integer" } }, "$ref": "#/$defs/n" }).to_string();
        let schema = InputSchema::compile(&local).unwrap();
        assert!(schema.validator().is_valid(&json!(3)) && !schema.validator().is_valid(&json!("3")));
    }

    #[test]
    fn a_stored_schema_is_compiled_when_read_back() {
        let schema = InputSchema::compile(r#"{"type": "integer"}"#).unwrap();
        let stored = serde_json::to_string(&schema).unwrap();
        assert_eq!(stored, r#""{\"type\": \"integer\"}""#);
        let read: InputSchema = serde_json::from_str(&stored).unwrap();
        assert!(read.validator().is_valid(&json!(1)));
        let err = serde_json::from_str::<InputSchema>(r#""{""#).unwrap_err().to_string();
        assert!(err.starts_with("it is not JSON"), "{err}");
    }
}
