//! Sweeps on both engines: a sweep's row and its runs kept in order, listed newest first per
//! project, and deleted with its runs; its runs' versions read together.

use crate::fixtures::{job, version};
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

    async fn a_sweeps_versions_are_read_together_in_its_runs_order(store, db) {
        let s = store.create_sweep(&sweep("p", "s", 1)).await.unwrap();
        let mut versions = Vec::new();
        for (i, name) in ["r0", "r1", "r2"].into_iter().enumerate() {
            let (j, v) = store.create_job(&job(name), Some(&version())).await.unwrap();
            let v = v.unwrap();
            versions.push(v.id);
            let row = SweepRunRow { index: i as i64, job_id: j.id, version_id: v.id, parameters: "{}".into() };
            store.add_sweep_run(s, &row).await.unwrap();
        }
        // Another sweep's run is not among them.
        let other = store.create_sweep(&sweep("p", "t", 2)).await.unwrap();
        let (j, v) = store.create_job(&job("elsewhere"), Some(&version())).await.unwrap();
        let row = SweepRunRow { index: 0, job_id: j.id, version_id: v.unwrap().id, parameters: "{}".into() };
        store.add_sweep_run(other, &row).await.unwrap();
        let got: Vec<i64> = db.open().await.sweep_versions(s).await.unwrap().iter().map(|v| v.id).collect();
        assert_eq!(got, versions);
        // A purged version is absent; the others stay in order.
        store.mark_version_deleted(versions[1], &[], 0).await.unwrap();
        store.purge_version(versions[1]).await.unwrap();
        let got: Vec<i64> = store.sweep_versions(s).await.unwrap().iter().map(|v| v.id).collect();
        assert_eq!(got, vec![versions[0], versions[2]]);
    }
}
