//! `operators add NAME | list | revoke NAME`: named operators of the webhook host's API and web
//! page. A token is printed once, when its operator is added; the store keeps only its hash.
//! Adding and revoking leave audit entries (actor `SALESAGENT_OPERATOR`, default
//! `operator:cli`).

use salesagent_core::Error;
use salesagent_core::model::NewAuditEntry;
use salesagent_core::ports::{DynStore, new_operator_token, operator_token_hash};
use secrecy::ExposeSecret as _;

/// What to do with operators.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum OperatorsCommand {
    /// Add an operator and print their token (shown only this once).
    Add {
        /// Lowercase letters, digits, '-' and '_' (up to 32; `admin` is reserved for
        /// SALESAGENT_OPERATOR_TOKEN).
        name: String,
        /// Print `{"name", "token"}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List operators (names and dates, never tokens).
    List {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an operator's token: it stops working at once (sessions already open on the
    /// web page end when they expire).
    Revoke {
        /// The operator.
        name: String,
    },
}

/// Who the audit log records for these commands.
fn actor() -> String {
    std::env::var("SALESAGENT_OPERATOR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "operator:cli".to_owned())
}

async fn audit(store: &DynStore, action: &str, name: &str) -> Result<(), Error> {
    store
        .append_audit(&NewAuditEntry {
            actor: actor(),
            action: action.to_owned(),
            subject: format!("operator:{name}"),
            details: serde_json::json!({}),
        })
        .await
        .map(|_| ())
}

/// Runs one `operators` command against `store`.
///
/// # Errors
/// `InvalidInput` for a bad name, `Conflict` for a name already in use, `NotFound` when
/// revoking an unknown (or already revoked) operator; store failures as reported.
pub async fn run(command: &OperatorsCommand, store: DynStore) -> Result<(), Error> {
    match command {
        OperatorsCommand::Add { name, json } => {
            let token = new_operator_token(name)?;
            let token = token.expose_secret();
            store
                .add_operator(name, &operator_token_hash(token))
                .await?;
            audit(&store, "operator.add", name).await?;
            if *json {
                out!("{}", serde_json::json!({"name": name, "token": token}));
            } else {
                out!("added operator {name}; their token (shown only now, store it safely):");
                out!("{token}");
            }
        }
        OperatorsCommand::List { json } => {
            let ops = store.list_operators().await?;
            if *json {
                let doc: Vec<_> = ops
                    .iter()
                    .map(|o| {
                        serde_json::json!({
                            "name": o.name,
                            "created_at": o.created_at,
                            "revoked_at": o.revoked_at,
                        })
                    })
                    .collect();
                out!("{}", serde_json::Value::Array(doc));
            } else if ops.is_empty() {
                out!("(no operators; `operators add NAME` adds one)");
            } else {
                out!("{:<32}  {:<20}  STATUS", "NAME", "ADDED");
                for o in &ops {
                    let status = o.revoked_at.map_or_else(
                        || "active".to_owned(),
                        |t| format!("revoked {}", t.format("%Y-%m-%d %H:%M")),
                    );
                    out!(
                        "{:<32}  {:<20}  {status}",
                        o.name,
                        o.created_at.format("%Y-%m-%d %H:%M").to_string()
                    );
                }
            }
        }
        OperatorsCommand::Revoke { name } => {
            if !store.revoke_operator(name).await? {
                return Err(Error::not_found(format!("active operator {name}")));
            }
            audit(&store, "operator.revoke", name).await?;
            out!("revoked operator {name}");
        }
    }
    Ok(())
}
