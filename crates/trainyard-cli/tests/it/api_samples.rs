//! The API reference's own sample requests (api.md TJ-01..TJ-12, TC-01..TC-05, RS-01, RS-02),
//! sent verbatim to a real server (only storage paths made to exist below the project's
//! storage folder and ids in paths replaced by the created ones), with the documented
//! response shape checked strictly: every field present, numbers as numbers, the documented
//! strings as strings, unset optional fields `null`, `is_success` true and no error fields.
//! Numbers sent as strings (api.md §1.7 rule 1) are accepted.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Shape helpers
// ---------------------------------------------------------------------------------------------

/// A documented JSON type. `Opt*` also allows `null` (an unset optional field).
#[derive(Clone, Copy, Debug)]
enum Ty {
    /// JSON string.
    Str,
    /// JSON integer (never a string, never a float).
    Int,
    /// JSON boolean.
    Bool,
    /// JSON object.
    Obj,
    /// JSON array.
    Arr,
    /// JSON string holding valid JSON.
    JsonStr,
    /// Present, any value (undocumented extras of the worked example, mostly `null`).
    Any,
    OptStr,
    OptInt,
    OptBool,
    OptArr,
}

fn has_type(v: &Value, ty: Ty) -> bool {
    let int = |v: &Value| v.is_i64() || v.is_u64();
    match ty {
        Ty::Str => v.is_string(),
        Ty::Int => int(v),
        Ty::Bool => v.is_boolean(),
        Ty::Obj => v.is_object(),
        Ty::Arr => v.is_array(),
        Ty::JsonStr => v
            .as_str()
            .is_some_and(|s| serde_json::from_str::<Value>(s).is_ok()),
        Ty::Any => true,
        Ty::OptStr => v.is_null() || v.is_string(),
        Ty::OptInt => v.is_null() || int(v),
        Ty::OptBool => v.is_null() || v.is_boolean(),
        Ty::OptArr => v.is_null() || v.is_array(),
    }
}

/// Every `(field, type)` is present in `obj` with that JSON type.
#[track_caller]
fn assert_shape(what: &str, obj: &Value, fields: &[(&str, Ty)]) {
    let map = obj
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {obj}"));
    for (name, ty) in fields {
        let v = map
            .get(*name)
            .unwrap_or_else(|| panic!("{what}: field `{name}` missing: {obj}"));
        assert!(
            has_type(v, *ty),
            "{what}: field `{name}` should be {ty:?}, is {v}\nwhole: {obj}"
        );
    }
}

/// Every key of `expected` has exactly that value in `obj` (`null` included).
#[track_caller]
fn assert_values(what: &str, obj: &Value, expected: Value) {
    for (k, want) in expected.as_object().unwrap() {
        let got = obj
            .get(k)
            .unwrap_or_else(|| panic!("{what}: field `{k}` missing: {obj}"));
        assert_eq!(got, want, "{what}: field `{k}`\nwhole: {obj}");
    }
}

/// A success answer: HTTP 200, `is_success` true, no `error_code`/`error_message`/`error_msg`.
#[track_caller]
fn ok(r: &Reply) -> Value {
    let b = r.assert_ok().clone();
    for f in ["error_code", "error_message", "error_msg"] {
        assert!(b.get(f).is_none(), "success body carries `{f}`: {b}");
    }
    assert_eq!(b["is_success"], json!(true));
    b
}

/// The bare success body of the action endpoints: exactly `{"is_success": true}`.
#[track_caller]
fn assert_bare_success(r: &Reply) {
    ok(r);
    assert_eq!(r.body, json!({"is_success": true}));
}

/// A position token of TJ-12: a string holding a decimal integer.
#[track_caller]
fn token(v: &Value) -> u128 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("position token should be a string: {v}"));
    s.parse()
        .unwrap_or_else(|_| panic!("position token should be decimal: {s}"))
}

/// §2.1 items: `{"label": str, "value": str}` and nothing else.
#[track_caller]
fn assert_parameters(what: &str, params: &Value) {
    for p in params
        .as_array()
        .unwrap_or_else(|| panic!("{what}: parameter not an array: {params}"))
    {
        assert_shape(what, p, &[("label", Ty::Str), ("value", Ty::Str)]);
        assert_eq!(
            p.as_object().unwrap().len(),
            2,
            "{what}: parameter item {p}"
        );
    }
}

/// §2.5: all nine keys, eight series of strings and an integer `interval`.
#[track_caller]
fn assert_system_metrics(what: &str, m: &Value) {
    let series = [
        "cpuUsage",
        "memUsage",
        "gpuUtil",
        "gpuMemUsage",
        "diskReadRate",
        "diskWriteRate",
        "recvBytesRate",
        "sendBytesRate",
    ];
    for key in series {
        let arr = m[key]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: system_metric_list.{key} not an array: {m}"));
        assert!(
            arr.iter().all(Value::is_string),
            "{what}: {key} values must be strings: {m}"
        );
    }
    assert!(
        has_type(&m["interval"], Ty::Int),
        "{what}: interval must be an integer: {m}"
    );
}

/// TJ-01 / TJ-06 response (worked example: numbers are numbers, INC-01).
const CREATE_FIELDS: &[(&str, Ty)] = &[
    ("is_success", Ty::Bool),
    ("job_id", Ty::Int),
    ("job_name", Ty::Str),
    ("status", Ty::Int),
    ("create_time", Ty::Int),
    ("version_id", Ty::Int),
    ("resource_id", Ty::Str),
    ("version_name", Ty::Str),
];

/// Fields of a version common to TJ-03 and TJ-05 items (the TJ-03 table, `gpu` of TJ-05 and
/// the worked example's extras). `system_metric_list` is checked apart: its type differs.
const VERSION_FIELDS: &[(&str, Ty)] = &[
    ("version_id", Ty::Int),
    ("version_name", Ty::Str),
    ("pre_version_id", Ty::OptInt),
    ("engine_type", Ty::Int),
    ("engine_name", Ty::Str),
    ("engine_id", Ty::Int),
    ("engine_version", Ty::Str),
    ("status", Ty::Int),
    ("app_url", Ty::OptStr),
    ("boot_file_url", Ty::OptStr),
    ("create_time", Ty::Int),
    ("parameter", Ty::Arr),
    ("duration", Ty::Int),
    ("spec_id", Ty::Int),
    ("core", Ty::Str),
    ("cpu", Ty::Str),
    ("gpu", Ty::Bool),
    ("gpu_num", Ty::Int),
    ("gpu_type", Ty::Str),
    ("worker_server_num", Ty::Int),
    ("data_url", Ty::OptStr),
    ("train_url", Ty::OptStr),
    ("log_url", Ty::OptStr),
    ("dataset_version_id", Ty::OptStr),
    ("dataset_id", Ty::OptStr),
    ("data_source", Ty::OptArr),
    ("model_id", Ty::OptInt),
    ("model_metric_list", Ty::JsonStr),
    ("user_image_url", Ty::OptStr),
    ("user_command", Ty::OptStr),
    ("resource_id", Ty::Str),
    ("dataset_name", Ty::OptStr),
    ("spec_code", Ty::Str),
    ("start_time", Ty::OptInt),
    ("volumes", Ty::OptArr),
    ("dataset_version_name", Ty::OptStr),
    ("pool_name", Ty::OptStr),
    ("pool_id", Ty::OptStr),
    ("nas_mount_path", Ty::OptStr),
    ("nas_share_addr", Ty::OptStr),
    ("nas_type", Ty::OptStr),
    // Worked example extras (api.md TJ-03, INC-29).
    ("flavor_code", Ty::OptStr),
    ("max_num", Ty::OptInt),
    ("storage", Ty::OptStr),
    ("no_resource", Ty::OptBool),
    ("job_type", Ty::Int),
    ("pool_type", Ty::Str),
    ("pod_version", Ty::OptStr),
    ("task_summary", Ty::Obj),
    ("model_outputs", Ty::Arr),
    ("error_result", Ty::Any),
    ("user_frame_image", Ty::Any),
    ("is_zombie", Ty::Any),
    ("outputs", Ty::Any),
    ("inputs", Ty::Any),
    ("algorithm_id", Ty::Any),
    ("autosearch_config", Ty::Any),
    ("retrain_model_id", Ty::Any),
    ("npu_info", Ty::Any),
];

