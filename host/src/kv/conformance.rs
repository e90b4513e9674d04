//! What every [`Backend`] must do, checked on each: sled always, PostgreSQL
//! on the server `FLOWW_TEST_POSTGRES` names (`scripts/test.sh` starts one),
//! each test in a database of its own.

use std::sync::Arc;

use super::backend::{WriteError, WriteFailure};
use super::{Access, Backend, Listed, PostgresBackend, Range, SledBackend, Write, Written};
use crate::storage::{Database, ScratchDatabase};

fn all() -> Range<'static> {
    Range { prefix: "", after: None, limit: 1000, max_bytes: usize::MAX }
}

fn set<'a>(table: &'a str, key: &'a str, value: &'a str) -> Write<'a> {
    Write::Set { table, key, value, ttl_ms: None }
}

fn writes_keep_created_at_and_move_updated_at_and_version(db: &dyn Backend) {
    db.write("o", &["t"], &[set("t", "k", "1")], 100).unwrap();
    let first = db.get("t", "k", 100).unwrap().unwrap();
    db.write("o", &[], &[set("t", "k", "2")], 200).unwrap();
    let item = db.get("t", "k", 200).unwrap().unwrap();
    assert_eq!((item.value.as_str(), item.created_at, item.updated_at), ("2", 100, 200));
    assert!(item.version > first.version);
    assert_eq!(db.table_owner("t").unwrap().as_deref(), Some("o"));
}

fn a_failing_write_leaves_the_whole_group_undone(db: &dyn Backend) {
    let group = [set("t", "a", "1"), Write::Delete { table: "t", key: "missing" }];
    let err = db.write("o", &["t"], &group, 1).unwrap_err();
    assert!(matches!(err, WriteError::Failed { index: 1, failure: WriteFailure::Missing }));
    assert!(db.get("t", "a", 1).unwrap().is_none());
    assert!(db.table_owner("t").unwrap().is_none(), "the new table went with the group");
}

fn a_table_created_twice_is_taken(db: &dyn Backend) {
    db.write("o", &["t"], &[set("t", "a", "1")], 1).unwrap();
    let err = db.write("p", &["t"], &[set("t", "b", "1")], 1).unwrap_err();
    assert!(matches!(err, WriteError::Failed { index: 0, failure: WriteFailure::TableTaken }));
    assert_eq!(db.table_owner("t").unwrap().as_deref(), Some("o"));
}

fn set_if_and_increment_check_what_is_stored(db: &dyn Backend) {
    let create = Write::SetIf { table: "t", key: "k", value: "1", expected: None, ttl_ms: None };
    let Written::SetIf(version) = db.write("o", &["t"], &[create], 1).unwrap()[0] else { panic!() };
    let stale = Write::SetIf { table: "t", key: "k", value: "2", expected: Some(version + 1000), ttl_ms: None };
    let err = db.write("o", &[], &[stale], 1).unwrap_err();
    assert!(
        matches!(err, WriteError::Failed { failure: WriteFailure::VersionMismatch { actual: Some(v), .. }, .. } if v == version)
    );
    let inc = db.write("o", &[], &[Write::Increment { table: "t", key: "k", delta: 41 }], 1).unwrap();
    assert_eq!(inc, [Written::Incremented(42)]);
    let big = Write::Increment { table: "t", key: "k", delta: i64::MAX };
    let err = db.write("o", &[], &[big], 1).unwrap_err();
    assert!(matches!(err, WriteError::Failed { failure: WriteFailure::Overflow, .. }));
    db.write("o", &[], &[set("t", "s", "\"text\"")], 1).unwrap();
    let err = db.write("o", &[], &[Write::Increment { table: "t", key: "s", delta: 1 }], 1).unwrap_err();
    assert!(matches!(err, WriteError::Failed { failure: WriteFailure::NotInteger, .. }));
}

fn later_writes_of_a_group_see_earlier_ones(db: &dyn Backend) {
    let group = [
        Write::Increment { table: "t", key: "n", delta: 2 },
        Write::Increment { table: "t", key: "n", delta: 3 },
        Write::Delete { table: "t", key: "n" },
        Write::SetIf { table: "t", key: "n", value: "7", expected: None, ttl_ms: None },
    ];
    let written = db.write("o", &["t"], &group, 1).unwrap();
    assert_eq!(written[..3], [Written::Incremented(2), Written::Incremented(5), Written::Deleted]);
    assert_eq!(db.get("t", "n", 1).unwrap().unwrap().value, "7");
}

