//! `GET /openapi.json`: an OpenAPI 3.1 document of every `/v1` and `/v2` endpoint.
//!
//! The schemas are generated from the `trainyard-api` types (`utoipa::ToSchema` derives,
//! which follow their serde attributes), so the document cannot drift from what the server
//! serializes. The operations are listed once, in [`OPERATIONS`], beside the router's routes:
//! method, path, the request body type, the answer type and the query parameters. Every
//! operation documents its ModelArts error body as the `default` response.

use axum::Json;
use std::sync::LazyLock;
use trainyard_api::catalog::{EngineListResponse, SpecListResponse};
use trainyard_api::events::RunEventsResponse;
use trainyard_api::extensions::{FileListResponse, PriorityRequest, UploadLimits, UploadResponse};
use trainyard_api::sweeps::{CreateSweepRequest, SweepListResponse, SweepResponse};
use trainyard_api::training::{
    AomLogResponse, BuiltInAlgorithmsResponse, CreateJobRequest, CreateJobResponse,
    CreateVersionRequest, JobListResponse, LogFileNamesResponse, PodMetricsResponse, StopRequest,
    Success, UpdateDescriptionRequest, VersionInfo, VersionListResponse,
};
use trainyard_api::training_config::{ConfigDetail, ConfigListResponse, ConfigRequest};
use trainyard_api::usage::UsageResponse;
use trainyard_api::v2::{
    AlgorithmCreateV2, BatchDeleteV2, ErrorBodyV2, JobActionV2, JobSearchV2, JobUpdateV2, JobV2,
    TagsV2,
};
use trainyard_api::visualization::{
    CreateVisualizationRequest, CreateVisualizationResponse, VisualizationDetails,
    VisualizationListResponse,
};
use trainyard_api::webhooks::DeliveryListResponse;
use trainyard_api::ErrorBody;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi, Ref, Required, ResponseBuilder, ResponsesBuilder, Type,
};
use utoipa::OpenApi as _;

/// Every schema the operations name; nested ones are collected by utoipa.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "trainyard",
        description = "The ModelArts training-management v1 API (training jobs and versions, \
                       configurations, visualization jobs) as trainyard serves it, with \
                       trainyard's extensions."
    ),
    components(schemas(
        ErrorBody,
        Success,
        CreateJobRequest,
        CreateJobResponse,
        CreateVersionRequest,
        UpdateDescriptionRequest,
        StopRequest,
        PriorityRequest,
        JobListResponse,
        VersionInfo,
        VersionListResponse,
        PodMetricsResponse,
        RunEventsResponse,
        UsageResponse,
        DeliveryListResponse,
        CreateSweepRequest,
        SweepResponse,
        SweepListResponse,
        LogFileNamesResponse,
        AomLogResponse,
        BuiltInAlgorithmsResponse,
        ConfigRequest,
        ConfigListResponse,
        ConfigDetail,
        SpecListResponse,
        EngineListResponse,
        CreateVisualizationRequest,
        CreateVisualizationResponse,
        VisualizationListResponse,
        VisualizationDetails,
        UploadResponse,
        UploadLimits,
        FileListResponse,
        ErrorBodyV2,
        JobV2,
        AlgorithmCreateV2,
        TagsV2,
        JobSearchV2,
        JobUpdateV2,
        BatchDeleteV2,
        JobActionV2,
    ))
)]
struct Schemas;

/// How a parameter is typed.
#[derive(Clone, Copy)]
enum P {
    Int,
    Text,
}

/// What an operation answers with on 200.
#[derive(Clone, Copy)]
enum Answer {
    /// JSON of this schema.
    Json(&'static str),
    /// A byte stream (`text/plain`).
    Text,
    /// A JSON object (the v2 API's documents, built from the request they echo).
    Object,
    /// A JSON array of objects.
    Array,
    /// No body.
    Nothing,
}

/// One operation: method, path below `/v1/{project_id}`, summary, request body schema
/// (with its media type), answer, query parameters.
struct Op {
    /// 1 (`/v1/{project_id}`) or 2 (`/v2/{project_id}`).
    api: u8,
    /// The success status.
    ok: &'static str,
    method: HttpMethod,
    path: String,
    summary: &'static str,
    body: Option<(&'static str, &'static str)>,
    answer: Answer,
    query: &'static [(&'static str, P, bool)],
}