/// TJ-03: the version fields plus the job fields, metrics as an object.
#[track_caller]
fn assert_version_detail(what: &str, v: &Value) {
    assert_shape(
        what,
        v,
        &[
            ("is_success", Ty::Bool),
            ("job_id", Ty::Int),
            ("job_name", Ty::Str),
            ("job_desc", Ty::Str),
            ("system_metric_list", Ty::Obj),
        ],
    );
    assert_shape(what, v, VERSION_FIELDS);
    assert_parameters(what, &v["parameter"]);
    assert_system_metrics(what, &v["system_metric_list"]);
    assert!(
        serde_json::from_str::<Value>(v["model_metric_list"].as_str().unwrap())
            .unwrap()
            .is_object()
    );
    for f in ["error_code", "error_message"] {
        assert!(v.get(f).is_none(), "{what}: success body carries `{f}`");
    }
}

/// TJ-05 item: the version fields, no job fields, metrics as a JSON-encoded string.
#[track_caller]
fn assert_version_item(what: &str, v: &Value) {
    assert_shape(what, v, VERSION_FIELDS);
    assert_shape(what, v, &[("system_metric_list", Ty::JsonStr)]);
    assert_parameters(what, &v["parameter"]);
    let metrics: Value = serde_json::from_str(v["system_metric_list"].as_str().unwrap()).unwrap();
    assert_system_metrics(what, &metrics);
    for f in ["job_id", "job_name", "job_desc", "is_success"] {
        assert!(
            v.get(f).is_none(),
            "{what}: TJ-05 items carry no `{f}`: {v}"
        );
    }
}

/// TJ-02 response and its items.
#[track_caller]
fn assert_job_list(b: &Value) {
    assert_shape(
        "TJ-02",
        b,
        &[
            ("is_success", Ty::Bool),
            ("job_total_count", Ty::Int),
            ("job_count_limit", Ty::Int),
            ("jobs", Ty::Arr),
            ("quotas", Ty::Int),
        ],
    );
    for j in b["jobs"].as_array().unwrap() {
        assert_shape(
            "TJ-02 jobs[]",
            j,
            &[
                ("job_id", Ty::Int),
                ("job_name", Ty::Str),
                ("version_id", Ty::Int),
                ("status", Ty::Int),
                ("create_time", Ty::Int),
                ("duration", Ty::Int),
                ("job_desc", Ty::Str),
                ("version_count", Ty::Int),
            ],
        );
    }
}

/// TJ-05 response and its items.
#[track_caller]
fn assert_version_list(b: &Value) {
    assert_shape(
        "TJ-05",
        b,
        &[
            ("is_success", Ty::Bool),
            ("job_id", Ty::Int),
            ("job_name", Ty::Str),
            ("job_desc", Ty::Str),
            ("version_count", Ty::Int),
            ("versions", Ty::Arr),
        ],
    );
    for v in b["versions"].as_array().unwrap() {
        assert_version_item("TJ-05 versions[]", v);
    }
}

