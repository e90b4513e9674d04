//! What every [`RunStore`] must do with the KV backend beside it, checked on
//! each: sled always, PostgreSQL on the server `FLOWW_TEST_POSTGRES` names,
//! each test in a database of its own. The invocation (replay, retries,
//! sleeps, events) runs over each too.

use std::sync::Arc;

use super::{Began, Cut, Delivered, Invocation, Kind, Retry, Run, RunStore, Status, Suspend};
use crate::kv::{Kv, PostgresBackend, SledBackend, Staging, WorkflowDirectory, Write};
use crate::storage::{Database, ScratchDatabase, now_ms};

struct Everyone;
impl WorkflowDirectory for Everyone {
    fn is_deployed(&self, _: &str) -> bool {
        true
    }
}

fn run(id: &str, key: Option<&str>) -> Run {
    Run::queued(id.into(), "w", "fulfil", "{}", key, now_ms())
}

const RETRY: Retry = Retry { attempts: 3, initial_ms: 100, factor: 2.0, max_ms: 1000 };

/// Claims run `id` (due now) and starts invoking it.
fn invoke(store: &Arc<dyn RunStore>, kv: &Arc<Kv>, id: &str, lease: &str) -> Invocation {
    let claimed = store.claim(now_ms() + 10_000, lease, now_ms() + 60_000, 10).unwrap();
    let run = claimed.into_iter().find(|r| r.id == id).expect("the run is due");
    Invocation::new(run, lease.into(), "e".into(), store.clone(), kv.clone(), store.journal(id).unwrap())
}

