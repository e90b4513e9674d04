//! Triggers: what starts a workflow's executions, as a deployment keeps them
//! (webhook routes, cron schedules, manual triggers with their input
//! schemas), and the checks a workflow's declared triggers pass at deploy:
//! webhook paths and methods, cron expressions, manual trigger names and
//! input schemas. A component is not trusted to have been built with the
//! SDK, whose macro checks most of this at compile time: every rule is
//! enforced here. Schedules are parsed and schemas compiled once, here, and
//! kept so; nothing parses them again per tick or per invoke.

mod schedule;
mod schema;

use serde::{Deserialize, Serialize};

pub use self::schedule::{Schedule, ScheduleError};
pub use self::schema::InputSchema;
use crate::bindings::{Cron, Manual, Trigger, Webhook};

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A path segment the host fills with the workflow id, so one component can be
/// deployed under several ids: `/{workflow}/visits` → `/tenant-a/visits`.
pub const WORKFLOW_SEGMENT: &str = "{workflow}";

/// The longest manual trigger name, as for workflow ids.
const MAX_MANUAL_NAME: usize = 63;

/// A webhook a workflow answers: `method` requests to `/webhook<path>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    pub method: String,
    pub path: String,
}

/// A cron trigger: the workflow's `handle-cron` runs at each tick of `schedule` (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronTrigger {
    pub schedule: Schedule,
}

/// A trigger an operator runs through the admin API, with JSON input that
/// must match `input_schema` when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManualTrigger {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<InputSchema>,
}

/// A workflow's triggers once checked.
#[derive(Debug, Default)]
pub struct Triggers {
    pub routes: Vec<Route>,
    pub crons: Vec<CronTrigger>,
    pub manuals: Vec<ManualTrigger>,
}

/// A declared trigger the host refuses, and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid trigger: {0}")]
pub struct InvalidTrigger(pub String);

/// Checks the triggers workflow `id` declares, turning webhooks into routes.
pub fn check(id: &str, declared: Vec<Trigger>) -> Result<Triggers, InvalidTrigger> {
    let mut checked = Triggers::default();
    for trigger in declared {
        match trigger {
            Trigger::Webhook(hook) => {
                let route = route(id, hook)?;
                if checked.routes.contains(&route) {
                    return Err(invalid(format!("webhook {} {} is declared twice", route.method, route.path)));
                }
                checked.routes.push(route);
            }
            Trigger::Cron(Cron { schedule }) => {
                let schedule = Schedule::parse(&schedule).map_err(|e| invalid(e.to_string()))?;
                if checked.crons.iter().any(|c| c.schedule == schedule) {
                    return Err(invalid(format!("cron schedule {:?} is declared twice", schedule.as_str())));
                }
                checked.crons.push(CronTrigger { schedule });
            }
            Trigger::Manual(Manual { name, input_schema }) => {
                if !is_manual_name(&name) {
                    return Err(invalid(format!(
                        "manual trigger name {name:?} must match [a-z0-9][a-z0-9-]* and be at most \
                         {MAX_MANUAL_NAME} characters"
                    )));
                }
                if checked.manuals.iter().any(|m| m.name == name) {
                    return Err(invalid(format!("manual trigger {name:?} is declared twice")));
                }
                let input_schema = input_schema
                    .map(|schema| InputSchema::compile(&schema))
                    .transpose()
                    .map_err(|reason| invalid(format!("manual trigger {name:?} has a bad input schema: {reason}")))?;
                checked.manuals.push(ManualTrigger { name, input_schema });
            }
        }
    }
    Ok(checked)
}

/// Checks the run function names a workflow declares.
pub fn check_runs(declared: Vec<String>) -> Result<Vec<String>, InvalidTrigger> {
    let mut checked: Vec<String> = Vec::new();
    for name in declared {
        if !is_manual_name(&name) {
            return Err(invalid(format!(
                "run function name {name:?} must match [a-z0-9][a-z0-9-]* and be at most {MAX_MANUAL_NAME} characters"
            )));
        }
        if checked.contains(&name) {
            return Err(invalid(format!("run function {name:?} is declared twice")));
        }
        checked.push(name);
    }
    Ok(checked)
}

fn invalid(reason: String) -> InvalidTrigger {
    InvalidTrigger(reason)
}