/// TJ-01/TJ-06 response; returns (job_id, version_id).
#[track_caller]
fn assert_created(what: &str, r: &Reply, job_name: &str, version_name: &str) -> (i64, i64) {
    let b = ok(r);
    assert_shape(what, &b, CREATE_FIELDS);
    assert_values(
        what,
        &b,
        json!({"job_name": job_name, "version_name": version_name, "status": JobStatus::INIT}),
    );
    assert!(
        b["create_time"].as_i64().unwrap() > 1_600_000_000_000,
        "{what}: create_time in ms: {b}"
    );
    assert!(!b["resource_id"].as_str().unwrap().is_empty());
    (
        b["job_id"].as_i64().unwrap(),
        b["version_id"].as_i64().unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// The spec's sample bodies (verbatim from api.md)
// ---------------------------------------------------------------------------------------------

const DATASET_ID: &str = "38277e62-9e59-48f4-8d89-c8cf41622c24";
const DATASET_VERSION_ID: &str = "2ff0d6ba-c480-45ae-be41-09a8369bfc90";
const WORKSPACE: &str = "af261af2218841ec960b01ab3cf1a5fa";

/// TJ-01 sample request 1 (EN: dataset input, `model_id`, `pool_id`).
fn tj01_sample1() -> Value {
    json!({
        "job_name": "TestModelArtsJob",
        "job_desc": "This is a ModelArts job",
        "workspace_id": "af261af2218841ec960b01ab3cf1a5fa",
        "config": {
            "worker_server_num": 1,
            "app_url": "/usr/app/",
            "boot_file_url": "/usr/app/boot.py",
            "parameter": [
                {"label": "learning_rate", "value": "0.01"},
                {"label": "batch_size", "value": "32"}
            ],
            "dataset_id": "38277e62-9e59-48f4-8d89-c8cf41622c24",
            "dataset_version_id": "2ff0d6ba-c480-45ae-be41-09a8369bfc90",
            "spec_id": 1,
            "engine_id": 1,
            "train_url": "/usr/train/",
            "log_url": "/usr/log/",
            "model_id": 1,
            "pool_id": "testpool"
        }
    })
}

/// TJ-01 sample request 2 (EN: custom image).
fn tj01_sample2() -> Value {
    json!({
        "job_name": "TestModelArtsJob2",
        "job_desc": "This is a ModelArts job",
        "workspace_id": "af261af2218841ec960b01ab3cf1a5fa",
        "config": {
            "worker_server_num": 1,
            "data_url": "/usr/data/",
            "app_url": "/usr/app/",
            "boot_file_url": "/usr/app/boot.py",
            "parameter": [
                {"label": "CUSTOM_PARAM1", "value": "1"}
            ],
            "spec_id": 1,
            "user_command": "bash -x /home/work/run_train.sh python /home/work/user-job-dir/app/mnist/mnist_softmax.py --data_url /home/work/user-job-dir/app/mnist_data",
            "user_image_url": "100.125.5.235:20202/jobmng/custom-cpu-base:1.0",
            "train_url": "/usr/train/",
            "log_url": "/usr/log/",
            "model_id": 1,
            "pool_id": "testpool",
            "engine_id": 1
        }
    })
}

fn sample_volumes() -> Value {
    json!([
        {
            "nfs": {
                "id": "43b37236-9afa-4855-8174-32254b9562e7",
                "src_path": "192.168.8.150:/",
                "dest_path": "/home/work/nas",
                "read_only": false
            }
        },
        {
            "host_path": {
                "src_path": "/root/work",
                "dest_path": "/home/mind",
                "read_only": false
            }
        }
    ])
}

/// TJ-01 sample request 3 (EN: storage volumes).
fn tj01_sample3() -> Value {
    json!({
        "job_name": "TestModelArtsJob3",
        "job_desc": "This is a ModelArts job",
        "workspace_id": "af261af2218841ec960b01ab3cf1a5fa",
        "config": {
            "worker_server_num": 1,
            "app_url": "/usr/app/",
            "boot_file_url": "/usr/app/boot.py",
            "parameter": [
                {"label": "learning_rate", "value": "0.01"},
                {"label": "batch_size", "value": "32"}
            ],
            "dataset_id": "38277e62-9e59-48f4-8d89-c8cf41622c24",
            "dataset_version_id": "2ff0d6ba-c480-45ae-be41-09a8369bfc90",
            "spec_id": 1,
            "engine_id": 1,
            "train_url": "/usr/train/",
            "log_url": "/usr/log/",
            "model_id": 1,
            "pool_id": "testpool",
            "volumes": sample_volumes()
        }
    })
}

/// TJ-01 sample request 4 (the worked example: `flavor.code`, OBS `data_source`, `notification`).
fn tj01_sample4() -> Value {
    json!({
        "job_name": "jobtest_TF",
        "job_desc": "Use TensorFlow to recognize handwritten digits.",
        "config": {
            "worker_server_num": 1,
            "parameter": [],
            "flavor": {
                "code": "modelarts.vm.cpu.8u"
            },
            "train_url": "/test-modelarts/mnist-model/output/",
            "engine_id": 4,
            "app_url": "/test-modelarts/mnist-tensorflow-code/",
            "boot_file_url": "/test-modelarts/mnist-tensorflow-code/train_mnist_tf.py",
            "data_source": [
                {
                    "type": "obs",
                    "data_url": "/test-modelarts/dataset-mnist/"
                }
            ]
        },
        "notification": {
            "topic_urn": "",
            "events": []
        },
        "workspace_id": "0"
    })
}

/// TJ-06 sample request (EN), `pre_version_id` replaced by a real version.
fn tj06_sample(pre_version_id: Value) -> Value {
    json!({
        "job_desc": "This is a ModelArts job",
        "config": {
            "worker_server_num": 1,
            "app_url": "/usr/app/",
            "boot_file_url": "/usr/app/boot.py",
            "parameter": [
                {"label": "learning_rate", "value": "0.01"},
                {"label": "batch_size", "value": "32"}
            ],
            "dataset_id": "38277e62-9e59-48f4-8d89-c8cf41622c24",
            "dataset_version_id": "2ff0d6ba-c480-45ae-be41-09a8369bfc90",
            "spec_id": 1,
            "engine_id": 1,
            "train_url": "/usr/train/",
            "log_url": "/usr/log/",
            "pre_version_id": pre_version_id,
            "model_id": 1,
            "pool_id": "test-pool"
        }
    })
}

/// TC-01 sample request (EN).
fn tc01_sample() -> Value {
    json!({
        "config_name": "testConfig",
        "config_desc": "This is config",
        "worker_server_num": 1,
        "app_url": "/usr/app/",
        "boot_file_url": "/usr/app/boot.py",
        "parameter": [
            {"label": "learning_rate", "value": "0.01"},
            {"label": "batch_size", "value": "32"}
        ],
        "spec_id": 1,
        "dataset_id": "38277e62-9e59-48f4-8d89-c8cf41622c24",
        "dataset_version_id": "2ff0d6ba-c480-45ae-be41-09a8369bfc90",
        "engine_id": 1,
        "train_url": "/usr/train/",
        "log_url": "/usr/log/",
        "model_id": 1
    })
}

/// TC-03 sample request (EN: numeric parameter values).
fn tc03_sample_en() -> Value {
    json!({
        "config_desc": "This is config",
        "worker_server_num": 1,
        "app_url": "/usr/app/",
        "boot_file_url": "/usr/app/boot.py",
        "parameter": [
            {"label": "learning_rate", "value": 0.01},
            {"label": "batch_size", "value": 32}
        ],
        "spec_id": 1,
        "dataset_id": "38277e62-9e59-48f4-8d89-c8cf41622c24",
        "dataset_version_id": "2ff0d6ba-c480-45ae-be41-09a8369bfc90",
        "engine_id": 1,
        "train_url": "/usr/train/",
        "log_url": "/usr/log/",
        "model_id": 1
    })
}

/// TC-03 sample request (ZH: second parameter uses `key`, no `model_id`).
fn tc03_sample_zh() -> Value {
    json!({
        "config_desc": "This is config",
        "worker_server_num": 1,
        "app_url": "/usr/app/",
        "boot_file_url": "/usr/app/boot.py",
        "parameter": [
            {"label": "learning_rate", "value": 0.01},
            {"key": "batch_size", "value": 32}
        ],
        "spec_id": 1,
        "dataset_id": "38277e62-9e59-48f4-8d89-c8cf41622c24",
        "dataset_version_id": "2ff0d6ba-c480-45ae-be41-09a8369bfc90",
        "engine_id": 1,
        "train_url": "/usr/train/",
        "log_url": "/usr/log/"
    })
}

// ---------------------------------------------------------------------------------------------
// Storage the samples point at
// ---------------------------------------------------------------------------------------------

/// A boot file that prints twelve numbered lines and ends.
const PRINT_BOOT: &str = "for i in range(1, 13):\n    print('sample line %d' % i, flush=True)\n";

/// `/usr/app/boot.py`, the sample dataset version, `/usr/data/` and the worked example's code
/// and data, all below the project's storage.
fn prepare_storage(srv: &TestServer, boot: &str) {
    srv.write_app("usr/app", &[("boot.py", boot)]);
    srv.write_app("usr/data", &[("data.csv", "x,y\n1,5\n2,8\n3,11\n4,14\n")]);
    srv.write_app(
        &format!("datasets/{DATASET_ID}/{DATASET_VERSION_ID}"),
        &[("data.csv", "x,y\n1,5\n2,8\n3,11\n4,14\n")],
    );
    srv.write_app(
        "test-modelarts/mnist-tensorflow-code",
        &[("train_mnist_tf.py", boot)],
    );
    srv.write_app(
        "test-modelarts/dataset-mnist",
        &[("data.csv", "x,y\n1,5\n2,8\n")],
    );
}

const RUN_WITHIN: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// TJ-01 samples and TJ-03 details
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tj01_sample_requests_answer_the_documented_shape() {
    let srv =
        TestServer::start_with("[executor]\ncores = 64\nmemory_gb = 256\nstop_grace_seconds = 2\n")
            .await;
    prepare_storage(&srv, PRINT_BOOT);
    let api = &srv.api;

    // Samples 1 and 4 are accepted.
    let (j1, v1) = assert_created(
        "TJ-01 sample 1",
        &api.post("/training-jobs", tj01_sample1()).await,
        "TestModelArtsJob",
        "V0001",
    );
    // Sample 3 asks for an NFS volume and a host_path volume on a host job: refused, naming
    // what would make it work, rather than run without them (README: request fields).
    let r3 = api.post("/training-jobs", tj01_sample3()).await;
    r3.assert_error(400, "ModelArts.0101");
    let m3 = r3.body["error_message"].as_str().unwrap();
    assert!(
        m3.contains("volumes[0].nfs") && m3.contains("host_path"),
        "{m3}"
    );
    let (j4, v4) = assert_created(
        "TJ-01 sample 4",
        &api.post("/training-jobs", tj01_sample4()).await,
        "jobtest_TF",
        "V0001",
    );

    // The documented duplicate-name failure, with its sample message.
    let dup = api.post("/training-jobs", tj01_sample1()).await;
    dup.assert_error(400, "ModelArts.0103");
    assert_eq!(
        dup.body["error_message"],
        json!("Job name:TestModelArtsJob is existed")
    );

    for (j, v) in [(j1, v1), (j4, v4)] {
        assert_eq!(
            api.wait_status(
                j,
                v,
                &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
                RUN_WITHIN
            )
            .await,
            JobStatus::COMPLETED,
            "job {j} version {v}"
        );
    }

    // TJ-03 sample request (GET .../training-jobs/10/versions/10) for each.
    let d1 = ok(&api.get(&format!("/training-jobs/{j1}/versions/{v1}")).await);
    assert_version_detail("TJ-03 of sample 1", &d1);
    assert_values(
        "TJ-03 of sample 1",
        &d1,
        json!({
            "job_id": j1,
            "job_name": "TestModelArtsJob",
            "job_desc": "This is a ModelArts job",
            "version_id": v1,
            "version_name": "V0001",
            "pre_version_id": null,
            "status": JobStatus::COMPLETED,
            "parameter": [{"label": "learning_rate", "value": "0.01"}, {"label": "batch_size", "value": "32"}],
            "spec_id": 1,
            "spec_code": "modelarts.vm.cpu.1u",
            "gpu_num": 0,
            "gpu_type": "",
            "gpu": false,
            "worker_server_num": 1,
            "data_url": null,
            "data_source": null,
            "dataset_id": DATASET_ID,
            "dataset_version_id": DATASET_VERSION_ID,
            "train_url": "/usr/train/",
            "log_url": "/usr/log/",
            "model_id": 1,
            "user_image_url": null,
            "user_command": null,
            "volumes": null,
            "pool_id": "testpool",
            "nas_mount_path": null,
            "nas_share_addr": null,
            "nas_type": null,
            "job_type": 1,
        }),
    );
    assert!(
        d1["start_time"].as_i64().is_some(),
        "a run that ran has a start_time: {d1}"
    );

    // The worked example's real TJ-03 response, field by field where the request decides it.
    let d4 = ok(&api.get(&format!("/training-jobs/{j4}/versions/{v4}")).await);
    assert_version_detail("TJ-03 of sample 4", &d4);
    assert_values(
        "TJ-03 of sample 4",
        &d4,
        json!({
            "job_name": "jobtest_TF",
            "job_desc": "Use TensorFlow to recognize handwritten digits.",
            "version_name": "V0001",
            "pre_version_id": null,
            "status": JobStatus::COMPLETED,
            "spec_id": 27,
            "spec_code": "modelarts.vm.cpu.8u",
            "flavor_code": "modelarts.vm.cpu.8u",
            "core": "8",
            "cpu": "32",
            "gpu_num": 0,
            "gpu_type": "",
            "max_num": 1,
            "storage": "",
            "no_resource": false,
            "engine_id": 4,
            "engine_type": 1,
            "engine_name": "TensorFlow",
            "engine_version": "TF-1.8.0-python3.6",
            "parameter": [],
            "train_url": "/test-modelarts/mnist-model/output/",
            "app_url": "/test-modelarts/mnist-tensorflow-code/",
            "boot_file_url": "/test-modelarts/mnist-tensorflow-code/train_mnist_tf.py",
            "data_url": "/test-modelarts/dataset-mnist/",
            "data_source": [{"type": "obs", "data_url": "/test-modelarts/dataset-mnist/"}],
            "dataset_id": null,
            "dataset_version_id": null,
            "model_id": null,
            "log_url": null,
            "user_image_url": null,
            "user_command": null,
            "volumes": null,
            "nas_mount_path": null,
            "nas_share_addr": null,
            "nas_type": null,
            "worker_server_num": 1,
            "job_type": 1,
            "pool_type": "SYSTEM_DEFINED",
            "model_metric_list": "{}",
            "task_summary": {},
            "model_outputs": [],
        }),
    );

    // TJ-02 sample query as printed (status=7): nothing is waiting any more.
    let waiting =
        ok(&api.get("/training-jobs?status=7&per_page=10&page=1&sortBy=job_name&order=asc&search_content=job").await);
    assert_job_list(&waiting);
    assert_values(
        "TJ-02 status=7",
        &waiting,
        json!({"job_total_count": 0, "jobs": []}),
    );

    // Unknown version: the documented failure shape.
    api.get(&format!("/training-jobs/{j4}/versions/{}", v4 + 1000))
        .await
        .assert_error(400, "ModelArts.0105");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tj01_sample2_custom_image_without_a_runtime_answers_the_documented_failure() {
    // A server without a container runtime refuses custom-image jobs with ModelArts.2810, in
    // the documented failure shape, whichever edition's sample is sent (containers.rs runs
    // the sample in a container).
    let srv = TestServer::start_with(
        "[executor]\ncores = 64\nmemory_gb = 256\ncontainer_runtime = \"none\"\n",
    )
    .await;
    prepare_storage(&srv, PRINT_BOOT);
    let api = &srv.api;

    // ZH copy of sample 2: no boot_file_url, model_id, pool_id, engine_id.
    let mut zh = tj01_sample2();
    let cfg = zh["config"].as_object_mut().unwrap();
    for k in ["boot_file_url", "model_id", "pool_id", "engine_id"] {
        cfg.remove(k);
    }
    api.post("/training-jobs", zh)
        .await
        .assert_error(400, "ModelArts.2810");

    // EN sample 2 verbatim: it also carries `model_id` 1, but it asks for a custom image.
    api.post("/training-jobs", tj01_sample2())
        .await
        .assert_error(400, "ModelArts.2810");
    let jobs = ok(&api.get("/training-jobs").await);
    assert_eq!(
        jobs["job_total_count"],
        json!(0),
        "no job was created: {jobs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tj01_numbers_sent_as_strings_are_accepted() {
    let srv = TestServer::start().await;
    prepare_storage(&srv, PRINT_BOOT);
    let api = &srv.api;

    // Sample 1 with every numeric field a string.
    let mut body = tj01_sample1();
    body["job_name"] = json!("TestModelArtsJobStrings");
    for (k, v) in [
        ("worker_server_num", "1"),
        ("spec_id", "1"),
        ("engine_id", "1"),
        ("model_id", "1"),
    ] {
        body["config"][k] = json!(v);
    }
    let (j1, v1) = assert_created(
        "TJ-01 strings",
        &api.post("/training-jobs", body).await,
        "TestModelArtsJobStrings",
        "V0001",
    );

    // The ZH sample 1 (code + engine, no model_id/pool_id) with numeric strings.
    let mut zh = tj01_sample1();
    zh["job_name"] = json!("TestModelArtsJobZh");
    let cfg = zh["config"].as_object_mut().unwrap();
    cfg.remove("model_id");
    cfg.remove("pool_id");
    cfg.insert("worker_server_num".into(), json!("1"));
    cfg.insert("spec_id".into(), json!("1"));
    cfg.insert("engine_id".into(), json!("1"));
    let (j2, v2) = assert_created(
        "TJ-01 ZH strings",
        &api.post("/training-jobs", zh).await,
        "TestModelArtsJobZh",
        "V0001",
    );

    assert_eq!(
        api.wait_status(
            j1,
            v1,
            &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
            RUN_WITHIN
        )
        .await,
        JobStatus::COMPLETED
    );
    assert_eq!(
        api.wait_status(
            j2,
            v2,
            &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
            RUN_WITHIN
        )
        .await,
        JobStatus::COMPLETED
    );

    let d1 = ok(&api.get(&format!("/training-jobs/{j1}/versions/{v1}")).await);
    assert_version_detail("TJ-03 strings", &d1);
    assert_values(
        "TJ-03 strings",
        &d1,
        json!({"worker_server_num": 1, "spec_id": 1, "model_id": 1}),
    );
    let d2 = ok(&api.get(&format!("/training-jobs/{j2}/versions/{v2}")).await);
    assert_version_detail("TJ-03 ZH strings", &d2);
    assert_values(
        "TJ-03 ZH strings",
        &d2,
        json!({
            "worker_server_num": 1, "spec_id": 1, "engine_id": 1, "engine_type": 1,
            "engine_name": "TensorFlow", "engine_version": "TF-1.4.0-python2.7",
            "model_id": null, "pool_id": null, "app_url": "/usr/app/", "boot_file_url": "/usr/app/boot.py",
        }),
    );
    assert!(api
        .log(j2, v2, "TestModelArtsJobZh.0")
        .await
        .contains("sample line 12"));

    // TJ-06 with the version to derive from given as a string, and numeric query values.
    let mut v = tj06_sample(json!(v2.to_string()));
    v["config"]["worker_server_num"] = json!("1");
    v["config"]["spec_id"] = json!("1");
    let (_, v3) = assert_created(
        "TJ-06 strings",
        &api.post(&format!("/training-jobs/{j2}/versions/"), v).await,
        "TestModelArtsJobZh",
        "V0002",
    );
    let list = ok(&api
        .get(&format!("/training-jobs/{j2}/versions?per_page=5&page=1"))
        .await);
    assert_version_list(&list);
    assert_eq!(list["versions"][0]["version_id"], json!(v3));
    assert_eq!(list["versions"][0]["pre_version_id"], json!(v2));
    api.wait_status(
        j2,
        v3,
        &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
        RUN_WITHIN,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Versions, list, description, logs, delete (TJ-02, TJ-04..TJ-06, TJ-08..TJ-10, TJ-12)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_list_log_and_delete_samples() {
    let srv = TestServer::start().await;
    prepare_storage(&srv, PRINT_BOOT);
    let api = &srv.api;

    let (job, v1) = assert_created(
        "TJ-01 sample 1",
        &api.post("/training-jobs", tj01_sample1()).await,
        "TestModelArtsJob",
        "V0001",
    );
    assert_eq!(
        api.wait_status(
            job,
            v1,
            &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
            RUN_WITHIN
        )
        .await,
        JobStatus::COMPLETED
    );

    // TJ-06 sample: POST .../versions/ (trailing slash), pre_version_id a real version.
    let r = api
        .post(
            &format!("/training-jobs/{job}/versions/"),
            tj06_sample(json!(v1)),
        )
        .await;
    let (j, v2) = assert_created("TJ-06 sample", &r, "TestModelArtsJob", "V0002");
    assert_eq!(j, job);
    assert_eq!(
        api.wait_status(
            job,
            v2,
            &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
            RUN_WITHIN
        )
        .await,
        JobStatus::COMPLETED
    );

    // TJ-05 sample query: version_count is the total, newest first.
    let list = ok(&api
        .get(&format!("/training-jobs/{job}/versions?per_page=5&page=1"))
        .await);
    assert_version_list(&list);
    assert_values(
        "TJ-05",
        &list,
        json!({"job_id": job, "job_name": "TestModelArtsJob", "job_desc": "This is a ModelArts job", "version_count": 2}),
    );
    let versions = list["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_values(
        "TJ-05 versions[0]",
        &versions[0],
        json!({"version_id": v2, "version_name": "V0002", "pre_version_id": v1, "pool_id": "test-pool", "status": JobStatus::COMPLETED}),
    );
    assert_values(
        "TJ-05 versions[1]",
        &versions[1],
        json!({"version_id": v1, "version_name": "V0001", "pre_version_id": null}),
    );
    let one = ok(&api
        .get(&format!("/training-jobs/{job}/versions?per_page=1&page=1"))
        .await);
    assert_version_list(&one);
    assert_eq!(
        one["version_count"],
        json!(2),
        "version_count is the total, not the page size"
    );
    assert_eq!(one["versions"].as_array().unwrap().len(), 1);

    // TJ-03 of the new version.
    let d2 = ok(&api
        .get(&format!("/training-jobs/{job}/versions/{v2}"))
        .await);
    assert_version_detail("TJ-03 of V0002", &d2);
    assert_values(
        "TJ-03 of V0002",
        &d2,
        json!({"pre_version_id": v1, "version_name": "V0002", "job_id": job}),
    );

    // TJ-08 sample.
    assert_bare_success(
        &api.put(
            &format!("/training-jobs/{job}"),
            json!({"job_desc": "This is a ModelArts job"}),
        )
        .await,
    );

    // TJ-02 sample query (status adapted to the finished state; the job's workspace named).
    let q = format!("/training-jobs?status=10&per_page=10&page=1&sortBy=job_name&order=asc&search_content=job&workspace_id={WORKSPACE}");
    let jobs = ok(&api.get(&q).await);
    assert_job_list(&jobs);
    assert_eq!(jobs["job_total_count"], json!(1), "{jobs}");
    assert_values(
        "TJ-02 jobs[0]",
        &jobs["jobs"][0],
        json!({
            "job_id": job, "job_name": "TestModelArtsJob", "version_id": v2, "status": JobStatus::COMPLETED,
            "job_desc": "This is a ModelArts job", "version_count": 2,
        }),
    );

    // TJ-10 sample.
    let names = ok(&api
        .get(&format!(
            "/training-jobs/{job}/versions/{v2}/log/file-names"
        ))
        .await);
    assert_shape(
        "TJ-10",
        &names,
        &[("is_success", Ty::Bool), ("log_file_list", Ty::Arr)],
    );
    let files = names["log_file_list"].as_array().unwrap();
    assert_eq!(files.len(), 1, "one file for a single-node job: {names}");
    let file = files[0]
        .as_str()
        .expect("log file names are strings")
        .to_owned();

    // TJ-12, the worked example's query: log_file=...&lines=8&order=desc.
    let aom = [
        ("is_success", Ty::Bool),
        ("content", Ty::Str),
        ("lines", Ty::Int),
        ("start_line", Ty::Str),
        ("end_line", Ty::Str),
    ];
    let last = ok(&api
        .get(&format!(
            "/training-jobs/{job}/versions/{v2}/aom-log?log_file={file}&lines=8&order=desc"
        ))
        .await);
    assert_shape("TJ-12", &last, &aom);
    assert_eq!(last["lines"], json!(8), "{last}");
    assert_eq!(
        last["content"].as_str().unwrap().lines().count(),
        8,
        "{last}"
    );
    let (start, end) = (token(&last["start_line"]), token(&last["end_line"]));
    assert!(start < end, "{last}");

    // The reference sample's query, with its stray space after `base_line=`.
    let start_text = last["start_line"].as_str().unwrap();
    let after =
        ok(&api.get(&format!("/training-jobs/{job}/versions/{v2}/aom-log?log_file={file}&base_line= {start_text}&lines=50&order=desc")).await);
    assert_shape("TJ-12 base_line", &after, &aom);
    assert_eq!(
        after["lines"],
        json!(7),
        "the lines strictly after the token: {after}"
    );
    assert_eq!(token(&after["end_line"]), end, "{after}");
    assert!(token(&after["start_line"]) > start, "{after}");
    let first_line = last["content"]
        .as_str()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert!(
        !after["content"].as_str().unwrap().contains(&first_line),
        "{after}"
    );
    let before =
        ok(&api.get(&format!("/training-jobs/{job}/versions/{v2}/aom-log?log_file={file}&base_line= {start_text}&lines=3&order=asc")).await);
    assert_shape("TJ-12 asc", &before, &aom);
    assert_eq!(before["lines"], json!(3), "{before}");
    assert!(token(&before["end_line"]) < start, "{before}");

    // TJ-04 sample: delete a version.
    assert_bare_success(
        &api.delete(&format!("/training-jobs/{job}/versions/{v1}"))
            .await,
    );
    api.get(&format!("/training-jobs/{job}/versions/{v1}"))
        .await
        .assert_error(400, "ModelArts.0105");
    let list = ok(&api
        .get(&format!("/training-jobs/{job}/versions?per_page=5&page=1"))
        .await);
    assert_version_list(&list);
    assert_eq!(list["version_count"], json!(1));
    assert_eq!(list["versions"][0]["version_id"], json!(v2));

    // TJ-09 sample: delete the job.
    assert_bare_success(&api.delete(&format!("/training-jobs/{job}")).await);
    api.get(&format!("/training-jobs/{job}/versions"))
        .await
        .assert_error(400, "ModelArts.0105");
    let jobs = ok(&api.get(&q).await);
    assert_job_list(&jobs);
    assert_eq!(jobs["job_total_count"], json!(0), "{jobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tj02_lists_workspace_0_when_no_workspace_is_named() {
    // api.md TJ-02: `workspace_id` defaults to "0" ("only jobs of this workspace").
    let srv = TestServer::start().await;
    prepare_storage(&srv, PRINT_BOOT);
    let api = &srv.api;
    let (j1, v1) = assert_created(
        "TJ-01 sample 1",
        &api.post("/training-jobs", tj01_sample1()).await,
        "TestModelArtsJob",
        "V0001",
    );
    let (j4, v4) = assert_created(
        "TJ-01 sample 4",
        &api.post("/training-jobs", tj01_sample4()).await,
        "jobtest_TF",
        "V0001",
    );
    api.wait_status(
        j1,
        v1,
        &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
        RUN_WITHIN,
    )
    .await;
    api.wait_status(
        j4,
        v4,
        &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
        RUN_WITHIN,
    )
    .await;

    let named = ok(&api.get(&format!("/training-jobs?per_page=10&page=1&sortBy=job_name&order=asc&search_content=job&workspace_id={WORKSPACE}")).await);
    assert_job_list(&named);
    assert_eq!(named["job_total_count"], json!(1), "{named}");
    assert_eq!(named["jobs"][0]["job_id"], json!(j1));

    let default = ok(&api
        .get("/training-jobs?per_page=10&page=1&sortBy=job_name&order=asc&search_content=job")
        .await);
    assert_job_list(&default);
    assert_eq!(
        default["job_total_count"],
        json!(1),
        "only workspace \"0\" by default: {default}"
    );
    assert_eq!(default["jobs"][0]["job_id"], json!(j4), "{default}");
}

// ---------------------------------------------------------------------------------------------
// TJ-07 stop
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tj07_stop_sample_stops_a_running_version() {
    let srv = TestServer::start().await;
    prepare_storage(
        &srv,
        "import time\nprint('started', flush=True)\ntime.sleep(60)\n",
    );
    let api = &srv.api;
    let (job, ver) = assert_created(
        "TJ-01 sample 4",
        &api.post("/training-jobs", tj01_sample4()).await,
        "jobtest_TF",
        "V0001",
    );
    api.wait_status(job, ver, &[JobStatus::RUNNING], RUN_WITHIN)
        .await;

    // The running version's details.
    let running = ok(&api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await);
    assert_version_detail("TJ-03 running", &running);
    assert!(running["start_time"].as_i64().is_some(), "{running}");

    // The sample: POST .../stop with no body.
    let url = api.url(&format!("/training-jobs/{job}/versions/{ver}/stop"));
    assert_bare_success(&api.raw("POST", &url, None, Some(TOKEN)).await);
    let now = api.status(job, ver).await;
    assert!(
        now == JobStatus::KILLING || now == JobStatus::KILLED,
        "the stop is visible at once, status {}",
        now.name()
    );
    assert_eq!(
        api.wait_status(job, ver, &[JobStatus::KILLED], Duration::from_secs(10))
            .await,
        JobStatus::KILLED
    );

    let stopped = ok(&api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await);
    assert_version_detail("TJ-03 stopped", &stopped);
    assert_eq!(stopped["status"], json!(JobStatus::KILLED));

    // A second stop: the documented failure.
    let again = api.raw("POST", &url, None, Some(TOKEN)).await;
    again.assert_error(400, "ModelArts.0105");
    assert_eq!(
        again.body["error_message"],
        json!("This job can't be stop. job status: 12")
    );
}

// ---------------------------------------------------------------------------------------------
// TJ-11 built-in algorithms
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tj11_built_in_algorithms_sample_with_its_double_slash() {
    let srv = TestServer::start().await;
    let api = &srv.api;
    let top = [
        ("is_success", Ty::Bool),
        ("model_total_count", Ty::Int),
        ("models", Ty::Arr),
    ];

    // Verbatim, double slash included.
    let url = format!("{}//v1/{PROJECT}/built-in-algorithms?per_page=10&page=1&sortBy=engine&order=asc&search_content=model", api.base);
    let b = ok(&api.raw("GET", &url, None, Some(TOKEN)).await);
    assert_shape("TJ-11 sample", &b, &top);
    assert_eq!(
        b["model_total_count"].as_i64().unwrap(),
        b["models"].as_array().unwrap().len() as i64
    );

    // The same query searching for the built-in that exists.
    let url = format!("{}//v1/{PROJECT}/built-in-algorithms?per_page=10&page=1&sortBy=engine&order=asc&search_content=linear", api.base);
    let b = ok(&api.raw("GET", &url, None, Some(TOKEN)).await);
    assert_shape("TJ-11", &b, &top);
    assert_eq!(b["model_total_count"], json!(1), "{b}");
    let m = &b["models"][0];
    assert_shape(
        "TJ-11 models[]",
        m,
        &[
            ("model_id", Ty::Int),
            ("model_name", Ty::Str),
            ("model_usage", Ty::Int),
            ("model_precision", Ty::Str),
            ("model_size", Ty::Int),
            ("model_train_dataset", Ty::Str),
            ("model_dataset_format", Ty::Str),
            ("model_description_url", Ty::Str),
            ("parameter", Ty::JsonStr),
            ("create_time", Ty::Int),
            ("engine_id", Ty::Int),
            ("engine_name", Ty::Str),
            ("engine_version", Ty::Str),
        ],
    );
    assert_eq!(m["model_id"], json!(1));
    let params: Value = serde_json::from_str(m["parameter"].as_str().unwrap()).unwrap();
    for p in params.as_array().expect("parameter decodes to an array") {
        assert_shape(
            "TJ-11 parameter[]",
            p,
            &[
                ("label", Ty::Str),
                ("value", Ty::Str),
                ("required", Ty::Bool),
                ("placeholder_cn", Ty::Str),
                ("placeholder_en", Ty::Str),
            ],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// TC-01..TC-05
// ---------------------------------------------------------------------------------------------

const CONFIG_SUMMARY_FIELDS: &[(&str, Ty)] = &[
    ("config_name", Ty::Str),
    ("config_desc", Ty::Str),
    ("create_time", Ty::Int),
    ("engine_type", Ty::Int),
    ("engine_name", Ty::Str),
    ("engine_id", Ty::Int),
    ("engine_version", Ty::Str),
    ("user_image_url", Ty::OptStr),
    ("user_command", Ty::OptStr),
];

const CONFIG_DETAIL_FIELDS: &[(&str, Ty)] = &[
    ("is_success", Ty::Bool),
    ("config_name", Ty::Str),
    ("config_desc", Ty::Str),
    ("worker_server_num", Ty::Int),
    ("app_url", Ty::OptStr),
    ("boot_file_url", Ty::OptStr),
    ("model_id", Ty::OptInt),
    ("parameter", Ty::Arr),
    ("spec_id", Ty::Int),
    ("data_url", Ty::OptStr),
    ("dataset_id", Ty::OptStr),
    ("dataset_version_id", Ty::OptStr),
    ("data_source", Ty::OptArr),
    ("engine_type", Ty::Int),
    ("engine_name", Ty::Str),
    ("engine_id", Ty::Int),
    ("engine_version", Ty::Str),
    ("train_url", Ty::OptStr),
    ("log_url", Ty::OptStr),
    ("user_image_url", Ty::OptStr),
    ("user_command", Ty::OptStr),
    ("spec_code", Ty::Str),
    ("gpu_type", Ty::Str),
    ("create_time", Ty::Int),
    ("cpu", Ty::Str),
    ("gpu_num", Ty::Int),
    ("core", Ty::Str),
    ("dataset_name", Ty::OptStr),
    ("dataset_version_name", Ty::OptStr),
    ("pool_id", Ty::OptStr),
    ("pool_name", Ty::OptStr),
    ("volumes", Ty::OptArr),
    ("nas_mount_path", Ty::OptStr),
    ("nas_share_addr", Ty::OptStr),
    ("nas_type", Ty::OptStr),
];

#[track_caller]
fn assert_config_detail(what: &str, b: &Value) {
    assert_shape(what, b, CONFIG_DETAIL_FIELDS);
    assert_parameters(what, &b["parameter"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tc_configuration_samples() {
    let srv = TestServer::start().await;
    prepare_storage(&srv, PRINT_BOOT);
    let api = &srv.api;

    // TC-01 sample.
    assert_bare_success(&api.post("/training-job-configs", tc01_sample()).await);

    // TC-02 sample query, verbatim ("configname" matches nothing here).
    let list_fields = [
        ("is_success", Ty::Bool),
        ("config_total_count", Ty::Int),
        ("configs", Ty::Arr),
    ];
    let none = ok(&api.get("/training-job-configs?per_page=10&page=1&sortBy=create_time&order=asc&search_content=configname").await);
    assert_shape("TC-02 sample", &none, &list_fields);
    assert_values(
        "TC-02 sample",
        &none,
        json!({"config_total_count": 0, "configs": []}),
    );
    // The same query with a search that matches.
    let list = ok(&api.get("/training-job-configs?per_page=10&page=1&sortBy=create_time&order=asc&search_content=config").await);
    assert_shape("TC-02", &list, &list_fields);
    assert_eq!(list["config_total_count"], json!(1), "{list}");
    let item = &list["configs"][0];
    assert_shape("TC-02 configs[]", item, CONFIG_SUMMARY_FIELDS);
    assert_values(
        "TC-02 configs[]",
        item,
        json!({
            "config_name": "testConfig", "config_desc": "This is config", "engine_id": 1, "engine_type": 1,
            "engine_name": "TensorFlow", "engine_version": "TF-1.4.0-python2.7",
            "user_image_url": null, "user_command": null,
        }),
    );

    // TC-05 sample (GET .../training-job-configs/config123, name adapted).
    let d = ok(&api.get("/training-job-configs/testConfig").await);
    assert_config_detail("TC-05", &d);
    assert_values(
        "TC-05",
        &d,
        json!({
            "config_name": "testConfig",
            "config_desc": "This is config",
            "worker_server_num": 1,
            "app_url": "/usr/app/",
            "boot_file_url": "/usr/app/boot.py",
            "model_id": 1,
            "parameter": [{"label": "learning_rate", "value": "0.01"}, {"label": "batch_size", "value": "32"}],
            "spec_id": 1,
            "spec_code": "modelarts.vm.cpu.1u",
            "core": "1",
            "gpu_num": 0,
            "gpu_type": "",
            "data_url": null,
            "dataset_id": DATASET_ID,
            "dataset_version_id": DATASET_VERSION_ID,
            "data_source": null,
            "engine_id": 1,
            "engine_type": 1,
            "engine_name": "TensorFlow",
            "engine_version": "TF-1.4.0-python2.7",
            "train_url": "/usr/train/",
            "log_url": "/usr/log/",
            "user_image_url": null,
            "user_command": null,
            "volumes": null,
            "pool_id": null,
            "nas_mount_path": null,
            "nas_share_addr": null,
            "nas_type": null,
        }),
    );
    let created = d["create_time"].as_i64().unwrap();

    // TC-03 sample (EN: numeric values), on the created name.
    assert_bare_success(
        &api.put("/training-job-configs/testConfig", tc03_sample_en())
            .await,
    );
    let d = ok(&api.get("/training-job-configs/testConfig").await);
    assert_config_detail("TC-05 after TC-03 EN", &d);
    assert_values(
        "TC-05 after TC-03 EN",
        &d,
        json!({
            "parameter": [{"label": "learning_rate", "value": "0.01"}, {"label": "batch_size", "value": "32"}],
            "model_id": 1,
            "create_time": created,
        }),
    );

    // TC-03 sample (ZH: `key` instead of `label`, no model_id).
    assert_bare_success(
        &api.put("/training-job-configs/testConfig", tc03_sample_zh())
            .await,
    );
    let d = ok(&api.get("/training-job-configs/testConfig").await);
    assert_config_detail("TC-05 after TC-03 ZH", &d);
    assert_values(
        "TC-05 after TC-03 ZH",
        &d,
        json!({
            "parameter": [{"label": "learning_rate", "value": "0.01"}, {"label": "batch_size", "value": "32"}],
            "model_id": null,
            "engine_id": 1,
        }),
    );

    // TC-01 with numbers as strings, and with the pool/volume fields TC-05 returns (INC-32).
    let mut strings = tc01_sample();
    strings["config_name"] = json!("testConfigStrings");
    for (k, v) in [
        ("worker_server_num", "1"),
        ("spec_id", "27"),
        ("engine_id", "4"),
        ("model_id", "1"),
    ] {
        strings[k] = json!(v);
    }
    strings["pool_id"] = json!("pool9928813f");
    strings["volumes"] = sample_volumes();
    assert_bare_success(&api.post("/training-job-configs", strings).await);
    let d = ok(&api.get("/training-job-configs/testConfigStrings").await);
    assert_config_detail("TC-05 strings", &d);
    assert_values(
        "TC-05 strings",
        &d,
        json!({
            "worker_server_num": 1, "spec_id": 27, "engine_id": 4, "model_id": 1,
            "spec_code": "modelarts.vm.cpu.8u", "core": "8", "cpu": "32",
            "engine_version": "TF-1.8.0-python3.6",
            "pool_id": "pool9928813f", "volumes": sample_volumes(),
            "nas_mount_path": "/home/work/nas", "nas_share_addr": "192.168.8.150:/", "nas_type": "nfs",
        }),
    );

    // TC-04 sample (DELETE .../training-job-configs/test-trainconfig, name adapted).
    assert_bare_success(&api.delete("/training-job-configs/testConfig").await);
    api.get("/training-job-configs/testConfig")
        .await
        .assert_error(400, "ModelArts.0105");
    let list = ok(&api.get("/training-job-configs?per_page=10&page=1&sortBy=create_time&order=asc&search_content=config").await);
    assert_values(
        "TC-02 after delete",
        &list,
        json!({"config_total_count": 1}),
    );
    assert_eq!(
        list["configs"][0]["config_name"],
        json!("testConfigStrings")
    );
}

// ---------------------------------------------------------------------------------------------
// RS-01, RS-02
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs_resource_and_engine_samples() {
    let srv = TestServer::start().await;
    let api = &srv.api;

    let b = ok(&api.get("/job/resource-specs?job_type=train").await);
    assert_shape(
        "RS-01",
        &b,
        &[
            ("is_success", Ty::Bool),
            ("spec_total_count", Ty::Int),
            ("specs", Ty::Arr),
        ],
    );
    let specs = b["specs"].as_array().unwrap();
    assert_eq!(b["spec_total_count"].as_i64().unwrap(), specs.len() as i64);
    for s in specs {
        assert_shape(
            "RS-01 specs[]",
            s,
            &[
                ("spec_id", Ty::Int),
                ("core", Ty::Str),
                ("cpu", Ty::Str),
                ("gpu_num", Ty::Int),
                ("gpu_type", Ty::Str),
                ("spec_code", Ty::Str),
                ("unit_num", Ty::Int),
                ("max_num", Ty::Int),
                ("storage", Ty::Str),
                ("interface_type", Ty::Int),
                ("no_resource", Ty::Bool),
            ],
        );
    }
    let spec = |id: i64| {
        specs
            .iter()
            .find(|s| s["spec_id"] == json!(id))
            .unwrap_or_else(|| panic!("spec {id}: {b}"))
    };
    assert_values(
        "RS-01 spec 2",
        spec(2),
        json!({"core": "2", "cpu": "8", "gpu_num": 0, "gpu_type": "", "spec_code": "modelarts.vm.cpu.2u",
               "unit_num": 1, "storage": "", "interface_type": 1, "no_resource": false}),
    );
    assert_values(
        "RS-01 spec 27",
        spec(27),
        json!({"core": "8", "cpu": "32", "gpu_num": 0, "gpu_type": "", "spec_code": "modelarts.vm.cpu.8u",
               "max_num": 1, "unit_num": 1, "storage": "", "interface_type": 1}),
    );
    for id in [1, 100] {
        spec(id);
    }

    let b = ok(&api.get("/job/ai-engines?job_type=train").await);
    assert_shape(
        "RS-02",
        &b,
        &[("is_success", Ty::Bool), ("engines", Ty::Arr)],
    );
    let engines = b["engines"].as_array().unwrap();
    for e in engines {
        assert_shape(
            "RS-02 engines[]",
            e,
            &[
                ("engine_type", Ty::Int),
                ("engine_name", Ty::Str),
                ("engine_id", Ty::Int),
                ("engine_version", Ty::Str),
            ],
        );
    }
    let engine = |id: i64| {
        engines
            .iter()
            .find(|e| e["engine_id"] == json!(id))
            .unwrap_or_else(|| panic!("engine {id}: {b}"))
    };
    // The sample and worked-example entries (api.md §2.6).
    for (id, ty, name, version) in [
        (1, 1, "TensorFlow", "TF-1.4.0-python2.7"),
        (3, 1, "TensorFlow", "TF-1.8.0-python2.7"),
        (4, 1, "TensorFlow", "TF-1.8.0-python3.6"),
        (
            100,
            9,
            "XGBoost-Sklearn",
            "XGBoost-0.80-Sklearn-0.18.1-python3.6",
        ),
        (
            130,
            13,
            "Ascend-Powered-Engine",
            "TF-1.15-python3.7-aarch64",
        ),
        (501, 2, "MXNet", "MXNet-1.2.1-python2.7"),
    ] {
        assert_values(
            &format!("RS-02 engine {id}"),
            engine(id),
            json!({"engine_type": ty, "engine_name": name, "engine_version": version}),
        );
    }
    engine(1000);
}
