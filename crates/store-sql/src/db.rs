//! One way to run a statement on either backend (issue 17).
//!
//! Every query is written once, with `$1` placeholders, as `db::query(sql)`,
//! `db::query_as::<Row>(sql)` or `db::query_scalar::<T>(sql)`, its values given
//! with `.bind(…)`, and run with `.execute`, `.fetch_one`, `.fetch_optional` or
//! `.fetch_all` on whatever the dispatch macros hand it:
//!
//! * on SQLite, a `rusqlite` connection — the writer inside a unit of work, or
//!   a reader from [`crate::lite::Readers`] — and the statement runs right
//!   there, on the calling thread, from the connection's statement cache: no
//!   hand-off to another thread per statement (sqlx runs each SQLite
//!   connection on a thread of its own and sends every statement to it);
//! * on PostgreSQL, sqlx as before (a round trip to the server either way).
//!
//! Rows are decoded by name through [`RowRead`] (row types declare themselves
//! with [`db_row!`](crate::db_row)), the same code for both backends.

use std::borrow::Cow;
use std::marker::PhantomData;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row as _};
use uuid::Uuid;

use crate::lite::Readers;
use crate::ts::Ts;

/// What running a statement can fail with, from either driver.
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlx(sqlx::Error),
    Lite(rusqlite::Error),
    /// A value read back that does not have the type the row expects.
    Decode(String),
    /// The writer could not be had or its group did not commit.
    Store(store::StoreError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sqlx(e)
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Lite(e)
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlx(e) => e.fmt(f),
            Self::Lite(e) => e.fmt(f),
            Self::Decode(e) => f.write_str(e),
            Self::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DbError {}

// Values ----------------------------------------------------------------------

/// The type of a NULL, which PostgreSQL needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    I64,
    I32,
    F64,
    Bool,
    Text,
    Blob,
    Uuid,
    Ts,
}

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Value<'q> {
    Null(Kind),
    I64(i64),
    I32(i32),
    F64(f64),
    Bool(bool),
    Text(Cow<'q, str>),
    Blob(Cow<'q, [u8]>),
    Uuid(Uuid),
    Ts(Ts),
}

/// Something that can be bound to a statement.
pub(crate) trait Bind<'q> {
    const KIND: Kind;
    fn value(self) -> Value<'q>;
}

macro_rules! bind_copy {
    ($($t:ty => $kind:ident, |$v:ident| $e:expr;)*) => {$(
        impl<'q> Bind<'q> for $t {
            const KIND: Kind = Kind::$kind;
            fn value(self) -> Value<'q> {
                let $v = self;
                $e
            }
        }
        impl<'q> Bind<'q> for &'q $t {
            const KIND: Kind = Kind::$kind;
            fn value(self) -> Value<'q> {
                let $v = *self;
                $e
            }
        }
    )*};
}

bind_copy! {
    i64 => I64, |v| Value::I64(v);
    i32 => I32, |v| Value::I32(v);
    u32 => I64, |v| Value::I64(i64::from(v));
    f64 => F64, |v| Value::F64(v);
    bool => Bool, |v| Value::Bool(v);
    Uuid => Uuid, |v| Value::Uuid(v);
    Ts => Ts, |v| Value::Ts(v);
}

impl<'q> Bind<'q> for &'q str {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value<'q> {
        Value::Text(Cow::Borrowed(self))
    }
}

impl<'q> Bind<'q> for &'q String {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value<'q> {
        Value::Text(Cow::Borrowed(self.as_str()))
    }
}

impl<'q> Bind<'q> for String {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value<'q> {
        Value::Text(Cow::Owned(self))
    }
}

impl<'q> Bind<'q> for &'q [u8] {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value<'q> {
        Value::Blob(Cow::Borrowed(self))
    }
}

impl<'q> Bind<'q> for &'q Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value<'q> {
        Value::Blob(Cow::Borrowed(self.as_slice()))
    }
}

impl<'q> Bind<'q> for Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value<'q> {
        Value::Blob(Cow::Owned(self))
    }
}

impl<'q, const N: usize> Bind<'q> for &'q [u8; N] {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value<'q> {
        Value::Blob(Cow::Borrowed(self.as_slice()))
    }
}

impl<'q, T: Bind<'q>> Bind<'q> for Option<T> {
    const KIND: Kind = T::KIND;
    fn value(self) -> Value<'q> {
        match self {
            Some(v) => v.value(),
            None => Value::Null(T::KIND),
        }
    }
}

