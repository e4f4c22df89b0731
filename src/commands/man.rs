//! `breakglass man` and the exit codes every man page lists.

use crate::commands::cli::Cli;
use anyhow::bail;

use crate::commands::env::emit;

/// What the exit codes mean, for every man page (the same as each command's `--help`).
pub(crate) const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
0
Success: for verify, the session is valid against a pinned roster; for audit, nothing FAILs.
.TP
1
A check failed: verify found the bundle invalid (tampered or forged); audit has a FAIL; a
ceremony was aborted or halted.
.TP
2
Usage, configuration or I/O error (the message says what to do next).
.TP
3
verify: the session is incomplete (interrupted, or not yet signed): `breakglass recover` closes it.
.TP
4
verify: every check passed, but the roster is not pinned (set [trust] roster_sha256, or pass --roster).
"#;

/// `breakglass man [COMMAND]`: the main page, or a command's own (`breakglass-verify(1)`), each
/// with the exit codes.
pub(crate) fn man_page(command: Option<&str>) -> anyhow::Result<i32> {
    let main = <Cli as clap::CommandFactory>::command();
    let cmd = match command {
        None => main,
        Some(name) => {
            let names: Vec<String> = main.get_subcommands().map(|c| c.get_name().to_string()).collect();
            let Some(sub) = main.find_subcommand(name).cloned() else {
                bail!("`{name}` is not a breakglass command: one of {}", names.join(", "));
            };
            sub.display_name(format!("breakglass-{name}"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    out.extend_from_slice(EXIT_STATUS.as_bytes());
    emit(&String::from_utf8_lossy(&out))?;
    Ok(0)
}
