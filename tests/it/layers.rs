//! The modules of `src/` stand in layers: a module imports from its own layer and the layers
//! below, never from above, so configuration and the domain are leaves and no two modules need
//! each other. Read from the source: every `crate::<module>` path (a `use`, a path in code or in
//! an attribute) and every `super::` path that climbs to the crate root; comments are skipped.

use std::path::{Path, PathBuf};

/// The top-level modules of the crate, bottom to top. The crate root (`lib.rs`, `main.rs`) is
/// above them all.
const LAYERS: &[&[&str]] = &[
    &["domain"],
    &["config"],
    &["files", "telemetry", "aws"],
    &["store"],
    &["auth"],
    // The service layer between the authorizers and the HTTP handlers.
    &["services"],
    &["api"],
    // The wiring: the whole service from its settings (src/service.rs).
    &["service"],
    // What the entries share (starting the runtime, the exit code).
    &["entry"],
    &["server", "lambda", "deploy", "cli"],
];

/// Ways in: each stands on the layers below and none on another.
const ENTRIES: &[&str] = &["server", "lambda", "deploy", "cli"];

/// Imports the rules above would refuse, each kept for the reason in its comment: (from, to).
const EXCEPTIONS: &[(&str, &str)] = &[
    // The local HTTP server has no way in of its own: `checkoff serve` is how it starts.
    ("cli", "server"),
    // deploy renders the SAM template and has no way in of its own: `checkoff package` writes it.
    ("cli", "deploy"),
];

/// One import of a top-level module by another, where the source says it.
#[derive(Debug)]
struct Import {
    from: String,
    to: String,
    file: PathBuf,
    line: usize,
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "the sources in {}", src.display());

    let unplaced: Vec<String> = top_level_modules(&src)
        .into_iter()
        .filter(|module| layer_of(module).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules with no place in LAYERS (tests/it/layers.rs): {unplaced:?}; put each in the \
         layer of what it may use"
    );

    let mut refused = Vec::new();
    let mut excepted = Vec::new();
    for file in &files {
        let module = module_path(&src, file);
        if module.is_empty() {
            continue; // lib.rs, main.rs: the crate root may use anything.
        }
        let text = std::fs::read_to_string(file).unwrap();
        for import in imports_of(&module, file, &text) {
            match verdict(&import.from, &import.to) {
                Verdict::Allowed => {}
                Verdict::Refused(why) => {
                    match EXCEPTIONS
                        .iter()
                        .position(|&(from, to)| from == import.from && to == import.to)
                    {
                        Some(known) => excepted.push(known),
                        None => refused.push(format!(
                            "{}:{}: {} imports {}: {why}",
                            import.file.strip_prefix(&src).unwrap().display(),
                            import.line,
                            import.from,
                            import.to
                        )),
                    }
                }
            }
        }
    }
    assert!(
        refused.is_empty(),
        "imports against the layers (move what both need down, or, if truly needed, list the \
         import in EXCEPTIONS with why):\n{}",
        refused.join("\n")
    );
    let stale: Vec<_> = EXCEPTIONS
        .iter()
        .enumerate()
        .filter(|(i, _)| !excepted.contains(i))
        .map(|(_, &(from, to))| format!("{from} -> {to}"))
        .collect();
    assert!(
        stale.is_empty(),
        "exceptions no longer needed, to drop from EXCEPTIONS: {stale:?}"
    );
}

#[test]
fn the_reader_finds_imports_in_every_form_and_skips_comments() {
    let text = r#"
use crate::store::{Store, StoreError};
use crate::{
    auth::Decision,
    api::{AppState, app},
};
// use crate::cli::not_this;
/* crate::deploy::nor_this */
/// [`crate::server::nor_this`]
#[arg(value_parser = crate::config::parse_ttl)]
fn f() { let url = "https://x//"; crate::files::create_private_dir(url); }
use super::super::lambda::X;
use super::sibling;
use crate::AppState;
mod tests {
    const OPEN: char = '{';
    use super::super::not_this;
    use super::super::super::cli::Y;
}
"#;
    let found: Vec<(String, usize)> =
        imports_of(&["service".into(), "inner".into()], Path::new("x.rs"), text)
            .into_iter()
            .map(|i| (i.to, i.line))
            .collect();
    let expected = [
        ("store", 2),
        ("auth", 3),
        ("api", 3),
        ("config", 10),
        ("files", 11),
        ("lambda", 12),
        ("(the crate root)", 14),
        ("cli", 18),
    ];
    assert_eq!(
        found,
        expected.map(|(to, line)| (to.to_owned(), line)).to_vec()
    );
    assert!(matches!(verdict("config", "cli"), Verdict::Refused(_)));
    assert!(matches!(verdict("lambda", "cli"), Verdict::Refused(_)));
    assert!(matches!(verdict("cli", "config"), Verdict::Allowed));
    assert!(matches!(verdict("aws", "telemetry"), Verdict::Allowed));
    assert!(matches!(verdict("store", "services"), Verdict::Refused(_)));
}

