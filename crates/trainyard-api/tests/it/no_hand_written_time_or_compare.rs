//! Calendar arithmetic is jiff's and secret comparison is `subtle`'s (or `Mac::verify_slice`):
//! no source file of the workspace may carry its own again. The patterns are the fingerprints
//! of the code this replaced (Hinnant's day counts, XOR-fold compares, seconds-per-day math).

use std::path::{Path, PathBuf};

const PATTERNS: &[&str] = &[
    "days_from_civil",
    "civil_from_days",
    "146_097",
    "146097",
    "719_468",
    "719468",
    "div_euclid(86",
    "rem_euclid(86",
    "/ 86_400",
    "% 86_400",
    "* 86_400",
    "/ 86400",
    "% 86400",
    "* 86400",
    "is_leap",
    "fold(0u8",
    "fold(0, |acc",
    "acc | (x ^ y)",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == ".git" || name == "tests" && dir.ends_with("trainyard-api") {
            continue;
        }
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "py") {
            out.push(path);
        }
    }
}

#[test]
fn no_hand_written_calendar_arithmetic_or_constant_time_compare() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "sdk", "fuzz"] {
        if root.join(dir).is_dir() {
            sources(&root.join(dir), &mut files);
        }
    }
    assert!(files.len() > 50, "only {} source files found", files.len());
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            for p in PATTERNS {
                if line.contains(p) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "hand-written time or compare code:\n{}",
        found.join("\n")
    );
}
