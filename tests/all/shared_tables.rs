//! The inter-workflow example: an owner shares a table with a reader, then
//! takes the grant back.

use serde_json::json;

use crate::harness::{Host, Store, on_each_store};

fn a_reader_reads_after_a_grant_and_gets_403_after_revoke(store: Store) {
    let (host, _dir) =
        Host::start_on(store, &[("owner", "examples/shared-table-owner"), ("reader", "examples/shared-table-reader")]);
    let (status, body) = host.post("/reader/announcements", json!({}));
    assert_eq!(status, 404, "no table yet: {body}");

    let (status, body) = host.post("/owner/announce", json!({"id": "a1", "text": "hello"}));
    assert_eq!(status, 201, "{body}");
    let (status, body) = host.post("/reader/announcements", json!({}));
    assert_eq!(status, 403, "no grant yet: {body}");
    assert!(body["error"].as_str().unwrap().contains("may not read table \"announcements\""), "{body}");

    let (status, body) = host.post("/owner/grant", json!({"workflowId": "reader", "read": true, "write": false}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = host.post("/reader/announcements", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["announcements"][0]["value"]["text"], "hello");
    let (status, body) = host.post("/reader/announce", json!({"id": "a2", "text": "sneaky"}));
    assert_eq!(status, 403, "read-only grant: {body}");

    let (_, body) = host.post("/owner/permissions", json!({}));
    assert_eq!(
        body["permissions"][1],
        json!({"workflowId": "reader", "canRead": true, "canWrite": false, "isOwner": false})
    );

    let (status, _) = host.post("/owner/revoke", json!({"workflowId": "reader"}));
    assert_eq!(status, 200);
    let (status, body) = host.post("/reader/announcements", json!({}));
    assert_eq!(status, 403, "after revoke: {body}");
}

on_each_store!(a_reader_reads_after_a_grant_and_gets_403_after_revoke,);