enum Verdict {
    Allowed,
    Refused(&'static str),
}

fn verdict(from: &str, to: &str) -> Verdict {
    if from == to {
        return Verdict::Allowed;
    }
    let (Some(from_layer), Some(to_layer)) = (layer_of(from), layer_of(to)) else {
        return Verdict::Refused("the crate root is above every module");
    };
    if to_layer > from_layer {
        Verdict::Refused("a higher layer")
    } else if to_layer == from_layer && ENTRIES.contains(&from) && ENTRIES.contains(&to) {
        Verdict::Refused("another entry")
    } else {
        Verdict::Allowed
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
}

/// `src/<name>.rs` and `src/<name>/`, but the crate root.
fn top_level_modules(src: &Path) -> Vec<String> {
    let mut modules: Vec<String> = std::fs::read_dir(src)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            if path.is_dir() {
                path.file_name()?.to_str().map(str::to_owned)
            } else if path.extension().is_some_and(|e| e == "rs") {
                path.file_stem()?.to_str().map(str::to_owned)
            } else {
                None
            }
        })
        .filter(|name| name != "lib" && name != "main")
        .collect();
    modules.sort();
    modules.dedup();
    modules
}

/// The module a file holds: `src/store/sqlite/mod.rs` is `store::sqlite`; the crate root is empty.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    if path.len() == 1 && (path[0] == "lib" || path[0] == "main") {
        path.clear();
    }
    path
}

/// The top-level modules `text`, the source of `module`, imports from outside itself.
fn imports_of(module: &[String], file: &Path, text: &str) -> Vec<Import> {
    let (code, skeleton) = lex(text);
    let bytes = code.as_bytes();
    let shape = skeleton.as_bytes();
    let mut imports = Vec::new();
    let mut push = |to: String, at: usize| {
        if to != module[0] {
            imports.push(Import {
                from: module[0].clone(),
                to,
                file: file.to_owned(),
                line: code[..at].matches('\n').count() + 1,
            });
        }
    };
    // Inline modules (`mod tests { ... }`) the scan is in: the brace depth each one closes at.
    let mut depth = 0;
    let mut inline_modules: Vec<usize> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts_path = at == 0 || !is_ident(bytes[at - 1]) && bytes[at - 1] != b':';
        match shape[at] {
            b'{' => depth += 1,
            b'}' => {
                if inline_modules.last() == Some(&depth) {
                    inline_modules.pop();
                }
                depth -= 1;
            }
            b'm' if starts_path && shape[at..].starts_with(b"mod ") => {
                let rest = skeleton[at + "mod ".len()..].trim_start();
                if rest[ident(rest).len()..].trim_start().starts_with('{') {
                    inline_modules.push(depth + 1);
                }
            }
            _ => {}
        }
        if starts_path && bytes[at..].starts_with(b"crate::") {
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.trim_start().strip_prefix('{') {
                for first in group_heads(group) {
                    push(top_module(first), at);
                }
            } else {
                push(top_module(ident(rest)), at);
            }
            at += "crate::".len();
        } else if starts_path && bytes[at..].starts_with(b"super::") {
            let mut rest = &code[at..];
            let mut climbs = 0;
            while let Some(after) = rest.strip_prefix("super::") {
                climbs += 1;
                rest = after.trim_start();
            }
            // Only a climb to the crate root leaves the module the file is in.
            if climbs >= module.len() + inline_modules.len() {
                let next = ident(rest);
                if !next.is_empty() {
                    push(top_module(next), at);
                }
            }
            at += climbs * "super::".len();
        } else {
            at += 1;
        }
    }
    imports
}

