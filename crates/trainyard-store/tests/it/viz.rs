//! Visualization jobs in the store, on SQLite and PostgreSQL: create, unique names,
//! compare-and-set, restart, delete.

use trainyard_api::JobStatus;
use trainyard_store::{
    Error, NewVizJob, Page, VizDeletion, VizFilter, VizRestart, VizSet, VizSort,
};

fn new(name: &str) -> NewVizJob {
    NewVizJob {
        project_id: "p".into(),
        name: name.into(),
        description: String::new(),
        train_url: "/logs/".into(),
        job_type: "tensorboard".into(),
        flavor_code: None,
        resource_id: "r".into(),
        secret: "s".into(),
        create_time: 5,
        schedule_unit: Some("HOURS".into()),
        schedule_duration: Some(1),
        run_dir_template: "/runs/viz-{id}".into(),
    }
}

trainyard_store::engine_suite! {
    async fn lifecycle(store, db) {
        let a = store.create_viz(&new("a")).await.unwrap();
        assert_eq!(a.status, JobStatus::INIT);
        assert_eq!(a.run_dir, format!("/runs/viz-{}", a.id));
        assert!(matches!(
            store.create_viz(&new("a")).await,
            Err(Error::Conflict)
        ));
        let b = store.create_viz(&new("b")).await.unwrap();
        assert_eq!(store.count_viz("p").await.unwrap(), (2, 2));

        let set = VizSet {
            start_time: Some(10),
            deadline: Some(99),
            port: Some(7000),
            ..Default::default()
        };
        assert!(store
            .viz_transition(a.id, &[JobStatus::INIT], JobStatus::RUNNING, &set)
            .await
            .unwrap());
        assert!(!store
            .viz_transition(a.id, &[JobStatus::INIT], JobStatus::RUNNING, &set)
            .await
            .unwrap());
        let got = store.get_viz("p", a.id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.deadline, got.port),
            (JobStatus::RUNNING, Some(99), Some(7000))
        );
        assert_eq!(
            store
                .restart_viz("p", a.id, &[JobStatus::KILLED])
                .await
                .unwrap(),
            VizRestart::Refused(JobStatus::RUNNING)
        );
        store
            .viz_transition(
                a.id,
                &[JobStatus::RUNNING],
                JobStatus::KILLED,
                &VizSet::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .restart_viz("p", a.id, &[JobStatus::KILLED])
                .await
                .unwrap(),
            VizRestart::Restarted
        );
        let got = store.get_viz("p", a.id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.deadline, got.port, got.start_time),
            (JobStatus::INIT, None, None, None)
        );

        let filter = VizFilter {
            statuses: vec![],
            search: None,
            sort: VizSort::Name,
            descending: true,
            offset: 0,
            limit: 10,
            now: 0,
        };
        let Page { rows, total, live } = store.list_viz("p", &filter).await.unwrap();
        assert_eq!((total, live), (2, 2));
        assert_eq!(rows[0].name, "b");

        store
            .viz_transition(
                b.id,
                &[JobStatus::INIT],
                JobStatus::KILLING,
                &VizSet::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .mark_viz_deleted("p", b.id, &[JobStatus::KILLING])
                .await
                .unwrap(),
            VizDeletion::Refused(JobStatus::KILLING)
        );
        assert_eq!(
            store
                .mark_viz_deleted("p", a.id, &[JobStatus::KILLING])
                .await
                .unwrap(),
            VizDeletion::Hidden { was: JobStatus::INIT }
        );
        assert!(store.get_viz("p", a.id).await.unwrap().is_none());
        assert_eq!(store.deleted_viz().await.unwrap().len(), 1);
        // The name is free again once the job is deleted.
        store.create_viz(&new("a")).await.unwrap();
        store.purge_viz(a.id).await.unwrap();
        assert!(store.viz_by_id(a.id).await.unwrap().is_none());
    }
}