const JSON: &str = "application/json";
const PAGING: &[(&str, P, bool)] = &[
    ("page", P::Int, false),
    ("per_page", P::Int, false),
    ("sortBy", P::Text, false),
    ("order", P::Text, false),
    ("search_content", P::Text, false),
];
const JOB_LIST: &[(&str, P, bool)] = &[
    ("page", P::Int, false),
    ("per_page", P::Int, false),
    ("sortBy", P::Text, false),
    ("order", P::Text, false),
    ("search_content", P::Text, false),
    ("status", P::Text, false),
];
const VERSION_PAGES: &[(&str, P, bool)] = &[("page", P::Int, false), ("per_page", P::Int, false)];

const TJ: &str = "/training-jobs";
const JOB: &str = "/training-jobs/{job_id}";
const VERSIONS: &str = "/training-jobs/{job_id}/versions";
const VERSION: &str = "/training-jobs/{job_id}/versions/{version_id}";

/// The operations, in the order of docs/user-guide.md and docs/api-compatibility.md.
static OPERATIONS: LazyLock<Vec<Op>> = LazyLock::new(|| {
    use Answer::{Json as J, Text};
    use HttpMethod::{Delete, Get, Post, Put};
    let v = |tail: &str| format!("{VERSION}{tail}");
    let op = |method, path: &str, summary, body, answer, query| Op {
        api: 1,
        ok: "200",
        method,
        path: path.to_owned(),
        summary,
        body,
        answer,
        query,
    };
    vec![
        op(
            Post,
            TJ,
            "TJ-01 create a training job",
            Some(("CreateJobRequest", JSON)),
            J("CreateJobResponse"),
            &[],
        ),
        op(
            Get,
            TJ,
            "TJ-02 list training jobs",
            None,
            J("JobListResponse"),
            JOB_LIST,
        ),
        op(
            Put,
            JOB,
            "TJ-08 update a job's description",
            Some(("UpdateDescriptionRequest", JSON)),
            J("Success"),
            &[],
        ),
        op(
            Delete,
            JOB,
            "TJ-09 delete a training job",
            None,
            J("Success"),
            &[],
        ),
        op(
            Get,
            VERSIONS,
            "TJ-05 list a job's versions",
            None,
            J("VersionListResponse"),
            VERSION_PAGES,
        ),
        op(
            Post,
            VERSIONS,
            "TJ-06 create a version",
            Some(("CreateVersionRequest", JSON)),
            J("CreateJobResponse"),
            &[],
        ),
        op(
            Get,
            VERSION,
            "TJ-03 version details",
            None,
            J("VersionInfo"),
            &[],
        ),
        op(
            Delete,
            VERSION,
            "TJ-04 delete a version",
            None,
            J("Success"),
            &[],
        ),
        op(
            Post,
            &v("/stop"),
            "TJ-07 stop a version",
            Some(("StopRequest", JSON)),
            J("Success"),
            &[],
        ),
        op(
            Put,
            &v("/priority"),
            "Change the priority of a version waiting to start (trainyard extension)",
            Some(("PriorityRequest", JSON)),
            J("Success"),
            &[],
        ),
        op(
            Get,
            &v("/log/file-names"),
            "TJ-10 log file names (trainyard: shim_log=true adds the run supervisor's shim.log)",
            None,
            J("LogFileNamesResponse"),
            &[("shim_log", P::Text, false)],
        ),
        op(
            Get,
            &v("/aom-log"),
            "TJ-12 lines of a log",
            None,
            J("AomLogResponse"),
            &[
                ("log_file", P::Text, false),
                ("lines", P::Int, false),
                ("base_line", P::Text, false),
                ("order", P::Text, false),
            ],
        ),
        op(
            Get,
            &v("/pod/{pod_name}/metric-statistic"),
            "Usage series of one worker (worker-<index>)",
            None,
            J("PodMetricsResponse"),
            &[],
        ),
        op(
            Get,
            &v("/events"),
            "trainyard: the run's event log, oldest first (created, queued, started, worker exited, stop requested, hang suspected, ended...)",
            None,
            J("RunEventsResponse"),
            &[],
        ),
        op(
            Get,
            &v("/log/stream"),
            "trainyard: a worker log's bytes from an offset, followed while the version runs",
            None,
            Text,
            &[
                ("log_file", P::Text, true),
                ("offset", P::Int, false),
                ("follow", P::Text, false),
            ],
        ),
        op(
            Get,
            "/usage",
            "trainyard: what the project's runs used in a window (core-, GPU- and memory-GB-seconds, wait time, runs by outcome), by project, user or job",
            None,
            J("UsageResponse"),
            &[
                ("since", P::Int, true),
                ("until", P::Int, false),
                ("by", P::Text, false),
            ],
        ),
        op(
            Get,
            "/built-in-algorithms",
            "TJ-11 built-in algorithms",
            None,
            J("BuiltInAlgorithmsResponse"),
            PAGING,
        ),
        op(
            Post,
            "/training-job-configs",
            "TC-01 create a configuration",
            Some(("ConfigRequest", JSON)),
            J("Success"),
            &[],
        ),
        op(
            Get,
            "/training-job-configs",
            "TC-02 list configurations",
            None,
            J("ConfigListResponse"),
            PAGING,
        ),
        op(
            Get,
            "/training-job-configs/{config_name}",
            "TC-05 configuration details",
            None,
            J("ConfigDetail"),
            &[("config_type", P::Text, false)],
        ),
        op(
            Put,
            "/training-job-configs/{config_name}",
            "TC-03 update a configuration",
            Some(("ConfigRequest", JSON)),
            J("Success"),
            &[],
        ),
        op(
            Delete,
            "/training-job-configs/{config_name}",
            "TC-04 delete a configuration",
            None,
            J("Success"),
            &[],
        ),
        op(
            Get,
            "/job/resource-specs",
            "RS-01 resource specifications",
            None,
            J("SpecListResponse"),
            &[
                ("job_type", P::Text, false),
                ("engine_id", P::Int, false),
                ("project_type", P::Int, false),
            ],
        ),
        op(
            Get,
            "/job/ai-engines",
            "RS-02 AI engines",
            None,
            J("EngineListResponse"),
            &[("job_type", P::Text, false)],
        ),
        op(
            Post,
            "/visualization-jobs",
            "VJ-01 create a visualization job",
            Some(("CreateVisualizationRequest", JSON)),
            J("CreateVisualizationResponse"),
            &[],
        ),
        op(
            Get,
            "/visualization-jobs",
            "VJ-02 list visualization jobs",
            None,
            J("VisualizationListResponse"),
            JOB_LIST,
        ),
        op(
            Get,
            "/visualization-jobs/{job_id}",
            "VJ-03 visualization job details",
            None,
            J("VisualizationDetails"),
            &[],
        ),
        op(
            Put,
            "/visualization-jobs/{job_id}",
            "VJ-04 update a visualization job's description",
            Some(("UpdateDescriptionRequest", JSON)),
            J("Success"),
            &[],
        ),
        op(
            Delete,
            "/visualization-jobs/{job_id}",
            "VJ-05 delete a visualization job",
            None,
            J("Success"),
            &[],
        ),
        op(
            Post,
            "/visualization-jobs/{job_id}/stop",
            "VJ-06 stop a visualization job",
            None,
            J("Success"),
            &[],
        ),
        op(
            Post,
            "/visualization-jobs/{job_id}/restart",
            "VJ-07 restart a visualization job",
            None,
            J("Success"),
            &[],
        ),
        op(
            Put,
            "/storage/upload",
            "trainyard: a tar archive replaces a storage folder",
            Some(("", "application/octet-stream")),
            J("UploadResponse"),
            &[("path", P::Text, true)],
        ),
        op(
            Delete,
            "/storage/upload",
            "trainyard: remove an uploaded storage folder",
            None,
            J("Success"),
            &[("path", P::Text, true)],
        ),
        op(
            Get,
            "/storage/upload",
            "trainyard: the limits an upload is held to",
            None,
            J("UploadLimits"),
            &[],
        ),
        op(
            Get,
            "/storage/files",
            "trainyard: the files below a storage folder",
            None,
            J("FileListResponse"),
            &[("path", P::Text, true)],
        ),
        op(
            Get,
            "/storage/file",
            "trainyard: one stored file's bytes",
            None,
            Text,
            &[("path", P::Text, true)],
        ),
        op(
            Get,
            "/webhooks/deliveries",
            "trainyard: the project's webhook deliveries, newest first, each with its attempts",
            None,
            J("DeliveryListResponse"),
            &[("job_id", P::Int, false), ("limit", P::Int, false)],
        ),
        op(
            Post,
            "/sweeps",
            "trainyard: create a parameter sweep and all its runs (a grid or a random sample, at most `concurrency` running at once)",
            Some(("CreateSweepRequest", JSON)),
            J("SweepResponse"),
            &[],
        ),
        op(
            Get,
            "/sweeps",
            "trainyard: the project's sweeps, newest first, with their progress and best run",
            None,
            J("SweepListResponse"),
            &[],
        ),
        op(
            Get,
            "/sweeps/{sweep_id}",
            "trainyard: a sweep with its progress, best run and runs",
            None,
            J("SweepResponse"),
            &[],
        ),
        op(
            Delete,
            "/sweeps/{sweep_id}",
            "trainyard: delete a sweep and its runs' jobs (runs not ended are stopped)",
            None,
            J("Success"),
            &[],
        ),
        op(
            Post,
            "/sweeps/{sweep_id}/stop",
            "trainyard: stop every run of a sweep that has not ended",
            None,
            J("SweepResponse"),
            &[],
        ),
    ]
    .into_iter()
    .chain(v2_operations())
    .collect()
});