fn route(id: &str, hook: Webhook) -> Result<Route, InvalidTrigger> {
    let declared = &hook.path;
    let templated_well = declared.split('/').all(|s| s == WORKFLOW_SEGMENT || !s.contains(['{', '}']));
    let path = declared.replace(WORKFLOW_SEGMENT, id);
    let path_ok = templated_well
        && path.starts_with('/')
        && path.len() <= 1024
        && path.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c));
    if !path_ok {
        return Err(invalid(format!(
            "webhook path {declared:?} must start with / and use only A-Z a-z 0-9 / - _ . ~ \
             (and {WORKFLOW_SEGMENT} as a whole segment)"
        )));
    }
    if !METHODS.contains(&hook.method.as_str()) {
        return Err(invalid(format!(
            "webhook {declared} has method {:?}; use one of {}",
            hook.method,
            METHODS.join(", ")
        )));
    }
    Ok(Route { method: hook.method, path })
}

/// Whether `name` matches `[a-z0-9][a-z0-9-]{0,62}`.
fn is_manual_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= MAX_MANUAL_NAME
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(method: &str, path: &str) -> Trigger {
        Trigger::Webhook(Webhook { method: method.into(), path: path.into() })
    }

    fn cron(schedule: &str) -> Trigger {
        Trigger::Cron(Cron { schedule: schedule.into() })
    }

    fn manual(name: &str, schema: Option<&str>) -> Trigger {
        Trigger::Manual(Manual { name: name.into(), input_schema: schema.map(str::to_owned) })
    }

    fn refusal(triggers: Vec<Trigger>) -> String {
        check("w", triggers).unwrap_err().to_string()
    }

    #[test]
    fn triggers_become_routes_crons_and_manuals() {
        let checked = check(
            "w",
            vec![hook("POST", "/users"), cron("*/5 * * * * *"), hook("GET", "/users"), manual("reindex", Some("{}"))],
        )
        .unwrap();
        assert_eq!(checked.routes.len(), 2);
        assert_eq!(checked.routes[1], Route { method: "GET".into(), path: "/users".into() });
        assert_eq!(checked.crons, [CronTrigger { schedule: Schedule::parse("*/5 * * * * *").unwrap() }]);
        assert_eq!(
            checked.manuals,
            [ManualTrigger { name: "reindex".into(), input_schema: Some(InputSchema::compile("{}").unwrap()) }]
        );
    }

    #[test]
    fn the_workflow_segment_becomes_the_id() {
        let checked = check("tenant-a", vec![hook("POST", "/{workflow}/visits")]).unwrap();
        assert_eq!(checked.routes[0].path, "/tenant-a/visits");
    }

    #[test]
    fn bad_webhooks_are_refused_with_the_reason() {
        for (trigger, needle) in [
            (hook("POST", "users"), "must start with /"),
            (hook("POST", "/a b"), "must start with /"),
            (hook("POST", "/x{workflow}"), "as a whole segment"),
            (hook("POST", "/{id}/a"), "as a whole segment"),
            (hook("FETCH", "/a"), "has method \"FETCH\""),
        ] {
            let err = refusal(vec![trigger]);
            assert!(err.contains(needle), "{err}");
        }
        assert!(refusal(vec![hook("POST", "/a"), hook("POST", "/a")]).contains("declared twice"));
    }

    #[test]
    fn bad_crons_are_refused_with_the_reason() {
        let err = refusal(vec![cron("61 * * * *")]);
        assert!(err.starts_with("invalid trigger: cron schedule \"61 * * * *\" is not valid: "), "{err}");
        let err = refusal(vec![cron("* * *")]);
        assert!(err.contains("it has 3 fields; use 5 fields"), "{err}");
        let err = refusal(vec![cron("@hourly"), cron("@hourly")]);
        assert_eq!(err, "invalid trigger: cron schedule \"@hourly\" is declared twice");
    }

    #[test]
    fn bad_manual_triggers_are_refused_with_the_reason() {
        for name in ["", "Reindex", "-a", "a_b", "a b", &"a".repeat(64)] {
            let err = refusal(vec![manual(name, None)]);
            assert!(err.contains("must match [a-z0-9][a-z0-9-]*"), "{name:?}: {err}");
        }
        assert!(check("w", vec![manual(&"a".repeat(63), None), manual("0-x", None)]).is_ok());
        let err = refusal(vec![manual("a", None), manual("a", Some("{}"))]);
        assert_eq!(err, "invalid trigger: manual trigger \"a\" is declared twice");
        for (schema, needle) in [
            ("{", "it is not JSON"),
            ("42", "is an object"),
            (r#"{"type": "no-such-type"}"#, "it is not a valid JSON Schema"),
            (r#"{"minimum": "zero"}"#, "it is not a valid JSON Schema"),
        ] {
            let err = refusal(vec![manual("m", Some(schema))]);
            assert!(err.starts_with("invalid trigger: manual trigger \"m\" has a bad input schema: "), "{err}");
            assert!(err.contains(needle), "{schema}: {err}");
        }
    }
}
