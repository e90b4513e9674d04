use std::time::Duration;

use serde_json::Value;

use super::client::{AdminClient, ClientOptions};

/// Show a workflow's recent executions and their log lines; with --follow,
/// keep printing new ones as they happen.
#[derive(clap::Args)]
pub struct LogsCommand {
    /// The workflow id.
    id: String,

    /// Keep watching for new executions (Ctrl-C stops).
    #[arg(long, short)]
    follow: bool,

    /// How many recent executions to show first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    last: u32,

    #[command(flatten)]
    client: ClientOptions,
}

/// How often --follow asks for new executions.
const POLL: Duration = Duration::from_millis(500);

impl LogsCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        let recent = page(&client, &self.id, &[("order", "desc"), ("limit", &self.last.to_string())])?;
        if recent.is_empty() {
            // A workflow that is not deployed and has no records is a typo.
            client.get(client.url(&["workflows", &self.id]))?;
            println!("no executions of {} yet", self.id);
        }
        let mut cursor = recent.first().and_then(|r| r["id"].as_str()).map(str::to_owned);
        for record in recent.iter().rev() {
            print_record(record);
        }
        if !self.follow {
            return Ok(());
        }
        let mut lost = false;
        loop {
            std::thread::sleep(POLL);
            let mut query = vec![("order", "asc"), ("limit", "100")];
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            // A host that restarts is waited for, with one notice each way.
            let new = match page(&client, &self.id, &query) {
                Ok(new) => new,
                Err(e) => {
                    if !lost {
                        eprintln!("lost the host ({e:#}); still following, retrying every {POLL:?}");
                        lost = true;
                    }
                    continue;
                }
            };
            if std::mem::take(&mut lost) {
                eprintln!("reconnected");
            }
            for record in &new {
                print_record(record);
            }
            if let Some(last) = new.last().and_then(|r| r["id"].as_str()) {
                cursor = Some(last.to_owned());
            }
        }
    }
}

fn page(client: &AdminClient, workflow: &str, query: &[(&str, &str)]) -> anyhow::Result<Vec<Value>> {
    let mut url = client.url(&["executions"]);
    url.query_pairs_mut().append_pair("workflow", workflow).extend_pairs(query);
    let answer = client.get(url)?;
    Ok(answer["executions"].as_array().cloned().unwrap_or_default())
}

fn print_record(r: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    // A webhook's record names the status its guest answered with.
    let answered = r["httpStatus"].as_u64().map(|code| format!(" {code}")).unwrap_or_default();
    println!(
        "{}  {}  {}{answered}  {:.1} ms  {}",
        utc(r["startedAt"].as_u64().unwrap_or_default()),
        text(&r["trigger"]),
        text(&r["status"]),
        r["durationMs"].as_f64().unwrap_or_default(),
        text(&r["id"]),
    );
    // The guest's lines as they happened, then how the execution ended.
    for line in r["logs"].as_array().into_iter().flatten() {
        println!("    {:<5}  {}", text(&line["level"]), text(&line["message"]));
    }
    // Its outgoing requests, each with its answer or why it failed.
    for call in r["http"].as_array().into_iter().flatten() {
        let outcome = match (call["status"].as_u64(), call["error"].as_str()) {
            (_, Some(error)) => error.to_owned(),
            (Some(status), None) => format!("{status}, {} bytes", call["bytes"].as_u64().unwrap_or_default()),
            (None, None) => "no answer".to_owned(),
        };
        let took = call["durationMs"].as_f64().unwrap_or_default();
        println!("    http   {} {}  {took:.1} ms  {outcome}", text(&call["method"]), text(&call["origin"]));
    }
    if let Some(error) = r["error"].as_str() {
        println!("    error  {error}");
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) for milliseconds since the Unix epoch.
pub fn utc(ms: u64) -> String {
    let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03}")
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_times_read_as_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(utc(1_795_659_644_386), "2026-11-26 02:20:44.386");
    }
}
