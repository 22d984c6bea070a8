//! The store conformance suite, on both backends.

mod sqlite {
    store::conformance_tests!(async {
        let db = testkit::TestDb::sqlite().await;
        Some(db.store as std::sync::Arc<dyn store::Store>)
    });
}

mod postgres {
    store::conformance_tests!(async {
        let db = testkit::TestDb::postgres().await?;
        Some(db.store as std::sync::Arc<dyn store::Store>)
    });
}
