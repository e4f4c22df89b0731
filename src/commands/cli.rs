//! The command line (a contract: see DESIGN.md). The help text is the first manual.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "breakglass",
    version,
    about = "Dual-control break-glass ceremony for an AWS root account",
    long_about = "Walks two custodians, each with their own YubiKey, through opening the AWS root account together: \
check-in on the keys, a \"root in use\" notice to the team, a runbook that only opens with both keys, every action in a \
hash-chained journal, and a session log co-signed on both keys. Try it without any hardware: `breakglass demo`.",
    after_help = "Verify a session with stock tools too: ssh-keygen -Y verify -f allowed_signers -I <id> -n breakglass-session -s journal.jsonl.<id>.sig < journal.jsonl"
)]
pub struct Cli {
    /// Config file (default: breakglass.toml in the user's config directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where sessions, the notice outbox and drill history live.
    #[arg(long, global = true, value_name = "DIR", env = "BREAKGLASS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The ceremony on the configured roster and sealed runbook (the default command).
    Ceremony(CeremonyArgs),
    /// The same ceremony on built-in DEMO custodians and a DEMO runbook (no YubiKey, no AWS needed).
    Demo(DemoArgs),
    /// Prepare a custodian's YubiKey and print their roster entry.
    Enroll(EnrollArgs),
    /// Inspect, validate and sign the roster.
    #[command(subcommand)]
    Roster(RosterCmd),
    /// Someone leaves: a ceremony that removes them from the roster (when they are a custodian,
    /// resealing the runbook) and works down a checklist that strips their access: root's password
    /// and MFA rotated at the console, their IAM user's credentials, groups and policies (each
    /// change confirmed by the custodians on their keys), and what must be checked by hand.
    Offboard(OffboardArgs),
    /// Seal a runbook so that only a quorum of custodians, together, can open it.
    Seal(SealArgs),
    /// Check or sign a sealed runbook's MANIFEST.toml (a quorum must sign it before a ceremony).
    #[command(subcommand)]
    Runbook(RunbookCmd),
    /// Close an interrupted session: a quorum checks in again, the same journal goes on with
    /// `session.recovered`, "root released" goes out if root had been announced, and they co-sign.
    Recover(RecoverArgs),
    /// Check a session bundle: hash chain, check-in signatures, co-signatures. Exit status: 0
    /// valid, 1 invalid or tampered, 2 usage or I/O error, 3 incomplete (interrupted or not yet
    /// signed), 4 every check passed but the roster is not pinned (untrusted: set [trust]
    /// roster_sha256, or pass --roster).
    Verify(VerifyArgs),
    /// Root-account posture checks and root use outside any signed session.
    Audit(AuditArgs),
    /// Drill history, timings, overdue warning, evidence pack.
    #[command(subcommand)]
    Drill(DrillCmd),
    /// Keep signed bundles where nobody can delete them: an S3 bucket under Object Lock.
    #[command(subcommand)]
    Archive(ArchiveCmd),
    /// Check the environment: keys, AWS credentials, topic, files.
    Doctor,
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `breakglass man > breakglass.1`, or a command's own
    /// page: `breakglass man verify > breakglass-verify.1`.
    Man {
        /// The command whose page to print (the pages the main page's SEE ALSO names).
        command: Option<String>,
    },
}

/// What a ceremony and the demo share: drill or incident, the reason, the drill scenario.
#[derive(Debug, Args, Default, Clone)]
pub struct SessionArgs {
    /// Rehearsal: DRILL on every screen, notice and journal entry; nothing destructive.
    #[arg(long)]
    pub drill: bool,
    /// Why root is being opened (shown to the team in the notice).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Drill scenario: standard, notice-down, key-missing:<id>, spare-pair.
    #[arg(long, value_name = "NAME", requires = "drill", value_parser = crate::core::ceremony::Scenario::parse)]
    pub scenario: Option<crate::core::ceremony::Scenario>,
}

impl SessionArgs {
    pub fn mode(&self) -> crate::core::ceremony::Mode {
        if self.drill { crate::core::ceremony::Mode::Drill } else { crate::core::ceremony::Mode::Incident }
    }
}

/// A date on the command line (`--since 2026-09-01`).
pub(crate) fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date: write it as YYYY-MM-DD"))
}

