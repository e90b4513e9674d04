//! Running a workflow's manual trigger through the admin API:
//! `POST /api/workflows/{id}/triggers/{name}/invoke` with the JSON input as
//! the body (an empty body is `null`).
//!
//! The input is checked against the trigger's JSON Schema before anything
//! runs (400, naming each error and where in the input it is). Then the
//! execution is admitted like a webhook's (503 when the host is at capacity)
//! and runs in a task of its own. Answers: 200 `{"executionId", "output"}`; the
//! workflow's own error → 500 `{"error": <its message>, "executionId"}`; a trap
//! → 500 and a timeout → 504, as for webhooks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api_error::ApiError;
use super::error::WebhookError;
use super::{AppState, EXECUTION_HEADER};
use crate::executions::{Started, Status};
use crate::registry::{ManualTrigger, input_validator};
use crate::runtime::{ExecError, Execution};

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
    /// The workflow returned an error: its message is for the caller.
    #[error("{message}")]
    Guest { workflow: String, execution_id: String, message: String },
}

impl IntoResponse for InvokeError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Run(e) => e.into_response(),
            Self::InvalidInput { message, errors } => {
                (StatusCode::BAD_REQUEST, Json(json!({ "error": message, "errors": errors }))).into_response()
            }
            Self::Guest { workflow, execution_id, message } => {
                let body = json!({ "error": message, "workflow": workflow, "executionId": execution_id });
                (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
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
    if body.len() > app.limits.request_body {
        return Err(WebhookError::BodyTooLarge { limit: app.limits.request_body }.into());
    }
    let input = parse_input(&body)?;
    check_input(&manual, &input)?;

    let slot = app.admission.enter().await.map_err(WebhookError::Busy)?;
    let run = Started::now(&deployment.manifest.id, format!("manual {name}"));
    let execution_id = run.id.clone();
    let execution = {
        let (runtime, deployment, execution_id) = (app.runtime.clone(), deployment.clone(), execution_id.clone());
        let input = input.to_string();
        tokio::spawn(async move {
            let _slot = slot;
            let manifest = &deployment.manifest;
            runtime
                .handle_manual(&deployment.workflow, &manifest.id, &execution_id, manifest.timeout(), &name, &input)
                .await
        })
        .await
    };
    let (workflow, id) = (deployment.manifest.id.clone(), execution_id.clone());
    let (outcome, logs) = match execution {
        Ok(Execution { result, logs }) => (ended(result, app.limits.response_body, &workflow, &id), logs),
        Err(join) => {
            let failed = WebhookError::Failed { workflow: workflow.clone(), execution_id: id };
            (Err((InvokeError::from(failed), join.to_string())), Vec::new())
        }
    };

    let (status, detail) = match &outcome {
        Ok(_) => (Status::Completed, None),
        Err((InvokeError::Run(WebhookError::Timeout { .. }), detail)) => (Status::Timeout, Some(detail.clone())),
        Err((_, detail)) => (Status::Failed, Some(detail.clone())),
    };
    let trigger = run.trigger.clone();
    let took = app.executions.finish(run, status, detail.clone(), logs);
    match &detail {
        None => tracing::info!(%workflow, execution = %execution_id, ?took, "{trigger} ran"),
        Some(detail) => tracing::warn!(%workflow, execution = %execution_id, ?took, "{trigger}: {detail}"),
    }

    let mut response = match outcome {
        Ok(output) => Json(json!({ "executionId": execution_id, "output": output })).into_response(),
        Err((error, _)) => error.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&execution_id) {
        response.headers_mut().insert(EXECUTION_HEADER, value);
    }
    Ok(response)
}

/// The body as JSON; an empty one is `null`.
fn parse_input(body: &[u8]) -> Result<Value, InvokeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the input is not JSON: {e}; send the input as a JSON body")).into())
}

/// Checks `input` against the trigger's schema, if it declares one.
fn check_input(manual: &ManualTrigger, input: &Value) -> Result<(), InvokeError> {
    let Some(schema) = &manual.input_schema else { return Ok(()) };
    let validator = input_validator(schema).map_err(|reason| {
        // Checked at deploy: only a manifest from elsewhere gets here.
        tracing::error!("manual trigger {:?} has a bad input schema: {reason}", manual.name);
        ApiError::Internal
    })?;
    let errors: Vec<Value> = validator
        .iter_errors(input)
        .take(MAX_LISTED_ERRORS)
        .map(|e| json!({ "path": e.instance_path().as_str(), "message": e.to_string(), "schemaPath": e.schema_path().as_str() }))
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

/// The output of a finished execution, or the error to answer with and the
/// detail for the log and the record.
fn ended(
    result: Result<Result<String, String>, ExecError>,
    max_output: usize,
    workflow: &str,
    execution_id: &str,
) -> Result<Value, (InvokeError, String)> {
    let (workflow, execution_id) = (workflow.to_owned(), execution_id.to_owned());
    let invalid = |reason: String| {
        let detail = format!("invalid output: {reason}");
        (
            WebhookError::InvalidResponse { workflow: workflow.clone(), execution_id: execution_id.clone(), reason }
                .into(),
            detail,
        )
    };
    match result {
        Ok(Ok(output)) if output.len() > max_output => {
            Err(invalid(format!("its output is {} bytes; the limit is {max_output} bytes", output.len())))
        }
        Ok(Ok(output)) => serde_json::from_str(&output).map_err(|e| invalid(format!("its output is not JSON: {e}"))),
        Ok(Err(message)) => {
            let detail = format!("the workflow returned an error: {message}");
            Err((
                InvokeError::Guest { workflow: workflow.clone(), execution_id: execution_id.clone(), message },
                detail,
            ))
        }
        Err(ExecError::Timeout(limit)) => {
            let timeout =
                WebhookError::Timeout { workflow: workflow.clone(), execution_id: execution_id.clone(), limit };
            Err((timeout.into(), format!("stopped after {limit:?}")))
        }
        Err(e) => {
            let failed = WebhookError::Failed { workflow: workflow.clone(), execution_id: execution_id.clone() };
            Err((failed.into(), e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manual(schema: Option<Value>) -> ManualTrigger {
        ManualTrigger { name: "m".into(), input_schema: schema.map(|s| s.to_string()) }
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
                json!({"path": "/n", "message": "-1 is less than the minimum of 0", "schemaPath": "/properties/n/minimum"})
            ]
        );

        let (message, errors) = refusal(schema.clone(), json!({}));
        assert!(message.ends_with("at the top level: \"n\" is a required property"), "{message}");
        assert_eq!(errors[0]["path"], "");

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
    fn outputs_and_failures_map_to_answers() {
        let ok = ended(Ok(Ok(r#"{"a":1}"#.into())), 100, "w", "e");
        assert_eq!(ok.unwrap(), json!({"a": 1}));
        let (error, detail) = ended(Ok(Err("no such table".into())), 100, "w", "e").unwrap_err();
        assert_eq!(detail, "the workflow returned an error: no such table");
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let (error, _) = ended(Ok(Ok("not json".into())), 100, "w", "e").unwrap_err();
        assert!(error.to_string().contains("its output is not JSON"), "{error}");
        let (error, _) = ended(Ok(Ok("[1,2,3]".into())), 3, "w", "e").unwrap_err();
        assert!(error.to_string().contains("its output is 7 bytes; the limit is 3 bytes"), "{error}");
        let (error, _) = ended(Err(ExecError::Timeout(std::time::Duration::from_secs(1))), 100, "w", "e").unwrap_err();
        assert_eq!(error.into_response().status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
