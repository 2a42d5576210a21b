//! No request field is silently ignored: every field of every request body the API takes (as
//! the OpenAPI document generated from the `trainyard-api` types lists them) has a row in the
//! "Request fields" table of `docs/api-compatibility.md` (the v2 API's types: `docs/api-v2.md`'s) saying what
//! trainyard does with it. A new field without a row fails here.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// `#/components/schemas/Name` -> `Name`.
fn schema_name(reference: &str) -> String {
    reference.rsplit('/').next().unwrap_or(reference).to_owned()
}

/// Adds the properties of `schema` (owned by the type `owner`) to `fields`, and the types it
/// refers to, to `todo`. Inline `allOf`/`oneOf`/`anyOf` parts (serde's `flatten`) belong to
/// the owner.
fn collect(
    schema: &Value,
    owner: &str,
    fields: &mut BTreeSet<(String, String)>,
    todo: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        todo.push(schema_name(r));
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect(part, owner, fields, todo);
        }
    }
    if let Some(items) = schema.get("items") {
        collect(items, owner, fields, todo);
    }
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        fields.insert((owner.to_owned(), name.clone()));
        refs_in(property, todo);
    }
}

/// Every `$ref` anywhere inside `value`.
fn refs_in(value: &Value, todo: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                todo.push(schema_name(r));
            }
            map.values().for_each(|v| refs_in(v, todo));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, todo)),
        _ => {}
    }
}

/// The request-field tables: `docs/api-compatibility.md`'s (v1) and `docs/api-v2.md`'s (the v2 types), each
/// the lines after its heading up to the next heading.
fn field_tables() -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    [
        ("docs/api-compatibility.md", "### Request fields"),
        ("docs/api-v2.md", "## Request fields"),
    ]
    .iter()
    .map(|(file, heading)| {
        let text = std::fs::read_to_string(format!("{root}/{file}")).expect(file);
        let section = text
            .split(heading)
            .nth(1)
            .unwrap_or_else(|| panic!("a '{heading}' section in {file}"))
            .lines()
            .take_while(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        (file.to_string(), section)
    })
    .collect()
}

/// `(type, field)` of every row of the request-field tables.
fn readme_rows() -> BTreeSet<(String, String)> {
    field_tables()
        .iter()
        .flat_map(|(_, section)| section.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let unquote = |c: &str| c.strip_prefix('`')?.strip_suffix('`').map(str::to_owned);
            Some((unquote(cells.get(1)?)?, unquote(cells.get(2)?)?))
        })
        .collect()
}

#[test]
fn every_request_field_has_a_row_in_the_readme() {
    let doc = serde_json::to_value(trainyard_server::http::openapi::build()).unwrap();
    let schemas = &doc["components"]["schemas"];
    // The request bodies of every operation, as the document has them.
    let mut todo = Vec::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().into_iter().flatten().map(|(_, o)| o) {
            if let Some(body) = operation.pointer("/requestBody/content") {
                refs_in(body, &mut todo);
            }
        }
    }
    assert!(
        todo.contains(&"CreateJobRequest".to_owned())
            && todo.contains(&"CreateVisualizationRequest".to_owned())
            && todo.contains(&"JobV2".to_owned()),
        "the document's request bodies: {todo:?}"
    );
    let (mut seen, mut fields) = (BTreeSet::new(), BTreeSet::new());
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            collect(&schemas[&name], &name, &mut fields, &mut todo);
        }
    }
    assert!(fields.len() > 40, "too few fields found: {fields:?}");
    let rows = readme_rows();
    let missing: Vec<String> = fields
        .difference(&rows)
        .map(|(t, f)| format!("{t}.{f}"))
        .collect();
    assert!(
        missing.is_empty(),
        "request fields without a row in the 'Request fields' table of docs/api-compatibility.md (say what trainyard does with each, or refuse it): {missing:?}"
    );
}

