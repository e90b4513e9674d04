//! Every curl of the seed's "Testing the Endpoints", with the effect each
//! one must have: against our Rust kv-store example on both stores, and
//! against its TypeScript twin, which must answer the same.

use serde_json::json;

use crate::harness::{Host, Store};

fn start(store: Store, example: &str) -> (Host, Store) {
    Host::start_on(store, &[("kv-store", example)])
}

fn users_crud_follows_the_seed(store: Store, example: &str) {
    let (host, _dir) = start(store, example);
    let create =
        json!({"action": "create-user", "userId": "user-123", "name": "John Doe", "email": "john@example.com"});
    let (status, body) = host.post("/users", create.clone());
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["name"], "John Doe");
    let (status, body) = host.post("/users", create);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "user `user-123` already exists");

    let (status, body) = host.post("/users", json!({"action": "get-user", "userId": "user-123"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["email"], "john@example.com");

    let update =
        json!({"action": "update-user", "userId": "user-123", "name": "Jane Doe", "email": "jane@example.com"});
    let (status, body) = host.post("/users", update);
    assert_eq!(status, 200, "{body}");
    let (_, body) = host.post("/users", json!({"action": "get-user", "userId": "user-123"}));
    assert_eq!(
        (body["user"]["name"].as_str(), body["user"]["email"].as_str()),
        (Some("Jane Doe"), Some("jane@example.com"))
    );

    host.post("/users", json!({"action": "create-user", "userId": "user-001", "name": "A", "email": "a@example.com"}));
    let (status, body) = host.post("/users", json!({"action": "list-users"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 2);
    assert_eq!(body["users"][0]["id"], "user-001", "sorted by key");

    let (status, body) = host.post("/users", json!({"action": "list-tables"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tables"], json!(["users"]));

    let (status, body) = host.post("/users", json!({"action": "delete-user", "userId": "user-123"}));
    assert_eq!((status, &body["deleted"]), (200, &json!(true)), "{body}");
    let (status, body) = host.post("/users", json!({"action": "get-user", "userId": "user-123"}));
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "user `user-123` not found");
    let (status, _) = host.post("/users", json!({"action": "delete-user", "userId": "user-123"}));
    assert_eq!(status, 404);
}

fn users_rejects_bad_requests_with_reasons(store: Store, example: &str) {
    let (host, _dir) = start(store, example);
    let (status, body) = host.post("/users", json!({"action": "fly"}));
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unknown action `fly`");
    assert_eq!(body["validActions"].as_array().unwrap().len(), 7);
    let (status, body) = host.post("/users", json!({}));
    assert_eq!((status, body["error"].as_str()), (400, Some("missing field `action`")));
    let (status, body) = host.post("/users", json!({"action": "create-user", "userId": "u"}));
    assert_eq!((status, body["error"].as_str()), (400, Some("missing field `name`")));
    let (status, body) = host.send("POST", "/webhook/users", b"{not json".to_vec());
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        host.post("/users", json!({"action": "create-user", "userId": "a/b", "name": "n", "email": "e"}));
    assert_eq!(status, 400, "invalid key reaches the caller as 400: {body}");
    assert!(body["error"].as_str().unwrap().contains("key \"a/b\" contains '/'"), "{body}");
}

fn sessions_are_created_with_an_expiry(store: Store, example: &str) {
    let (host, _dir) = start(store, example);
    let (status, body) = host.post(
        "/sessions/create",
        json!({"sessionId": "sess-abc123", "userId": "user-123", "ipAddress": "192.168.1.1"}),
    );
    assert_eq!(status, 201, "{body}");
    let session = &body["session"];
    assert_eq!(session["ipAddress"], "192.168.1.1");
    let lifetime = session["expiresAt"].as_u64().unwrap() - session["createdAt"].as_u64().unwrap();
    assert_eq!(lifetime, 24 * 60 * 60 * 1000);
    let (status, body) = host.post("/sessions/create", json!({"sessionId": "s"}));
    assert_eq!(status, 400, "{body}");
}

fn counter_counts_by_one_or_by_increment(store: Store, example: &str) {
    let (host, _dir) = start(store, example);
    let (status, body) = host.post("/counter", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["previous"].as_i64(), body["value"].as_i64()), (Some(0), Some(1)));
    let (_, body) = host.post("/counter", json!({"increment": 5}));
    assert_eq!((body["previous"].as_i64(), body["value"].as_i64()), (Some(1), Some(6)));
    let (status, body) = host.post("/counter", json!({"increment": "lots"}));
    assert_eq!((status, body["error"].as_str()), (400, Some("`increment` must be an integer")));
}

fn cache_hits_until_invalidated(store: Store, example: &str) {
    let (host, _dir) = start(store, example);
    let (status, first) = host.post("/cache", json!({"key": "api-response"}));
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["cached"], false);
    let (_, hit) = host.post("/cache", json!({"key": "api-response"}));
    assert_eq!(hit["cached"], true);
    assert_eq!(hit["value"], first["value"], "a hit returns the stored value");
    assert_eq!(hit["expiresAt"].as_u64().unwrap() - hit["cachedAt"].as_u64().unwrap(), 5 * 60 * 1000);

    let (status, body) = host.post("/cache", json!({"key": "api-response", "invalidate": true}));
    assert_eq!((status, &body["invalidated"]), (200, &json!(true)), "{body}");
    let (_, fresh) = host.post("/cache", json!({"key": "api-response"}));
    assert_eq!(fresh["cached"], false);
    assert_ne!(fresh["value"], first["value"], "after invalidate a new value is computed");
}

/// Each test as `rust::sled::<name>`, `rust::postgres::<name>` and
/// `typescript::<name>` (the language doesn't touch the store: sled alone).
macro_rules! on_each_example {
    ($($test:ident),* $(,)?) => {
        mod rust {
            const EXAMPLE: &str = "examples/kv-store";
            mod sled {
                $(#[test]
                fn $test() {
                    super::super::$test($crate::harness::Store::sled(), super::EXAMPLE);
                })*
            }
            mod postgres {
                $(#[test]
                fn $test() {
                    super::super::$test($crate::harness::Store::postgres(), super::EXAMPLE);
                })*
            }
        }
        mod typescript {
            $(#[test]
            fn $test() {
                super::$test($crate::harness::Store::sled(), "examples/kv-store-ts");
            })*
        }
    };
}

on_each_example!(
    users_crud_follows_the_seed,
    users_rejects_bad_requests_with_reasons,
    sessions_are_created_with_an_expiry,
    counter_counts_by_one_or_by_increment,
    cache_hits_until_invalidated,
);
