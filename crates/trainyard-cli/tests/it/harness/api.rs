//! Clients of a test server: the raw JSON calls with their assertions ([`Api`], [`Reply`]),
//! the typed client, and `/metrics` scrapes.

use super::config::{METRICS_TOKEN, OTHER_PROJECT, OTHER_TOKEN, PROJECT, TOKEN};
use serde_json::{json, Value};
use trainyard_api::JobStatus;

/// A client bound to one server and one token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub project: String,
    pub token: String,
    pub http: reqwest::Client,
}

/// An answer: its HTTP status and its JSON body.
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// Asserts a ModelArts error body with `code` and HTTP `status`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["is_success"], json!(false), "body: {}", self.body);
        assert_eq!(self.body["error_code"], json!(code), "body: {}", self.body);
        assert!(
            self.body["error_message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "body: {}",
            self.body
        );
        assert_eq!(
            self.body.as_object().unwrap().len(),
            3,
            "exactly three fields: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, 200, "body: {}", self.body);
        assert_eq!(self.body["is_success"], json!(true), "body: {}", self.body);
        assert!(self.body.get("error_code").is_none(), "body: {}", self.body);
        &self.body
    }
}

impl Api {
    /// The typed client (trainyard-client) for the same server, project and token.
    pub fn client(&self) -> trainyard_client::Client {
        trainyard_client::Client::with_http(
            self.http.clone(),
            self.base.clone(),
            self.project.clone(),
            Some(self.token.clone()),
        )
    }

    /// `<base>/v1/<project><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}{}", self.base, self.project, path)
    }

    /// Sends `method` to `url` with an optional JSON `body` and `X-Auth-Token`; the answer
    /// must be JSON.
    pub async fn raw(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> Reply {
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        Reply { status, body }
    }

    /// Sends `method` to the project's `path` with this client's token.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let text = body.map(|b| b.to_string());
        self.raw(method, &self.url(path), text.as_deref(), Some(&self.token))
            .await
    }

    /// Sends `method` to the project's new-version `path` (`/v2/<project><path>`) with this
    /// client's token; an empty answer is `null`.
    pub async fn v2(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}/v2/{}{}", self.base, self.project, path);
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// Creates a new-version job from `body`; asserts 201 and returns its id.
    pub async fn create_v2_job(&self, body: Value) -> String {
        let r = self.v2("POST", "/training-jobs", Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["metadata"]["id"].as_str().unwrap().to_owned()
    }

    /// Polls new-version job `id` until `done` holds for its document, within `within`.
    pub async fn wait_v2(
        &self,
        id: &str,
        within: std::time::Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let doc = self
                .v2("GET", &format!("/training-jobs/{id}"), None)
                .await
                .body;
            if done(&doc) {
                return doc;
            }
            assert!(std::time::Instant::now() < deadline, "{doc}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `GET` of the project's `path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }
    /// `POST` of `body` to the project's `path`.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }
    /// `PUT` of `body` to the project's `path`.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }
    /// `DELETE` of the project's `path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// Status of a version.
    pub async fn status(&self, job: i64, version: i64) -> JobStatus {
        match self.client().get_version(job, version).await {
            Ok(v) => JobStatus::from_code(v.status),
            Err(e) => panic!("version {job}/{version}: {e}"),
        }
    }

    /// Creates a job running `boot.py` from `app` (a folder below the project's storage).
    pub async fn create_job(&self, name: &str, app: &str, extra: Value) -> (i64, i64) {
        let mut config = json!({
            "worker_server_num": 1,
            "app_url": format!("/{app}/"),
            "boot_file_url": format!("/{app}/boot.py"),
            "data_url": "/data/",
            "train_url": format!("/out/{name}/"),
            "spec_id": 1,
            "engine_id": 1,
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let r = self
            .post(
                "/training-jobs",
                json!({"job_name": name, "config": config}),
            )
            .await;
        let b = r.assert_ok();
        (
            b["job_id"].as_i64().unwrap(),
            b["version_id"].as_i64().unwrap(),
        )
    }

    /// Whole content of a worker's log (up to 500 last lines).
    pub async fn log(&self, job: i64, version: i64, file: &str) -> String {
        let q = trainyard_client::query::LogQuery {
            log_file: file.to_owned(),
            lines: Some(500),
            ..Default::default()
        };
        match self.client().read_log(job, version, &q).await {
            Ok(page) => page.content,
            Err(e) => panic!("log {file} of {job}/{version}: {e}"),
        }
    }
}

/// Clients of the server at `base` for the main project and for the other one.
pub fn api_pair(base: String) -> (Api, Api) {
    let http = reqwest::Client::new();
    let api = Api {
        base: base.clone(),
        project: PROJECT.into(),
        token: TOKEN.into(),
        http: http.clone(),
    };
    let other = Api {
        base,
        project: OTHER_PROJECT.into(),
        token: OTHER_TOKEN.into(),
        http,
    };
    (api, other)
}

/// The sum of the samples of `name` whose labels include every `(key, value)` of `labels`.
pub fn metric(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref h) => {
                h.iter().map(|c| c.count).fold(0.0, f64::max)
            }
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

/// Scrapes the server's `/metrics` with the metrics token and parses it (non-empty).
pub async fn scrape(api: &Api) -> prometheus_parse::Scrape {
    let resp = api
        .http
        .get(format!("{}/metrics", api.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    assert!(!parsed.samples.is_empty(), "{text}");
    parsed
}
