//! The size limits on the code outside tests: no source file over
//! [`MAX_MODULE_LINES`] lines and no function over [`MAX_FUNCTION_LINES`]
//! (from `fn` to its closing brace). Test modules, `#[test]` functions and
//! the test crates do not count. The test prints the largest of each, so
//! `cargo test --test sizes -- --nocapture` is the report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::Visit;

/// The most lines a source file may have outside its test modules.
const MAX_MODULE_LINES: usize = 800;

/// The most lines a function may have, signature to closing brace.
const MAX_FUNCTION_LINES: usize = 100;

/// Whether attributes mark an item as test-only (`#[test]`, or a `cfg`
/// naming `test`).
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("test")
            || (attr.path().is_ident("cfg")
                && attr
                    .meta
                    .to_token_stream()
                    .into_iter()
                    .any(|tree| tree.to_string().split(|c: char| !c.is_alphanumeric() && c != '_').any(|word| word == "test")))
    })
}

/// Every `.rs` file under `dir`, leaving out a crate's `tests` folder.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).expect("read source folder").map(|entry| entry.expect("folder entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            let crate_tests = path.file_name().is_some_and(|name| name == "tests") && path.parent().is_some_and(|parent| parent.join("Cargo.toml").exists());
            if !crate_tests && path.file_name().is_some_and(|name| name != "target") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The file a `mod name;` declared in `file` is read from.
fn module_file(file: &Path, item: &syn::ItemMod) -> PathBuf {
    let dir = file.parent().expect("a source file has a folder");
    if let Some(path) = item.attrs.iter().find(|attr| attr.path().is_ident("path")) {
        if let syn::Meta::NameValue(syn::MetaNameValue { value: syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }), .. }) = &path.meta {
            return dir.join(text.value());
        }
    }
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let base = if matches!(stem, "mod" | "lib" | "main") { dir.to_path_buf() } else { dir.join(stem) };
    let name = item.ident.to_string();
    let flat = base.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        base.join(name).join("mod.rs")
    }
}

/// One function's length, where it starts and what it is called.
struct Function {
    lines: usize,
    file: PathBuf,
    line: usize,
    name: String,
}

/// Collects the functions of one file that are not test code.
struct Functions<'a> {
    file: &'a Path,
    found: Vec<Function>,
}

impl Functions<'_> {
    fn note(&mut self, name: &syn::Ident, fn_token: &syn::token::Fn, block: &syn::Block) {
        let start = fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        self.found.push(Function { lines: end - start + 1, file: self.file.to_path_buf(), line: start, name: name.to_string() });
    }
}

impl<'ast> Visit<'ast> for Functions<'_> {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test(&item.attrs) {
            self.note(&item.sig.ident, &item.sig.fn_token, &item.block);
            syn::visit::visit_item_fn(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test(&item.attrs) {
            self.note(&item.sig.ident, &item.sig.fn_token, &item.block);
            syn::visit::visit_impl_item_fn(self, item);
        }
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let (false, Some(block)) = (is_test(&item.attrs), &item.default) {
            self.note(&item.sig.ident, &item.sig.fn_token, block);
        }
        syn::visit::visit_trait_item_fn(self, item);
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_test(&item.attrs) {
            syn::visit::visit_item_impl(self, item);
        }
    }
}

/// The lines of a parsed file that are not inside an inline test item.
fn module_lines(text: &str, file: &syn::File) -> usize {
    let test_lines: usize = file
        .items
        .iter()
        .filter(|item| match item {
            syn::Item::Mod(m) => is_test(&m.attrs) && m.content.is_some(),
            syn::Item::Fn(f) => is_test(&f.attrs),
            syn::Item::Impl(i) => is_test(&i.attrs),
            _ => false,
        })
        .map(|item| item.span().end().line - item.span().start().line + 1)
        .sum();
    text.lines().count() - test_lines
}

#[test]
fn no_module_or_function_outside_tests_is_over_its_limit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf();
    let mut files = Vec::new();
    for top in ["crates", "services"] {
        sources(&root.join(top), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files under crates/ and services/", files.len());
    let parsed: Vec<(PathBuf, String, syn::File)> = files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
            (path, text, file)
        })
        .collect();
    let test_files: BTreeSet<PathBuf> = parsed
        .iter()
        .flat_map(|(path, _, file)| {
            file.items.iter().filter_map(move |item| match item {
                syn::Item::Mod(m) if m.content.is_none() && is_test(&m.attrs) => Some(module_file(path, m)),
                _ => None,
            })
        })
        .collect();
    let mut modules = Vec::new();
    let mut functions = Vec::new();
    for (path, text, file) in &parsed {
        if test_files.contains(path) {
            continue;
        }
        modules.push((module_lines(text, file), path.strip_prefix(&root).unwrap_or(path).to_path_buf()));
        let mut visitor = Functions { file: path.strip_prefix(&root).unwrap_or(path), found: Vec::new() };
        visitor.visit_file(file);
        functions.extend(visitor.found);
    }
    modules.sort_by_key(|m| std::cmp::Reverse(m.0));
    functions.sort_by_key(|f| std::cmp::Reverse(f.lines));
    println!("largest modules (lines outside tests, limit {MAX_MODULE_LINES}):");
    for (lines, path) in modules.iter().take(5) {
        println!("  {lines:5}  {}", path.display());
    }
    println!("longest functions (lines, limit {MAX_FUNCTION_LINES}):");
    for f in functions.iter().take(5) {
        println!("  {:5}  {}:{} {}", f.lines, f.file.display(), f.line, f.name);
    }
    let over: Vec<String> = modules
        .iter()
        .filter(|(lines, _)| *lines > MAX_MODULE_LINES)
        .map(|(lines, path)| format!("{} has {lines} lines", path.display()))
        .chain(functions.iter().filter(|f| f.lines > MAX_FUNCTION_LINES).map(|f| format!("{}:{} `{}` has {} lines", f.file.display(), f.line, f.name, f.lines)))
        .collect();
    assert!(over.is_empty(), "over the size limits:\n{}", over.join("\n"));
    assert!(functions.len() > 500, "found only {} functions", functions.len());
}
