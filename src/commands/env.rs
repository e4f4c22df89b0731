//! What every command starts from: the config and the data directory ([`Env`]), and how a
//! command writes its output ([`emit`], [`emit_json`]).

use crate::adapters::aws::Aws;
use crate::adapters::aws::sns::SnsBroadcaster;
use crate::adapters::session::Outside;
use crate::commands::cli::Cli;
use crate::core::config::Config;
use crate::core::notice::{Broadcaster, Outbox, Unavailable};
use anyhow::Context;
use std::path::PathBuf;

/// Resolved global settings.
#[derive(Clone)]
pub struct Env {
    pub config: Config,
    pub data_dir: PathBuf,
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "breakglass")
}

impl Env {
    pub fn load(cli: &Cli) -> anyhow::Result<Self> {
        let config = match &cli.config {
            Some(p) => Config::load(p, true)?,
            None => match project_dirs() {
                Some(d) => Config::load(&d.config_dir().join("breakglass.toml"), false)?,
                None => Config::default(),
            },
        };
        let data_dir = match &cli.data_dir {
            Some(d) => d.clone(),
            None => project_dirs()
                .map(|d| d.data_dir().to_path_buf())
                .context("no home directory to keep sessions in: pass --data-dir DIR or set BREAKGLASS_DATA_DIR")?,
        };
        Ok(Self { config, data_dir })
    }

    pub(crate) fn sessions_dir(&self) -> PathBuf {
        self.data_dir.join("sessions")
    }

    /// Where notices go and how AWS is reached, from the config: SNS when a topic is set (else the
    /// local outbox); the account check when `aws.account_id` is set.
    pub fn outside(&self) -> Outside {
        let c = &self.config;
        let wants_aws = c.aws.account_id.is_some() || c.notice.sns_topic_arn.is_some();
        let aws = wants_aws.then(|| Aws::load(c));
        let broadcaster: Box<dyn Broadcaster> = match &c.notice.sns_topic_arn {
            None => Box::new(Outbox { dir: self.data_dir.join("outbox") }),
            Some(arn) => match Aws::load(c) {
                Ok(aws) => Box::new(SnsBroadcaster { aws, topic_arn: arn.clone() }),
                Err(e) => Box::new(Unavailable { channel: "sns".into(), why: e.to_string() }),
            },
        };
        Outside {
            broadcaster,
            aws,
            account: c.aws.account_id.clone(),
            heartbeat_s: u64::from(c.notice.heartbeat_minutes) * 60,
            rehearsal_roots: c.attestation_store().map(|s| s.extra_roots().to_vec()).unwrap_or_default(),
        }
    }

    /// YubiKeys over PC/SC, attested against Yubico's CAs (and a rehearsal's extra roots, said
    /// loudly on stderr).
    pub(crate) fn piv_keys(&self) -> anyhow::Result<crate::adapters::session::KeySource> {
        let trust = self.config.attestation_store().map_err(anyhow::Error::msg)?;
        if let Some(w) = self.config.rehearsal_warning() {
            errln!("{w}");
        }
        Ok(crate::adapters::session::KeySource::Piv { trust })
    }
}

/// Writes a command's output to stdout. A reader that went away (`verify --json | head`) is not an
/// error: the command still ends with its own exit code, quietly.
/// Outside text in it (a journal's notes, a session id) is made safe for the terminal first.
pub fn emit(text: &str) -> anyhow::Result<()> {
    write_out(&crate::core::plain::for_terminal(text))
}

/// [`emit`] for JSON: the same value, with the characters serde_json leaves raw (DEL, C1, bidi
/// overrides) escaped.
pub fn emit_json(json: &str) -> anyhow::Result<()> {
    write_out(&crate::core::plain::for_json(json))
}

fn write_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
