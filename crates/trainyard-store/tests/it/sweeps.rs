//! Sweeps on both engines: a sweep's row and its runs kept in order, listed newest first per
//! project, and deleted with its runs.

use trainyard_store::{NewSweep, SweepRunRow};

fn sweep(project: &str, name: &str, time: i64) -> NewSweep {
    NewSweep {
        project_id: project.into(),
        name: name.into(),
        concurrency: 3,
        objective: Some(r#"{"metric":"score","goal":"max"}"#.into()),
        create_time: time,
    }
}

fn run(index: i64) -> SweepRunRow {
    SweepRunRow {
        index,
        job_id: 100 + index,
        version_id: 200 + index,
        parameters: format!(r#"{{"lr":"{index}"}}"#),
    }
}

trainyard_store::engine_suite! {
    async fn a_sweep_keeps_its_runs_in_order_and_goes_with_them(store, db) {
        let a = store.create_sweep(&sweep("p", "a", 1)).await.unwrap();
        let b = store.create_sweep(&sweep("p", "b", 2)).await.unwrap();
        let theirs = store.create_sweep(&sweep("q", "c", 3)).await.unwrap();
        for i in [1, 0, 2] {
            store.add_sweep_run(a, &run(i)).await.unwrap();
        }
        // A run's index is taken once.
        assert!(store.add_sweep_run(a, &run(1)).await.is_err());
        let got = db.open().await.get_sweep("p", a).await.unwrap().unwrap();
        assert_eq!(got.name, "a");
        assert_eq!(got.concurrency, 3);
        assert_eq!(got.objective.as_deref(), Some(r#"{"metric":"score","goal":"max"}"#));
        assert_eq!(got.runs, vec![run(0), run(1), run(2)]);
        // Another project's sweep is not seen.
        assert_eq!(store.get_sweep("p", theirs).await.unwrap(), None);
        let listed: Vec<i64> = store.list_sweeps("p").await.unwrap().iter().map(|s| s.id).collect();
        assert_eq!(listed, vec![b, a]);
        assert!(!store.delete_sweep("q", a).await.unwrap());
        assert!(store.delete_sweep("p", a).await.unwrap());
        assert_eq!(store.get_sweep("p", a).await.unwrap(), None);
        assert!(!store.delete_sweep("p", a).await.unwrap());
        // The other sweep stays.
        let listed: Vec<i64> = store.list_sweeps("p").await.unwrap().iter().map(|s| s.id).collect();
        assert_eq!(listed, vec![b]);
    }
}