impl<'q, T> Bind<'q> for &'q Option<T>
where
    &'q T: Bind<'q>,
{
    const KIND: Kind = <&'q T as Bind<'q>>::KIND;
    fn value(self) -> Value<'q> {
        self.as_ref().value()
    }
}

impl Value<'_> {
    /// As SQLite stores it: UUIDs as 16 bytes, times as Unix microseconds,
    /// booleans as 0 and 1 (what sqlx wrote before, so existing files read the same).
    fn lite(&self) -> rusqlite::types::ToSqlOutput<'_> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        match self {
            Value::Null(_) => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::I64(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::I32(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
            Value::F64(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Value::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v))),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Value::Uuid(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v.as_bytes())),
            Value::Ts(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v.micros())),
        }
    }
}

// Reading columns -------------------------------------------------------------

/// A column's value as a Rust type, from either backend.
pub(crate) trait Col: Sized {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String>;
    fn from_pg<I: sqlx::ColumnIndex<PgRow>>(row: &PgRow, i: I) -> Result<Self, sqlx::Error>;
    fn from_pg_opt<I: sqlx::ColumnIndex<PgRow>>(
        row: &PgRow,
        i: I,
    ) -> Result<Option<Self>, sqlx::Error>;
}

fn lite_type(v: rusqlite::types::ValueRef<'_>) -> &'static str {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "INTEGER",
        ValueRef::Real(_) => "REAL",
        ValueRef::Text(_) => "TEXT",
        ValueRef::Blob(_) => "BLOB",
    }
}

macro_rules! pg_col {
    ($t:ty) => {
        fn from_pg<I: sqlx::ColumnIndex<PgRow>>(row: &PgRow, i: I) -> Result<Self, sqlx::Error> {
            row.try_get::<$t, I>(i)
        }
        fn from_pg_opt<I: sqlx::ColumnIndex<PgRow>>(
            row: &PgRow,
            i: I,
        ) -> Result<Option<Self>, sqlx::Error> {
            row.try_get::<Option<$t>, I>(i)
        }
    };
}

impl Col for i64 {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Integer(i) => Ok(i),
            // As sqlite3_column_int64 would (e.g. an aggregate over REALs).
            ValueRef::Real(f) => Ok(f as i64),
            other => Err(format!("expected an integer, found {}", lite_type(other))),
        }
    }
    pg_col!(i64);
}

impl Col for i32 {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        let i = i64::from_lite(v)?;
        i32::try_from(i).map_err(|_| format!("{i} is out of range for a 32-bit integer"))
    }
    pg_col!(i32);
}

impl Col for f64 {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(format!("expected a number, found {}", lite_type(other))),
        }
    }
    pg_col!(f64);
}

impl Col for bool {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        Ok(i64::from_lite(v)? != 0)
    }
    pg_col!(bool);
}

impl Col for String {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8(t.to_vec())
                .map_err(|_| "a text column is not valid UTF-8".to_owned()),
            ValueRef::Integer(i) => Ok(i.to_string()),
            ValueRef::Real(f) => Ok(f.to_string()),
            ValueRef::Null => Err("expected text, found NULL".to_owned()),
        }
    }
    pg_col!(String);
}

impl Col for Vec<u8> {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
            other => Err(format!("expected bytes, found {}", lite_type(other))),
        }
    }
    pg_col!(Vec<u8>);
}

impl Col for Uuid {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Blob(b) => Uuid::from_slice(b).map_err(|e| e.to_string()),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| "a UUID column holds text that is not a UUID".to_owned()),
            other => Err(format!("expected a UUID, found {}", lite_type(other))),
        }
    }
    pg_col!(Uuid);
}

impl Col for Ts {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        Ts::from_micros(i64::from_lite(v)?)
    }
    pg_col!(Ts);
}

impl<T: Col> Col for Option<T> {
    fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        match v {
            rusqlite::types::ValueRef::Null => Ok(None),
            v => T::from_lite(v).map(Some),
        }
    }
    fn from_pg<I: sqlx::ColumnIndex<PgRow>>(row: &PgRow, i: I) -> Result<Self, sqlx::Error> {
        T::from_pg_opt(row, i)
    }
    fn from_pg_opt<I: sqlx::ColumnIndex<PgRow>>(
        row: &PgRow,
        i: I,
    ) -> Result<Option<Self>, sqlx::Error> {
        T::from_pg_opt(row, i).map(Some)
    }
}

/// A row of either backend, read by column name or position.
pub(crate) trait RowRead {
    fn col<T: Col>(&self, name: &str) -> Result<T, DbError>;
    fn at<T: Col>(&self, i: usize) -> Result<T, DbError>;
}

