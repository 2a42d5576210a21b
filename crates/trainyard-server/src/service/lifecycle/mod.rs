//! The lifecycle of runs: the one owner of every status change, `version` for a training
//! version's run and `viz` for a visualization job's server. Elsewhere code names the step
//! (`lifecycle::begin_stop`, `lifecycle::viz::finish`, ...); only here are the store's status
//! writes called, which a test below checks over the workspace's sources.

mod version;
pub mod viz;

pub use version::*;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The store's status writes, and whether a call of that name on any receiver counts:
    /// `restart_viz` also names the service's and the client's calls, so there only a call
    /// on a store does.
    const STATUS_WRITES: &[(&str, bool)] = &[
        ("transition", true),
        ("move_version", true),
        ("viz_transition", true),
        ("restart_viz", false),
        ("mark_version_deleted", true),
        ("mark_job_deleted", true),
        ("stop_deleted_versions", true),
    ];

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name == "node_modules" || name == ".git" {
                continue;
            }
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }

    /// The status writes `source` calls: comments dropped and whitespace removed first, so a
    /// call rustfmt split over lines (`ctx\n.store\n.transition(`) counts too.
    fn status_writes(source: &str) -> Vec<&'static str> {
        let code: String = source
            .lines()
            .filter_map(|line| line.split("//").next())
            .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
            .collect();
        STATUS_WRITES
            .iter()
            .filter(|(verb, any_receiver)| {
                let calls = if *any_receiver {
                    vec![format!(".{verb}("), format!("::{verb}(")]
                } else {
                    vec![
                        format!("store.{verb}("),
                        format!("store().{verb}("),
                        format!("Store::{verb}("),
                    ]
                };
                calls.iter().any(|c| code.contains(c.as_str()))
            })
            .map(|(verb, _)| *verb)
            .collect()
    }

    /// Every status change goes through this module: no other source of the workspace calls
    /// the store's status writes (the store crate, which defines and implements them and
    /// tests them on both engines, excepted).
    #[test]
    fn no_status_write_outside_the_lifecycle() {
        let server = Path::new(env!("CARGO_MANIFEST_DIR"));
        let owner = server.join("src/service/lifecycle");
        let crates = server.parent().expect("crates folder");
        let store = crates.join("trainyard-store");
        let mut files = Vec::new();
        rust_files(crates, &mut files);
        rust_files(&crates.join("../fuzz"), &mut files);
        assert!(files.len() > 50, "found only {} sources", files.len());
        let mut owned = Vec::new();
        let mut elsewhere = Vec::new();
        for file in &files {
            let source = std::fs::read_to_string(file).expect("a readable source");
            let writes = status_writes(&source);
            if file.starts_with(&owner) {
                owned.extend(writes);
            } else if !file.starts_with(&store) && !writes.is_empty() {
                elsewhere.push(format!("{}: {}", file.display(), writes.join(", ")));
            }
        }
        assert!(
            elsewhere.is_empty(),
            "status written outside service/lifecycle (add a named step there instead):\n{}",
            elsewhere.join("\n")
        );
        // The check sees the calls it looks for where they belong.
        for (verb, _) in STATUS_WRITES {
            assert!(
                owned.contains(verb),
                "no {verb} call found in the lifecycle"
            );
        }
    }

    #[test]
    fn status_writes_are_found_across_lines_and_not_in_comments() {
        let split = "ctx\n    .store\n    .viz_transition(id, &from, to, &set)";
        assert_eq!(status_writes(split), ["viz_transition"]);
        assert_eq!(
            status_writes("Store::transition(&*s, 1, &[], to, &set)"),
            ["transition"]
        );
        assert_eq!(
            status_writes("self.store.restart_viz(p, 1, from)"),
            ["restart_viz"]
        );
        assert!(status_writes("s.svc.restart_viz(&project, id)").is_empty());
        assert!(status_writes("async fn viz_transition(\n&self,").is_empty());
        assert!(status_writes("// ctx.store.transition(id, ..)").is_empty());
        assert!(status_writes("lifecycle::viz::finish(store, id, end)").is_empty());
    }
}