/// The operations of the v2 API, in `docs/api-v2.md`'s order.
fn v2_operations() -> Vec<Op> {
    use Answer::{Array, Nothing, Object};
    use HttpMethod::{Delete, Get, Post, Put};
    const ONE: &str = "/training-jobs/{training_job_id}";
    let op = |ok, method, path: String, summary, body, answer, query| Op {
        api: 2,
        ok,
        method,
        path,
        summary,
        body,
        answer,
        query,
    };
    let task = |tail: &str| format!("{ONE}/tasks/{{task_id}}{tail}");
    const EVENTS: &[(&str, P, bool)] = &[
        ("offset", P::Int, false),
        ("limit", P::Int, false),
        ("order", P::Text, false),
        ("start_time", P::Text, false),
        ("end_time", P::Text, false),
        ("level", P::Text, false),
        ("pattern", P::Text, false),
        ("source", P::Text, false),
    ];
    vec![
        op(
            "201",
            Post,
            "/training-jobs".into(),
            "T2-01 create a training job",
            Some(("JobV2", JSON)),
            Object,
            &[],
        ),
        op(
            "200",
            Get,
            ONE.into(),
            "T2-02 show a training job",
            None,
            Object,
            &[],
        ),
        op(
            "200",
            Post,
            "/training-job-searches".into(),
            "T2-03 search training jobs",
            Some(("JobSearchV2", JSON)),
            Object,
            &[("limit", P::Int, false), ("offset", P::Int, false)],
        ),
        op(
            "200",
            Put,
            ONE.into(),
            "T2-04 change the description",
            Some(("JobUpdateV2", JSON)),
            Nothing,
            &[],
        ),
        op(
            "202",
            Delete,
            ONE.into(),
            "T2-05 delete a training job",
            None,
            Nothing,
            &[],
        ),
        op(
            "202",
            Post,
            "/training-jobs/batch-delete".into(),
            "T2-06 delete training jobs",
            Some(("BatchDeleteV2", JSON)),
            Nothing,
            &[],
        ),
        op(
            "202",
            Post,
            format!("{ONE}/actions"),
            "T2-07 terminate a training job",
            Some(("JobActionV2", JSON)),
            Object,
            &[],
        ),
        op(
            "200",
            Get,
            format!("{ONE}/tasks"),
            "T2-08 list the task instances",
            None,
            Array,
            &[],
        ),
        op(
            "200",
            Get,
            task("/logs/preview"),
            "T2-09 preview a task's log",
            None,
            Object,
            &[],
        ),
        op(
            "200",
            Get,
            task("/logs/url"),
            "T2-10 a temporary URL of a task's log",
            None,
            Object,
            &[("Content-Type", P::Text, false)],
        ),
        op(
            "200",
            Get,
            format!("{ONE}/metrics/{{task_id}}"),
            "T2-11 a task's usage series",
            None,
            Object,
            &[],
        ),
        op(
            "200",
            Get,
            format!("{ONE}/events"),
            "T2-12 a training job's events",
            None,
            Object,
            EVENTS,
        ),
        op(
            "200",
            Get,
            "/training-job-flavors".into(),
            "T2-13 public flavors",
            None,
            Object,
            &[("flavor_type", P::Text, false)],
        ),
        op(
            "200",
            Get,
            "/training-job-engines".into(),
            "T2-14 preset engines",
            None,
            Object,
            &[],
        ),
        op(
            "200",
            Get,
            "/training-quotas".into(),
            "T2-15 training quotas",
            None,
            Object,
            &[("user_id", P::Text, false), ("resource", P::Text, false)],
        ),
        op(
            "204",
            Post,
            "/modelarts-training-job/{training_job_id}/tags/create".into(),
            "T2-16a add tags to a training job",
            Some(("TagsV2", JSON)),
            Nothing,
            &[],
        ),
        op(
            "204",
            Delete,
            "/modelarts-training-job/{training_job_id}/tags/delete".into(),
            "T2-16b delete tags of a training job",
            Some(("TagsV2", JSON)),
            Nothing,
            &[],
        ),
        op(
            "200",
            Get,
            "/modelarts-training-job/{training_job_id}/tags".into(),
            "T2-16c a training job's tags",
            None,
            Object,
            &[],
        ),
        op(
            "200",
            Get,
            "/modelarts-training-job/tags".into(),
            "T2-16d the project's tag keys and values",
            None,
            Object,
            &[("limit", P::Int, false), ("offset", P::Int, false)],
        ),
        op(
            "201",
            Post,
            "/algorithms".into(),
            "ALG-01 create an algorithm",
            Some(("AlgorithmCreateV2", JSON)),
            Object,
            &[],
        ),
        op(
            "200",
            Get,
            "/algorithms".into(),
            "ALG-02 list algorithms",
            None,
            Object,
            &[
                ("offset", P::Int, false),
                ("limit", P::Int, false),
                ("sort_by", P::Text, false),
                ("order", P::Text, false),
                ("group_by", P::Text, false),
                ("searches", P::Text, false),
                ("workspace_id", P::Text, false),
            ],
        ),
        op(
            "200",
            Get,
            "/algorithms/{algorithm_id}".into(),
            "ALG-03 show an algorithm",
            None,
            Object,
            &[],
        ),
        op(
            "200",
            Put,
            "/algorithms/{algorithm_id}".into(),
            "ALG-04 change an algorithm",
            Some(("AlgorithmCreateV2", JSON)),
            Object,
            &[],
        ),
        op(
            "202",
            Delete,
            "/algorithms/{algorithm_id}".into(),
            "ALG-05 delete an algorithm",
            None,
            Nothing,
            &[],
        ),
    ]
}

