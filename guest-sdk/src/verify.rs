//! Checking that a webhook really comes from who it says: the signature
//! schemes of GitHub, Stripe and Slack, and a plain HMAC-SHA256 one, each
//! compared in constant time. A missing or bad signature is an [`Error`]
//! with status 401 that says what is wrong, ready for `?` in a handler.
//!
//! ```no_run
//! use floww::{Context, Request, Response, Result};
//!
//! fn on_push(ctx: &Context, req: Request) -> Result<Response> {
//!     floww::verify::github(&req, &ctx.secret("GITHUB_WEBHOOK_SECRET")?)?;
//!     Ok(Response::text(200, "thanks"))
//! }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{Error, Request};

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
pub fn github(req: &Request, secret: &str) -> Result<(), Error> {
    let header = required(req, "x-hub-signature-256")?;
    let hex = header
        .strip_prefix("sha256=")
        .ok_or_else(|| unauthorized("X-Hub-Signature-256 does not start with sha256="))?;
    check(secret, &[&req.body], hex, "X-Hub-Signature-256")
}

/// Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, the
/// HMAC-SHA256 of `<t>.<body>`; `t` must be within `tolerance` of now
/// (Stripe's libraries use 5 minutes), so an old request can't be replayed.
pub fn stripe(req: &Request, secret: &str, tolerance: Duration) -> Result<(), Error> {
    let header = required(req, "stripe-signature")?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| unauthorized("Stripe-Signature has no t= timestamp"))?;
    fresh(timestamp, tolerance, "Stripe-Signature")?;
    let signed: [&[u8]; 3] = [timestamp.as_bytes(), b".", &req.body];
    // Any one v1 signature may match: Stripe sends one per active secret.
    if signatures.iter().any(|hex| check(secret, &signed, hex, "Stripe-Signature").is_ok()) {
        Ok(())
    } else {
        Err(unauthorized("Stripe-Signature has no v1 signature that matches the body and the secret"))
    }
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<body>">` with
/// `X-Slack-Request-Timestamp: <ts>` within `tolerance` of now (Slack
/// suggests 5 minutes).
pub fn slack(req: &Request, secret: &str, tolerance: Duration) -> Result<(), Error> {
    let timestamp = required(req, "x-slack-request-timestamp")?;
    fresh(timestamp, tolerance, "X-Slack-Request-Timestamp")?;
    let header = required(req, "x-slack-signature")?;
    let hex = header.strip_prefix("v0=").ok_or_else(|| unauthorized("X-Slack-Signature does not start with v0="))?;
    check(secret, &[b"v0:", timestamp.as_bytes(), b":", &req.body], hex, "X-Slack-Signature")
}

/// Any sender that puts the hex HMAC-SHA256 of the body in `header` (a
/// `sha256=` prefix is allowed).
pub fn hmac_sha256(req: &Request, header: &str, secret: &str) -> Result<(), Error> {
    let value = required(req, header)?;
    check(secret, &[&req.body], value.strip_prefix("sha256=").unwrap_or(value), header)
}

fn unauthorized(message: impl Into<String>) -> Error {
    Error::new(401, message)
}

fn required<'a>(req: &'a Request, header: &str) -> Result<&'a str, Error> {
    req.header(header).ok_or_else(|| unauthorized(format!("the request is not signed: it has no {header} header")))
}

/// Whether `hex` is the HMAC-SHA256 of `parts` under `secret`, compared in constant time.
fn check(secret: &str, parts: &[&[u8]], hex: &str, header: &str) -> Result<(), Error> {
    let expected = decode_hex(hex.trim()).ok_or_else(|| unauthorized(format!("{header} is not a hex signature")))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&expected).map_err(|_| unauthorized(format!("{header} does not match the body and the secret")))
}

/// Whether the unix-seconds `timestamp` is within `tolerance` of now.
fn fresh(timestamp: &str, tolerance: Duration, header: &str) -> Result<(), Error> {
    let at: u64 =
        timestamp.trim().parse().map_err(|_| unauthorized(format!("{header}'s timestamp is not a number")))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now.abs_diff(at) > tolerance.as_secs() {
        return Err(unauthorized(format!(
            "{header}'s timestamp is {}s away from now, more than the {}s allowed: an old request replayed?",
            now.abs_diff(at),
            tolerance.as_secs()
        )));
    }
    Ok(())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, String)], body: &str) -> Request {
        Request {
            method: "POST".into(),
            path: "/hook".into(),
            query: vec![],
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn sign(secret: &str, parts: &[&[u8]]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn now() -> String {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
    }

    fn refused(result: Result<(), Error>, needle: &str) {
        let e = result.unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(e.to_string().contains(needle), "expected {needle:?} in {e}");
    }

    #[test]
    fn github_signatures_match_the_body_and_secret() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let req = request(&[("X-Hub-Signature-256", good.into())], "Hello, World!");
        github(&req, "It's a Secret to Everybody").unwrap();
        refused(github(&req, "another secret"), "does not match the body and the secret");
        refused(github(&request(&[], "Hello, World!"), "s"), "it has no x-hub-signature-256 header");
        let bare = request(&[("X-Hub-Signature-256", "757107ea".into())], "x");
        refused(github(&bare, "s"), "does not start with sha256=");
    }

    #[test]
    fn stripe_signatures_need_a_fresh_timestamp() {
        let t = now();
        let v1 = sign("whsec", &[t.as_bytes(), b".", b"{}"]);
        let header = format!("t={t},v1=deadbeef,v1={v1}");
        stripe(&request(&[("Stripe-Signature", header)], "{}"), "whsec", Duration::from_secs(300)).unwrap();
        let old = "1000000000";
        let stale = format!("t={old},v1={}", sign("whsec", &[old.as_bytes(), b".", b"{}"]));
        refused(stripe(&request(&[("Stripe-Signature", stale)], "{}"), "whsec", Duration::from_secs(300)), "replayed");
        let forged = format!("t={t},v1={v1}");
        refused(
            stripe(&request(&[("Stripe-Signature", forged)], "{\"x\":1}"), "whsec", Duration::from_secs(300)),
            "no v1 signature that matches",
        );
    }

    #[test]
    fn slack_and_plain_hmac_signatures() {
        let ts = now();
        let sig = format!("v0={}", sign("slk", &[b"v0:", ts.as_bytes(), b":", b"a=b"]));
        let req = request(&[("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", sig)], "a=b");
        slack(&req, "slk", Duration::from_secs(300)).unwrap();
        refused(slack(&req, "other", Duration::from_secs(300)), "X-Slack-Signature does not match");

        let plain = request(&[("x-signature", sign("k", &[b"body"]))], "body");
        hmac_sha256(&plain, "x-signature", "k").unwrap();
        refused(hmac_sha256(&plain, "x-signature", "j"), "does not match");
        refused(
            hmac_sha256(&request(&[("x-signature", "zz".into())], "body"), "x-signature", "k"),
            "not a hex signature",
        );
    }
}
