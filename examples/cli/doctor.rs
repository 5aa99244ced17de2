//! `doctor`: one harmless authenticated read per configured service, as a table or JSON.
//! The checks live in `salesagent::services::doctor`; this module prints and sets the exit code.

use crate::{Failure, print_json};
use salesagent::services::Services;
use salesagent::services::doctor;
use salesagent_core::ports::DynClock;

/// Flags of `doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// One JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the checks and prints them; a failed configured service is an error (exit code 1).
pub async fn run(services: &Services, clock: &DynClock, args: &DoctorArgs) -> Result<(), Failure> {
    let report = doctor::run(services, clock).await;
    if args.json {
        print_json(&report)?;
    } else {
        out!("{}", report.table().trim_end());
    }
    let failed: Vec<String> = report
        .failures()
        .map(|c| format!("{} ({})", c.service, c.error_kind.unwrap_or("error")))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "{} failed: {}",
            if failed.len() == 1 {
                "1 service"
            } else {
                "services"
            },
            failed.join(", ")
        )))
    }
}