/// The test references in the table's last column: `file.rs::name` (a test in this folder) or
/// `sdk/python/tests/file.py::name`, each naming a function that exists. Every row has one,
/// so each field's effect (or its refusal) is shown by a test a reader can find.
#[test]
fn every_row_names_a_test_that_exists() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let tables = field_tables();
    let mut checked = 0;
    for line in tables
        .iter()
        .flat_map(|(_, section)| section.lines())
        .filter(|l| l.starts_with("| `"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let tests = cells.get(4).copied().unwrap_or_default();
        let refs: Vec<&str> = tests
            .split(',')
            .map(|r| r.trim().trim_matches('`'))
            .filter(|r| !r.is_empty())
            .collect();
        assert!(!refs.is_empty(), "a row without a test: {line}");
        for r in refs {
            let (file, name) = r
                .split_once("::")
                .unwrap_or_else(|| panic!("'{r}' is not file::test ({line})"));
            let path = if file.contains('/') {
                format!("{root}/{file}")
            } else {
                format!("{}/tests/it/{file}", env!("CARGO_MANIFEST_DIR"))
            };
            let source = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{path} (named by {line}): {e}"));
            let defined = [format!("fn {name}("), format!("def {name}(")]
                .iter()
                .any(|d| source.contains(d.as_str()));
            assert!(defined, "{name} is not defined in {file} ({line})");
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} references found");
}

/// What the boot file of `honoured_fields_take_effect_on_real_runs` prints: its arguments and
/// what the data folder holds.
const SHOW_ARGS: &str = "import os, sys\n\
    args = sys.argv[1:]\n\
    print('argv=' + ' '.join(args))\n\
    for a in args:\n    if a.startswith('--data_url='):\n        \
    print('data=' + ','.join(sorted(os.listdir(a.split('=', 1)[1]))))\n    \
    if a.startswith('--train_url='):\n        \
    open(os.path.join(a.split('=', 1)[1], 'out.txt'), 'w').write('written')\n";

/// Fields whose effect is not shown elsewhere, each on a real run: the dataset inputs (top
/// level and in `data_source`), `data_source` of type `obs`, parameters sent as numbers and
/// booleans and with the `key` alias, `flavor.code`, `enable_check: false`, `priority: 1`, and
/// TJ-06 `pre_version_id`, whose version lends its `train_url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honoured_fields_take_effect_on_real_runs() {
    let srv = TestServer::start().await;
    let api = &srv.api;
    srv.write_app("app", &[("boot.py", SHOW_ARGS)]);
    srv.write_app("datasets/ds-1/v-7", &[("from-dataset.txt", "1")]);
    srv.write_app("obsdata", &[("from-obs.txt", "1")]);
    srv.write_app("data", &[("plain.txt", "1")]);
    let no_data = json!({"data_url": null});
    let with = |extra: serde_json::Value| {
        let mut v = no_data.clone();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let cases = [
        (
            "dataset",
            with(json!({"dataset_id": "ds-1", "dataset_version_id": "v-7"})),
            "data=from-dataset.txt\n",
        ),
        (
            "source-dataset",
            with(
                json!({"data_source": [{"type": "dataset", "dataset_id": "ds-1", "dataset_version": "v-7"}]}),
            ),
            "data=from-dataset.txt\n",
        ),
        (
            "source-obs",
            with(json!({"data_source": [{"type": "obs", "data_url": "/obsdata/"}]})),
            "data=from-obs.txt\n",
        ),
        (
            "params",
            json!({"parameter": [{"label": "lr", "value": 0.01}, {"key": "batch_size", "value": 32}, {"label": "shuffle", "value": true}]}),
            "--lr=0.01 --batch_size=32 --shuffle=true\n",
        ),
        (
            "no-data",
            with(json!({"enable_check": false, "priority": 1})),
            "argv=--train_url=",
        ),
        (
            "flavored",
            json!({"spec_id": null, "flavor": {"code": "modelarts.vm.cpu.2u"}}),
            "data=plain.txt\n",
        ),
    ];
    let mut runs = Vec::new();
    for (name, extra, _) in &cases {
        runs.push(api.create_job(name, "app", extra.clone()).await);
    }
    for ((name, _, expected), (job, ver)) in cases.iter().zip(&runs) {
        let (end, log) = api
            .run_to_end(*job, *ver, &format!("{name}.0"), Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "{name}: {log}");
        assert!(
            log.contains(expected),
            "{name}: expected {expected:?} in {log}"
        );
    }
    // enable_check: false ran without a data input at all.
    let (job, ver) = runs[4];
    let log = api.log(job, ver, "no-data.0").await;
    assert!(!log.contains("--data_url"), "{log}");
    // flavor.code chose its spec for the run (TJ-03 reports the spec it resolved to).
    let (job, ver) = runs[5];
    let d = api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    assert_eq!(d.assert_ok()["spec_id"], json!(2), "{}", d.body);

    // TJ-06 without a train_url: the version named by pre_version_id lends its own.
    let (job, v1) = runs[3];
    let r = api
        .post(
            &format!("/training-jobs/{job}/versions"),
            json!({"config": {
                "worker_server_num": 1, "app_url": "/app/", "boot_file_url": "/app/boot.py",
                "data_url": "/data/", "spec_id": 1, "engine_id": 1, "pre_version_id": v1,
            }}),
        )
        .await;
    let v2 = r.assert_ok()["version_id"].as_i64().unwrap();
    std::fs::remove_file(srv.storage().join("out/params/out.txt")).unwrap();
    let (end, log) = api
        .run_to_end(job, v2, "params.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert_eq!(
        std::fs::read_to_string(srv.storage().join("out/params/out.txt")).unwrap(),
        "written"
    );
    let d = api
        .get(&format!("/training-jobs/{job}/versions/{v2}"))
        .await;
    assert_eq!(d.assert_ok()["pre_version_id"], json!(v1));
    assert!(
        d.body["train_url"].as_str().unwrap().contains("out/params"),
        "{}",
        d.body
    );
}

/// Each field trainyard cannot honour is refused with an error that names it, on the
/// request it came with: nothing is accepted and then dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_fields_answer_an_error_that_names_them() {
    let srv = TestServer::start().await;
    let api = &srv.api;
    srv.write_app("app", &[("boot.py", "print('ran')\n")]);
    srv.write_app("data", &[("x", "1")]);
    let base = json!({
        "worker_server_num": 1, "app_url": "/app/", "boot_file_url": "/app/boot.py",
        "data_url": "/data/", "spec_id": 1, "engine_id": 1,
    });
    let config = |extra: serde_json::Value| {
        let mut c = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let job = |extra: serde_json::Value| json!({"job_name": "refused", "config": config(extra)});
    let nfs = json!({"nfs": {"id": "n1", "src_path": "10.0.0.1:/share", "dest_path": "/home/work/nas", "read_only": false}});
    let host = json!({"host_path": {"src_path": "/tmp", "dest_path": "/home/work/tmp", "read_only": true}});
    // (what is sent, to where, the code, words the message must hold)
    let cases = [
        (
            "/training-jobs",
            job(json!({"volumes": [nfs]})),
            "ModelArts.0101",
            "volumes[0].nfs",
        ),
        (
            "/training-jobs",
            job(json!({"volumes": [host]})),
            "ModelArts.0101",
            "volumes[0].host_path",
        ),
        (
            "/training-jobs",
            job(
                json!({"nas_type": "nfs", "nas_share_addr": "10.0.0.1:/share", "nas_mount_path": "/home/work/nas"}),
            ),
            "ModelArts.0101",
            "nas_type, nas_share_addr, nas_mount_path",
        ),
        (
            "/training-jobs",
            job(json!({"nas_mount_path": "/home/work/nas"})),
            "ModelArts.0101",
            "nas_mount_path",
        ),
        (
            "/training-jobs",
            job(json!({"priority": 4})),
            "ModelArts.0104",
            "priority:4",
        ),
        (
            "/training-jobs",
            job(json!({"pre_version_id": 1})),
            "ModelArts.0101",
            "pre_version_id",
        ),
        (
            "/training-jobs",
            json!({"job_name": "refused", "config": base, "notification": {"topic_urn": "urn:smn:x", "events": []}}),
            "ModelArts.0101",
            "notification",
        ),
        (
            "/training-jobs",
            json!({"job_name": "refused", "config": base, "notification": {"events": ["JOBSTAT_SUCCESS"]}}),
            "ModelArts.0101",
            "notification",
        ),
        (
            "/training-jobs",
            job(
                json!({"data_url": null, "data_source": [{"type": "obs", "data_url": "/data/"}, {"type": "obs", "data_url": "/data/"}]}),
            ),
            "ModelArts.0101",
            "data_source: 2 items",
        ),
        (
            "/training-jobs",
            job(json!({"data_url": null, "data_source": [{"type": "hdfs", "data_url": "/data/"}]})),
            "ModelArts.0104",
            "data_source.type:hdfs",
        ),
        (
            "/training-jobs",
            job(json!({"data_url": null})),
            "ModelArts.0101",
            "enable_check",
        ),
        (
            "/training-jobs",
            job(json!({"parameter": [{"label": "a=b", "value": "1"}]})),
            "ModelArts.0104",
            "a=b",
        ),
        (
            "/training-jobs",
            job(json!({"flavor": {"code": "no.such.flavor"}, "spec_id": null})),
            "ModelArts.0104",
            "flavor.code",
        ),
        (
            "/training-job-configs",
            {
                let mut c = config(json!({"pre_version_id": 1}));
                c["config_name"] = json!("refused");
                c
            },
            "ModelArts.0101",
            "pre_version_id",
        ),
        (
            "/training-job-configs",
            {
                let mut c = config(json!({"create_version": false}));
                c["config_name"] = json!("refused");
                c
            },
            "ModelArts.0101",
            "create_version",
        ),
    ];
    for (path, body, code, words) in cases {
        let r = api.post(path, body.clone()).await;
        r.assert_error(400, code);
        let message = r.body["error_message"].as_str().unwrap();
        assert!(
            message.contains(words),
            "{words:?} not in {message:?} for {body}"
        );
    }
    // TJ-06: a version request cannot ask for no version.
    let (job_id, ver) = api.create_job("kept", "app", json!({})).await;
    let r = api
        .post(
            &format!("/training-jobs/{job_id}/versions"),
            json!({"config": config(json!({"create_version": false, "pre_version_id": ver}))}),
        )
        .await;
    r.assert_error(400, "ModelArts.0101");
    assert!(r.body["error_message"]
        .as_str()
        .unwrap()
        .contains("create_version"));
    // Nothing refused was stored.
    let list = api.get("/training-jobs?per_page=10&page=1").await;
    assert_eq!(
        list.assert_ok()["job_total_count"],
        json!(1),
        "{}",
        list.body
    );
    let configs = api.get("/training-job-configs").await;
    assert_eq!(
        configs.assert_ok()["config_total_count"],
        json!(0),
        "{}",
        configs.body
    );
    // What the worked example sends is accepted: an empty notification, priority 1.
    api.post(
        "/training-jobs",
        json!({"job_name": "accepted", "config": config(json!({"priority": 1})),
               "notification": {"topic_urn": "", "events": []}}),
    )
    .await
    .assert_ok();
}
