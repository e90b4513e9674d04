//! Property tests of the rules in `kv`: the name checks agree with the
//! documented patterns for any string, valid names round-trip through a real
//! sled store, and any sequence of operations by several workflows gives the
//! answers a simple model of the permission rules predicts.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::*;

/// The ASCII letters and digits, spelled out rather than derived from the
/// `char` methods the checks use.
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_DIGITS: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

/// `^[A-Za-z0-9_-]{1,255}$`
fn reference_table(s: &str) -> bool {
    let n = s.chars().count();
    (1..=255).contains(&n) && s.chars().all(|c| ALNUM.contains(c) || "_-".contains(c))
}

/// `^[A-Za-z0-9_.:@-]{1,255}$`
fn reference_key(s: &str) -> bool {
    let n = s.chars().count();
    (1..=255).contains(&n) && s.chars().all(|c| ALNUM.contains(c) || "_.:@-".contains(c))
}

/// `^[a-z0-9][a-z0-9-]{0,62}$`
fn reference_workflow_id(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    match chars.split_first() {
        Some((first, rest)) => {
            LOWER_DIGITS.contains(*first)
                && rest.len() <= 62
                && rest.iter().all(|&c| LOWER_DIGITS.contains(c) || c == '-')
        }
        None => false,
    }
}

/// Strings around the rules: arbitrary unicode, near-valid ones on both sides
/// of the 255-character limit, valid names with one arbitrary character put
/// in, and characters that mean something to paths, SQL or JSON.
fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_.:@-]{0,300}",
        "[A-Za-z0-9_-]{250,260}",
        "[a-z0-9-]{0,70}",
        "[a-z0-9][a-z0-9-]{60,64}",
        "[A-Za-z0-9_./\\\\:@;'\"{}\\[\\] \\-]{1,12}",
        ("[A-Za-z0-9_-]{1,20}", any::<char>(), any::<prop::sample::Index>()).prop_map(|(name, c, at)| {
            let mut chars: Vec<char> = name.chars().collect();
            chars.insert(at.index(chars.len() + 1), c);
            chars.into_iter().collect()
        }),
    ]
}

