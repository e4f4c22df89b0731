//! `breakglass verify`: a session bundle against the trusted roster.

use crate::core::trust;
use crate::core::verify;
use std::path::Path;

use crate::commands::env::{Env, emit, emit_json};

pub(crate) fn verify_cmd(env: &Env, dir: &Path, json: bool, roster: Option<&Path>) -> anyhow::Result<i32> {
    let report = match verify::verify(dir, &env.config, roster) {
        Ok(mut r) => {
            if roster.is_none()
                && env.config.roster_path().is_some()
                && let Ok(t) = trust::resolve(&env.config, None, None)
                && let Some(why) = trust::rolled_back(&t, env.config.trust.min_version)
            {
                r.warnings.push(format!("the configured roster looks rolled back: {why}"));
            }
            r
        }
        Err(e) if json => {
            emit_json(&format!("{}\n", serde_json::json!({"status": "error", "error": e.to_string()})))?;
            return Ok(2);
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        emit_json(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&verify::render_text(&report))?;
    }
    let code = report.exit_code();
    // The process ends right after: freeing a 100,000-entry timeline one string at a time would
    // only make the reviewer wait.
    std::mem::forget(report);
    Ok(code)
}