impl RowRead for PgRow {
    fn col<T: Col>(&self, name: &str) -> Result<T, DbError> {
        T::from_pg(self, name).map_err(DbError::Sqlx)
    }
    fn at<T: Col>(&self, i: usize) -> Result<T, DbError> {
        T::from_pg(self, i).map_err(DbError::Sqlx)
    }
}

/// A SQLite row with its statement's column names, read once per statement:
/// looking a name up through SQLite for every column of every row was a tenth
/// of a list page's time. Row types read their columns mostly in the order
/// the query names them, so the search starts after the last column found.
struct LiteRow<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    names: &'a [String],
    next: std::cell::Cell<usize>,
}

impl LiteRow<'_, '_> {
    fn index(&self, name: &str) -> Result<usize, DbError> {
        let n = self.names.len();
        let start = self.next.get();
        (0..n)
            .map(|k| (start + k) % n.max(1))
            .find(|&i| self.names[i].eq_ignore_ascii_case(name))
            .inspect(|&i| self.next.set(i + 1))
            .ok_or_else(|| DbError::Lite(rusqlite::Error::InvalidColumnName(name.to_owned())))
    }
}

impl RowRead for LiteRow<'_, '_> {
    fn col<T: Col>(&self, name: &str) -> Result<T, DbError> {
        let v = self.row.get_ref(self.index(name)?)?;
        T::from_lite(v).map_err(|e| DbError::Decode(format!("column {name}: {e}")))
    }
    fn at<T: Col>(&self, i: usize) -> Result<T, DbError> {
        let v = self.row.get_ref(i)?;
        T::from_lite(v).map_err(|e| DbError::Decode(format!("column {i}: {e}")))
    }
}

/// A row type that can be read from either backend.
pub(crate) trait FromDbRow: Sized {
    fn from_row<R: RowRead>(row: &R) -> Result<Self, DbError>;
}

/// Declares a row struct whose fields are read by their names.
#[macro_export]
#[doc(hidden)]
macro_rules! db_row {
    (
        $(#[$m:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fm:meta])* $fvis:vis $f:ident : $t:ty),* $(,)?
        }
    ) => {
        $(#[$m])*
        $vis struct $name {
            $($(#[$fm])* $fvis $f: $t),*
        }
        impl $crate::db::FromDbRow for $name {
            fn from_row<R: $crate::db::RowRead>(row: &R) -> Result<Self, $crate::db::DbError> {
                Ok(Self { $($f: row.col(stringify!($f))?),* })
            }
        }
    };
}

macro_rules! tuple_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Col),+> FromDbRow for ($($t,)+) {
            fn from_row<R: RowRead>(row: &R) -> Result<Self, DbError> {
                Ok(($(row.at::<$t>($i)?,)+))
            }
        }
    };
}

tuple_row!(A 0);
tuple_row!(A 0, B 1);
tuple_row!(A 0, B 1, C 2);
tuple_row!(A 0, B 1, C 2, D 3);
tuple_row!(A 0, B 1, C 2, D 3, E 4);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);

/// The first column, for [`query_scalar`].
pub(crate) struct Scalar<T>(T);

impl<T: Col> FromDbRow for Scalar<T> {
    fn from_row<R: RowRead>(row: &R) -> Result<Self, DbError> {
        row.at(0).map(Scalar)
    }
}

// Statements ------------------------------------------------------------------

/// Where a statement runs.
pub(crate) enum Ex<'c> {
    /// A SQLite connection this code holds: the writer in a unit, or a reader.
    Lite(&'c mut rusqlite::Connection),
    /// SQLite's readers: a connection is taken for the one statement.
    Readers(&'c Readers),
    Pg(&'c mut PgConnection),
    PgPool(&'c PgPool),
}

impl Ex<'_> {
    /// The same place again, for a second statement.
    pub(crate) fn by_ref(&mut self) -> Ex<'_> {
        match self {
            Ex::Lite(c) => Ex::Lite(c),
            Ex::Readers(r) => Ex::Readers(r),
            Ex::Pg(c) => Ex::Pg(c),
            Ex::PgPool(p) => Ex::PgPool(p),
        }
    }
}

impl<'c> From<&'c mut rusqlite::Connection> for Ex<'c> {
    fn from(c: &'c mut rusqlite::Connection) -> Self {
        Self::Lite(c)
    }
}

impl<'c> From<&'c Readers> for Ex<'c> {
    fn from(r: &'c Readers) -> Self {
        Self::Readers(r)
    }
}