/// The first name of each item of a `{ ... }` group, up to its closing brace.
fn group_heads(group: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                heads.push(ident(group[item_start..i].trim_start()));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(ident(group[item_start..i].trim_start()));
                item_start = i + 1;
            }
            _ => {}
        }
    }
    heads.retain(|head| !head.is_empty());
    heads
}

/// A name right under the crate root: a top-level module, or an item of the root itself.
fn top_module(name: &str) -> String {
    if layer_of(name).is_some() {
        name.to_owned()
    } else {
        "(the crate root)".to_owned()
    }
}

/// Whether `chars[i]` begins a token: nothing of a name before it but a byte string's `b`.
fn starts_token(chars: &[char], i: usize) -> bool {
    let name_char = |c: char| c.is_alphanumeric() || c == '_';
    match i.checked_sub(1).map(|j| chars[j]) {
        None => true,
        Some('b') => i < 2 || !name_char(chars[i - 2]),
        Some(c) => !name_char(c),
    }
}

fn ident(text: &str) -> &str {
    let end = text
        .bytes()
        .position(|b| !is_ident(b))
        .unwrap_or(text.len());
    &text[..end]
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The source with its comments blanked out (string literals kept: an attribute's string may
/// name a path), and its skeleton, with literals blanked out too (for counting braces). Both
/// keep every byte offset, so lines still count.
fn lex(text: &str) -> (String, String) {
    let chars: Vec<char> = text.chars().collect();
    let mut code = String::with_capacity(text.len());
    let mut skeleton = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| {
        if c == '\n' {
            out.push('\n');
        } else {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    };
    // Kind of what `chars[from..to]` is: code, a comment or a literal.
    let mut emit = |from: usize, to: usize, kind: u8| {
        for &c in &chars[from..to] {
            match kind {
                b'c' => {
                    code.push(c);
                    skeleton.push(c);
                }
                b'/' => {
                    blank(&mut code, c);
                    blank(&mut skeleton, c);
                }
                _ => {
                    code.push(c);
                    blank(&mut skeleton, c);
                }
            }
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let next = chars.get(i + 1).copied();
        let (end, kind) = match chars[i] {
            '/' if next == Some('/') => {
                let end = chars[i..].iter().position(|&c| c == '\n');
                (end.map_or(chars.len(), |at| i + at), b'/')
            }
            '/' if next == Some('*') => {
                let (mut depth, mut j) = (0, i);
                while j < chars.len() {
                    if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                        depth += 1;
                        j += 2;
                    } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                (j.min(chars.len()), b'/')
            }
            'r' if (next == Some('"') || next == Some('#')) && starts_token(&chars, i) => {
                // A raw string: r"...", r#"..."# (or a raw name, r#type, which is code).
                let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
                if chars.get(i + 1 + hashes) == Some(&'"') {
                    let body = i + 2 + hashes;
                    let closes = |at: &usize| {
                        chars[*at] == '"' && (1..=hashes).all(|h| chars.get(at + h) == Some(&'#'))
                    };
                    let close = (body..chars.len()).find(closes);
                    (close.map_or(chars.len(), |at| at + 1 + hashes), b'"')
                } else {
                    (i + 1, b'c')
                }
            }
            '"' => {
                let mut j = i + 1;
                while j < chars.len() && chars[j] != '"' {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
                ((j + 1).min(chars.len()), b'"')
            }
            '\'' => {
                // A character literal ('"', '\'', '{') is a literal; a lifetime is code.
                let literal_end = match next {
                    Some('\\') => chars
                        .get(i + 3..)
                        .and_then(|rest| rest.iter().position(|&c| c == '\''))
                        .map(|at| i + 3 + at + 1),
                    Some(_) if chars.get(i + 2) == Some(&'\'') => Some(i + 3),
                    _ => None,
                };
                match literal_end {
                    Some(end) => (end, b'\''),
                    None => (i + 1, b'c'),
                }
            }
            _ => (i + 1, b'c'),
        };
        emit(i, end, kind);
        i = end;
    }
    (code, skeleton)
}
