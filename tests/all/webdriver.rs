//! A small WebDriver client for the dashboard's browser tests: the W3C
//! protocol (JSON over HTTP) spoken with reqwest to `chromedriver`, which
//! drives a headless Debian Chromium. `scripts/test.sh` installs both
//! (`apt-get install chromium chromium-driver`) when they are missing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a lookup waits for what it looks for.
const WAIT: Duration = Duration::from_secs(5);

/// A browser session; the driver and the browser end with it.
pub struct Browser {
    driver: Child,
    session: String,
    client: Client,
}

/// An element of the page.
#[derive(Clone)]
pub struct Element(String);

impl Browser {
    /// A headless Chromium showing pages at `width`×`height`: a desktop
    /// window, or below 600 px wide a phone (Chromium's windows are never
    /// that narrow, so its device emulation sets the viewport).
    pub fn start(width: u32, height: u32) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let driver = Command::new(program("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let client = Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        let base = format!("http://127.0.0.1:{port}");
        let ready = Instant::now() + Duration::from_secs(10);
        while client.get(format!("{base}/status")).send().is_err() {
            assert!(Instant::now() < ready, "chromedriver did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut chrome = json!({
            "binary": program("chromium").to_string_lossy(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}")],
        });
        if width < 600 {
            chrome["mobileEmulation"] =
                json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 } });
        }
        let capabilities =
            json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": chrome } } });
        let answer: Value = client.post(format!("{base}/session")).json(&capabilities).send().unwrap().json().unwrap();
        let session =
            answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_owned();
        Browser { driver, session: format!("{base}/session/{session}"), client }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().expect("chromedriver answers").json().expect("JSON");
        answer["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None)
    }

    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.get("/url").as_str().unwrap_or_default().to_owned()
    }

    /// The first element `css` selects, waiting for it to appear.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css, WAIT).unwrap_or_else(|| panic!("no {css} on {}:\n{}", self.url(), self.body_text()))
    }

    /// The first element `css` selects, if one appears within `wait`.
    pub fn try_find(&self, css: &str, wait: Duration) -> Option<Element> {
        let until = Instant::now() + wait;
        loop {
            let found = self.post("/element", json!({ "using": "css selector", "value": css }));
            if let Some(id) = found[ELEMENT].as_str() {
                return Some(Element(id.to_owned()));
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `css` selects an element whose text contains `text`.
    pub fn wait_for_text(&self, css: &str, text: &str) -> Element {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(element) = self.try_find(css, Duration::ZERO)
                && self.text(&element).contains(text)
            {
                return element;
            }
            assert!(Instant::now() < until, "{css} never said {text:?} on {}:\n{}", self.url(), self.body_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the browser is at a URL ending in `path`.
    pub fn wait_for_url(&self, path: &str) {
        let until = Instant::now() + WAIT;
        while !self.url().ends_with(path) {
            assert!(Instant::now() < until, "never reached {path}: at {}", self.url());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn text(&self, element: &Element) -> String {
        self.get(&format!("/element/{}/text", element.0)).as_str().unwrap_or_default().to_owned()
    }

    pub fn body_text(&self) -> String {
        let body = self.post("/element", json!({ "using": "css selector", "value": "body" }));
        body[ELEMENT].as_str().map(|id| self.text(&Element(id.to_owned()))).unwrap_or_default()
    }

    pub fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}));
    }

    /// Replaces what the field holds with `text`.
    pub fn fill(&self, element: &Element, text: &str) {
        self.post(&format!("/element/{}/clear", element.0), json!({}));
        self.post(&format!("/element/{}/value", element.0), json!({ "text": text }));
    }

    /// Runs `script` in the page with `args`; its return value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Saves the page as `target/ui-screenshots/NAME.png`, for a reviewer.
    pub fn screenshot(&self, name: &str) {
        let png = self.get("/screenshot");
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or_default()).unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.client.delete(&self.session).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where `name` is installed, or a panic that says how to install it.
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("the dashboard's browser tests need {name}: apt-get install -y chromium chromium-driver (scripts/test.sh does)")
    })
}
