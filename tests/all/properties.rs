//! Property tests through the real host: whatever a webhook caller sends in
//! the query, a header or the body reaches the guest as sent, and any unknown
//! path gets a JSON 404. One host serves all the cases of a test.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Url;
use serde_json::json;

use crate::harness::{Host, answer};

const HOSTILE: (&str, &str) = ("hostile", "tests/guests/hostile");

fn runner(cases: u32) -> TestRunner {
    // A failure prints the shrunk input; there is no source file to save it beside.
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

/// Header value bytes as HTTP/1.1 allows them: visible ASCII and obs-text
/// (0x80–0xFF), with spaces and tabs inside but not at either end (HTTP
/// strips those).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let edge = prop_oneof![0x21u8..=0x7e, 0x80u8..=0xff];
    let inner = prop_oneof![Just(b' '), Just(b'\t'), 0x21u8..=0x7e, 0x80u8..=0xff];
    (edge.clone(), prop::collection::vec(inner, 0..48), edge).prop_map(|(first, mut middle, last)| {
        middle.insert(0, first);
        middle.push(last);
        middle
    })
}

#[test]
fn arbitrary_queries_headers_and_bodies_reach_the_guest_as_sent() {
    let (host, _dir) = Host::start(&[HOSTILE]);
    let query = prop::collection::vec((any::<String>(), any::<String>()), 0..6);
    // Mixed case on purpose: the guest sees names in lower case.
    let header_name = "[xX]-[pP]rop-[A-Za-z0-9-]{0,16}";
    let body = prop::collection::vec(any::<u8>(), 0..8192);
    runner(64)
        .run(&(query, header_name, header_value(), body), |(query, name, value, body)| {
            let request = host
                .request("GET", "/webhook/hostile/echo")
                .query(&query)
                .header(name.as_str(), value.as_slice())
                .body(body.clone());
            let echo = answer(request);
            prop_assert_eq!(echo.status, 200, "{}", echo.json);
            prop_assert_eq!(&echo.json["method"], "GET");
            prop_assert_eq!(&echo.json["path"], "/hostile/echo");
            prop_assert_eq!(&echo.json["query"], &json!(query));
            prop_assert_eq!(&echo.json["bodyLength"], &json!(body.len()));
            // The host hands header values over as UTF-8, replacing what isn't.
            let sent = json!([name.to_ascii_lowercase(), String::from_utf8_lossy(&value)]);
            let headers = echo.json["headers"].as_array().expect("a list of headers");
            prop_assert!(headers.contains(&sent), "{} not among {:?}", sent, headers);
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_unknown_paths_get_a_json_404_naming_the_path() {
    let (host, _dir) = Host::start(&[HOSTILE]);
    // Segments of any characters, percent-encoded by the URL; `.` and `..`
    // would be resolved by the client, so they are left out.
    let segment = any::<String>().prop_filter("not a dot segment", |s| s != "." && s != "..");
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]);
    runner(64)
        .run(&(prop::collection::vec(segment, 1..5), method), |(segments, method)| {
            let mut url = Url::parse(&format!("{}/webhook/none", host.url)).expect("the host's URL");
            url.path_segments_mut().expect("a base URL").extend(&segments);
            let path = url.path().to_owned();
            let got = answer(host.request(method, &path));
            prop_assert_eq!(got.status, 404, "{} {}: {}", method, path, got.json);
            prop_assert_eq!(&got.json["error"], &json!(format!("no webhook answers {method} {path}")));
            Ok(())
        })
        .unwrap();
}