#[derive(Debug, Args, Default)]
pub struct CeremonyArgs {
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Play both custodians unattended; print the session directory as the last line.
    #[arg(long)]
    pub auto: bool,
    /// Push the DEMO bundle to the configured evidence archive at the end (to rehearse the
    /// archive; DEMO bundles are never evidence and are not pushed otherwise).
    #[arg(long)]
    pub archive: bool,
    /// Rehearse a rekey instead: carol leaves, dave joins (DEMO keys). The DEMO roster and runbook
    /// are copied to DATA_DIR/demo-rekey/SESSION/ and replaced there by version 2.
    #[arg(long, conflicts_with_all = ["archive", "drill", "scenario"])]
    pub rekey: bool,
    /// Rehearse an offboarding instead: carol leaves (removed from a scratch copy of the DEMO
    /// roster), then the checklist that strips her access (no AWS in the DEMO).
    #[arg(long, conflicts_with_all = ["archive", "drill", "scenario", "rekey"])]
    pub offboard: bool,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The custodian's id in the roster ([a-z0-9-]+).
    #[arg(long)]
    pub id: String,
    /// Full name.
    #[arg(long)]
    pub name: String,
    /// E-mail address (the roster entry's `email`).
    #[arg(long)]
    pub email: String,
    /// The YubiKey's serial (default: the only one inserted).
    #[arg(long)]
    pub serial: Option<u32>,
    /// Where to write the attestation certificates (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Replace keys already in slots 9c and 82 (you will be asked to type the serial to confirm).
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Subcommand)]
pub enum RosterCmd {
    /// Print the custodians, their keys and whether the roster is trusted.
    Show { roster: Option<PathBuf> },
    /// Check the roster's signatures and its chain of trust from the pin ([trust] roster_sha256):
    /// exit 0 when a quorum signed it and it chains to the pin or, with no pin configured yet,
    /// when a quorum of its own custodians signed it (then it says NOT TRUSTED YET and prints the
    /// exact line that pins it: the ceremony refuses an unpinned roster); exit 1 otherwise. Says
    /// which rule trusted it or exactly which signature is missing.
    Check { roster: Option<PathBuf> },
    /// Change the custodians in a rekey ceremony (TUI): a quorum checks in on their YubiKeys,
    /// newcomers prove theirs, everyone present signs version N+1, the runbook is sealed again for
    /// it and swapped in, and the team is told. Journalled and co-signed like a ceremony.
    Rekey(RekeyArgs),
    /// Finish or undo a rekey or a secret rotation that was interrupted (every ceremony command
    /// does this first): afterwards the roster and the sealed runbook are both the old version or
    /// both the new one, and exactly one sealing is live (an unconfirmed one is kept aside).
    Settle,
    /// Sign the roster as custodian ID on their YubiKey (slot 9c: PIN, then touch), or with an
    /// OpenSSH private key file (`--key`). Writes ROSTER.<id>.sig and keeps history/ beside the
    /// roster up to date for later rotations. Custodians of the previous version sign a rotation too.
    Sign {
        roster: PathBuf,
        #[arg(long)]
        id: String,
        #[command(flatten)]
        with: SignWith,
    },
}

