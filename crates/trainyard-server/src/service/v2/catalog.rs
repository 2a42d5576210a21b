//! Flavors, engines and quotas (T2-13 to T2-15).

use super::*;

/// The v2 id of an engine of the catalog: its version, lower-cased.
pub fn engine_id(e: &EngineConfig) -> String {
    e.version.to_ascii_lowercase()
}

/// `CPU`, `GPU` or `Ascend`.
pub(super) fn flavor_type(s: &SpecConfig) -> &'static str {
    if s.gpu_type == ASCEND {
        "Ascend"
    } else if s.gpu_num > 0 {
        "GPU"
    } else {
        "CPU"
    }
}

/// A flavor entry (T2-13); `disk` as a string in job documents, a number in the list.
pub(super) fn flavor_entry(s: &SpecConfig, in_job: bool) -> Value {
    let mut info = json!({
        "max_num": s.max_num,
        "cpu": {"arch": "x86", "core_num": s.core},
        "memory": {"size": s.cpu, "unit": "GB"},
    });
    match flavor_type(s) {
        "GPU" => {
            info["gpu"] = json!({"unit_num": s.gpu_num, "product_name": s.gpu_type, "memory": ""})
        }
        "Ascend" => {
            info["npu"] =
                json!({"unit_num": s.gpu_num.to_string(), "product_name": s.gpu_type, "memory": ""})
        }
        _ => {}
    }
    let name = match flavor_type(s) {
        "CPU" => format!("Computing CPU({}U) instance", s.core),
        t => format!("Computing {t}({}) instance", s.gpu_type),
    };
    let mut entry = json!({
        "flavor_id": s.spec_code,
        "flavor_name": name,
        "flavor_type": flavor_type(s),
        "billing": {"code": s.spec_code, "unit_num": s.unit_num},
        "flavor_info": info,
        "attributes": {},
    });
    if in_job {
        if let Some(m) = entry.as_object_mut() {
            m.remove("flavor_id");
            m.remove("flavor_name");
            m.remove("attributes");
        }
    } else {
        entry["max_num"] = json!(s.max_num);
    }
    entry
}

impl Service {
    /// Public flavors (T2-13): the spec catalog.
    pub fn v2_flavors(&self, q: &Params) -> V2Result<Value> {
        let want = q.get("flavor_type").filter(|t| !t.is_empty());
        if let Some(t) = want {
            if !["CPU", "GPU", "Ascend"].contains(&t) {
                return Err(V2Error::query("flavor_type", "CPU, GPU or Ascend"));
            }
        }
        let flavors: Vec<Value> = self
            .catalog
            .specs
            .iter()
            .filter(|s| want.is_none_or(|t| flavor_type(s) == t))
            .map(|s| {
                let mut e = flavor_entry(s, false);
                e["flavor_info"]["disk"] = json!({"size": 0, "unit": "GB"});
                e
            })
            .collect();
        Ok(json!({"total_count": flavors.len(), "flavors": flavors}))
    }

    /// Preset engines (T2-14): the engine catalog.
    pub fn v2_engines(&self) -> Value {
        let items: Vec<Value> = self
            .catalog
            .engines
            .iter()
            .map(|e| {
                let image = e.image.clone().unwrap_or_default();
                json!({
                    "engine_id": engine_id(e),
                    "engine_name": e.name,
                    "engine_version": e.version,
                    "v1_compatible": true,
                    "run_user": "",
                    "image_info": {"cpu_image_url": image, "gpu_image_url": image, "image_version": ""},
                })
            })
            .collect();
        json!({"total": items.len(), "items": items})
    }

    /// The job-count quota (T2-15).
    pub async fn v2_quotas(&self, project: &str, q: &Params) -> V2Result<Value> {
        if let Some(r) = q
            .get("resource")
            .filter(|r| !r.is_empty() && *r != "job-num")
        {
            return Err(V2Error::query("resource", format!("{r}: only job-num")));
        }
        let (_, limit) = self.quotas(project);
        let used = self.count_v2(project).await?;
        Ok(json!({"quotas": [{"resource": "job-num", "quota": limit, "used": used}]}))
    }
}
