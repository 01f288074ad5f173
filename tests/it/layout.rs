//! The shape of `src/`, checked: no import loop between the app's modules, the app
//! reaches the virtual operator only through the one wiring module, the virtual operator
//! uses nothing of the app but the shared values, and comments cite only documents in
//! the repository.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The crate's top-level module a file belongs to (`src/verification/store.rs` →
/// `verification`); `None` for the crate roots.
fn top_module(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(SRC).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(name) => Some(name.to_owned()),
        None => Some(first),
    }
}

/// The top-level modules a source text names through `crate::`: `crate::a::…` and every
/// first-level item of `crate::{a, b::{…}}`.
fn crate_references(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c != ',' {
                    item.push(c);
                }
            }
            items.push(item);
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.insert(name);
        }
    }
    found
}

/// Top-level module → the top-level modules it uses (itself excluded).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(Path::new(SRC)) {
        let Some(module) = top_module(&file) else { continue };
        let mut uses = crate_references(&fs::read_to_string(&file).unwrap());
        uses.remove(&module);
        graph.entry(module).or_default().extend(uses);
    }
    graph
}

/// A cycle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_reference_parser_sees_groups_and_paths() {
    let refs = crate_references(
        "use crate::{\n    config::{Config, X},\n    http::api_error,\n    state::AppState,\n};\nlet x = crate::phone::normalise(y);\n// crate::commented::out\n",
    );
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["config", "http", "phone", "state"]
    );
    let looped: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), BTreeSet::from([v.to_owned()])))
        .collect();
    assert!(find_cycle(&looped).is_some());
}

#[test]
fn the_app_has_no_import_loop() {
    let mut app = graph();
    app.remove("sandbox");
    for uses in app.values_mut() {
        uses.remove("sandbox");
    }
    assert!(
        app.contains_key("verification") && app.contains_key("routes"),
        "{app:?}"
    );
    assert_eq!(find_cycle(&app), None, "module graph: {app:#?}");
}

#[test]
fn only_the_router_wires_the_virtual_operator() {
    let graph = graph();
    let users: Vec<_> = graph
        .iter()
        .filter(|(module, uses)| *module != "sandbox" && uses.contains("sandbox"))
        .map(|(module, _)| module.as_str())
        .collect();
    assert_eq!(users, ["server"]);
    // The virtual operator knows nothing of the app but the values both share and the
    // building blocks under them.
    let sandbox_uses: Vec<_> = graph["sandbox"].iter().map(String::as_str).collect();
    assert_eq!(sandbox_uses, ["phone", "sandbox_contract", "support"]);
    // The building blocks import nothing else of the crate.
    assert!(graph["support"].is_empty(), "support uses {:?}", graph["support"]);
}

#[test]
fn comments_cite_documents_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["src", "tests"] {
        for file in rust_files(&root.join(dir)) {
            let text = fs::read_to_string(&file).unwrap();
            let spec = ["SPEC", " §"].concat();
            assert!(
                !text.contains(&spec),
                "{} cites a document outside the repository",
                file.display()
            );
            for (at, _) in text.match_indices("docs/") {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
                    .collect();
                let name = name.trim_end_matches('.');
                if !name.ends_with(".md") {
                    continue;
                }
                assert!(
                    root.join(name).is_file(),
                    "{} cites {name}, which does not exist",
                    file.display()
                );
            }
        }
    }
}
