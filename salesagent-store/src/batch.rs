//! Statements built as values, so several can be sent to the database together.
//!
//! A [`Stmt`] is SQL with `$1`, `$2`, … placeholders and the values to bind. [`SqlStore::batch`]
//! runs several inside an open transaction: on SQLite as one multi-statement query (its
//! numbered parameters bind across statements, so the batch is renumbered and costs one round
//! trip to the connection's worker), on PostgreSQL one statement after another (the extended
//! protocol takes one statement per query).

use crate::SqlStore;
use crate::error::db;
use salesagent_core::Result;
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use sqlx::{Any, Arguments as _, AssertSqlSafe, Transaction};

/// A value bound to a placeholder: the store only binds text and integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    /// Text, or NULL.
    Text(Option<String>),
    /// A 64-bit integer, or NULL.
    Int(Option<i64>),
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

/// One SQL statement with its values, `$n` numbered from 1 in the order of binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stmt {
    sql: String,
    vals: Vec<Val>,
}

impl Stmt {
    /// A statement with no values bound yet.
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            vals: Vec::new(),
        }
    }

    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, v: impl Into<Val>) -> Self {
        self.vals.push(v.into());
        self
    }

    /// The values as driver arguments.
    fn arguments(vals: Vec<Val>) -> Result<AnyArguments, sqlx::error::BoxDynError> {
        let mut args = AnyArguments::default();
        for v in vals {
            match v {
                Val::Text(t) => args.add(t),
                Val::Int(i) => args.add(i),
            }?;
        }
        Ok(args)
    }

    /// Runs the statement alone; driver errors are returned unmapped, for callers that give
    /// a constraint violation their own meaning.
    pub(crate) async fn execute_raw<'c, E>(self, on: E) -> Result<AnyQueryResult, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        let args = Self::arguments(self.vals).map_err(sqlx::Error::Encode)?;
        sqlx::query_with(AssertSqlSafe(self.sql), args)
            .execute(on)
            .await
    }

    /// Runs the statement alone and returns its first row, if any.
    pub(crate) async fn fetch_optional<'c, E>(self, on: E) -> Result<Option<AnyRow>>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        let args = Self::arguments(self.vals)
            .map_err(sqlx::Error::Encode)
            .map_err(db)?;
        sqlx::query_with(AssertSqlSafe(self.sql), args)
            .fetch_optional(on)
            .await
            .map_err(db)
    }

    /// Runs the statement alone.
    pub(crate) async fn execute<'c, E>(self, on: E) -> Result<AnyQueryResult>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        self.execute_raw(on).await.map_err(db)
    }
}

/// `sql` with every `$n` placeholder moved up by `offset`.
///
/// The store's statements hold no `$` inside string literals, so every `$` followed by digits
/// is a placeholder.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// The statements of a batch joined into one query with one list of values.
pub(crate) fn join(stmts: Vec<Stmt>) -> Stmt {
    let mut joined = Stmt::new(String::new());
    for s in stmts {
        joined
            .sql
            .push_str(&renumber(s.sql.trim_end_matches(';'), joined.vals.len()));
        joined.sql.push_str(";\n");
        joined.vals.extend(s.vals);
    }
    joined
}

impl SqlStore {
    /// Runs `stmts` in order inside `tx`; the first failure stops the batch (and the caller's
    /// transaction rolls back when dropped). Driver errors are returned unmapped.
    pub(crate) async fn batch(
        &self,
        tx: &mut Transaction<'_, Any>,
        stmts: Vec<Stmt>,
    ) -> Result<(), sqlx::Error> {
        if self.is_pg() {
            for s in stmts {
                s.execute_raw(&mut **tx).await?;
            }
        } else if !stmts.is_empty() {
            join(stmts).execute_raw(&mut **tx).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumber_moves_every_placeholder() {
        assert_eq!(
            renumber("INSERT INTO t (a, b) VALUES ($1, $2) -- $10", 3),
            "INSERT INTO t (a, b) VALUES ($4, $5) -- $13"
        );
        assert_eq!(renumber("SELECT 1", 5), "SELECT 1");
        assert_eq!(renumber("a $ b $x", 1), "a $ b $x");
    }

    #[test]
    fn join_numbers_values_across_statements() {
        let joined = join(vec![
            Stmt::new("DELETE FROM t WHERE a = $1;").bind("x"),
            Stmt::new("INSERT INTO t (a, b) VALUES ($1, $2)")
                .bind("y")
                .bind(2_i64),
        ]);
        assert_eq!(
            joined.sql,
            "DELETE FROM t WHERE a = $1;\nINSERT INTO t (a, b) VALUES ($2, $3);\n"
        );
        assert_eq!(
            joined.vals,
            vec![Val::from("x"), Val::from("y"), Val::Int(Some(2))]
        );
    }
}
