//! The layering of `src/`: no import circle between its top-level modules (DESIGN §2,
//! "vocabulary at the bottom, adapters at the edge").
//!
//! Reads every `.rs` file under `src/`, takes each `crate::<module>` path outside
//! comments and `#[cfg(test)]` modules as an edge from the file's top-level module to
//! `<module>`, and fails on any strongly connected component of more than one module,
//! naming the modules and one file per edge so that the import to move is found at
//! once. It also pins the bottom of the graph: the vocabulary modules import nothing
//! above them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeMap<String, PathBuf>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without comments and without its `#[cfg(test)]` tail (tests may
/// reach anywhere).
fn code_of(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module named right after `crate::`, including each name of a
/// `crate::{a, b::c}` group.
fn referenced_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Only the first segment of each top-level item of the group.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        found.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.remove("");
    found
}

fn graph(src: &Path) -> Graph {
    let modules: BTreeSet<String> = fs::read_dir(src)
        .expect("read src/")
        .map(|e| e.expect("dir entry").path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            (p.is_dir() || name != "lib").then_some(name)
        })
        .collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src/");
        let top = relative
            .components()
            .next()
            .and_then(|c| Path::new(c.as_os_str()).file_stem())
            .and_then(|s| s.to_str())
            .expect("a top-level name")
            .to_owned();
        if top == "lib" {
            continue; // the crate root re-exports everything by design
        }
        let code = code_of(&fs::read_to_string(&file).expect("read a source file"));
        for module in referenced_modules(&code) {
            if module != top && modules.contains(&module) {
                graph
                    .entry(top.clone())
                    .or_default()
                    .entry(module)
                    .or_insert_with(|| relative.to_owned());
            }
        }
    }
    graph
}

/// Tarjan's strongly connected components with more than one module.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in s.graph.get(v).into_iter().flat_map(|e| e.keys()) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_import_circle_between_the_modules_of_src() {
    let graph = graph(&src());
    let circles = cycles(&graph);
    let explain: Vec<String> = circles
        .iter()
        .flat_map(|component| {
            let graph = &graph;
            component.iter().flat_map(move |from| {
                graph[from]
                    .iter()
                    .filter(|(to, _)| component.contains(to))
                    .map(move |(to, file)| format!("{from} -> {to} (src/{})", file.display()))
            })
        })
        .collect();
    assert!(
        circles.is_empty(),
        "import circles {circles:?}:\n{}",
        explain.join("\n")
    );
}

#[test]
fn the_vocabulary_imports_nothing_above_it() {
    let graph = graph(&src());
    let allowed: &[(&str, &[&str])] = &[
        ("ids", &[]),
        ("event", &["ids"]),
        ("metrics", &[]),
        ("protocol", &["ids"]),
        ("call", &["event", "ids"]),
        ("outbound", &["ids", "metrics", "protocol"]),
    ];
    for (module, may_use) in allowed {
        let uses: Vec<&String> = graph
            .get(*module)
            .map(|edges| edges.keys().collect())
            .unwrap_or_default();
        for used in uses {
            assert!(
                may_use.contains(&used.as_str()),
                "{module} imports {used} (src/{}); the vocabulary may use only {may_use:?}",
                graph[*module][used].display()
            );
        }
    }
}

#[test]
fn the_parser_sees_grouped_and_nested_imports() {
    let code = "use crate::{ids::{A, B}, event::{self, C}};\nfn f() { crate::hub::x(); }\n// crate::persist::Y";
    let found = referenced_modules(&code_of(code));
    let expected: BTreeSet<String> = ["ids", "event", "hub"].map(String::from).into();
    assert_eq!(found, expected);
    let mut g = Graph::new();
    g.entry("a".into())
        .or_default()
        .insert("b".into(), "a.rs".into());
    g.entry("b".into())
        .or_default()
        .insert("a".into(), "b.rs".into());
    g.entry("c".into())
        .or_default()
        .insert("a".into(), "c.rs".into());
    assert_eq!(cycles(&g), vec![vec!["a".to_owned(), "b".to_owned()]]);
}
