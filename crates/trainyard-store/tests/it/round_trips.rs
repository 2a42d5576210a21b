//! The round trips of a run's life on SQLite: each call the executor and the API make on a
//! trivial job's way (quota counts, create, start, end, events) is counted as the statements
//! sqlx hands to SQLite's worker thread (its statement log, one event per string sent), so
//! a step that goes back to a statement per round trip (a move as `BEGIN`, `UPDATE`, summary,
//! `COMMIT`) fails here.
//!
//! sqlx's worker thread runs each command inside the span of the task that sent it, so the
//! statements of one span are those of the calls made inside it, whatever other tests of this
//! binary run meanwhile.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use tracing::Instrument as _;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use trainyard_api::JobStatus;
use trainyard_store::testing::TestDatabase;
use trainyard_store::{Engine, NewRunEvent, Store, TransitionSet, UsageRecord};

/// The statements logged inside each span named [`COUNTED`], by span id.
static LOGGED: Mutex<Option<HashMap<u64, Vec<String>>>> = Mutex::new(None);

/// The name of the spans whose statements are counted.
const COUNTED: &str = "counted_statements";

/// Collects sqlx's statement log (target `sqlx::query`) per counted span.
struct Statements;

impl<S> tracing_subscriber::Layer<S> for Statements
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(span) = scope.into_iter().find(|s| s.name() == COUNTED) else {
            return;
        };
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if field.name() == "db.statement" {
                    self.0 = format!("{v:?}");
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, v: &str) {
                if field.name() == "db.statement" {
                    self.0 = v.to_owned();
                }
            }
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        let text = text.0.split_whitespace().collect::<Vec<_>>().join(" ");
        // The settings of a connection the pool opens meanwhile are not the step's.
        if text.starts_with("PRAGMA ") {
            return;
        }
        let mut logged = LOGGED.lock().unwrap();
        let logged = logged.get_or_insert_with(HashMap::new);
        logged.entry(span.id().into_u64()).or_default().push(text);
    }
}

/// Installs the collecting subscriber for this test binary, once.
fn collect_statements() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Statements);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test binary");
    });
}

/// Runs `step` and returns its value with the statements it sent to the database.
async fn counted<T>(step: impl std::future::Future<Output = T>) -> (T, Vec<String>) {
    let span = tracing::info_span!(COUNTED);
    let id = span
        .id()
        .expect("the collecting subscriber gives spans ids");
    let value = step.instrument(span).await;
    let statements = LOGGED
        .lock()
        .unwrap()
        .as_mut()
        .and_then(|m| m.remove(&id.into_u64()))
        .unwrap_or_default();
    (value, statements)
}

/// Asserts that `step` took `want` round trips, naming the statements when not.
fn assert_trips(step: &str, statements: &[String], want: usize) {
    assert_eq!(
        statements.len(),
        want,
        "{step}: {} round trips, {want} expected:\n{}",
        statements.len(),
        statements.join("\n")
    );
}

