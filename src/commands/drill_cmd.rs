//! `breakglass drill report`.

use crate::commands::env::{Env, emit, emit_json};

/// `breakglass drill report`.
pub(crate) fn drill_report_cmd(env: &Env, a: &crate::commands::cli::DrillReportArgs) -> anyhow::Result<i32> {
    let since = a.since;
    if !env.data_dir.is_dir() {
        anyhow::bail!(
            "no data directory at {}: check --data-dir (or BREAKGLASS_DATA_DIR); sessions are kept under its sessions/ folder",
            env.data_dir.display()
        );
    }
    let rep = crate::core::drill::report(&env.config, &env.sessions_dir(), since, chrono::Utc::now())?;
    match a.format {
        crate::commands::cli::Format::Json => emit_json(&format!("{}\n", serde_json::to_string_pretty(&rep)?))?,
        crate::commands::cli::Format::Text => emit(&crate::core::drill::render_text(&rep))?,
        crate::commands::cli::Format::Md => emit(&crate::core::drill::render_md(&rep))?,
    }
    if let Some(dir) = &a.export {
        crate::core::drill::export(&rep, dir)?;
        errln!("evidence pack written to {}", dir.display());
    }
    Ok(0)
}