/// What signs: the custodian's YubiKey (the default: the only one inserted, or `--serial`), or a
/// software key file.
#[derive(Debug, Args, Clone)]
pub struct SignWith {
    /// Sign on the YubiKey with this serial (slot 9c; the PIN is asked, then touch). Default: the
    /// only YubiKey inserted.
    #[arg(long, value_name = "N", conflicts_with = "key")]
    pub serial: Option<u32>,
    /// Sign with an OpenSSH private key file (ecdsa-sha2-nistp256) whose public half is the
    /// custodian's signing_key, instead of a YubiKey.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// A newcomer: a TOML file holding the `[[custodian]]` entry that `breakglass enroll` printed
    /// (attestation files next to it). Repeat for several.
    #[arg(long, value_name = "FILE")]
    pub add: Vec<PathBuf>,
    /// The id of a custodian who leaves. Repeat for several.
    #[arg(long, value_name = "ID")]
    pub remove: Vec<String>,
    /// The new quorum (default: unchanged).
    #[arg(long, value_name = "N")]
    pub quorum: Option<usize>,
    /// Why the custodians change (recorded, and sent to the team).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RunbookCmd {
    /// Check a sealed runbook: every file's hash, sealed for the trusted roster, MANIFEST.toml
    /// signed by a quorum. Exit 0 only when a ceremony would accept it.
    Check {
        /// The sealed runbook directory (default: paths.runbook).
        dir: Option<PathBuf>,
        /// The roster to check it against (default: paths.roster; with a pin configured it must
        /// chain to the pin).
        #[arg(long, value_name = "FILE")]
        roster: Option<PathBuf>,
    },
    /// Sign a sealed runbook's MANIFEST.toml as custodian ID on their YubiKey (slot 9c: PIN, then
    /// touch), or with an OpenSSH private key file (`--key`). Writes MANIFEST.toml.<id>.sig.
    Sign {
        /// The sealed runbook directory.
        dir: PathBuf,
        #[arg(long)]
        id: String,
        #[command(flatten)]
        with: SignWith,
        /// The roster naming ID's key (default: paths.roster).
        #[arg(long, value_name = "FILE")]
        roster: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct SealArgs {
    /// The roster whose quorums can open the result.
    #[arg(long, value_name = "FILE")]
    pub roster: PathBuf,
    /// The runbook (Markdown).
    pub runbook: PathBuf,
    /// Output directory (must not exist yet).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct OffboardArgs {
    /// Who leaves: a custodian id, or an administrator's name.
    pub id: String,
    /// Their IAM user in the configured AWS account (default: ID).
    #[arg(long, value_name = "NAME")]
    pub iam_user: Option<String>,
    /// The time the whole offboarding should take, in minutes.
    #[arg(long, value_name = "MIN", default_value_t = 15)]
    pub target_minutes: u64,
    /// Rehearse: everything but the AWS writes and the roster swap.
    #[arg(long)]
    pub drill: bool,
    /// A successor custodian joining as ID leaves (the `[[custodian]]` entry `breakglass enroll`
    /// printed): needed when removing ID alone would leave fewer than two, or fewer than the quorum.
    #[arg(long, value_name = "FILE")]
    pub add: Vec<PathBuf>,
    /// The quorum after ID leaves (default: unchanged).
    #[arg(long, value_name = "N")]
    pub quorum: Option<usize>,
    /// Why (recorded, and sent to the team).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The interrupted session's directory (holds journal.jsonl).
    pub session_dir: PathBuf,
    /// DEMO sessions only: play the DEMO custodians unattended and print the session directory last.
    #[arg(long)]
    pub auto: bool,
    /// Why the session is being recovered (recorded in `session.recovered`).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The session directory (holds journal.jsonl).
    pub session_dir: PathBuf,
    /// Machine-readable output (errors too, as {"status":"error",...}).
    #[arg(long)]
    pub json: bool,
    /// The roster you trust (default: the configured roster, else the bundle's copy, with a warning).
    #[arg(long, value_name = "FILE")]
    pub roster: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Machine-readable output (the JSON contract in docs/formats.md).
    #[arg(long)]
    pub json: bool,
    /// Also read every member account's root user through sts:AssumeRoot (management account).
    #[arg(long)]
    pub organization: bool,
    /// Start of the period for root events and root usage (YYYY-MM-DD; default: 90 days ago).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<chrono::NaiveDate>,
    /// Take the sessions from the evidence archive (s3://BUCKET[/PREFIX]) instead of this host's
    /// data directory: a reviewer's audit without the ceremony host's disk.
    #[arg(long, value_name = "S3_URL")]
    pub sessions: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCmd {
    /// Upload every signed bundle not yet archived (or the given ones) under COMPLIANCE retention,
    /// read each object back, and write the receipt `archive.json` beside the bundle.
    Push(ArchivePushArgs),
    /// What the bucket holds: each archived session, its files and how long they are kept.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Download archived bundles (all, or one session), verify them exactly like `verify`, and
    /// compare each with the local copy: a local bundle that differs from the archive is tampered.
    Verify(ArchiveVerifyArgs),
}

#[derive(Debug, Args)]
pub struct ArchivePushArgs {
    /// Session directories to push (default: every bundle in the data directory).
    #[arg(value_name = "SESSION_DIR")]
    pub sessions: Vec<PathBuf>,
    /// Also push DEMO bundles (they are never evidence; for rehearsing the archive itself).
    #[arg(long)]
    pub include_demo: bool,
}

#[derive(Debug, Args)]
pub struct ArchiveVerifyArgs {
    /// One session id (default: every archived session).
    #[arg(value_name = "SESSION_ID")]
    pub session: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DrillCmd {
    /// Every drill in the data directory, checked with verify; overdue warning; evidence pack.
    Report(DrillReportArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Md,
}

#[derive(Debug, Args)]
pub struct DrillReportArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Only drills started on or after this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<chrono::NaiveDate>,
    /// Write the evidence pack (Markdown, JSON, bundles) to DIR.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
}
