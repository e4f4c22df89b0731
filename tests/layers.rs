//! The layers stay visible: the core (the ceremony's rules, the journal, rosters, sealing,
//! signatures, verify, drills' arithmetic, the audit's and the archive's decisions) imports no
//! adapter (AWS, the PIV token, the terminal, the commands, the session runner, the demo). A core
//! module that starts to import one fails here, naming the line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

/// Modules whose decisions must not depend on the outside world.
const CORE: [&str; 26] = [
    "archive",
    "attest",
    "audit",
    "ceremony",
    "clock",
    "config",
    "cover",
    "drill",
    "evidence",
    "fsread",
    "journal",
    "key",
    "mode",
    "notice",
    "pivage",
    "plain",
    "rekey",
    "root",
    "roster",
    "rotate",
    "runbook",
    "seal",
    "sign",
    "statement",
    "trust",
    "verify",
];

/// Adapters and commands: the core reaches them only through the ports (traits) it defines.
const ADAPTERS: [&str; 3] = ["crate::adapters", "crate::terminal", "crate::commands"];

/// The `.rs` files directly in `src/<layer>/`, by module name.
fn modules_in(layer: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(layer);
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".rs")).map(str::to_string))
        .collect();
    v.sort();
    v
}

/// The folder is the layer: `src/core/` holds exactly the core modules, and nothing sits loose
/// in `src/` but lib.rs and main.rs.
#[test]
fn each_module_sits_in_its_layers_folder() {
    assert_eq!(modules_in("core"), CORE.map(String::from).to_vec(), "src/core/ must hold exactly the core modules");
    for (layer, want) in [
        ("adapters", &["aws", "session", "token"][..]),
        ("terminal", &["app", "keys", "ui", "view", "words"][..]),
        (
            "commands",
            &[
                "archive_cmd",
                "audit_cmd",
                "card",
                "ceremony_cmd",
                "cli",
                "demo",
                "doctor",
                "drill_cmd",
                "enroll",
                "env",
                "man",
                "offboard_cmd",
                "recover_cmd",
                "rekey_cmd",
                "roster_cmd",
                "run",
                "runbook_cmd",
                "start",
                "verify_cmd",
            ][..],
        ),
    ] {
        assert_eq!(modules_in(layer), want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "src/{layer}/");
    }
    let loose: Vec<String> = modules_in(".").into_iter().filter(|m| m != "lib" && m != "main").collect();
    assert!(loose.is_empty(), "modules outside a layer folder: {loose:?}");
}

