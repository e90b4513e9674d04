//! Running a workflow's manual trigger through the admin API:
//! `POST /api/workflows/{id}/triggers/{name}/invoke` with the JSON input as
//! the body (an empty body is `null`).
//!
//! The input is checked against the trigger's JSON Schema (compiled at
//! deploy) before anything runs (400, naming each error and where in the
//! input it is). Then the executor runs it like a webhook's (503 when the
//! host is at capacity). Answers: 200 `{"executionId", "output"}`; the
//! workflow's own error → 500 `{"error": <its message>, "executionId"}`; a trap
//! → 500 and a timeout → 504, as for webhooks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api_error::ApiError;
use super::error::WebhookError;
use super::{AppState, with_execution_id};
use crate::executor::Failure;
use crate::runtime::ManualCall;
use crate::triggers::ManualTrigger;

/// Schema errors listed in a 400, at most.
const MAX_LISTED_ERRORS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub(super) enum InvokeError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Run(#[from] WebhookError),
    /// The input does not match the trigger's schema: each error's place in
    /// the input (a JSON Pointer), message and schema keyword.
    #[error("{message}")]
    InvalidInput { message: String, errors: Vec<Value> },
}

impl IntoResponse for InvokeError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Run(e) => e.into_response(),
            Self::InvalidInput { message, errors } => {
                (StatusCode::BAD_REQUEST, Json(json!({ "error": message, "errors": errors }))).into_response()
            }
        }
    }
}

/// `POST /api/workflows/{id}/triggers/{name}/invoke`
pub(super) async fn invoke(
    State(app): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, InvokeError> {
    let deployment =
        app.registry.get(&id).ok_or_else(|| ApiError::NotFound(format!("no workflow {id:?} is deployed")))?;
    let manual = deployment.manifest.manual(&name).cloned().ok_or_else(|| {
        let names: Vec<&str> = deployment.manifest.manuals.iter().map(|m| m.name.as_str()).collect();
        let declared = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        ApiError::NotFound(format!("workflow {id:?} has no manual trigger {name:?} (it declares: {declared})"))
    })?;
    let input = parse_input(&body)?;
    check_input(&manual, &input)?;

    let workflow = deployment.manifest.id.to_string();
    let run = match app.executor.admit(deployment, format!("manual {name}")).await {
        Ok(run) => run,
        Err(refused) => return Ok(with_execution_id(WebhookError::Busy(refused.busy).into_response(), &refused.id)),
    };
    let limit = app.limits.response_body;
    let ran = run.run(ManualCall { name, input: input.to_string() }, |output| output_json(output, limit)).await;
    let id = ran.id.clone();
    let response = match WebhookError::check(workflow, ran) {
        Ok(output) => Json(json!({ "executionId": id, "output": output })).into_response(),
        Err(error) => error.into_response(),
    };
    Ok(with_execution_id(response, &id))
}

/// The body as JSON; an empty one is `null`.
fn parse_input(body: &[u8]) -> Result<Value, InvokeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the input is not JSON: {e}; send the input as a JSON body")).into())
}

/// The input field an error at `path` is about: the path itself, or for a
/// missing required property the property's own path (a form shows the
/// error on that field).
fn field(path: &str, kind: &jsonschema::error::ValidationErrorKind) -> String {
    match kind {
        jsonschema::error::ValidationErrorKind::Required { property: Value::String(name) } => {
            format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"))
        }
        _ => path.to_owned(),
    }
}

/// Checks `input` against the trigger's schema, if it declares one.
fn check_input(manual: &ManualTrigger, input: &Value) -> Result<(), InvokeError> {
    let Some(schema) = &manual.input_schema else { return Ok(()) };
    let errors: Vec<Value> = schema
        .validator()
        .iter_errors(input)
        .take(MAX_LISTED_ERRORS)
        .map(|e| {
            let path = e.instance_path().as_str();
            json!({ "path": path, "field": field(path, e.kind()), "message": e.to_string(), "schemaPath": e.schema_path().as_str() })
        })
        .collect();
    let Some(first) = errors.first() else { return Ok(()) };
    let place = match first["path"].as_str() {
        Some("") | None => "at the top level".to_owned(),
        Some(path) => format!("at {path}"),
    };
    let more = match errors.len() {
        1 => String::new(),
        n => format!(" (and {} more: see `errors`)", n - 1),
    };
    let message = format!(
        "the input does not match the input schema of manual trigger {:?}: {place}: {}{more}",
        manual.name,
        first["message"].as_str().unwrap_or_default()
    );
    Err(InvokeError::InvalidInput { message, errors })
}

