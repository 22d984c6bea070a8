//! The two migration folders cannot drift apart.
#![allow(clippy::unwrap_used)]

fn names(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn both_backends_have_the_same_migrations_by_version_and_name() {
    let sqlite = names(store_sql::MIGRATIONS_SQLITE);
    let postgres = names(store_sql::MIGRATIONS_POSTGRES);
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

#[test]
fn migrations_seed_exactly_the_initial_areas_of_the_domain() {
    for dir in [store_sql::MIGRATIONS_SQLITE, store_sql::MIGRATIONS_POSTGRES] {
        let sql: String = names(dir)
            .iter()
            .map(|n| std::fs::read_to_string(format!("{dir}/{n}")).unwrap())
            .collect();
        for (slug, name) in domain::role::INITIAL_DATA_RETURN_AREAS {
            assert!(
                sql.contains(&format!("('{slug}', '{name}', 'data_return', FALSE)")),
                "{dir}: {slug}"
            );
        }
    }
}