fn an_idempotency_key_starts_one_run(store: Arc<dyn RunStore>, _: Arc<Kv>) {
    let ids: Vec<Option<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|n| {
                s.spawn({
                    let store = &store;
                    move || store.create(&run(&format!("r{n}"), Some("k"))).unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(ids.iter().filter(|id| id.is_none()).count(), 1, "{ids:?}");
    let first = store.list(&Default::default(), 100).unwrap();
    assert_eq!(first.len(), 1);
    assert!(ids.iter().flatten().all(|id| *id == first[0].id), "{ids:?}");
    // Another run function or no key: another run.
    assert_eq!(store.create(&Run { name: "other".into(), ..run("x", Some("k")) }).unwrap(), None);
    assert_eq!(store.create(&run("y", None)).unwrap(), None);
}

fn a_due_run_is_claimed_once_and_written_back_only_under_its_lease(store: Arc<dyn RunStore>, _: Arc<Kv>) {
    store.create(&run("r", None)).unwrap();
    let claims: Vec<Vec<Run>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|n| {
                s.spawn({
                    let store = &store;
                    move || store.claim(now_ms(), &format!("l{n}"), now_ms() + 60_000, 5).unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..4).filter(|&n| !claims[n].is_empty()).collect();
    assert_eq!(winners.len(), 1, "{claims:?}");
    let lease = format!("l{}", winners[0]);
    let mut claimed = claims[winners[0]][0].clone();
    assert_eq!(claimed.status, Status::Running);

    // Sleeping until later: not due now, due then.
    let later = now_ms() + 5_000;
    claimed.status = Status::Sleeping;
    claimed.due_at = Some(later);
    assert!(!store.release(&claimed, "another lease").unwrap());
    assert!(store.release(&claimed, &lease).unwrap());
    assert!(store.claim(now_ms(), "m", now_ms() + 60_000, 5).unwrap().is_empty());
    assert_eq!(store.next_due().unwrap(), Some(later));
    let again = store.claim(later, "m", later + 60_000, 5).unwrap();
    assert_eq!(again.len(), 1);

    // Cancelled meanwhile: the invocation's write-back is refused.
    let cancelled = store.update("r", &mut |run| {
        run.set_status(Status::Cancelled, now_ms());
        Some(u32::MAX)
    });
    assert_eq!(cancelled.unwrap().unwrap().status, Status::Cancelled);
    assert!(!store.release(&Run { status: Status::Completed, ..again[0].clone() }, "m").unwrap());
    assert_eq!(store.get("r").unwrap().unwrap().status, Status::Cancelled);
}

fn steps_commit_their_writes_once_and_replay_what_they_journaled(store: Arc<dyn RunStore>, kv: Arc<Kv>) {
    store.create(&run("r", None)).unwrap();
    let mut first = invoke(&store, &kv, "r", "l1");
    assert_eq!(first.begin("charge", RETRY, 0), Ok(Began::Run(1)));
    let mut staging = Staging::default();
    kv.write_staged("w", &mut staging, &[Write::Increment { table: "t", key: "n", delta: 1 }]).unwrap();
    assert!(kv.get("w", "t", "n").is_err(), "staged writes are the step's alone");
    assert_eq!(first.succeed("\"paid\"".into(), &staging, Vec::new()), Ok(Ok(())));
    assert_eq!(kv.get("w", "t", "n").unwrap().value, "1");
    let run = first.end(Err(Cut::Trapped("killed".into()))).unwrap();
    assert!(store.release(&Run { status: Status::Queued, due_at: Some(now_ms()), ..run }, "l1").unwrap());

    // The next invocation replays the step without running it.
    let mut second = invoke(&store, &kv, "r", "l2");
    assert_eq!(second.begin("charge", RETRY, 0), Ok(Began::Done(Ok("\"paid\"".into()))));
    assert!(second.begin("ship", RETRY, 0).is_ok());
    // An old invocation can't commit under a lease it lost.
    let mut stale = Invocation::new(
        store.get("r").unwrap().unwrap(),
        "l1".into(),
        "e".into(),
        store.clone(),
        kv.clone(),
        Vec::new(),
    );
    stale.begin("charge", RETRY, 0).unwrap();
    assert!(stale.succeed("\"again\"".into(), &staging, Vec::new()).is_err());
    assert_eq!(stale.stop, Some(Suspend::LeaseLost));
    assert_eq!(kv.get("w", "t", "n").unwrap().value, "1", "the stale step kept nothing");
    assert_eq!(store.journal("r").unwrap().len(), 1);
}

fn another_step_where_the_journal_has_one_fails_the_run(store: Arc<dyn RunStore>, kv: Arc<Kv>) {
    store.create(&run("r", None)).unwrap();
    let mut first = invoke(&store, &kv, "r", "l1");
    first.begin("first-a", RETRY, 0).unwrap();
    first.succeed("1".into(), &Staging::default(), Vec::new()).unwrap().unwrap();
    first.sleep_until("pause", now_ms() + 60_000).unwrap_err();
    let run = first.end(Err(Cut::Stopped)).unwrap();
    assert_eq!(run.status, Status::Sleeping);
    assert!(store.release(&Run { due_at: Some(now_ms()), ..run }, "l1").unwrap());

    let mut second = invoke(&store, &kv, "r", "l2");
    assert!(second.begin("first-b", RETRY, 0).is_err());
    let Some(Suspend::Fail(why)) = second.stop.clone() else { panic!("{:?}", second.stop) };
    assert!(why.contains("not deterministic") && why.contains("\"first-b\"") && why.contains("\"first-a\""), "{why}");
    let run = second.end(Err(Cut::Stopped)).unwrap();
    assert_eq!((run.status, run.error), (Status::Failed, Some(why)));
}

fn a_failed_attempt_waits_for_its_retry_and_the_last_one_fails_the_step(store: Arc<dyn RunStore>, kv: Arc<Kv>) {
    store.create(&run("r", None)).unwrap();
    for attempt in 1..=2 {
        let mut inv = invoke(&store, &kv, "r", &format!("l{attempt}"));
        assert_eq!(inv.begin("charge", RETRY, 0), Ok(Began::Run(attempt)));
        // Read before the failure, which sets when the retry is due.
        let before = now_ms();
        assert!(inv.fail(format!("timeout {attempt}"), false, Vec::new()).is_err());
        let run = inv.end(Err(Cut::Stopped)).unwrap();
        assert_eq!(run.status, Status::Retrying);
        let due = run.due_at.unwrap();
        let delay = RETRY.initial_ms * 2u64.pow(attempt - 1);
        assert!(due >= before + delay && due <= now_ms() + delay, "attempt {attempt} due {due}");
        assert_eq!(run.pending.as_ref().unwrap().attempts.len(), attempt as usize);
        assert!(store.release(&Run { due_at: Some(now_ms()), ..run }, &format!("l{attempt}")).unwrap());
    }
    let mut last = invoke(&store, &kv, "r", "l3");
    assert_eq!(last.begin("charge", RETRY, 0), Ok(Began::Run(3)));
    assert_eq!(last.fail("timeout 3".into(), false, Vec::new()), Ok("timeout 3 (after 3 attempts)".into()));
    let journal = store.journal("r").unwrap();
    assert_eq!(journal[0].attempts.len(), 3);
    assert_eq!(journal[0].error.as_deref(), Some("timeout 3 (after 3 attempts)"));
}

fn events_before_and_after_the_wait_reach_the_run(store: Arc<dyn RunStore>, kv: Arc<Kv>) {
    store.create(&run("r", None)).unwrap();
    assert_eq!(store.add_event("r", "approved", "1", now_ms()).unwrap(), Delivered::Kept);
    assert_eq!(store.add_event("nope", "approved", "1", now_ms()).unwrap(), Delivered::NoRun);
    let mut inv = invoke(&store, &kv, "r", "l1");
    assert_eq!(inv.wait_event("approved", None), Ok(Some("1".into())), "sent before the wait");
    assert!(inv.wait_event("approved", Some(60_000)).is_err(), "the first event is taken");
    let run = inv.end(Err(Cut::Stopped)).unwrap();
    assert_eq!((run.status, run.pending.as_ref().map(|p| p.kind)), (Status::Waiting, Some(Kind::Event)));
    assert!(store.release(&run, "l1").unwrap());
    assert!(store.claim(now_ms(), "x", now_ms() + 60_000, 5).unwrap().is_empty(), "not due before an event");

    assert_eq!(store.add_event("r", "approved", "2", now_ms()).unwrap(), Delivered::Kept);
    let mut inv = invoke(&store, &kv, "r", "l2");
    assert_eq!(inv.wait_event("approved", None), Ok(Some("1".into())), "replayed");
    assert_eq!(inv.wait_event("approved", Some(60_000)), Ok(Some("2".into())));
    let run = inv.end(Ok(Ok("null".into()))).unwrap();
    assert_eq!(run.status, Status::Completed);
    assert!(store.release(&run, "l2").unwrap());
    assert_eq!(store.add_event("r", "approved", "3", now_ms()).unwrap(), Delivered::Ended(Status::Completed));
}

fn a_deadline_between_steps_goes_on_only_after_progress(store: Arc<dyn RunStore>, kv: Arc<Kv>) {
    store.create(&run("r", None)).unwrap();
    let mut inv = invoke(&store, &kv, "r", "l1");
    inv.begin("one", RETRY, 0).unwrap();
    inv.succeed("1".into(), &Staging::default(), Vec::new()).unwrap().unwrap();
    let run = inv.end(Err(Cut::TimedOut("ran past 30s".into()))).unwrap();
    assert_eq!(run.status, Status::Queued, "it journaled a step: it goes on");
    assert!(store.release(&run, "l1").unwrap());

    let mut inv = invoke(&store, &kv, "r", "l2");
    assert!(matches!(inv.begin("one", RETRY, 0), Ok(Began::Done(_))));
    let run = inv.end(Err(Cut::TimedOut("ran past 30s".into()))).unwrap();
    assert_eq!((run.status, run.error.as_deref()), (Status::Failed, Some("ran past 30s")), "no progress: it fails");
}

macro_rules! on_every_store {
    ($($test:ident),* $(,)?) => {
        mod sled {
            $(#[test]
            fn $test() {
                let backend = super::SledBackend::temporary().unwrap();
                let store = super::super::SledRuns::open(backend.db()).unwrap();
                let kv = super::Kv::new(super::Arc::new(backend), super::Arc::new(super::Everyone));
                super::$test(super::Arc::new(store), super::Arc::new(kv));
            })*
        }
        mod postgres {
            $(#[test]
            fn $test() {
                let scratch = super::ScratchDatabase::create();
                let db = super::Arc::new(super::Database::connect(&scratch.url(), 10).unwrap());
                let kv = super::Kv::new(super::Arc::new(super::PostgresBackend::new(db.clone())), super::Arc::new(super::Everyone));
                super::$test(super::Arc::new(super::super::PostgresRuns::new(db)), super::Arc::new(kv));
            })*
        }
    };
}

on_every_store!(
    an_idempotency_key_starts_one_run,
    a_due_run_is_claimed_once_and_written_back_only_under_its_lease,
    steps_commit_their_writes_once_and_replay_what_they_journaled,
    another_step_where_the_journal_has_one_fails_the_run,
    a_failed_attempt_waits_for_its_retry_and_the_last_one_fails_the_step,
    events_before_and_after_the_wait_reach_the_run,
    a_deadline_between_steps_goes_on_only_after_progress,
);