/// A trivial job's life, as the server records it: each step one round trip (the quota's two
/// counts one query; the create, each status move and the end each one string with their
/// transaction; the events of a batch one statement), and what they leave is what the API
/// shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trivial_run_takes_one_round_trip_per_step() {
    collect_statements();
    let db = TestDatabase::new(Engine::Sqlite, "round_trips")
        .await
        .unwrap();
    let store = db.open().await;
    let store: &dyn Store = store.as_ref();

    let (counts, sent) = counted(store.quota_counts("p")).await;
    assert_eq!(counts.unwrap(), (0, 0));
    assert_trips("the quota's counts", &sent, 1);

    let first = crate::fixtures::version();
    let job = crate::fixtures::job("trips");
    let (created, sent) = counted(store.create_job(&job, Some(&first))).await;
    let (job, v) = created.unwrap();
    let v = v.unwrap();
    assert_trips("a create with its first version", &sent, 1);
    assert_eq!(v.name, "V0001");
    assert_eq!(v.run_dir, format!("/runs/{}", v.id));
    assert_eq!(job.latest_version_id, Some(v.id));
    assert_eq!(job.version_count, 1);
    assert_eq!(store.quota_counts("p").await.unwrap(), (1, 1));

    let (moved, sent) = counted(store.move_version(
        v.id,
        &[JobStatus::INIT, JobStatus::WAITING],
        JobStatus::SUBMIT_TRYING,
        &TransitionSet::default(),
    ))
    .await;
    let moved = moved.unwrap().expect("1 -> 4 moves");
    assert_trips("a move (1 -> 4)", &sent, 1);
    assert_eq!(moved.job_name, "trips");
    assert_eq!(moved.version.status, JobStatus::SUBMIT_TRYING);

    let set = TransitionSet {
        start_time: Some(10),
        attempt_start: Some(10),
        handle: Some("{\"pid\":1}".into()),
        ..Default::default()
    };
    let (moved, sent) =
        counted(store.move_version(v.id, &[JobStatus::SUBMIT_TRYING], JobStatus::RUNNING, &set))
            .await;
    let moved = moved.unwrap().expect("4 -> 8 moves");
    assert_trips("a move with the run's handle (4 -> 8)", &sent, 1);
    assert_eq!(moved.version.handle.as_deref(), Some("{\"pid\":1}"));
    assert_eq!(moved.version.start_time, Some(10));

    // A refused move is one round trip too, and changes nothing.
    let (refused, sent) = counted(store.move_version(
        v.id,
        &[JobStatus::INIT],
        JobStatus::SUBMIT_TRYING,
        &TransitionSet::default(),
    ))
    .await;
    assert!(refused.unwrap().is_none());
    assert_trips("a refused move", &sent, 1);

    let (read, sent) = counted(store.named_version(v.id)).await;
    let read = read.unwrap().unwrap();
    assert_trips("an end's read", &sent, 1);
    assert_eq!(read.job_name, "trips");
    assert_eq!(read.version.status, JobStatus::RUNNING);

    let usage = UsageRecord {
        version_id: v.id,
        attempt: 1,
        project_id: "p".into(),
        created_by: "alice".into(),
        job_id: job.id,
        job_name: read.job_name.clone(),
        pool: String::new(),
        backend: "local".into(),
        workers: 1,
        cores: 1,
        gpus: 0,
        memory_gb: 1,
        queued_at: 2,
        started_at: Some(10),
        ended_at: 20,
        status: JobStatus::COMPLETED.code(),
        outcome: "completed".into(),
    };
    let end = TransitionSet {
        end_time: Some(20),
        usage: Some(usage),
        ..Default::default()
    };
    let (ended, sent) =
        counted(store.move_version(v.id, &[JobStatus::RUNNING], JobStatus::COMPLETED, &end)).await;
    assert!(ended.unwrap().is_some());
    assert_trips("an end with its usage record", &sent, 1);
    // A second report of the end is refused and accounts nothing twice.
    let (again, sent) =
        counted(store.move_version(v.id, &[JobStatus::RUNNING], JobStatus::COMPLETED, &end)).await;
    assert!(again.unwrap().is_none());
    assert_trips("a refused end", &sent, 1);
    let spans = store.usage_spans("local", 0).await.unwrap();
    assert_eq!(spans.len(), 1, "one usage record: {spans:?}");
    let job = store.get_job("p", job.id).await.unwrap().unwrap();
    assert_eq!(job.latest_status, JobStatus::COMPLETED.code());
    assert_eq!(job.latest_end_time, Some(20));

    let events: Vec<NewRunEvent> = ["created", "queued", "started", "ended"]
        .iter()
        .enumerate()
        .map(|(i, kind)| NewRunEvent {
            version_id: v.id,
            time: i as i64,
            kind: (*kind).into(),
            detail: format!("{{\"kind\":\"{kind}\"}}"),
            deliveries: Vec::new(),
        })
        .collect();
    let (appended, sent) = counted(store.append_run_events(&events)).await;
    appended.unwrap();
    assert_trips("a batch of events", &sent, 1);
    let kinds: Vec<String> = store
        .run_events(v.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["created", "queued", "started", "ended"]);
}
