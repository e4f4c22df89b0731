//! `breakglass drill report`.

use crate::env::{Env, emit, emit_json};

/// `breakglass drill report`.
pub(crate) fn drill_report_cmd(env: &Env, a: &crate::cli::DrillReportArgs) -> anyhow::Result<i32> {
    let since = a.since;
    if !env.data_dir.is_dir() {
        anyhow::bail!(
            "no data directory at {}: check --data-dir (or BREAKGLASS_DATA_DIR); sessions are kept under its sessions/ folder",
            env.data_dir.display()
        );
    }
    let rep = crate::drill::report(&env.config, &env.sessions_dir(), since, chrono::Utc::now())?;
    match a.format {
        crate::cli::Format::Json => emit_json(&format!("{}\n", serde_json::to_string_pretty(&rep)?))?,
        crate::cli::Format::Text => emit(&crate::drill::render_text(&rep))?,
        crate::cli::Format::Md => emit(&crate::drill::render_md(&rep))?,
    }
    if let Some(dir) = &a.export {
        crate::drill::export(&rep, dir)?;
        errln!("evidence pack written to {}", dir.display());
    }
    Ok(0)
}
