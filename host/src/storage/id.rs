//! Workflow ids, checked once where they enter the host (a deploy, a URL, a
//! flag, a guest's grant) and carried checked from there.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The longest workflow id, in characters.
const MAX_LEN: usize = 63;

/// A workflow id: 1 to 63 characters from `a-z 0-9 -`, starting with a
/// letter or digit. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkflowId(Arc<str>);

/// Why a text is not a workflow id; the message says what one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid workflow id {0:?}: use 1 to 63 characters from a-z 0-9 -, starting with a letter or digit")]
pub struct InvalidWorkflowId(pub String);

impl WorkflowId {
    pub fn parse(id: &str) -> Result<Self, InvalidWorkflowId> {
        let mut chars = id.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && id.len() <= MAX_LEN;
        if valid { Ok(WorkflowId(id.into())) } else { Err(InvalidWorkflowId(id.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for WorkflowId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

// Ids compare, hash and order as their text, so maps keyed by id answer `&str` look-ups.
impl std::borrow::Borrow<str> for WorkflowId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkflowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for WorkflowId {
    type Err = InvalidWorkflowId;
    fn from_str(id: &str) -> Result<Self, InvalidWorkflowId> {
        WorkflowId::parse(id)
    }
}

impl TryFrom<String> for WorkflowId {
    type Error = InvalidWorkflowId;
    fn try_from(id: String) -> Result<Self, InvalidWorkflowId> {
        WorkflowId::parse(&id)
    }
}

impl From<WorkflowId> for String {
    fn from(id: WorkflowId) -> String {
        id.0.to_string()
    }
}

impl PartialEq<str> for WorkflowId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_once_and_say_what_is_wrong() {
        assert_eq!(WorkflowId::parse("kv-store").unwrap().as_str(), "kv-store");
        assert!(WorkflowId::parse(&"a".repeat(63)).is_ok());
        for bad in ["", "-a", "A", "a_b", "a b", "é", &"a".repeat(64)] {
            let err = WorkflowId::parse(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid workflow id {bad:?}: use 1 to 63 characters from a-z 0-9 -, starting with a letter or digit"
                )
            );
        }
    }

    #[test]
    fn a_stored_id_is_checked_when_read_back() {
        let id: WorkflowId = serde_json::from_str("\"tenant-a\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"tenant-a\"");
        assert!(serde_json::from_str::<WorkflowId>("\"Bad\"").is_err());
    }
}
