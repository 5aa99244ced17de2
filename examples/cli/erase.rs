//! `erase <email>`: the GDPR erase of one contact through `Store::erase_contact`, printing what
//! was removed per table. The store leaves an audit tombstone holding only counts.

use salesagent_core::Error;
use salesagent_core::model::EmailAddress;
use salesagent_core::ports::{DynCrm, DynStore};

/// Arguments of `erase`.
#[derive(Debug, clap::Args)]
pub struct EraseArgs {
    /// The contact's e-mail address.
    email: String,
    /// Who is erasing (recorded in the audit tombstone).
    #[arg(long, env = "SALESAGENT_OPERATOR", default_value = "operator:cli")]
    actor: String,
    /// Print one JSON document: `{"email", "total", "per_table", "crm"}`.
    #[arg(long)]
    json: bool,
    /// Also ask the CRM to erase the contact (HubSpot's GDPR delete); reported per system.
    #[arg(long)]
    crm: bool,
}

/// Erases everything that mentions the address and prints the rows removed per table.
///
/// # Errors
/// `InvalidInput` for a malformed address or actor; store failures as reported.
pub async fn run(args: &EraseArgs, store: DynStore, crm: DynCrm) -> Result<(), Error> {
    let email = EmailAddress::parse(&args.email)?;
    let report = store.erase_contact(&email, &args.actor).await?;
    // The store first: its erase is what keeps the address from being mailed again.
    let crm_result = if args.crm {
        Some(match crm.erase_contact(&email).await {
            Ok(()) => "erased".to_owned(),
            Err(Error::Unsupported { .. }) => "not supported by this CRM".to_owned(),
            Err(e) => format!("failed: {e}"),
        })
    } else {
        None
    };
    if args.json {
        let doc = serde_json::json!({
            "email": email.to_string(),
            "total": report.total(),
            "per_table": report.per_table,
            "crm": crm_result,
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
    if !args.json
        && let Some(r) = &crm_result
    {
        out!("crm: {r}");
    }
    if let Some(r) = crm_result.filter(|r| r.starts_with("failed")) {
        return Err(Error::unavailable(format!(
            "the store is erased; the CRM erase {r}"
        )));
    }
    Ok(())
}
