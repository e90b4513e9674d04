//! Names and values are checked before anything is stored: each rejection
//! has its status and message, and leaves the store as it was.

use serde_json::json;

use crate::harness::Host;
use crate::permissions::kv;

const ONE_MIB: usize = 1024 * 1024;

#[test]
fn bad_names_and_values_are_rejected_and_nothing_is_stored() {
    let (host, _dir) = Host::start(&[("owner", "tests/guests/probe-owner")]);
    let long = "a".repeat(256);
    let cases = [
        (json!({"op": "set", "table": "", "key": "k", "value": 1}), 400, "table name is empty"),
        (json!({"op": "set", "table": long, "key": "k", "value": 1}), 400, "table name is 256 characters long"),
        (json!({"op": "set", "table": "a b", "key": "k", "value": 1}), 400, "contains ' '"),
        (json!({"op": "set", "table": "../etc", "key": "k", "value": 1}), 400, "contains '.'"),
        (json!({"op": "set", "table": "tâble", "key": "k", "value": 1}), 400, "contains 'â'"),
        (json!({"op": "set", "table": "t", "key": "", "value": 1}), 400, "key is empty"),
        (json!({"op": "set", "table": "t", "key": long, "value": 1}), 400, "key is 256 characters long"),
        (json!({"op": "set", "table": "t", "key": "a/b", "value": 1}), 400, "contains '/'"),
        (json!({"op": "set", "table": "t", "key": "a\u{0}b", "value": 1}), 400, "contains '\\0'"),
        (json!({"op": "set", "table": "t", "key": "k", "raw": "{not json"}), 400, "value is not valid JSON"),
        (json!({"op": "set", "table": "t", "key": "k", "raw": ""}), 400, "value is not valid JSON"),
        (json!({"op": "get", "table": "a;DROP TABLE", "key": "k"}), 400, "contains ';'"),
        (json!({"op": "list-keys", "table": "{\"a\":1}"}), 400, "contains '{'"),
    ];
    for (op, status, needle) in cases {
        let (got, body) = kv(&host, "owner", op.clone());
        assert_eq!(got, status, "{op}: {body}");
        assert_eq!(body["kind"], "invalid-input", "{op}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(needle), "{op}: expected {needle:?} in {error:?}");
    }

    // 1 MiB + 1 byte of JSON text is refused, 1 MiB exactly is stored.
    let over = format!("\"{}\"", "x".repeat(ONE_MIB - 1));
    let (got, body) = kv(&host, "owner", json!({"op": "set", "table": "t", "key": "big", "raw": over}));
    assert_eq!(got, 413, "{body}");
    assert_eq!(body["kind"], "value-too-large");
    assert!(body["error"].as_str().unwrap().contains("1048577 bytes; the limit is 1048576"), "{body}");
    let (got, _) = kv(&host, "owner", json!({"op": "list-tables"}));
    assert_eq!(got, 200);
    assert_eq!(kv(&host, "owner", json!({"op": "list-tables"})).1["ok"], json!([]), "no table after rejections");

    let exactly = format!("\"{}\"", "x".repeat(ONE_MIB - 2));
    let (got, body) = kv(&host, "owner", json!({"op": "set", "table": "t", "key": "big", "raw": exactly}));
    assert_eq!(got, 200, "{body}");
    let (_, body) = kv(&host, "owner", json!({"op": "get", "table": "t", "key": "big"}));
    assert_eq!(body["ok"].as_str().unwrap().len(), ONE_MIB - 2);
    assert_eq!(kv(&host, "owner", json!({"op": "list-keys", "table": "t"})).1["ok"], json!(["big"]));
}

#[test]
fn wider_key_charset_and_limits_are_accepted() {
    let (host, _dir) = Host::start(&[("owner", "tests/guests/probe-owner")]);
    let table = "T_".to_owned() + &"x".repeat(253);
    for key in ["john@example.com", "user:42", "a.b-c_d", &"k".repeat(255)] {
        let (got, body) = kv(&host, "owner", json!({"op": "set", "table": table, "key": key, "value": {"k": key}}));
        assert_eq!(got, 200, "{key}: {body}");
        let (got, body) = kv(&host, "owner", json!({"op": "get", "table": table, "key": key}));
        assert_eq!((got, &body["ok"]["k"]), (200, &json!(key)));
    }
    // Listings are sorted by name.
    let (_, body) = kv(&host, "owner", json!({"op": "list-keys", "table": table}));
    let keys: Vec<&str> = body["ok"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.len(), 4);
}

#[test]
fn items_carry_created_and_updated_times() {
    let (host, _dir) = Host::start(&[("owner", "tests/guests/probe-owner")]);
    kv(&host, "owner", json!({"op": "set", "table": "t", "key": "k", "value": 1}));
    std::thread::sleep(std::time::Duration::from_millis(5));
    kv(&host, "owner", json!({"op": "set", "table": "t", "key": "k", "value": 2}));
    let (_, body) = kv(&host, "owner", json!({"op": "list-items", "table": "t"}));
    let item = &body["ok"][0];
    assert_eq!((item["key"].as_str(), item["value"].as_i64()), (Some("k"), Some(2)));
    let (created, updated) = (item["createdAt"].as_u64().unwrap(), item["updatedAt"].as_u64().unwrap());
    assert!(updated > created, "{item}");
}

#[test]
fn hostile_names_are_rejected_by_every_operation_before_anything_else() {
    let (host, _dir) = Host::start(&[("owner", "tests/guests/probe-owner"), ("reader", "tests/guests/probe-reader")]);
    let (got, _) = kv(&host, "owner", json!({"op": "set", "table": "t", "key": "k", "value": 0}));
    assert_eq!(got, 200);

    // Keys: unicode, path tricks, SQL, JSON, control characters.
    let keys = [
        ("clé", "contains 'é'"),
        ("🔑", "contains '🔑'"),
        ("k\u{200b}", "contains '\\u{200b}'"),
        ("../etc/passwd", "contains '/'"),
        ("..\\secret", "contains '\\\\'"),
        ("k';DROP TABLE t;--", "contains '\\''"),
        ("1 OR 1=1", "contains ' '"),
        ("{\"a\":1}", "contains '{'"),
        ("a\"b", "contains '\"'"),
        ("a\r\nb", "contains '\\r'"),
        ("a\tb", "contains '\\t'"),
    ];
    for (key, needle) in keys {
        for op in ["get", "set", "delete"] {
            let (got, body) = kv(&host, "owner", json!({"op": op, "table": "t", "key": key, "value": 1}));
            assert_eq!((got, &body["kind"]), (400, &json!("invalid-input")), "{op} {key:?}: {body}");
            let error = body["error"].as_str().unwrap();
            assert!(error.starts_with("key ") && error.contains(needle), "{op} {key:?}: {error:?} lacks {needle:?}");
        }
    }

    // Tables: checked by every operation, before the table's existence or
    // the caller's rights, so a bad name is 400 even where the table is
    // missing or the caller has no grant.
    let tables = [
        ("a/b", "contains '/'"),
        ("a\u{0}b", "contains '\\0'"),
        ("tаble", "contains 'а'"),   // a Cyrillic а
        ("ｔable", "contains 'ｔ'"), // a full-width t
        ("t\n", "contains '\\n'"),
        ("t;--", "contains ';'"),
        ("[\"t\"]", "contains '['"),
    ];
    let ops = [
        json!({"op": "get", "key": "k"}),
        json!({"op": "set", "key": "k", "value": 1}),
        json!({"op": "delete", "key": "k"}),
        json!({"op": "list-keys"}),
        json!({"op": "list-items"}),
        json!({"op": "list-permissions"}),
        json!({"op": "grant", "workflowId": "reader", "read": true}),
        json!({"op": "revoke", "workflowId": "reader"}),
    ];
    for (table, needle) in tables {
        for mut op in ops.clone() {
            op["table"] = json!(table);
            for who in ["owner", "reader"] {
                let (got, body) = kv(&host, who, op.clone());
                assert_eq!((got, &body["kind"]), (400, &json!("invalid-input")), "{who} {op}: {body}");
                let error = body["error"].as_str().unwrap();
                assert!(error.starts_with("table name ") && error.contains(needle), "{op}: {error:?} lacks {needle:?}");
            }
        }
    }

    // Workflow ids in grants and revokes: path tricks, case, padding, NUL.
    let too_long = "a".repeat(64);
    let ids = ["../reader", "reader/..", "..", "Reader", " reader", "reader\u{0}", "-reader", "rëader", "", &too_long];
    for id in ids {
        for op in ["grant", "revoke"] {
            for table in ["t", "missing"] {
                let request = json!({"op": op, "table": table, "workflowId": id, "read": true});
                let (got, body) = kv(&host, "owner", request);
                assert_eq!((got, &body["kind"]), (400, &json!("invalid-input")), "{op} {id:?} on {table}: {body}");
                let error = body["error"].as_str().unwrap();
                assert!(error.starts_with(&format!("invalid workflow id {id:?}")), "{op} {id:?}: {error}");
            }
        }
    }

    // Nothing was stored or granted by any of it.
    assert_eq!(kv(&host, "owner", json!({"op": "list-tables"})).1["ok"], json!(["t"]));
    assert_eq!(kv(&host, "owner", json!({"op": "list-keys", "table": "t"})).1["ok"], json!(["k"]));
    let (_, body) = kv(&host, "owner", json!({"op": "list-permissions", "table": "t"}));
    assert_eq!(body["ok"].as_array().map(Vec::len), Some(1), "only the owner: {body}");
}

#[test]
fn dot_keys_are_plain_names_and_values_nested_too_deep_to_read_back_are_refused() {
    let (host, _dir) = Host::start(&[("owner", "tests/guests/probe-owner")]);
    // `.` and `..` are allowed key characters; such keys are names, not paths.
    for (n, key) in [".", "..", "...", ".:@"].into_iter().enumerate() {
        let (got, body) = kv(&host, "owner", json!({"op": "set", "table": "dots", "key": key, "value": n}));
        assert_eq!(got, 200, "{key}: {body}");
    }
    for (n, key) in [".", "..", "...", ".:@"].into_iter().enumerate() {
        assert_eq!(kv(&host, "owner", json!({"op": "get", "table": "dots", "key": key})).1["ok"], json!(n), "{key}");
    }
    let (_, body) = kv(&host, "owner", json!({"op": "list-keys", "table": "dots"}));
    assert_eq!(body["ok"], json!([".", "..", "...", ".:@"]));

    // 100,000 nested arrays: valid JSON well under 1 MiB, but deeper than
    // serde_json reads back (the SDK's typed `get`, the operator API). The
    // host checks it without recursing (no stack overflow) and refuses it.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (got, body) = kv(&host, "owner", json!({"op": "set", "table": "dots", "key": "deep", "raw": deep}));
    assert_eq!((got, &body["kind"]), (400, &json!("invalid-input")), "{body}");
    assert_eq!(body["error"], "value nests 100000 levels deep; the limit is 127 levels");
    let at_the_limit = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let (got, body) = kv(&host, "owner", json!({"op": "set", "table": "dots", "key": "deep", "raw": at_the_limit}));
    assert_eq!((got, body), (200, json!({"ok": null})));
    let (_, body) = kv(&host, "owner", json!({"op": "list-keys", "table": "dots"}));
    assert_eq!(body["ok"], json!([".", "..", "...", ".:@", "deep"]), "the host still serves");
}