impl<'c> From<&'c mut PgConnection> for Ex<'c> {
    fn from(c: &'c mut PgConnection) -> Self {
        Self::Pg(c)
    }
}

impl<'c> From<&'c PgPool> for Ex<'c> {
    fn from(p: &'c PgPool) -> Self {
        Self::PgPool(p)
    }
}

/// What an `execute` did.
pub(crate) struct Done(u64);

impl Done {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// A statement with its values, not yet run.
pub(crate) struct Q<'q, O> {
    sql: &'q str,
    args: Vec<Value<'q>>,
    out: PhantomData<fn() -> O>,
}

/// A statement run for its effect (or read with `query_as`/`query_scalar`).
pub(crate) fn query(sql: &str) -> Q<'_, ()> {
    Q {
        sql,
        args: Vec::new(),
        out: PhantomData,
    }
}

/// A statement whose rows are read as `T`.
pub(crate) fn query_as<T: FromDbRow>(sql: &str) -> Q<'_, T> {
    Q {
        sql,
        args: Vec::new(),
        out: PhantomData,
    }
}

/// A statement whose rows' first column is read as `T`.
pub(crate) fn query_scalar<T: Col>(sql: &str) -> QScalar<'_, T> {
    QScalar(Q {
        sql,
        args: Vec::new(),
        out: PhantomData,
    })
}

impl<'q, O> Q<'q, O> {
    pub(crate) fn bind<B: Bind<'q>>(mut self, v: B) -> Self {
        self.args.push(v.value());
        self
    }

    pub(crate) async fn execute<'c>(self, ex: impl Into<Ex<'c>>) -> Result<Done, DbError> {
        match ex.into() {
            Ex::Lite(c) => in_unit(c).and_then(|()| lite_execute(c, self.sql, &self.args)),
            Ex::Readers(r) => r.with(|c| lite_execute(c, self.sql, &self.args)),
            Ex::Pg(c) => Ok(Done(
                pg_query(self.sql, self.args)?
                    .execute(c)
                    .await?
                    .rows_affected(),
            )),
            Ex::PgPool(p) => Ok(Done(
                pg_query(self.sql, self.args)?
                    .execute(p)
                    .await?
                    .rows_affected(),
            )),
        }
    }
}

impl<'q, T: FromDbRow> Q<'q, T> {
    pub(crate) async fn fetch_all<'c>(self, ex: impl Into<Ex<'c>>) -> Result<Vec<T>, DbError> {
        match ex.into() {
            Ex::Lite(c) => in_unit(c).and_then(|()| lite_rows(c, self.sql, &self.args, usize::MAX)),
            Ex::Readers(r) => r.with(|c| lite_rows(c, self.sql, &self.args, usize::MAX)),
            Ex::Pg(c) => pg_rows(pg_query(self.sql, self.args)?.fetch_all(c).await?),
            Ex::PgPool(p) => pg_rows(pg_query(self.sql, self.args)?.fetch_all(p).await?),
        }
    }

    pub(crate) async fn fetch_optional<'c>(
        self,
        ex: impl Into<Ex<'c>>,
    ) -> Result<Option<T>, DbError> {
        let row = match ex.into() {
            Ex::Lite(c) => in_unit(c).and_then(|()| lite_rows(c, self.sql, &self.args, 1))?,
            Ex::Readers(r) => r.with(|c| lite_rows(c, self.sql, &self.args, 1))?,
            Ex::Pg(c) => pg_rows(
                pg_query(self.sql, self.args)?
                    .fetch_optional(c)
                    .await?
                    .into_iter()
                    .collect(),
            )?,
            Ex::PgPool(p) => pg_rows(
                pg_query(self.sql, self.args)?
                    .fetch_optional(p)
                    .await?
                    .into_iter()
                    .collect(),
            )?,
        };
        Ok(row.into_iter().next())
    }

    pub(crate) async fn fetch_one<'c>(self, ex: impl Into<Ex<'c>>) -> Result<T, DbError> {
        self.fetch_optional(ex)
            .await?
            .ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))
    }
}

/// [`query_scalar`]'s statement.
pub(crate) struct QScalar<'q, T>(Q<'q, Scalar<T>>);

