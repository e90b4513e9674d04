//! The admin API client that `deploy`, `workflows`, `undeploy`, `kv` and `invoke` share.

use std::path::PathBuf;

use anyhow::{Context, bail};
use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

use crate::http::auth::{read_token, token_path};

/// Where the host is and how to prove we may use its admin API. Global, so
/// they may follow a subcommand (`floww kv --as x get t k --host …`).
#[derive(clap::Args)]
pub struct ClientOptions {
    /// The host's base URL.
    #[arg(long, global = true, env = "FLOWW_HOST", default_value = "http://127.0.0.1:3000", value_parser = parse_host)]
    host: Url,

    /// The admin token [default: read from DATA_DIR/admin-token].
    #[arg(long, global = true, env = "FLOWW_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// The host's data dir, where its admin token is.
    #[arg(long, global = true, env = "FLOWW_DATA_DIR", default_value = ".floww")]
    data_dir: PathBuf,
}

/// The host answered a request with an error status.
#[derive(Debug, thiserror::Error)]
#[error("the host answered {status}: {message}")]
pub struct Refused {
    pub status: reqwest::StatusCode,
    pub message: String,
}

pub struct AdminClient {
    base: Url,
    token: String,
    /// Where the token came from, for the message of a 401.
    token_source: String,
    http: Client,
}

fn parse_host(arg: &str) -> Result<Url, String> {
    let url = Url::parse(arg).ok().filter(|url| ["http", "https"].contains(&url.scheme()) && url.has_host());
    url.ok_or_else(|| format!("expected the host's URL with its scheme, e.g. http://{}", arg.trim_start_matches("//")))
}

impl ClientOptions {
    pub fn connect(&self) -> anyhow::Result<AdminClient> {
        let token_source = match &self.token {
            Some(_) => "given with --token or FLOWW_TOKEN".to_owned(),
            None => format!("read from {}", token_path(&self.data_dir).display()),
        };
        let token = match &self.token {
            Some(token) => token.clone(),
            None => read_token(&self.data_dir).with_context(|| {
                format!(
                    "no admin token: pass --token, set FLOWW_TOKEN, or point --data-dir at the host's data dir \
                     (looked for {})",
                    token_path(&self.data_dir).display()
                )
            })?,
        };
        let http = Client::builder().timeout(std::time::Duration::from_secs(300)).build()?;
        Ok(AdminClient { base: self.host.clone(), token, token_source, http })
    }
}

impl AdminClient {
    /// The URL of `/api/<segments…>`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("an http URL has a path").pop_if_empty().push("api").extend(segments);
        url
    }

    pub fn get(&self, url: Url) -> anyhow::Result<Value> {
        self.send(self.http.get(url))
    }

    pub fn post(&self, url: Url) -> RequestBuilder {
        self.http.post(url)
    }

    pub fn put(&self, url: Url) -> RequestBuilder {
        self.http.put(url)
    }

    pub fn patch(&self, url: Url) -> RequestBuilder {
        self.http.patch(url)
    }

    pub fn delete(&self, url: Url) -> anyhow::Result<Value> {
        self.send(self.http.delete(url))
    }

    /// Sends a request with the token; a non-2xx answer becomes an error
    /// carrying the host's message.
    pub fn send(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = request.bearer_auth(&self.token).send().with_context(|| {
            format!("could not reach the host at {} (is `floww serve` running there? --host names another)", self.base)
        })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!(
                "the host at {} refused the admin token {}: pass the host's token with --token, or point \
                 --data-dir at the host's data dir",
                self.base,
                self.token_source
            );
        }
        let text = response.text().unwrap_or_default();
        // A server that is not floww answers HTML or text: name it, don't dump it.
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            bail!("{} answered {status} with something that is not floww's JSON: is --host a floww host?", self.base);
        };
        if !status.is_success() {
            let mut message = body.get("error").and_then(Value::as_str).map(str::to_owned).unwrap_or(body.to_string());
            // Every error where the host lists them (a manual input's schema errors).
            for error in body.get("errors").and_then(Value::as_array).into_iter().flatten() {
                let (path, what) =
                    (error["path"].as_str().unwrap_or_default(), error["message"].as_str().unwrap_or("?"));
                let place = if path.is_empty() { "the top level" } else { path };
                message.push_str(&format!("\n  at {place}: {what}"));
            }
            return Err(Refused { status, message }.into());
        }
        Ok(body)
    }
}
