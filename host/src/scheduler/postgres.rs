//! Claimed ticks in PostgreSQL, one row per (workflow, schedule): every host
//! on the database runs the same crons, and the conditional upsert in
//! [`claim`](Ticks::claim) lets exactly one of them fire each tick.

use std::sync::Arc;

use super::Ticks;
use crate::storage::StorageResult;
use crate::storage::postgres::{Database, ms, storage_error};

pub struct PostgresTicks {
    db: Arc<Database>,
}

impl PostgresTicks {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

impl Ticks for PostgresTicks {
    fn last(&self, workflow: &str, schedule: &str) -> StorageResult<Option<u64>> {
        let row = self.db.get()?.query_opt(
            "SELECT last_tick FROM floww_cron_ticks WHERE workflow = $1 AND schedule = $2",
            &[&workflow, &schedule],
        );
        Ok(row.map_err(storage_error)?.map(|row| row.get::<_, i64>(0) as u64))
    }

    fn claim(&self, workflow: &str, schedule: &str, tick: u64) -> StorageResult<bool> {
        let claimed = self.db.get()?.execute(
            "INSERT INTO floww_cron_ticks (workflow, schedule, last_tick) VALUES ($1, $2, $3) \
             ON CONFLICT (workflow, schedule) DO UPDATE SET last_tick = EXCLUDED.last_tick \
             WHERE floww_cron_ticks.last_tick < EXCLUDED.last_tick",
            &[&workflow, &schedule, &ms(tick)],
        );
        Ok(claimed.map_err(storage_error)? == 1)
    }

    /// Forgets only the ticks of workflows no longer in the database: a host
    /// that has not caught up with a deploy yet must not drop the record
    /// another host just claimed. (An undeploy removes its ticks itself.)
    fn retain(&self, _keep: &dyn Fn(&str, &str) -> bool) -> StorageResult<()> {
        self.db
            .get()
            ?
            .execute(
                "DELETE FROM floww_cron_ticks t WHERE NOT EXISTS (SELECT 1 FROM floww_workflows w WHERE w.id = t.workflow)",
                &[],
            )
            .map_err(storage_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::ticks::tests::a_tick_is_claimed_once_and_the_claim_survives_a_reopen;
    use crate::storage::ScratchDatabase;

    #[test]
    fn postgres_ticks_are_claimed_once_and_survive_a_reopen() {
        let scratch = ScratchDatabase::create();
        let db = Arc::new(Database::connect(&scratch.url(), 2).unwrap());
        a_tick_is_claimed_once_and_the_claim_survives_a_reopen(&|| Box::new(PostgresTicks::new(db.clone())));
    }
}