impl<'q, T: Col> QScalar<'q, T> {
    pub(crate) fn bind<B: Bind<'q>>(self, v: B) -> Self {
        Self(self.0.bind(v))
    }

    pub(crate) async fn fetch_all<'c>(self, ex: impl Into<Ex<'c>>) -> Result<Vec<T>, DbError> {
        Ok(self
            .0
            .fetch_all(ex)
            .await?
            .into_iter()
            .map(|s| s.0)
            .collect())
    }

    pub(crate) async fn fetch_optional<'c>(
        self,
        ex: impl Into<Ex<'c>>,
    ) -> Result<Option<T>, DbError> {
        Ok(self.0.fetch_optional(ex).await?.map(|s| s.0))
    }

    pub(crate) async fn fetch_one<'c>(self, ex: impl Into<Ex<'c>>) -> Result<T, DbError> {
        Ok(self.0.fetch_one(ex).await?.0)
    }
}

/// The statement for sqlx, its values added to one argument buffer (binding
/// them one by one to sqlx's `Query` moved the whole query for each value).
fn pg_query<'q>(
    sql: &'q str,
    args: Vec<Value<'q>>,
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>, DbError> {
    use sqlx::Arguments as _;
    let mut a = sqlx::postgres::PgArguments::default();
    for v in args {
        match v {
            Value::Null(kind) => match kind {
                Kind::I64 => a.add(None::<i64>),
                Kind::I32 => a.add(None::<i32>),
                Kind::F64 => a.add(None::<f64>),
                Kind::Bool => a.add(None::<bool>),
                Kind::Text => a.add(None::<String>),
                Kind::Blob => a.add(None::<Vec<u8>>),
                Kind::Uuid => a.add(None::<Uuid>),
                Kind::Ts => a.add(None::<Ts>),
            },
            Value::I64(v) => a.add(v),
            Value::I32(v) => a.add(v),
            Value::F64(v) => a.add(v),
            Value::Bool(v) => a.add(v),
            Value::Text(Cow::Borrowed(v)) => a.add(v),
            Value::Text(Cow::Owned(v)) => a.add(v),
            Value::Blob(Cow::Borrowed(v)) => a.add(v),
            Value::Blob(Cow::Owned(v)) => a.add(v),
            Value::Uuid(v) => a.add(v),
            Value::Ts(v) => a.add(v),
        }
        .map_err(|e| DbError::Sqlx(sqlx::Error::Encode(e)))?;
    }
    Ok(sqlx::query_with(sql, a))
}

fn pg_rows<T: FromDbRow>(rows: Vec<PgRow>) -> Result<Vec<T>, DbError> {
    rows.iter().map(T::from_row).collect()
}

/// Binds `args` to a prepared statement: `$N` (and `?N`) parameters take the
/// N-th value wherever and however often they appear, as sqlx did; anonymous
/// `?` parameters take the values in order.
fn lite_bind(stmt: &mut rusqlite::Statement<'_>, args: &[Value<'_>]) -> Result<(), DbError> {
    let count = stmt.parameter_count();
    for i in 1..=count {
        let n = stmt
            .parameter_name(i)
            .and_then(|name| name.get(1..))
            .and_then(|digits| digits.parse::<usize>().ok())
            .unwrap_or(i);
        let value = args.get(n.wrapping_sub(1)).ok_or_else(|| {
            DbError::Decode(format!(
                "statement parameter {n} has no value ({} given)",
                args.len()
            ))
        })?;
        stmt.raw_bind_parameter(i, value.lite())?;
    }
    Ok(())
}

/// `Ex::Lite` is the writer inside a unit: if SQLite abandoned the unit's
/// transaction (an I/O error, a full disk), no further statement may run,
/// or it would be committed on its own.
fn in_unit(c: &rusqlite::Connection) -> Result<(), DbError> {
    if c.is_autocommit() {
        return Err(DbError::Store(store::StoreError::Database(
            "the database abandoned the transaction".into(),
        )));
    }
    Ok(())
}

fn lite_execute(
    c: &mut rusqlite::Connection,
    sql: &str,
    args: &[Value<'_>],
) -> Result<Done, DbError> {
    let mut stmt = c.prepare_cached(sql)?;
    lite_bind(&mut stmt, args)?;
    let changed = {
        let mut rows = stmt.raw_query();
        while rows.next()?.is_some() {}
        drop(rows);
        c.changes()
    };
    Ok(Done(changed))
}

fn lite_rows<T: FromDbRow>(
    c: &mut rusqlite::Connection,
    sql: &str,
    args: &[Value<'_>],
    limit: usize,
) -> Result<Vec<T>, DbError> {
    let mut stmt = c.prepare_cached(sql)?;
    lite_bind(&mut stmt, args)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while out.len() < limit {
        match rows.next()? {
            Some(row) => out.push(T::from_row(&LiteRow {
                row,
                names: &names,
                next: std::cell::Cell::new(0),
            })?),
            None => break,
        }
    }
    Ok(out)
}
