//! Static catalogs: AI engines (RS-02), resource specs (RS-01) and built-in algorithms (TJ-11).

use crate::config::{Config, EngineConfig, SpecConfig};
use trainyard_api::catalog::{EngineInfo, SpecInfo};
use trainyard_api::training::BuiltInAlgorithm;

/// Source of the built-in algorithm `model_id` 1.
pub const LINEAR_REGRESSION_PY: &str = include_str!("../assets/builtin/linear_regression.py");

/// A built-in algorithm: its public description and the script that runs it.
#[derive(Clone, Debug)]
pub struct Builtin {
    /// One entry of the built-in algorithm list (TJ-11).
    pub info: BuiltInAlgorithm,
    /// File name of the boot script.
    pub boot_file: &'static str,
    /// Script source.
    pub source: &'static str,
}

/// Engines, specs and built-in algorithms in force.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// The AI engines (RS-02) with their interpreters.
    pub engines: Vec<EngineConfig>,
    /// The entries of the resource specification list (RS-01).
    pub specs: Vec<SpecConfig>,
    /// The entries of the built-in algorithm list (TJ-11).
    pub builtins: Vec<Builtin>,
}

/// Engine id of the plain Python 3 engine of the default catalog.
pub const PYTHON_ENGINE_ID: i64 = 1000;

fn engine(id: i64, name: &str, version: &str, engine_type: i64) -> EngineConfig {
    EngineConfig {
        id,
        name: name.into(),
        version: version.into(),
        engine_type,
        command: vec!["python3".into()],
        image: None,
    }
}

/// The default engine list: a plain Python 3 engine plus the usual framework names, all run
/// with `python3` (the framework itself must be importable there).
pub fn default_engines() -> Vec<EngineConfig> {
    vec![
        engine(1, "TensorFlow", "TF-1.4.0-python2.7", 1),
        engine(3, "TensorFlow", "TF-1.8.0-python2.7", 1),
        engine(4, "TensorFlow", "TF-1.8.0-python3.6", 1),
        engine(5, "TensorFlow", "TF-2.1.0-python3.6", 1),
        engine(10, "PyTorch", "PyTorch-1.0.0-python3.6", 10),
        engine(11, "PyTorch", "PyTorch-1.8.0-python3.7", 10),
        engine(12, "PyTorch", "PyTorch-1.1.0-python3.6", 10),
        engine(13, "PyTorch", "PyTorch-1.4.0-python3.6", 10),
        engine(
            100,
            "XGBoost-Sklearn",
            "XGBoost-0.80-Sklearn-0.18.1-python3.6",
            9,
        ),
        engine(
            130,
            "Ascend-Powered-Engine",
            "TF-1.15-python3.7-aarch64",
            13,
        ),
        engine(501, "MXNet", "MXNet-1.2.1-python2.7", 2),
        engine(
            131,
            "Ascend-Powered-Engine",
            "MindSpore-1.1.1-python3.7-aarch64",
            13,
        ),
        engine(170, "MindSpore-GPU", "MindSpore-1.1.1-python3.7", 17),
        engine(171, "MindSpore-GPU", "MindSpore-1.0.0-python3.7", 17),
        engine(172, "MindSpore-GPU", "MindSpore-1.2.0-python3.7", 17),
        engine(PYTHON_ENGINE_ID, "Python", "python3", 0),
    ]
}

fn spec(spec_id: i64, code: &str, core: u32, cpu: u32, max_num: i64) -> SpecConfig {
    SpecConfig {
        spec_id,
        spec_code: code.into(),
        core,
        cpu,
        gpu_num: 0,
        gpu_type: String::new(),
        max_num,
        unit_num: 1,
        storage: String::new(),
        interface_type: 1,
    }
}

/// `gpu_type` of the Ascend flavors (`modelarts.kat1.*`): this host has no Ascend NPUs.
pub const ASCEND: &str = "Ascend-910";

/// Why a spec cannot run on this server, if it cannot whatever is free: Ascend flavors
/// (trainyard schedules CPUs and NVIDIA GPUs only).
pub fn unavailable(spec: &SpecConfig) -> Option<String> {
    spec.gpu_type.starts_with("Ascend").then(|| {
        format!(
            "{} is an Ascend flavor; this trainyard has no Ascend NPUs (choose a CPU or GPU flavor, e.g. modelarts.vm.cpu.8u or modelarts.vm.gpu.free)",
            spec.spec_code
        )
    })
}

