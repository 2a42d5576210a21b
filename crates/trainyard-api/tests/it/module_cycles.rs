//! The modules of each crate of the workspace import each other without circles.
//!
//! Read from the sources (no dependency, a few milliseconds): every `crate::`, `super::` and
//! `self::` path of a module's non-test code (use trees included) is an edge from its file's
//! module to the deepest module the path names. An edge between two modules is lifted to the
//! two siblings below their closest common ancestor (`service::jobs -> storage::quota` is
//! `service -> storage`), and the siblings of every parent must form a graph without cycles:
//! a parent may use its children and a child its parent, but `a` and `b` may not use each
//! other, however deep the uses sit. Paths through the crate root's re-exports
//! (`crate::RunSpec`) name the root and add no edge.
//!
//! It lives in the smallest crate so that it builds in seconds; it checks every crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file below `src` (except `src/bin`) by its module path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(src).unwrap();
            if path.is_dir() {
                if rel != Path::new("bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension() != Some(std::ffi::OsStr::new("rs")) {
                continue;
            }
            let mut parts: Module = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The code without comments, string and character literals (their text could look like
/// paths) and without what follows the first `#[cfg(test)]` (test modules sit at the end).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let end = format!("\"{}", "#".repeat(hashes));
                let from = i + 2 + hashes;
                i = text[from..]
                    .find(&end)
                    .map_or(b.len(), |n| from + n + end.len());
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A character literal ('x', '\n', '\''), not a lifetime ('a).
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') => {
                i += 3;
                out.push_str("' '");
            }
            c => {
                // Multi-byte characters pass through whole.
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                if len == 1 {
                    out.push(c as char);
                } else {
                    out.push_str(&text[i..i + len]);
                }
                i += len;
            }
        }
    }
    out
}

/// The tokens that matter here: identifiers, `::`, `{`, `}`, `,`, `*`; anything else is a `;`.
fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(code[i..end].to_owned());
        } else if c == ':' && chars.peek().map(|&(_, d)| d) == Some(':') {
            chars.next();
            out.push("::".to_owned());
        } else if matches!(c, '{' | '}' | ',' | '*') {
            out.push(c.to_string());
        } else if !c.is_whitespace() {
            out.push(";".to_owned());
        }
    }
    out
}

/// The paths of a use tree starting at `t[*i]` (just after a `::`), each appended to `prefix`.
fn tree(t: &[String], i: &mut usize, prefix: &Module, out: &mut Vec<Module>) {
    let mut path = prefix.clone();
    loop {
        match t.get(*i).map(String::as_str) {
            Some("{") => {
                *i += 1;
                while *i < t.len() && t[*i] != "}" {
                    if t[*i] == "," {
                        *i += 1;
                        continue;
                    }
                    tree(t, i, &path, out);
                }
                *i += 1;
                return;
            }
            Some(word) if word.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                path.push(word.to_owned());
                *i += 1;
                if t.get(*i).map(String::as_str) == Some("::") {
                    *i += 1;
                    continue;
                }
                out.push(path);
                return;
            }
            _ => {
                out.push(path);
                return;
            }
        }
    }
}

/// The modules that `module`'s code names.
fn uses(module: &Module, code: &str, known: &BTreeMap<Module, PathBuf>) -> BTreeSet<Module> {
    let t = tokens(code);
    let mut targets = BTreeSet::new();
    let mut i = 0;
    while i < t.len() {
        let start = i;
        i += 1;
        let preceded_by_path = start > 0 && t[start - 1] == "::";
        let base: Option<Module> = match t[start].as_str() {
            _ if preceded_by_path => None,
            "crate" => Some(Vec::new()),
            "self" => Some(module.clone()),
            "super" => {
                let mut base = module.clone();
                base.pop();
                let mut j = start + 1;
                while t.get(j).map(String::as_str) == Some("::")
                    && t.get(j + 1).map(String::as_str) == Some("super")
                {
                    base.pop();
                    j += 2;
                }
                i = j;
                Some(base)
            }
            _ => None,
        };
        let Some(base) = base else { continue };
        if t.get(i).map(String::as_str) != Some("::") {
            continue;
        }
        i += 1;
        let mut paths = Vec::new();
        tree(&t, &mut i, &base, &mut paths);
        for mut path in paths {
            while !known.contains_key(&path) {
                path.pop();
            }
            targets.insert(path);
        }
    }
    targets
}

/// A cycle among the keys of `graph`, if any (depth-first search, three colours).
fn cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        n: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        done: &mut BTreeSet<Module>,
        path: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(at) = path.iter().position(|m| m == n) {
            let mut found = path[at..].to_vec();
            found.push(n.clone());
            return Some(found);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(found) = visit(m, graph, done, path) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

/// Every cycle of one crate, as `a -> b -> a` lines with the uses that make each step.
fn circles(src: &Path) -> Vec<String> {
    let known = modules(src);
    // Lifted edges, with the module-level uses behind each.
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut why: BTreeMap<(Module, Module), Vec<String>> = BTreeMap::new();
    for (module, file) in &known {
        let text = std::fs::read_to_string(file).unwrap();
        for target in uses(module, &code(&text), &known) {
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == module.len() || common == target.len() {
                continue; // itself, an ancestor or a descendant
            }
            let (a, b) = (module[..=common].to_vec(), target[..=common].to_vec());
            graph.entry(a.clone()).or_default().insert(b.clone());
            why.entry((a, b)).or_default().push(format!(
                "{} uses {}",
                module.join("::"),
                target.join("::")
            ));
        }
    }
    let mut found = Vec::new();
    while let Some(c) = cycle(&graph) {
        let steps: Vec<String> = c
            .windows(2)
            .map(|w| why[&(w[0].clone(), w[1].clone())].join(", "))
            .collect();
        let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
        found.push(format!("{} ({})", names.join(" -> "), steps.join("; ")));
        // Report each cycle once: drop its first edge and look again.
        graph.get_mut(&c[0]).unwrap().remove(&c[1]);
    }
    found
}

#[test]
fn modules_import_each_other_without_circles() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut report = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        checked += 1;
        for c in circles(&src) {
            report.push(format!("{}: {c}", src.display()));
        }
    }
    assert!(
        checked >= 8,
        "expected every crate below {}",
        crates.display()
    );
    assert!(report.is_empty(), "import circles:\n{}", report.join("\n"));
}

/// The checker itself finds what it should.
#[test]
fn finds_circles_and_reads_use_trees() {
    let known: BTreeMap<Module, PathBuf> = [
        vec![],
        vec!["a".to_owned()],
        vec!["b".to_owned()],
        vec!["b".to_owned(), "c".to_owned()],
    ]
    .into_iter()
    .map(|m| (m, PathBuf::new()))
    .collect();
    let text = code(
        "// crate::a::x in a comment\nuse crate::{a::X, b::c::{self, Y}};\nlet s = \"crate::b\";\nfn f<'a>(c: char) { let q = '\"'; super::b::Z }\n#[cfg(test)]\nmod tests { use crate::b; }",
    );
    let found = uses(&vec!["b".to_owned(), "c".to_owned()], &text, &known);
    let names: Vec<String> = found.iter().map(|m| m.join("::")).collect();
    assert_eq!(names, ["a", "b", "b::c"]);
    let mut graph = BTreeMap::new();
    graph.insert(vec!["a".to_owned()], BTreeSet::from([vec!["b".to_owned()]]));
    assert!(cycle(&graph).is_none());
    graph.insert(vec!["b".to_owned()], BTreeSet::from([vec!["a".to_owned()]]));
    assert!(cycle(&graph).is_some());
}
