//! The dashboard at `/ui/`: its sign-in, sessions and CSRF protection over
//! HTTP, the routes it added to the admin API, and its pages driven in a
//! real headless Chromium (see `webdriver`). Each browser test saves a
//! screenshot under `target/ui-screenshots/`.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::admin::{api, token};
use crate::harness::{Host, answer};
use crate::webdriver::Browser;

const OWNER: (&str, &str) = ("probe-owner", "tests/guests/probe-owner");
const MANUAL: (&str, &str) = ("manual-probe", "tests/guests/manual-probe");
const KV_STORE: (&str, &str) = ("kv-store", "examples/kv-store");

/// A client that shows redirects instead of following them.
fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Signs in over HTTP; the session cookie's value.
fn session(host: &Host, data: &Path) -> String {
    let signed_in = client().post(format!("{}/ui/sign-in", host.url)).form(&[("token", token(data))]).send().unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    cookie.split(';').next().unwrap().strip_prefix("floww_session=").unwrap().to_owned()
}

/// The session's CSRF token.
fn csrf(host: &Host, cookie: &str) -> String {
    let answer: Value = client()
        .get(format!("{}/ui/session", host.url))
        .header("cookie", format!("floww_session={cookie}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["csrf"].as_str().unwrap().to_owned()
}

#[test]
fn sign_in_gives_a_strict_http_only_cookie_and_a_wrong_token_gets_401_with_the_reason() {
    let (host, data) = Host::start(&[OWNER]);
    let wrong = client().post(format!("{}/ui/sign-in", host.url)).form(&[("token", "guess")]).send().unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let policy = wrong.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(wrong.headers()["x-frame-options"], "DENY");
    assert!(wrong.text().unwrap().contains("That is not the admin token"));

    let right =
        client().post(format!("{}/ui/sign-in", host.url)).form(&[("token", token(data.path()))]).send().unwrap();
    assert_eq!((right.status().as_u16(), right.headers()["location"].to_str().unwrap()), (303, "/ui/"));
    let cookie = right.headers()["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
}

#[test]
fn without_a_session_pages_redirect_to_sign_in_and_data_calls_are_401() {
    let (host, _data) = Host::start(&[OWNER]);
    for page in ["/ui/", "/ui/executions", "/ui/kv/probe-owner/t/k"] {
        let answer = client().get(format!("{}{page}", host.url)).send().unwrap();
        assert_eq!(answer.status(), 303, "{page}");
        assert_eq!(answer.headers()["location"], "/ui/sign-in", "{page}");
    }
    let stale = "floww_session=0123456789abcdef";
    for path in ["/api/workflows", "/api/executions/live", "/api/metrics/history", "/ui/session"] {
        let answer = client().get(format!("{}{path}", host.url)).header("cookie", stale).send().unwrap();
        assert_eq!(answer.status(), 401, "{path}");
        let body: Value = answer.json().unwrap();
        assert!(body["error"].as_str().unwrap().contains("admin token"), "{path}: {body}");
    }
    assert_eq!(client().get(format!("{}/ui", host.url)).send().unwrap().headers()["location"], "/ui/");
}

#[test]
fn a_session_reads_freely_but_a_change_without_its_csrf_token_is_refused_and_sign_out_ends_it() {
    let (host, data) = Host::start(&[OWNER]);
    let cookie = format!("floww_session={}", session(&host, data.path()));
    let (http, url) = (client(), |path: &str| format!("{}{path}", host.url));
    let listed = http.get(url("/api/workflows")).header("cookie", &cookie).send().unwrap();
    assert_eq!(listed.status(), 200);

    // What another site's form or script could send: the cookie, no header.
    let forged = http.put(url("/api/kv/probe-owner/t/k")).header("cookie", &cookie).json(&json!({"value": 1}));
    let forged = forged.send().unwrap();
    assert_eq!(forged.status(), 403);
    let body: Value = forged.json().unwrap();
    assert_eq!(
        body["error"],
        "cross-site request refused: a dashboard request that changes something must carry the session's \
         X-Floww-Csrf header"
    );
    let wrong = http.put(url("/api/kv/probe-owner/t/k")).header("cookie", &cookie).header("x-floww-csrf", "nope");
    assert_eq!(wrong.json(&json!({"value": 1})).send().unwrap().status(), 403);
    assert_eq!(answer(api(&host, data.path(), "GET", "/kv/probe-owner/t/k")).status, 404, "nothing was written");

    let token = csrf(&host, cookie.strip_prefix("floww_session=").unwrap());
    let put = http.put(url("/api/kv/probe-owner/t/k")).header("cookie", &cookie).header("x-floww-csrf", &token);
    assert_eq!(put.json(&json!({"value": 1})).send().unwrap().status(), 200);

    let forged_out = http.post(url("/ui/sign-out")).header("cookie", &cookie).send().unwrap();
    assert_eq!(forged_out.status(), 403, "signing out is a change too");
    let out = http.post(url("/ui/sign-out")).header("cookie", &cookie).header("x-floww-csrf", &token).send().unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(http.get(url("/api/workflows")).header("cookie", &cookie).send().unwrap().status(), 401);
}

#[test]
fn live_executions_stream_each_record_and_the_history_counts_them() {
    let (host, data) = Host::start(&[KV_STORE]);
    let mut live = api(&host, data.path(), "GET", "/executions/live").timeout(Duration::from_secs(10)).send().unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let (status, _) = host.post("/counter", json!({}));
    assert_eq!(status, 200);
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    while !seen.contains("\n\n") {
        let n = std::io::Read::read(&mut live, &mut buffer).unwrap();
        assert!(n > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    let data_line = seen.lines().find_map(|l| l.strip_prefix("data: ")).expect("a data line");
    let record: Value = serde_json::from_str(data_line).unwrap();
    assert!(seen.starts_with("event: execution\n"), "{seen}");
    assert_eq!((record["workflow"].as_str(), record["status"].as_str()), (Some("kv-store"), Some("completed")));

    let history = answer(api(&host, data.path(), "GET", "/metrics/history")).json;
    assert_eq!(history["intervalSeconds"], 10);
    let samples = history["samples"].as_array().unwrap();
    let completed: u64 = samples.iter().filter_map(|s| s["executions"]["completed"].as_u64()).sum();
    let kv: u64 = samples.iter().filter_map(|s| s["kvOperations"].as_u64()).sum();
    assert_eq!((completed, kv), (1, 1), "{history}");
    let last = samples.last().unwrap();
    assert!(last["durations"]["kv-store"]["p99Ms"].as_f64().unwrap() > 0.0, "{last}");
}

/// A browser signed in to `host`.
fn signed_in(host: &Host, data: &Path, width: u32, height: u32) -> Browser {
    let browser = Browser::start(width, height);
    browser.goto(&format!("{}/ui/sign-in", host.url));
    browser.fill(&browser.find("#token"), &token(data));
    browser.click(&browser.find("#sign-in"));
    browser.wait_for_url("/ui/");
    browser
}

#[test]
fn browser_sign_in_refuses_a_wrong_token_then_shows_the_workflows_with_their_webhooks() {
    let (host, data) = Host::start(&[KV_STORE]);
    let browser = Browser::start(1280, 800);
    browser.goto(&format!("{}/ui/executions", host.url));
    browser.wait_for_url("/ui/sign-in");
    browser.fill(&browser.find("#token"), "not the token");
    browser.click(&browser.find("#sign-in"));
    browser.wait_for_text("#sign-in-error", "That is not the admin token");
    browser.screenshot("sign-in-refused");

    browser.fill(&browser.find("#token"), &token(data.path()));
    browser.click(&browser.find("#sign-in"));
    browser.wait_for_url("/ui/");
    let row = browser.wait_for_text("#workflows tr[data-workflow=\"kv-store\"]", "/webhook/counter");
    let text = browser.text(&row);
    for webhook in ["/webhook/users", "/webhook/sessions/create", "/webhook/counter", "/webhook/cache"] {
        assert!(text.contains(&format!("{}{webhook}", host.url)), "{webhook} in {text}");
    }
    browser.screenshot("workflows");
}

#[test]
fn browser_a_webhook_appears_in_the_live_list_within_a_second_and_its_page_shows_its_log_lines() {
    let (host, data) = Host::start(&[OWNER]);
    let browser = signed_in(&host, data.path(), 1280, 800);
    browser.goto(&format!("{}/ui/executions", host.url));
    browser.wait_for_text("#live", "live");
    std::thread::sleep(Duration::from_millis(300));

    let called = Instant::now();
    let answer = answer(
        host.request("POST", "/webhook/probe-owner")
            .json(&json!({"op": "log", "lines": ["hello from the probe", "second line"]})),
    );
    assert_eq!(answer.status, 200, "{}", answer.json);
    let id = answer.headers["x-floww-execution-id"].to_str().unwrap().to_owned();
    browser.find(&format!("#executions tr[data-execution=\"{id}\"]"));
    assert!(called.elapsed() < Duration::from_secs(1), "the row took {:?}", called.elapsed());
    browser.screenshot("executions");

    browser.click(&browser.find(&format!("#executions tr[data-execution=\"{id}\"] a")));
    browser.wait_for_url(&format!("/ui/executions/{id}"));
    browser.wait_for_text("#execution-logs", "hello from the probe");
    browser.wait_for_text("#execution-logs", "second line");
    assert!(browser.try_find("#execution-logs .log-line", Duration::ZERO).is_some(), "each line is a .log-line");
    browser.screenshot("execution");
}

#[test]
fn browser_a_manual_trigger_runs_from_its_generated_form_and_a_schema_error_shows_on_its_field() {
    let (host, data) = Host::start(&[MANUAL]);
    let browser = signed_in(&host, data.path(), 1280, 800);
    browser.goto(&format!("{}/ui/workflows/manual-probe/triggers/double", host.url));
    browser.fill(&browser.find("#manual-form [name=\"n\"]"), "21");
    browser.fill(&browser.find("#manual-form [name=\"label\"]"), "twice");
    browser.click(&browser.find("#invoke"));
    let output = browser.wait_for_text("#output", "42");
    let shown: Value = serde_json::from_str(&browser.text(&output)).expect("the output as JSON");
    assert_eq!(shown, json!({"doubled": 42, "label": "twice"}));

    browser.fill(&browser.find("#manual-form [name=\"n\"]"), "-1");
    browser.click(&browser.find("#invoke"));
    browser.wait_for_text(".field-error[data-field=\"/n\"]", "-1 is less than the minimum of 0");

    // A required property left empty: the host reports it at the object,
    // and names the field it is about, so the form shows it there.
    browser.fill(&browser.find("#manual-form [name=\"n\"]"), "");
    browser.click(&browser.find("#invoke"));
    browser.wait_for_text(".field-error[data-field=\"/n\"]", "\"n\" is a required property");
    browser.screenshot("manual-trigger");
}

#[test]
fn browser_a_kv_value_edited_in_the_browser_is_what_the_api_then_returns() {
    let (host, data) = Host::start(&[OWNER]);
    let d = data.path();
    let seeded = answer(api(&host, d, "PUT", "/kv/probe-owner/profiles/ada").json(&json!({"value": {"name": "Ada"}})));
    assert_eq!(seeded.status, 200, "{}", seeded.json);
    let browser = signed_in(&host, d, 1280, 800);
    browser.goto(&format!("{}/ui/kv/probe-owner/profiles/ada", host.url));
    let value = browser.find("#item-value");
    browser.wait_for_text("body", "Ada");
    browser.fill(&value, r#"{"name": "Ada Lovelace", "born": 1815}"#);
    browser.click(&browser.find("#save"));
    browser.click(&browser.find("#confirm-yes"));
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let stored = answer(api(&host, d, "GET", "/kv/probe-owner/profiles/ada")).json;
        if stored["value"] == json!({"name": "Ada Lovelace", "born": 1815}) {
            break;
        }
        assert!(Instant::now() < until, "the edit never reached the store: {stored}");
        std::thread::sleep(Duration::from_millis(50));
    }
    browser.screenshot("kv-item");
}

#[test]
fn browser_the_pages_fit_a_phone_and_a_cross_site_post_is_refused() {
    let (host, data) = Host::start(&[KV_STORE]);
    let browser = signed_in(&host, data.path(), 390, 844);
    browser.wait_for_text("#workflows", "kv-store");
    let widths = browser.run("return [window.innerWidth, document.documentElement.scrollWidth];", json!([]));
    assert_eq!(widths, json!([390, 390]), "the page is as wide as the phone, no wider");
    browser.screenshot("phone-workflows");

    // A script on the page (signed in, same origin) that leaves out the
    // CSRF header, as another site's form would: refused.
    let status = browser.run(
        "return fetch('/api/kv/kv-store/t/k', {method: 'PUT', headers: {'content-type': 'application/json'}, \
         body: '{\"value\": 1}'}).then(r => r.status);",
        json!([]),
    );
    assert_eq!(status, json!(403));
}

#[test]
fn browser_a_runs_steps_show_on_its_timeline_and_the_charts_draw_the_last_hour() {
    let (host, data) = Host::start(&[("runs", "tests/guests/run-probe")]);
    let d = data.path();
    let started =
        answer(api(&host, d, "POST", "/workflows/runs/runs/steps").body(r#"{"tag": "ui", "steps": 3, "stepMs": 0}"#));
    assert_eq!(started.status, 202, "{}", started.json);
    let id = started.json["runId"].as_str().unwrap().to_owned();
    let until = Instant::now() + Duration::from_secs(10);
    while answer(api(&host, d, "GET", &format!("/runs/{id}"))).json["status"] != "completed" {
        assert!(Instant::now() < until, "the run never completed");
        std::thread::sleep(Duration::from_millis(50));
    }

    let browser = signed_in(&host, d, 1280, 800);
    browser.goto(&format!("{}/ui/runs", host.url));
    browser.click(&browser.find(&format!("#runs tr[data-run=\"{id}\"] a")));
    browser.wait_for_url(&format!("/ui/runs/{id}"));
    browser.wait_for_text("#run-status", "completed");
    for step in ["step-0", "step-1", "step-2"] {
        browser.wait_for_text("#run-steps", step);
    }
    browser.find("#run-timeline .timeline-bar");
    browser.screenshot("run");

    browser.goto(&format!("{}/ui/charts", host.url));
    for chart in ["#chart-executions svg", "#chart-durations svg", "#chart-kv svg", "#chart-queue svg"] {
        browser.find(chart);
    }
    assert!(browser.try_find(".error", Duration::ZERO).is_none(), "{}", browser.body_text());
    browser.screenshot("charts");
}
