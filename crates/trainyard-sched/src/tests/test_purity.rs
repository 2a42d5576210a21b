//! The core does no IO: neither it nor the one crate of ours it depends on names a runtime,
//! a database or the filesystem (the sources are read at compile time, not from disk).

/// Every source file of the crate but its tests, by name as `lib.rs` declares the modules.
const SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../lib.rs")),
    ("comm.rs", include_str!("../comm.rs")),
    ("core.rs", include_str!("../core.rs")),
    ("dep.rs", include_str!("../dep.rs")),
    ("fair.rs", include_str!("../fair.rs")),
    ("hang.rs", include_str!("../hang.rs")),
    ("plan.rs", include_str!("../plan.rs")),
    ("pool.rs", include_str!("../pool.rs")),
    ("preempt.rs", include_str!("../preempt.rs")),
    ("victims.rs", include_str!("../victims.rs")),
    ("queue.rs", include_str!("../queue.rs")),
    ("reactor.rs", include_str!("../reactor.rs")),
    ("resources.rs", include_str!("../resources.rs")),
    ("retry.rs", include_str!("../retry.rs")),
    ("run.rs", include_str!("../run.rs")),
    ("status.rs", include_str!("../status.rs")),
    ("wait.rs", include_str!("../wait.rs")),
];

const MANIFEST: &str = include_str!("../../Cargo.toml");
const API_MANIFEST: &str = include_str!("../../../trainyard-api/Cargo.toml");

const FORBIDDEN: &[&str] = &[
    "tokio",
    "sqlx",
    "std::fs",
    "std::os::unix::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "File::",
    "async fn",
    ".await",
];

#[test]
fn every_module_is_checked() {
    let lib = SOURCES[0].1;
    let declared: Vec<&str> = lib
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
        })
        .map(|m| m.trim_end_matches(';'))
        .filter(|m| *m != "tests")
        .collect();
    for module in &declared {
        let file = format!("{module}.rs");
        assert!(
            SOURCES.iter().any(|(name, _)| *name == file),
            "{file} is not checked"
        );
    }
    assert_eq!(declared.len() + 1, SOURCES.len());
}

#[test]
fn no_source_imports_a_runtime_a_database_or_the_filesystem() {
    for (name, text) in SOURCES {
        for word in FORBIDDEN {
            assert!(!text.contains(word), "{name} mentions {word}");
        }
    }
}

#[test]
fn no_dependency_brings_a_runtime_or_a_database() {
    let deps = |manifest: &'static str| -> Vec<&'static str> {
        let start = manifest
            .find("[dependencies]")
            .expect("a [dependencies] table");
        manifest[start..]
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split(['.', ' ', '=']).next())
            .filter(|name| !name.is_empty() && !name.starts_with('#'))
            .collect()
    };
    assert_eq!(deps(MANIFEST), ["regex", "serde", "shlex", "trainyard-api"]);
    for dep in deps(API_MANIFEST) {
        assert!(
            FORBIDDEN.iter().all(|f| !dep.contains(f)),
            "trainyard-api depends on {dep}"
        );
    }
}
