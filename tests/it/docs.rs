//! The README and the manual in `docs/` name files of this repository and link to each
//! other. Code moves; a doc that still names the old place sends its reader to nothing.
//! These tests read the docs as they are in the repository and fail, listing every
//! dead path or link at once, when one does not resolve.
//!
//! What counts as a repository path: a word that starts with one of [`PREFIXES`], found
//! in an inline code span, in a markdown link target, or in a fenced code block (where
//! commands and trees name files too). Written with a trailing `:line`, `#anchor` or `/`,
//! it is checked without them. A word with a placeholder in it (`<hash>`, `{1,2}`, `*`,
//! `…`, `$VAR`) names a family of files, not one, and is skipped.

use std::{
    collections::BTreeSet,
    fs,
    path::{Component, Path, PathBuf},
};

/// The tops of the repository's own directories: a word starting with one of these is a
/// path into the repository, not a URL path or a crate path.
const PREFIXES: [&str; 10] = [
    "src/",
    "tests/",
    "scripts/",
    "docs/",
    "end2end/",
    "public/",
    "style/",
    "sandbox-keys/",
    "examples/",
    ".ci/",
];

/// Characters that make a word a pattern for several files, or a shell variable.
const PLACEHOLDERS: [char; 9] = ['<', '>', '{', '}', '*', '…', '$', '?', '|'];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A document, by its path relative to the repository root.
struct Doc {
    path: PathBuf,
    text: String,
}

impl Doc {
    /// The directory its relative links start from.
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }
}

/// `README.md` and every `*.md` directly in the docs directory (not the copied CAMARA
/// material below it, which is not ours to edit).
fn documents() -> Vec<Doc> {
    let mut paths = vec![PathBuf::from("README.md")];
    let docs_dir = root().join("docs");
    let mut manual: Vec<PathBuf> = fs::read_dir(&docs_dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", docs_dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| Path::new("docs").join(path.file_name().expect("a listed file has a name")))
        .collect();
    manual.sort();
    paths.extend(manual);
    paths
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(root().join(&path))
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            Doc { path, text }
        })
        .collect()
}

/// Each line, and whether it is inside a fenced code block (fence lines themselves are
/// neither prose nor code).
fn lines(markdown: &str) -> Vec<(bool, &str)> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_code = !in_code;
            continue;
        }
        out.push((in_code, line));
    }
    out
}

/// The contents of the inline code spans of a prose line (a span opens and closes with
/// backtick runs of the same length).
fn code_spans(line: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let ticks = rest[open..].chars().take_while(|&c| c == '`').count();
        let fence = &rest[open..open + ticks];
        let body_start = open + ticks;
        match rest[body_start..].find(fence) {
            Some(len) => {
                spans.push(&rest[body_start..body_start + len]);
                rest = &rest[body_start + len + ticks..];
            }
            None => break,
        }
    }
    spans
}

/// The targets of the markdown links `[text](target)` on a prose line, outside code
/// spans; a link title (`[text](target "title")`) is dropped.
fn link_targets(line: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut rest = line;
    // Code spans may hold `](` that is no link: blank them out first.
    for span in code_spans(line) {
        if let Some(at) = rest.find(span) {
            prose.push_str(&rest[..at]);
            rest = &rest[at + span.len()..];
        }
    }
    prose.push_str(rest);

    let mut targets = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or("");
        if !target.is_empty() {
            targets.push(target.to_owned());
        }
        rest = &after[end..];
    }
    targets
}

/// `word` as a repository path — leading `./` dropped; a trailing `:line`, `#anchor` and
/// `/` stripped — or `None` when it is not one.
fn repository_path(word: &str) -> Option<String> {
    let word = word.trim_matches(|c: char| matches!(c, '"' | '\'' | '(' | ')' | '[' | ']' | ',' | ';'));
    let word = word.strip_prefix("./").unwrap_or(word);
    if !PREFIXES.iter().any(|prefix| word.starts_with(prefix)) || word.contains(PLACEHOLDERS) {
        return None;
    }
    let word = word.split('#').next().unwrap_or(word);
    let word = match word.rsplit_once(':') {
        Some((path, line)) if line.chars().all(|c| c.is_ascii_digit()) => path,
        _ => word,
    };
    let word = word.trim_end_matches(['.', ':']).trim_end_matches('/');
    Some(word.to_owned())
}