fn schema_ref(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

fn param(
    name: &str,
    place: ParameterIn,
    kind: P,
    required: bool,
) -> utoipa::openapi::path::Parameter {
    let schema = match kind {
        P::Int => ObjectBuilder::new().schema_type(Type::Integer).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64),
        )),
        P::Text => ObjectBuilder::new().schema_type(Type::String),
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .schema(Some(schema))
        .build()
}

/// Builds the whole document.
pub fn build() -> OpenApi {
    let mut doc = Schemas::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut paths = utoipa::openapi::Paths::new();
    for op in OPERATIONS.iter() {
        let path = format!("/v{}/{{project_id}}{}", op.api, op.path);
        let mut b = OperationBuilder::new()
            .summary(Some(op.summary))
            .operation_id(Some(operation_id(op)));
        // Path parameters, in order of appearance.
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let kind = if op.api == 1 && name.ends_with("_id") && name != "project_id" {
                    P::Int
                } else {
                    P::Text
                };
                b = b.parameter(param(name, ParameterIn::Path, kind, true));
            }
        }
        for &(name, kind, required) in op.query {
            b = b.parameter(param(name, ParameterIn::Query, kind, required));
        }
        if let Some((schema, media)) = op.body {
            let content = if schema.is_empty() {
                ContentBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .content_media_type(media),
                    ))
                    .build()
            } else {
                ContentBuilder::new()
                    .schema(Some(schema_ref(schema)))
                    .build()
            };
            b = b.request_body(Some(
                RequestBodyBuilder::new()
                    .content(media, content)
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        let ok = match op.answer {
            Answer::Json(schema) => ResponseBuilder::new().description("Success").content(
                JSON,
                ContentBuilder::new()
                    .schema(Some(schema_ref(schema)))
                    .build(),
            ),
            Answer::Text => ResponseBuilder::new()
                .description("The log's bytes")
                .content(
                    "text/plain",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                ),
            Answer::Object => ResponseBuilder::new().description("Success").content(
                JSON,
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                    .build(),
            ),
            Answer::Array => ResponseBuilder::new().description("Success").content(
                JSON,
                ContentBuilder::new()
                    .schema(Some(
                        utoipa::openapi::schema::ArrayBuilder::new()
                            .items(ObjectBuilder::new().schema_type(Type::Object)),
                    ))
                    .build(),
            ),
            Answer::Nothing => ResponseBuilder::new().description("Success, no body"),
        };
        let error = ResponseBuilder::new()
            .description("A ModelArts error body")
            .content(
                JSON,
                ContentBuilder::new()
                    .schema(Some(schema_ref(if op.api == 1 {
                        "ErrorBody"
                    } else {
                        "ErrorBodyV2"
                    })))
                    .build(),
            );
        b = b.responses(
            ResponsesBuilder::new()
                .response(op.ok, ok)
                .response("default", error)
                .build(),
        );
        b = b.security(SecurityRequirement::new::<_, _, &str>("token", []));
        paths.add_path_operation(path, vec![op.method.clone()], b.build());
    }
    doc.paths = paths;
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
    );
    doc
}