#[test]
fn no_core_module_imports_an_adapter() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("core");
    let mut found = vec![];
    // Each core module's file, and the files of its submodules (src/core/<m>/*.rs).
    let mut files: Vec<(String, std::path::PathBuf)> = vec![];
    for m in CORE {
        files.push((format!("{m}.rs"), src.join(format!("{m}.rs"))));
        if let Ok(rd) = std::fs::read_dir(src.join(m)) {
            for e in rd.flatten() {
                files.push((format!("{m}/{}", e.file_name().to_string_lossy()), e.path()));
            }
        }
    }
    assert!(files.len() > CORE.len(), "the submodules of the core (src/core/ceremony/, src/core/journal/) were not found");
    for (m, path) in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("src/core/{m}: {e}"));
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            // Tests may use anything; the module's own code ends where they begin.
            if code.starts_with("#[cfg(test)]") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            let code = code.split("//").next().unwrap_or("");
            assert!(!code.contains("use crate::{"), "src/core/{m}:{}: grouped `use crate::{{...}}` hides what is imported", n + 1);
            for a in ADAPTERS {
                if code.contains(&format!("{a}::")) || code.contains(&format!("{a};")) {
                    found.push(format!("src/core/{m}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "core modules import adapters:\n{}", found.join("\n"));
}

/// The lib's module map names every module, so it cannot drift from the code.
#[test]
fn the_module_map_in_lib_rs_names_every_module() {
    let lib = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let (map, code) = lib.split_once("#![forbid").unwrap();
    let mut n = 0;
    for m in code.lines().filter_map(|l| l.trim().strip_prefix("pub mod ").and_then(|r| r.strip_suffix(';'))) {
        n += 1;
        assert!(map.contains(&format!("[`{m}`]")), "src/lib.rs: the module map does not mention `{m}`");
    }
    assert_eq!(n, CORE.len() + 14, "the module declarations in lib.rs were not all found");
}

/// Every file under a module's folder is declared by that module (`mod name;`): a file that is
/// not is never compiled, and reads as code that is not there.
#[test]
fn every_submodule_file_is_declared() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut orphans = vec![];
    for layer in ["core", "adapters", "terminal", "commands"] {
        for e in std::fs::read_dir(src.join(layer)).unwrap().flatten() {
            let dir = e.path();
            if !dir.is_dir() {
                continue;
            }
            let parent = std::fs::read_to_string(dir.with_extension("rs")).unwrap_or_default();
            for f in std::fs::read_dir(&dir).unwrap().flatten() {
                let name = f.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
                if !parent.lines().any(|l| l.trim_start().trim_start_matches("pub ").starts_with(&format!("mod {name};"))) {
                    orphans.push(f.path().display().to_string());
                }
            }
        }
    }
    assert!(orphans.is_empty(), "files no module declares (never compiled): {orphans:?}");
}

/// The module graph of the non-test code, as the build sees it: every `crate::x` (or
/// `crate::<layer>::x`) a module names, by module (a file or folder directly under a layer
/// folder; `commands/run.rs` is `commands`). No cycle between modules, and no import against the
/// layers (core -> core; adapters -> core, adapters; terminal -> core, adapters, terminal;
/// commands -> anything).
#[test]
fn the_module_graph_has_no_cycle_and_no_import_against_the_layers() {
    use std::collections::{BTreeMap, BTreeSet};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let ranks = [("core", 0), ("adapters", 1), ("terminal", 2), ("commands", 3)];
    let mut layer_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut files: Vec<(String, std::path::PathBuf)> = vec![];
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else if e.path().extension().is_some_and(|x| x == "rs") {
                out.push(e.path());
            }
        }
    }
    for (layer, rank) in ranks {
        let base = root.join(layer);
        let mut paths = vec![];
        walk(&base, &mut paths);
        for p in paths {
            let rel = p.strip_prefix(&base).unwrap();
            let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
            let mut m = first.trim_end_matches(".rs").to_string();
            if layer == "commands" && m == "run" {
                m = "commands".into();
            }
            layer_of.insert(m.clone(), rank);
            files.push((m, p));
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut why: BTreeMap<(String, String), String> = BTreeMap::new();
    for (m, p) in &files {
        let text = std::fs::read_to_string(p).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let mut name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if ranks.iter().any(|(l, _)| *l == name) && rest[name.len()..].starts_with("::") {
                    let after = &rest[name.len() + 2..];
                    let inner: String = after.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if !inner.is_empty() {
                        name = inner;
                    }
                }
                if layer_of.contains_key(&name) && name != *m {
                    edges.entry(m.clone()).or_default().insert(name.clone());
                    why.entry((m.clone(), name)).or_insert_with(|| p.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
    }
    let up: Vec<String> = edges
        .iter()
        .flat_map(|(a, bs)| bs.iter().map(move |b| (a, b)))
        .filter(|(a, b)| layer_of[*b] > layer_of[*a])
        .map(|(a, b)| format!("{a} -> {b} (src/{})", why[&(a.clone(), b.clone())]))
        .collect();
    assert!(up.is_empty(), "imports against the layers:\n{}", up.join("\n"));
    // A cycle: a module that reaches itself.
    let reach = |from: &String| {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<String> = edges.get(from).into_iter().flatten().cloned().collect();
        while let Some(n) = todo.pop() {
            if seen.insert(n.clone()) {
                todo.extend(edges.get(&n).into_iter().flatten().cloned());
            }
        }
        seen
    };
    let cyclic: Vec<String> = layer_of.keys().filter(|m| reach(m).contains(*m)).cloned().collect();
    assert!(cyclic.is_empty(), "modules in an import cycle: {cyclic:?}");
}