/// `relative` (a link target without its anchor) seen from the directory `dir`, both
/// relative to the repository root; `None` when it climbs out of the repository.
fn resolve(dir: &Path, relative: &str) -> Option<PathBuf> {
    let joined = dir.join(relative);
    let mut resolved = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::Normal(part) => resolved.push(part),
            Component::ParentDir => {
                if !resolved.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(resolved)
}

/// Whether a link target leaves the repository (a URL, a mail address).
fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

/// Every repository path the document at `dir` names, as written there, cleaned.
fn named_paths(dir: &Path, markdown: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (in_code, line) in lines(markdown) {
        if in_code {
            // Commands name files as arguments, often as `NAME=path`.
            for word in line.split_whitespace() {
                let word = word.rsplit('=').next().unwrap_or(word);
                found.extend(repository_path(word));
            }
            continue;
        }
        for span in code_spans(line) {
            found.extend(span.split_whitespace().filter_map(repository_path));
        }
        for target in link_targets(line) {
            if is_external(&target) || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap_or(&target);
            if let Some(resolved) = resolve(dir, path) {
                found.extend(repository_path(&resolved.to_string_lossy()));
            }
        }
    }
    found
}

/// The named paths under `root` that do not exist.
fn missing_paths(root: &Path, dir: &Path, markdown: &str) -> Vec<String> {
    named_paths(dir, markdown)
        .into_iter()
        .filter(|path| !root.join(path).exists())
        .collect()
}

/// The anchor GitHub gives a heading: lowercase; letters, digits, `-` and `_` kept;
/// spaces become `-`; everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a document's headings, repeated ones numbered as GitHub numbers them.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (in_code, line) in lines(markdown) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if in_code || hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim().trim_end_matches('#').trim());
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// Every relative link of the document at `dir` that leads nowhere: a missing file or
/// directory, or an anchor that no heading of the target document (or of this one, for
/// `#anchor` alone) has.
fn broken_links(root: &Path, dir: &Path, markdown: &str) -> Vec<String> {
    let mut broken = Vec::new();
    for (in_code, line) in lines(markdown) {
        if in_code {
            continue;
        }
        for target in link_targets(line) {
            if is_external(&target) {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let linked = if path.is_empty() {
                Some(markdown.to_owned())
            } else {
                match resolve(dir, path).map(|file| root.join(file)) {
                    Some(file) if file.is_file() => Some(fs::read_to_string(file).unwrap_or_default()),
                    Some(folder) if folder.is_dir() => None,
                    _ => {
                        broken.push(format!("{target} (no such file)"));
                        continue;
                    }
                }
            };
            let is_markdown = path.is_empty() || path.ends_with(".md");
            if let (Some(anchor), Some(text), true) = (anchor, linked, is_markdown) {
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{target} (no heading with that anchor)"));
                }
            }
        }
    }
    broken
}

#[test]
fn every_path_named_in_the_docs_exists() {
    let mut missing = Vec::new();
    for doc in documents() {
        for path in missing_paths(root(), doc.dir(), &doc.text) {
            missing.push(format!("{}: {path}", doc.path.display()));
        }
    }
    assert!(
        missing.is_empty(),
        "{} path(s) named in the docs do not exist:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

#[test]
fn relative_links_between_docs_resolve() {
    let mut broken = Vec::new();
    for doc in documents() {
        for link in broken_links(root(), doc.dir(), &doc.text) {
            broken.push(format!("{}: {link}", doc.path.display()));
        }
    }
    assert!(
        broken.is_empty(),
        "{} link(s) in the docs lead nowhere:\n  {}",
        broken.len(),
        broken.join("\n  ")
    );
}

/// The check above can fail: a made-up path is reported, wherever the doc names it, and
/// real ones are not.
#[test]
fn the_extractor_reports_a_made_up_path() {
    let doc = "\
Real: `src/lib.rs`, `./scripts/test.sh`, [the script](../scripts/run.sh#L3), `Cargo.toml`.
Made up: `src/made_up/nowhere.rs:12`, and a link [here](../examples/made_up.rs).
A family: `sandbox-keys/mc-id-token-{1,2}.pem`, `/pkg/number-verify.<hash>.wasm`.

```sh
VONAGE_PRIVATE_KEY=sandbox-keys/made-up.pem target/debug/number-verify
./scripts/run.sh --release   # see tests/made_up/
```
";
    let named = named_paths(Path::new("docs"), doc);
    assert_eq!(
        named.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "examples/made_up.rs",
            "sandbox-keys/made-up.pem",
            "scripts/run.sh",
            "scripts/test.sh",
            "src/lib.rs",
            "src/made_up/nowhere.rs",
            "tests/made_up",
        ]
    );
    assert_eq!(
        missing_paths(root(), Path::new("docs"), doc),
        [
            "examples/made_up.rs",
            "sandbox-keys/made-up.pem",
            "src/made_up/nowhere.rs",
            "tests/made_up",
        ]
    );
}

#[test]
fn paths_are_cleaned_of_lines_anchors_and_slashes() {
    assert_eq!(repository_path("src/main.rs:42").as_deref(), Some("src/main.rs"));
    assert_eq!(repository_path("src/main.rs#L42").as_deref(), Some("src/main.rs"));
    assert_eq!(repository_path("src/sandbox/").as_deref(), Some("src/sandbox"));
    assert_eq!(repository_path("./.ci/run").as_deref(), Some(".ci/run"));
    assert_eq!(
        repository_path("(scripts/bench.sh),").as_deref(),
        Some("scripts/bench.sh")
    );
    assert_eq!(repository_path("target/site"), None);
    assert_eq!(repository_path("/sandbox/device"), None);
    assert_eq!(repository_path("src/*.rs"), None);
}

/// The link check can fail too: a missing file and a missing heading are reported.
#[test]
fn the_link_check_reports_a_broken_link_and_anchor() {
    let doc = "\
# A heading
## Its `code`: part (two)

[fine](#a-heading), [fine](#its-code-part-two), [fine](../README.md#number-verify),
[fine](../src/), [external](https://example.com/x.md), `[not a link](nowhere.md)`,
[gone](nowhere.md), [no heading](#not-here), [no heading](../README.md#not-there).
";
    assert_eq!(
        anchors(doc).into_iter().collect::<Vec<_>>(),
        ["a-heading", "its-code-part-two"]
    );
    assert_eq!(
        broken_links(root(), Path::new("docs"), doc),
        [
            "nowhere.md (no such file)",
            "#not-here (no heading with that anchor)",
            "../README.md#not-there (no heading with that anchor)",
        ]
    );
}