/// A manual trigger's output as JSON, or why it can't be used.
fn output_json(output: Result<String, String>, max_output: usize) -> Result<Value, Failure> {
    let output = output.map_err(Failure::Error)?;
    if output.len() > max_output {
        return Err(Failure::InvalidOutput(format!(
            "its output is {} bytes; the limit is {max_output} bytes",
            output.len()
        )));
    }
    serde_json::from_str(&output).map_err(|e| Failure::InvalidOutput(format!("its output is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::InputSchema;

    fn manual(schema: Option<Value>) -> ManualTrigger {
        ManualTrigger { name: "m".into(), input_schema: schema.map(|s| InputSchema::compile(&s.to_string()).unwrap()) }
    }

    fn refusal(schema: Value, input: Value) -> (String, Vec<Value>) {
        match check_input(&manual(Some(schema)), &input) {
            Err(InvokeError::InvalidInput { message, errors }) => (message, errors),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn input_that_matches_or_has_no_schema_passes() {
        assert!(check_input(&manual(None), &json!({"anything": [1]})).is_ok());
        assert!(check_input(&manual(Some(json!({"type": "object"}))), &json!({})).is_ok());
    }

    #[test]
    fn a_refusal_names_the_error_and_where_it_is() {
        let schema = json!({
            "type": "object",
            "properties": { "n": { "type": "integer", "minimum": 0 }, "tag": { "type": "string" } },
            "required": ["n"],
        });
        let (message, errors) = refusal(schema.clone(), json!({"n": -1}));
        assert_eq!(
            message,
            "the input does not match the input schema of manual trigger \"m\": at /n: -1 is less than the minimum of 0"
        );
        assert_eq!(
            errors,
            [
                json!({"path": "/n", "field": "/n", "message": "-1 is less than the minimum of 0", "schemaPath": "/properties/n/minimum"})
            ]
        );

        let (message, errors) = refusal(schema.clone(), json!({}));
        assert!(message.ends_with("at the top level: \"n\" is a required property"), "{message}");
        assert_eq!((errors[0]["path"].as_str(), errors[0]["field"].as_str()), (Some(""), Some("/n")));

        let (message, errors) = refusal(schema, json!({"n": "x", "tag": 1}));
        assert_eq!(errors.len(), 2);
        assert!(message.ends_with("(and 1 more: see `errors`)"), "{message}");
    }

    #[test]
    fn an_empty_body_is_null_and_a_bad_one_is_refused() {
        assert_eq!(parse_input(b" \n").unwrap(), Value::Null);
        assert_eq!(parse_input(b"[1]").unwrap(), json!([1]));
        let err = parse_input(b"{nope").unwrap_err().to_string();
        assert!(err.starts_with("the input is not JSON: "), "{err}");
    }

    #[test]
    fn outputs_must_be_json_within_the_limit() {
        assert_eq!(output_json(Ok(r#"{"a":1}"#.into()), 100).unwrap(), json!({"a": 1}));
        assert_eq!(output_json(Err("no such table".into()), 100).unwrap_err(), Failure::Error("no such table".into()));
        let Failure::InvalidOutput(reason) = output_json(Ok("not json".into()), 100).unwrap_err() else { panic!() };
        assert!(reason.starts_with("its output is not JSON"), "{reason}");
        let too_big = output_json(Ok("[1,2,3]".into()), 3).unwrap_err();
        assert_eq!(too_big, Failure::InvalidOutput("its output is 7 bytes; the limit is 3 bytes".into()));
    }
}
