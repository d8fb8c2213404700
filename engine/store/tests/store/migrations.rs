//! The two migration folders must describe the same tables and columns.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Per file, table name to its column names, in order, from `CREATE TABLE`
/// statements; columns added by `ALTER TABLE … ADD COLUMN` are listed under
/// `"<table> (added)"`.
fn tables(folder: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(&dir).expect("migration folder") {
        let path = entry.unwrap().path();
        let sql = fs::read_to_string(&path).unwrap();
        let mut tables = BTreeMap::new();
        let mut current: Option<(String, Vec<String>)> = None;
        for line in sql.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("ALTER TABLE ") {
                let mut words = rest.split_whitespace();
                let table = words.next().unwrap_or_default();
                assert_eq!((words.next(), words.next()), (Some("ADD"), Some("COLUMN")), "{line}");
                let column = words.next().unwrap_or_default().to_owned();
                tables.entry(format!("{table} (added)")).or_insert_with(Vec::new).push(column);
            } else if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                let name = rest.trim_end_matches('(').trim().to_owned();
                current = Some((name, Vec::new()));
            } else if line.starts_with(");") {
                if let Some((name, columns)) = current.take() {
                    tables.insert(name, columns);
                }
            } else if let Some((_, columns)) = current.as_mut() {
                let first = line.split_whitespace().next().unwrap_or_default();
                if !first.is_empty() && first.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    columns.push(first.to_owned());
                }
            }
        }
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        files.insert(file, tables);
    }
    files
}

#[test]
fn sqlite_and_postgres_schemas_match() {
    let sqlite = tables("sqlite");
    let postgres = tables("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
    let initial = &sqlite["0001_initial.sql"];
    assert_eq!(initial.len(), 7, "{initial:?}");
    assert!(initial["documents"].contains(&"version".to_owned()));

    let accounts = &sqlite["0002_accounts_and_meta.sql"];
    let names: Vec<&str> = accounts.keys().map(String::as_str).collect();
    assert_eq!(names, ["documents (added)", "enterprises", "login_challenges", "sessions", "users"]);
    assert_eq!(accounts["documents (added)"], ["meta"]);
    assert_eq!(accounts["users"].len(), 9, "{:?}", accounts["users"]);
    assert_eq!(accounts["sessions"].len(), 6, "{:?}", accounts["sessions"]);
}