fn expired_items_are_invisible_then_removed(db: &dyn Backend) {
    db.write("o", &["t"], &[Write::Set { table: "t", key: "k", value: "1", ttl_ms: Some(40) }], 10).unwrap();
    assert!(db.get("t", "k", 49).unwrap().is_some());
    assert!(db.get("t", "k", 50).unwrap().is_none());
    assert!(db.keys("t", all(), 50).unwrap().entries.is_empty());
    // An expired item counts as absent: an increment starts again from 0.
    let renewed = db.write("o", &[], &[Write::Increment { table: "t", key: "k", delta: 5 }], 60).unwrap();
    assert_eq!(renewed, [Written::Incremented(5)]);
    db.write("o", &[], &[Write::Set { table: "t", key: "e", value: "1", ttl_ms: Some(1) }], 60).unwrap();
    assert_eq!(db.remove_expired(70).unwrap(), 1);
    // Gone from storage: invisible even as of a time it was live.
    assert!(db.get("t", "e", 60).unwrap().is_none());
    assert_eq!(db.get("t", "k", 70).unwrap().unwrap().created_at, 60, "a renewed item is a new item");
}

fn listings_page_by_prefix_and_cursor_without_leaking_into_other_tables(db: &dyn Backend) {
    let writes: Vec<Write> = ["a1", "a2", "a3", "b1", "A0"].iter().map(|k| set("users", k, "1")).collect();
    db.write("o", &["users", "users2"], &writes, 1).unwrap();
    db.write("o", &[], &[set("users2", "a0", "1")], 1).unwrap();
    let page = db.keys("users", Range { prefix: "a", after: None, limit: 2, max_bytes: usize::MAX }, 1).unwrap();
    assert_eq!(page, Listed { entries: vec!["a1".into(), "a2".into()], more: true });
    let next = db.keys("users", Range { prefix: "a", after: Some("a2"), limit: 2, max_bytes: usize::MAX }, 1).unwrap();
    assert_eq!(next, Listed { entries: vec!["a3".into()], more: false });
    let keys = db.keys("users", all(), 1).unwrap().entries;
    assert_eq!(keys, ["A0", "a1", "a2", "a3", "b1"], "byte order: upper case first");
    assert_eq!(db.items("users", all(), 1).unwrap().entries.len(), 5);
}

fn item_pages_stop_at_their_byte_bound_but_carry_at_least_one_item(db: &dyn Backend) {
    let value = format!("\"{}\"", "x".repeat(998));
    let writes: Vec<Write> = ["k1", "k2", "k3"].iter().map(|k| set("t", k, &value)).collect();
    db.write("o", &["t"], &writes, 1).unwrap();
    // Each item carries about a thousand bytes: two fit in 2,500, the third waits.
    let bounded = Range { max_bytes: 2500, ..all() };
    let page = db.items("t", bounded, 1).unwrap();
    assert_eq!((page.entries.len(), page.more), (2, true));
    let next = db.items("t", Range { after: Some("k2"), ..bounded }, 1).unwrap();
    assert_eq!((next.entries.len(), next.more), (1, false));
    let one = db.items("t", Range { max_bytes: 10, ..all() }, 1).unwrap();
    assert_eq!((one.entries[0].key.as_str(), one.entries.len(), one.more), ("k1", 1, true));
}

fn grants_are_indexed_both_ways_and_removed_together(db: &dyn Backend) {
    let read = Access { read: true, write: false };
    db.write("o", &["t1", "t2"], &[], 1).unwrap();
    assert!(db.put_grant("t1", "o", "bob", read).unwrap());
    assert!(db.put_grant("t2", "o", "bob", read).unwrap());
    assert!(!db.put_grant("t2", "eve", "bob", read).unwrap(), "only on a table the named owner owns");
    assert!(!db.put_grant("t3", "o", "bob", read).unwrap(), "only on a table that exists");
    assert_eq!(db.granted_tables("bob").unwrap(), ["t1", "t2"]);
    assert!(db.remove_grant("t1", "bob").unwrap());
    assert!(!db.remove_grant("t1", "bob").unwrap());
    assert_eq!(db.granted_tables("bob").unwrap(), ["t2"]);
    assert_eq!(db.grants("t2").unwrap(), [("bob".to_owned(), read)]);
    let both = Access { read: true, write: true };
    assert!(db.put_grant("t2", "o", "bob", both).unwrap());
    assert_eq!(db.grant("t2", "bob").unwrap(), Some(both), "a grant is an upsert");
}