fn runner(cases: u32) -> TestRunner {
    // A failure prints the shrunk input; nothing is saved beside the source.
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

#[test]
fn name_checks_agree_with_the_documented_patterns() {
    runner(2048)
        .run(&name_like(), |s| {
            let checks = [
                ("table", check_table_name(&s), reference_table(&s)),
                ("key", check_key(&s), reference_key(&s)),
                ("workflow id", WorkflowId::parse(&s).map(drop).map_err(KvError::from), reference_workflow_id(&s)),
            ];
            for (what, got, want) in checks {
                match got {
                    Ok(()) => prop_assert!(want, "{what} {s:?} was accepted"),
                    Err(KvError::InvalidInput(_)) => prop_assert!(!want, "{what} {s:?} was refused"),
                    Err(other) => prop_assert!(false, "{what} {s:?}: not invalid-input but {other:?}"),
                }
            }
            Ok(())
        })
        .unwrap();
}

struct Deployed(HashSet<&'static str>);

impl WorkflowDirectory for Deployed {
    fn is_deployed(&self, id: &str) -> bool {
        self.0.contains(id)
    }
}

const CALLERS: [&str; 3] = ["alice", "bob", "carol"];

fn temporary_kv() -> Kv {
    Kv::new(Arc::new(SledBackend::temporary().unwrap()), Arc::new(Deployed(CALLERS.into())))
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn valid_names_and_any_json_round_trip_through_sled() {
    let kv = temporary_kv();
    // Tables written so far; the runner takes a `Fn`, hence the cell.
    let tables = RefCell::new(BTreeSet::new());
    let case = ("[A-Za-z0-9_-]{1,255}", "[A-Za-z0-9_.:@-]{1,255}", json_value());
    runner(256)
        .run(&case, |(table, key, value)| {
            let text = serde_json::to_string(&value).unwrap();
            kv.set("alice", &table, &key, &text).unwrap();
            tables.borrow_mut().insert(table.clone());
            let item = kv.get("alice", &table, &key).unwrap();
            prop_assert_eq!(&item.key, &key);
            prop_assert_eq!(&item.value, &text, "the JSON text comes back byte for byte");
            prop_assert!(item.created_at <= item.updated_at);
            prop_assert!(kv.list_keys("alice", &table, &ListOptions::default()).unwrap().entries.contains(&key));
            let listed: Vec<String> = kv.list_tables("alice").unwrap().into_iter().map(|t| t.name).collect();
            prop_assert_eq!(listed, tables.borrow().iter().cloned().collect::<Vec<_>>(), "every table so far, sorted");
            Ok(())
        })
        .unwrap();
}

/// One KV call by one of [`CALLERS`] on a small set of tables and keys.
#[derive(Debug, Clone)]
enum Op {
    Set { caller: usize, table: usize, key: usize, value: u8 },
    Get { caller: usize, table: usize, key: usize },
    Delete { caller: usize, table: usize, key: usize },
    Grant { caller: usize, table: usize, to: usize, read: bool, write: bool },
    Revoke { caller: usize, table: usize, to: usize },
}

const TABLES: [&str; 2] = ["t1", "t1-x"];
const KEYS: [&str; 3] = ["a", "a.b", "b"];

fn op() -> impl Strategy<Value = Op> {
    let (c, t, k) = (0..CALLERS.len(), 0..TABLES.len(), 0..KEYS.len());
    prop_oneof![
        3 => (c.clone(), t.clone(), k.clone(), any::<u8>())
            .prop_map(|(caller, table, key, value)| Op::Set { caller, table, key, value }),
        2 => (c.clone(), t.clone(), k.clone()).prop_map(|(caller, table, key)| Op::Get { caller, table, key }),
        1 => (c.clone(), t.clone(), k).prop_map(|(caller, table, key)| Op::Delete { caller, table, key }),
        2 => (c.clone(), t.clone(), c.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(caller, table, to, read, write)| Op::Grant { caller, table, to, read, write }),
        1 => (c.clone(), t, c).prop_map(|(caller, table, to)| Op::Revoke { caller, table, to }),
    ]
}

/// What the rules say the store holds.
#[derive(Default)]
struct Model {
    owners: BTreeMap<usize, usize>,
    grants: BTreeMap<(usize, usize), Access>,
    items: BTreeMap<(usize, usize), String>,
}

/// The outcome of a call, without its message.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok(Option<String>),
    NotFound,
    Denied,
    Invalid,
    Conflict,
}

fn outcome<T>(result: KvResult<T>, value: impl FnOnce(T) -> Option<String>) -> Outcome {
    match result {
        Ok(v) => Outcome::Ok(value(v)),
        Err(KvError::NotFound(_)) => Outcome::NotFound,
        Err(KvError::PermissionDenied(_)) => Outcome::Denied,
        Err(KvError::InvalidInput(_)) => Outcome::Invalid,
        Err(KvError::Conflict(_)) => Outcome::Conflict,
        Err(other) => panic!("unexpected {other:?}"),
    }
}

impl Model {
    fn may(&self, caller: usize, table: usize, write: bool) -> Result<(), Outcome> {
        let owner = *self.owners.get(&table).ok_or(Outcome::NotFound)?;
        let access = self.grants.get(&(table, caller));
        let allowed = owner == caller || access.is_some_and(|a| if write { a.write } else { a.read });
        if allowed { Ok(()) } else { Err(Outcome::Denied) }
    }

    fn owns(&self, caller: usize, table: usize, to: usize) -> Result<(), Outcome> {
        let owner = *self.owners.get(&table).ok_or(Outcome::NotFound)?;
        if owner != caller {
            Err(Outcome::Denied)
        } else if to == owner {
            Err(Outcome::Conflict)
        } else {
            Ok(())
        }
    }

    /// Applies `op` as the rules say and returns the outcome they predict.
    fn apply(&mut self, op: &Op) -> Outcome {
        let result = match *op {
            Op::Set { caller, table, key, value } => {
                // The first set creates the table, owned by its caller.
                self.owners.entry(table).or_insert(caller);
                self.may(caller, table, true).map(|()| {
                    self.items.insert((table, key), value.to_string());
                    None
                })
            }
            Op::Get { caller, table, key } => self
                .may(caller, table, false)
                .and_then(|()| self.items.get(&(table, key)).cloned().map(Some).ok_or(Outcome::NotFound)),
            Op::Delete { caller, table, key } => self
                .may(caller, table, true)
                .and_then(|()| self.items.remove(&(table, key)).map(|_| None).ok_or(Outcome::NotFound)),
            Op::Grant { read: false, write: false, .. } => Err(Outcome::Invalid),
            Op::Grant { caller, table, to, read, write } => self.owns(caller, table, to).map(|()| {
                self.grants.insert((table, to), Access { read, write });
                None
            }),
            Op::Revoke { caller, table, to } => self
                .owns(caller, table, to)
                .and_then(|()| self.grants.remove(&(table, to)).map(|_| None).ok_or(Outcome::NotFound)),
        };
        result.map_or_else(|refused| refused, Outcome::Ok)
    }

    /// The tables `caller` owns or holds a grant on, sorted.
    fn tables_of(&self, caller: usize) -> Vec<String> {
        let mut names: Vec<String> = self
            .owners
            .iter()
            .filter(|&(&table, &owner)| owner == caller || self.grants.contains_key(&(table, caller)))
            .map(|(&table, _)| TABLES[table].to_owned())
            .collect();
        names.sort();
        names
    }
}

fn run(kv: &Kv, op: &Op) -> Outcome {
    match *op {
        Op::Set { caller, table, key, value } => {
            outcome(kv.set(CALLERS[caller], TABLES[table], KEYS[key], &value.to_string()), |_| None)
        }
        Op::Get { caller, table, key } => outcome(kv.get(CALLERS[caller], TABLES[table], KEYS[key]), |i| Some(i.value)),
        Op::Delete { caller, table, key } => outcome(kv.delete(CALLERS[caller], TABLES[table], KEYS[key]), |()| None),
        Op::Grant { caller, table, to, read, write } => {
            outcome(kv.grant(CALLERS[caller], TABLES[table], CALLERS[to], Access { read, write }), |()| None)
        }
        Op::Revoke { caller, table, to } => outcome(kv.revoke(CALLERS[caller], TABLES[table], CALLERS[to]), |()| None),
    }
}

#[test]
fn any_sequence_of_calls_gives_the_answers_the_rules_predict() {
    runner(64)
        .run(&prop::collection::vec(op(), 1..40), |ops| {
            let kv = temporary_kv();
            let mut model = Model::default();
            for (n, op) in ops.iter().enumerate() {
                let want = model.apply(op);
                prop_assert_eq!(run(&kv, op), want, "call {} {:?}", n, op);
                for (caller, name) in CALLERS.iter().enumerate() {
                    let tables: Vec<String> = kv.list_tables(name).unwrap().into_iter().map(|t| t.name).collect();
                    prop_assert_eq!(tables, model.tables_of(caller), "tables of {} after call {}", name, n);
                }
            }
            for (table, name) in TABLES.iter().enumerate() {
                let Some(&owner) = model.owners.get(&table) else { continue };
                let keys = kv.list_keys(CALLERS[owner], name, &ListOptions::default()).unwrap().entries;
                let want: Vec<&str> =
                    model.items.keys().filter(|(t, _)| *t == table).map(|&(_, key)| KEYS[key]).collect();
                prop_assert_eq!(keys, want, "keys of {}", name);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_deeply_nested_value_is_checked_without_recursion() {
    // 100,000 levels would overflow a recursive checker's stack; the check
    // walks it iteratively and refuses it for its depth.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err = check_value(&deep).unwrap_err();
    assert_eq!(err.to_string(), "value nests 100000 levels deep; the limit is 127 levels");
    let unclosed = "[".repeat(100_000);
    assert!(matches!(check_value(&unclosed), Err(KvError::InvalidInput(_))));
}