/// The default spec list, sized from the executor's capacity: small CPU specs, the sample
/// codes of the API reference, the documented GPU and Ascend flavor codes, and one spec taking
/// the whole host.
pub fn default_specs(cores: u32, memory_gb: u32, gpus: usize) -> Vec<SpecConfig> {
    let cores = cores.max(1);
    let mem = memory_gb.max(1);
    let mut specs = vec![
        spec(1, "modelarts.vm.cpu.1u", 1, 2.min(mem), i64::from(cores)),
        spec(
            2,
            "modelarts.vm.cpu.2u",
            2.min(cores),
            8.min(mem),
            i64::from((cores / 2).max(1)),
        ),
        spec(27, "modelarts.vm.cpu.8u", 8.min(cores), 32.min(mem), 1),
        spec(100, "modelarts.vm.cpu.host", cores, mem, 1),
    ];
    // The GPU and Ascend flavor codes ModelArts documents and scripts name, each scaled down to
    // this host: at most its cores, memory and GPUs. Without GPUs here a GPU flavor runs on
    // the CPU (gpu_num 0), so a script naming one still runs; Ascend flavors are listed but
    // refused (see `unavailable`).
    for (id, code, core, gb, gpu_num, gpu_type, max_num) in [
        (5, "modelarts.vm.gpu.p100", 8, 64, 1, "p100", 4),
        (6, "modelarts.vm.gpu.v100", 8, 64, 1, "v100", 4),
        (8, "modelarts.vm.gpu.free", 8, 64, 1, "v100", 1),
        (9, "modelarts.bm.gpu.8v100", 64, 512, 8, "v100", 1),
        (20, "modelarts.kat1.xlarge", 24, 96, 1, ASCEND, 1),
        (21, "modelarts.kat1.8xlarge", 192, 768, 8, ASCEND, 1),
    ] {
        let mut s = spec(id, code, core.min(cores), gb.min(mem), max_num);
        if gpu_type == ASCEND {
            s.gpu_num = gpu_num;
            s.gpu_type = gpu_type.into();
        } else if gpus > 0 {
            s.gpu_num = gpu_num.min(gpus as u32);
            s.gpu_type = gpu_type.into();
            s.max_num = max_num.min((gpus as i64 / i64::from(s.gpu_num)).max(1));
        }
        specs.push(s);
    }
    if gpus > 0 {
        let mut g = spec(
            4,
            "modelarts.vm.gpu.1",
            cores.min(8),
            mem.min(64),
            gpus as i64,
        );
        g.gpu_num = 1;
        g.gpu_type = "nvidia".into();
        specs.push(g);
    }
    specs
}

fn builtins() -> Vec<Builtin> {
    let parameter = serde_json::json!([
        {"label": "lr", "value": "0.05", "required": false, "placeholder_cn": "learning rate", "placeholder_en": "learning rate"},
        {"label": "epochs", "value": "50", "required": false, "placeholder_cn": "number of epochs", "placeholder_en": "number of epochs"},
        {"label": "batch_size", "value": "32", "required": false, "placeholder_cn": "mini-batch size", "placeholder_en": "mini-batch size"}
    ]);
    vec![Builtin {
        info: BuiltInAlgorithm {
            model_id: 1,
            model_name: "Linear_Regression".into(),
            model_usage: 4,
            model_precision: "MSE on the training set".into(),
            model_size: LINEAR_REGRESSION_PY.len() as i64,
            model_train_dataset: "CSV files in data_url (last column = target), or a synthetic set"
                .into(),
            model_dataset_format: "csv: numeric features..., target".into(),
            model_description_url: "builtin://linear_regression.py".into(),
            parameter: parameter.to_string(),
            create_time: 1_735_689_600_000,
            engine_id: PYTHON_ENGINE_ID,
            engine_name: "Python".into(),
            engine_version: "python3".into(),
        },
        boot_file: "linear_regression.py",
        source: LINEAR_REGRESSION_PY,
    }]
}

impl Catalog {
    /// Catalog from the configuration, default specs sized for `cores`, `memory_gb` and
    /// `gpus` (the executor's capacity).
    pub fn from_config(config: &Config, cores: u32, memory_gb: u32, gpus: u32) -> Self {
        Self {
            engines: config.engines.clone().unwrap_or_else(default_engines),
            specs: config
                .specs
                .clone()
                .unwrap_or_else(|| default_specs(cores, memory_gb, gpus as usize)),
            builtins: builtins(),
        }
    }

    /// Engine by id.
    pub fn engine(&self, id: i64) -> Option<&EngineConfig> {
        self.engines.iter().find(|e| e.id == id)
    }

    /// Spec by id.
    pub fn spec(&self, id: i64) -> Option<&SpecConfig> {
        self.specs.iter().find(|s| s.spec_id == id)
    }

    /// The flavor a visualization job gets when it names none: the CPU spec with the lowest
    /// id (the smallest by the default catalog's order), else the first spec.
    pub fn default_viz_flavor(&self) -> Option<&SpecConfig> {
        self.specs
            .iter()
            .filter(|s| s.gpu_num == 0)
            .min_by_key(|s| s.spec_id)
            .or_else(|| self.specs.first())
    }

    /// The spec with this code.
    pub fn spec_by_code(&self, code: &str) -> Option<&SpecConfig> {
        self.specs
            .iter()
            .find(|s| s.spec_code.eq_ignore_ascii_case(code.trim()))
    }

    /// Built-in algorithm by id.
    pub fn builtin(&self, id: i64) -> Option<&Builtin> {
        self.builtins.iter().find(|b| b.info.model_id == id)
    }
}

/// One entry of the AI engine list (RS-02), as on the wire.
pub fn engine_info(e: &EngineConfig) -> EngineInfo {
    EngineInfo {
        engine_type: e.engine_type,
        engine_name: e.name.clone(),
        engine_id: e.id,
        engine_version: e.version.clone(),
    }
}

/// One entry of the resource specification list (RS-01), as on the wire.
pub fn spec_info(s: &SpecConfig, no_resource: bool) -> SpecInfo {
    SpecInfo {
        spec_id: s.spec_id,
        core: s.core.to_string(),
        cpu: s.cpu.to_string(),
        gpu_num: i64::from(s.gpu_num),
        gpu_type: s.gpu_type.clone(),
        spec_code: s.spec_code.clone(),
        unit_num: s.unit_num,
        max_num: s.max_num,
        storage: s.storage.clone(),
        interface_type: s.interface_type,
        no_resource,
    }
}