/// `create_training_job`-like ids from the method and path.
fn operation_id(op: &Op) -> String {
    let method = serde_json::to_value(&op.method)
        .ok()
        .and_then(|m| m.as_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let path: String = op
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(|c| c == '{' || c == '}').replace('-', "_"))
        .collect::<Vec<_>>()
        .join("_");
    if op.api == 1 {
        format!("{method}_{path}")
    } else {
        format!("{method}_v2_{path}")
    }
}

static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::to_value(build()).expect("the OpenAPI document serializes"));

/// `GET /openapi.json` (no credentials needed).
pub async fn document() -> Json<serde_json::Value> {
    Json(DOCUMENT.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/api.md` lists every `/v1` operation, with its id when the operation has one, so
    /// the repository's own description of the API cannot fall behind the router.
    #[test]
    fn docs_api_lists_every_operation() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md"))
                .expect("docs/api.md");
        let doc_v2 =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api-v2.md"))
                .expect("docs/api-v2.md");
        for op in OPERATIONS.iter().filter(|op| op.api == 2) {
            let method = serde_json::to_value(&op.method).unwrap();
            let method = method.as_str().unwrap().to_ascii_uppercase();
            let id = op.summary.split(' ').next().unwrap();
            let row = format!(
                "| {id} | `{method} {}",
                op.path
                    .replace("{training_job_id}", "{id}")
                    .replace("{task_id}", "{task}")
            );
            assert!(
                doc_v2.lines().any(|l| l.starts_with(&row)),
                "docs/api-v2.md has no row starting {row}"
            );
        }
        for op in OPERATIONS.iter().filter(|op| op.api == 1) {
            let method = serde_json::to_value(&op.method).unwrap();
            let method = method.as_str().unwrap().to_ascii_uppercase();
            let cells = format!("| {method} | `/v1/{{project_id}}{}` |", op.path);
            let row = doc.lines().find(|l| l.contains(&cells));
            let row = row.unwrap_or_else(|| panic!("docs/api.md has no row for {cells}"));
            let id = op.summary.split(' ').next().unwrap();
            if id.len() == 5 && id.as_bytes()[2] == b'-' {
                assert!(
                    row.starts_with(&format!("| {id} |")),
                    "{cells} is {id}: {row}"
                );
            }
        }
    }
}
