//! `erase <email>`: the GDPR erase of one contact through `Store::erase_contact`, printing what
//! was removed per table. The store leaves an audit tombstone holding only counts.

use salesagent_core::Error;
use salesagent_core::model::EmailAddress;
use salesagent_core::ports::DynStore;

/// Arguments of `erase`.
#[derive(Debug, clap::Args)]
pub struct EraseArgs {
    /// The contact's e-mail address.
    email: String,
    /// Who is erasing (recorded in the audit tombstone).
    #[arg(long, env = "SALESAGENT_OPERATOR", default_value = "operator:cli")]
    actor: String,
    /// Print one JSON document: `{"email", "total", "per_table"}`.
    #[arg(long)]
    json: bool,
}

/// Erases everything that mentions the address and prints the rows removed per table.
///
/// # Errors
/// `InvalidInput` for a malformed address or actor; store failures as reported.
pub async fn run(args: &EraseArgs, store: DynStore) -> Result<(), Error> {
    let email = EmailAddress::parse(&args.email)?;
    let report = store.erase_contact(&email, &args.actor).await?;
    if args.json {
        let doc = serde_json::json!({
            "email": email.to_string(),
            "total": report.total(),
            "per_table": report.per_table,
        });
        let text =
            serde_json::to_string_pretty(&doc).map_err(|e| Error::backend(format!("json: {e}")))?;
        out!("{text}");
    } else if report.per_table.is_empty() {
        out!("nothing mentioned {email}; an erase tombstone was recorded in the audit log");
    } else {
        out!("erased {email}: {} row(s)", report.total());
        for (table, n) in &report.per_table {
            out!("  {table:<24} {n:>6}");
        }
    }
    Ok(())
}
