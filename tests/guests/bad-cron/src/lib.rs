//! Declares a cron expression with minute 61, which the host must refuse at
//! deploy (the SDK cannot check expressions at compile time).

use floww::{Context, CronEvent, Result};

floww::workflow! {
    cron "61 * * * *" => never,
}

fn never(_ctx: &Context, _event: CronEvent) -> Result<()> {
    Ok(())
}