fn concurrent_increments_add_up(db: &dyn Backend) {
    db.write("o", &["t"], &[set("t", "n", "0")], 1).unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..25 {
                    db.write("o", &[], &[Write::Increment { table: "t", key: "n", delta: 1 }], 1).unwrap();
                }
            });
        }
    });
    assert_eq!(db.get("t", "n", 1).unwrap().unwrap().value, "200");
}

fn a_dropped_table_leaves_nothing_behind_and_its_name_is_free(db: &dyn Backend) {
    let writes = [set("t", "a", "1"), Write::Set { table: "t", key: "b", value: "2", ttl_ms: Some(60_000) }];
    db.write("o", &["t"], &writes, 1).unwrap();
    db.write("o", &["u"], &[set("u", "a", "1")], 1).unwrap();
    assert!(db.put_grant("t", "o", "bob", Access { read: true, write: true }).unwrap());
    assert!(!db.drop_table("t", "bob").unwrap(), "only its owner drops it");
    assert!(db.drop_table("t", "o").unwrap());
    assert!(!db.drop_table("t", "o").unwrap(), "a table is dropped once");
    assert_eq!(db.table_owner("t").unwrap(), None);
    assert_eq!(db.tables().unwrap(), [("u".to_owned(), "o".to_owned())]);
    assert!(db.grants("t").unwrap().is_empty());
    assert!(db.granted_tables("bob").unwrap().is_empty());
    assert_eq!(db.remove_expired(u64::MAX - 1).unwrap(), 0, "its expiring items went with it");
    // Writes and grants that found the table before the drop fail.
    let gone = db.write("o", &[], &[set("t", "c", "3")], 1).unwrap_err();
    assert!(matches!(gone, WriteError::Failed { index: 0, failure: WriteFailure::TableGone }), "{gone:?}");
    assert!(!db.put_grant("t", "o", "bob", Access { read: true, write: false }).unwrap());
    // Another workflow may take the name, and finds the table empty.
    db.write("eve", &["t"], &[set("t", "z", "1")], 1).unwrap();
    assert_eq!(db.keys("t", all(), 1).unwrap().entries, ["z"]);
    assert_eq!(db.get("u", "a", 1).unwrap().unwrap().value, "1", "other tables keep their items");
}

fn writes_racing_a_drop_leave_no_item_behind(db: &dyn Backend) {
    db.write("o", &["t"], &[set("t", "k0", "0")], 1).unwrap();
    std::thread::scope(|s| {
        for writer in 0..4 {
            s.spawn(move || {
                for n in 0.. {
                    let key = format!("w{writer}-{n}");
                    match db.write("o", &[], &[set("t", &key, "1")], 1) {
                        Ok(_) => continue,
                        Err(WriteError::Failed { failure: WriteFailure::TableGone, .. }) => break,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(db.drop_table("t", "o").unwrap());
    });
    assert_eq!(db.table_owner("t").unwrap(), None);
    db.write("o", &["t"], &[], 1).unwrap();
    assert!(db.keys("t", all(), 1).unwrap().entries.is_empty(), "no write outlived the drop");
}

macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sled {
            $(#[test]
            fn $test() {
                super::$test(&super::SledBackend::temporary().unwrap());
            })*
        }
        mod postgres {
            $(#[test]
            fn $test() {
                let scratch = super::ScratchDatabase::create();
                let db = super::Database::connect(&scratch.url(), 10).unwrap();
                super::$test(&super::PostgresBackend::new(super::Arc::new(db)));
            })*
        }
    };
}

on_every_backend!(
    writes_keep_created_at_and_move_updated_at_and_version,
    a_failing_write_leaves_the_whole_group_undone,
    a_table_created_twice_is_taken,
    set_if_and_increment_check_what_is_stored,
    later_writes_of_a_group_see_earlier_ones,
    expired_items_are_invisible_then_removed,
    listings_page_by_prefix_and_cursor_without_leaking_into_other_tables,
    item_pages_stop_at_their_byte_bound_but_carry_at_least_one_item,
    grants_are_indexed_both_ways_and_removed_together,
    concurrent_increments_add_up,
    a_dropped_table_leaves_nothing_behind_and_its_name_is_free,
    writes_racing_a_drop_leave_no_item_behind,
);
