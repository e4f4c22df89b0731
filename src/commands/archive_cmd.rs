//! `breakglass archive push | list | verify`: the evidence archive on S3 under Object Lock
//! (../shared/DESIGN.md "Evidence archive"; docs/archive.md).

use crate::adapters::aws::Aws;
use crate::adapters::aws::archive as s3a;
use crate::commands::cli::{ArchiveCmd, ArchivePushArgs, ArchiveVerifyArgs};
use crate::commands::env::{Env, emit, emit_json};
use crate::core::archive::{self, LocalFile, Receipt, Standing};
use crate::core::config::ArchiveCfg;
use crate::core::verify;
use anyhow::bail;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub fn run(env: &Env, cmd: ArchiveCmd) -> anyhow::Result<i32> {
    let Some(cfg) = env.config.archive.clone() else {
        bail!(
            "no evidence archive is configured: add [archive] bucket = \"...\" (an S3 bucket with Object Lock) to {} (docs/archive.md)",
            env.config.describe()
        );
    };
    match cmd {
        ArchiveCmd::Push(a) => push_cmd(env, &cfg, &a),
        ArchiveCmd::List { json } => list_cmd(env, &cfg, json),
        ArchiveCmd::Verify(a) => verify_cmd(env, &cfg, &a),
    }
}

/// Every session directory in the data directory, oldest first.
pub(crate) fn local_bundles(env: &Env) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(env.sessions_dir())
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.join(crate::core::journal::FILE_NAME).is_file()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Local bundles signed by a quorum (DEMO ones left out) that are not archived yet, and those
/// whose files changed since they were archived (session ids).
pub(crate) fn backlog(env: &Env) -> (Vec<String>, Vec<String>) {
    let (mut queued, mut changed) = (vec![], vec![]);
    for dir in local_bundles(env) {
        let Ok(r) = verify::verify(&dir, &env.config, None) else { continue };
        if r.status != verify::Status::Valid || r.demo {
            continue;
        }
        match archive::bundle_files(&dir).and_then(|f| archive::standing(&dir, &f)) {
            Ok(Standing::Queued) => queued.push(r.session_id),
            Ok(Standing::Archived(_)) => {}
            Ok(Standing::Changed { .. }) | Err(_) => changed.push(r.session_id),
        }
    }
    (queued, changed)
}

/// Checks that the archive bucket is reachable and locked (for `doctor`).
pub(crate) fn check_reachable(env: &Env, cfg: &ArchiveCfg) -> Result<(), String> {
    connect(env, cfg).map(|_| ())
}

/// What happened to one bundle in a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pushed {
    Archived(Receipt),
    AlreadyArchived,
    /// Not for the archive (yet): why, and whether it is a problem (tampered or changed).
    Skipped {
        why: String,
        problem: bool,
    },
    /// The push failed (offline, denied): the bundle stays queued.
    Failed(String),
}

/// Pushes one bundle if it is signed, verifies and is not archived yet.
pub(crate) fn push_one(
    env: &Env,
    cfg: &ArchiveCfg,
    conn: &mut Option<(Aws, aws_sdk_s3::Client)>,
    dir: &Path,
    include_demo: bool,
) -> Pushed {
    let report = match verify::verify(dir, &env.config, None) {
        Ok(r) => r,
        Err(e) => return Pushed::Skipped { why: e.to_string(), problem: true },
    };
    match report.status {
        verify::Status::Valid => {}
        verify::Status::Incomplete => {
            return Pushed::Skipped {
                why: format!("not signed by a quorum yet: close it first (`breakglass recover {}`)", dir.display()),
                problem: false,
            };
        }
        verify::Status::Invalid => {
            return Pushed::Skipped {
                why: format!("verify says INVALID: investigate (`breakglass verify {}`)", dir.display()),
                problem: true,
            };
        }
    }
    if report.demo && !include_demo {
        return Pushed::Skipped {
            why: "DEMO session: never evidence (--include-demo to rehearse the archive with it)".into(),
            problem: false,
        };
    }
    let files = match archive::bundle_files(dir) {
        Ok(f) => f,
        Err(e) => return Pushed::Skipped { why: e, problem: true },
    };
    // A bundle still being finished (its last files not written yet) waits.
    if !["allowed_signers", "VERIFY.md"].iter().all(|n| files.iter().any(|f| f.name == *n)) {
        return Pushed::Skipped {
            why: "the bundle is not finished yet (no allowed_signers or VERIFY.md): try again".into(),
            problem: false,
        };
    }
    match archive::standing(dir, &files) {
        Err(e) => return Pushed::Skipped { why: e, problem: true },
        Ok(Standing::Archived(_)) => return Pushed::AlreadyArchived,
        Ok(Standing::Changed { files, .. }) => {
            return Pushed::Skipped {
                why: format!(
                    "CHANGED since it was archived ({}): the archived copy is the record; compare with `breakglass archive verify {}`",
                    files.join(", "),
                    report.session_id
                ),
                problem: true,
            };
        }
        Ok(Standing::Queued) => {}
    }
    let (sid, account) = match archive::session_of(dir) {
        Ok(x) => x,
        Err(e) => return Pushed::Skipped { why: e, problem: true },
    };
    if conn.is_none() {
        match connect(env, cfg) {
            Ok(c) => *conn = Some(c),
            Err(e) => return Pushed::Failed(e),
        }
    }
    let Some((aws, s3)) = conn.as_ref() else { return Pushed::Failed("no connection".into()) };
    match s3a::push(aws, s3, cfg, &account, &sid, &files, chrono::Utc::now()) {
        Ok(receipt) => {
            let json = match serde_json::to_vec_pretty(&receipt) {
                Ok(j) => j,
                Err(e) => return Pushed::Failed(e.to_string()),
            };
            match crate::core::fsread::write_atomic(&dir.join(archive::RECEIPT), &json) {
                Ok(()) => Pushed::Archived(receipt),
                Err(e) => Pushed::Failed(format!("archived, but the receipt could not be written here: {e}; push again to rewrite it")),
            }
        }
        Err(e @ s3a::PushError::Squatted { .. }) => Pushed::Skipped { why: e.to_string(), problem: true },
        Err(s3a::PushError::Failed(e)) => Pushed::Failed(e),
    }
}

/// The archive account's client, after checking the bucket's Object Lock.
fn connect(env: &Env, cfg: &ArchiveCfg) -> Result<(Aws, aws_sdk_s3::Client), String> {
    let aws = Aws::load_archive(&env.config, cfg).map_err(|e| e.to_string())?;
    let s3 = s3a::client(&aws);
    s3a::check_bucket(&aws, &s3, &cfg.bucket, cfg.retention_days)?;
    Ok((aws, s3))
}

fn push_cmd(env: &Env, cfg: &ArchiveCfg, a: &ArchivePushArgs) -> anyhow::Result<i32> {
    let dirs = if a.sessions.is_empty() { local_bundles(env) } else { a.sessions.clone() };
    if dirs.is_empty() {
        outln!("No session bundles in {}: nothing to archive.", env.sessions_dir().display());
        return Ok(0);
    }
    let mut conn = None;
    let (mut archived, mut already, mut failed, mut problems) = (0, 0, 0, 0);
    for dir in &dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        match push_one(env, cfg, &mut conn, dir, a.include_demo) {
            Pushed::Archived(r) => {
                archived += 1;
                outln!(
                    "archived  {name}: {} files to s3://{}/{}/{}/, kept until {} (COMPLIANCE)",
                    r.files.len(),
                    r.bucket,
                    r.account,
                    r.session_id,
                    r.retain_until()
                );
            }
            Pushed::AlreadyArchived => already += 1,
            Pushed::Skipped { why, problem } => {
                if problem {
                    problems += 1;
                }
                outln!("{}  {name}: {why}", if problem { "PROBLEM " } else { "skipped " });
            }
            Pushed::Failed(why) => {
                failed += 1;
                outln!("FAILED    {name}: {why}");
            }
        }
    }
    outln!(
        "{archived} archived, {already} already archived, {failed} failed, {problems} with problems{}",
        if failed > 0 { ": the failed ones stay queued; run `breakglass archive push` again" } else { "" }
    );
    Ok(if problems > 0 {
        1
    } else if failed > 0 {
        2
    } else {
        0
    })
}

/// The archive's sessions: `<account>/<session>/<file>` keys grouped, each file's versions kept.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ArchivedSession {
    pub account: String,
    pub session_id: String,
    pub files: Vec<ArchivedObject>,
    /// Objects over the budget of an archived object ([`archive::MAX_FILE_BYTES`]), left unread:
    /// nobody can delete them while they are locked, so they are reported and the rest goes on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ArchivedObject {
    pub name: String,
    pub key: String,
    /// Versions, oldest first: the first is what was archived; later ones are overwrite attempts.
    pub versions: Vec<Option<String>>,
    pub size: u64,
    /// The version this host's receipt names, when there is one: that one is the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
}

fn sessions_in(versions: Vec<s3a::Version>) -> Vec<ArchivedSession> {
    let mut out: Vec<ArchivedSession> = vec![];
    // S3 lists the versions of a key newest first (times have one-second resolution and cannot
    // order them): keep that order, then turn it around.
    for v in versions {
        let parts: Vec<&str> = v.key.split('/').collect();
        let [account, sid, name] = parts[..] else { continue };
        if !(archive::valid_segment(account) && archive::valid_segment(sid) && archive::valid_segment(name)) {
            continue;
        }
        let pos = match out.iter().position(|s| s.account == account && s.session_id == sid) {
            Some(p) => p,
            None => {
                out.push(ArchivedSession { account: account.into(), session_id: sid.into(), files: vec![], skipped: vec![] });
                out.len() - 1
            }
        };
        let files = &mut out[pos].files;
        match files.iter_mut().find(|f| f.name == name) {
            Some(f) => {
                // Listed newest first: the last one seen is the archived (oldest) version.
                f.versions.push(v.version_id);
                f.size = v.size;
            }
            None => files.push(ArchivedObject {
                name: name.into(),
                key: v.key.clone(),
                versions: vec![v.version_id],
                size: v.size,
                pinned: None,
            }),
        }
    }
    for s in &mut out {
        for f in &mut s.files {
            f.versions.reverse();
        }
        s.files.sort_by(|a, b| a.name.cmp(&b.name));
    }
    out.sort_by(|a, b| (a.account.as_str(), a.session_id.as_str()).cmp(&(b.account.as_str(), b.session_id.as_str())));
    out
}

fn list_cmd(env: &Env, cfg: &ArchiveCfg, json: bool) -> anyhow::Result<i32> {
    let (aws, s3) = connect(env, cfg).map_err(anyhow::Error::msg)?;
    let sessions = sessions_in(s3a::versions(&aws, &s3, &cfg.bucket, "").map_err(anyhow::Error::msg)?);
    if json {
        emit_json(&format!("{}\n", serde_json::to_string_pretty(&sessions)?))?;
        return Ok(0);
    }
    let mut text = format!("s3://{}: {} archived session(s)\n", cfg.bucket, sessions.len());
    for s in &sessions {
        let overwritten = s.files.iter().filter(|f| f.versions.len() > 1).count();
        let local = env.sessions_dir().join(&s.session_id);
        let here = match Receipt::read(&local) {
            Ok(Some(_)) => "receipt here",
            _ if local.is_dir() => "here, no receipt",
            _ => "not on this host",
        };
        text.push_str(&format!(
            "  {}/{}  {} files, {} bytes  ({here}){}\n",
            s.account,
            s.session_id,
            s.files.len(),
            s.files.iter().map(|f| f.size).sum::<u64>(),
            if overwritten > 0 { format!("  {overwritten} file(s) with later versions: run `archive verify`") } else { String::new() }
        ));
    }
    emit(&text)?;
    Ok(0)
}

/// One archived session checked.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Checked {
    pub account: String,
    pub session_id: String,
    /// verify's status of the archived copy: valid, invalid, incomplete, or error.
    pub archive: String,
    /// The local copy: same, differs, absent.
    pub local: String,
    /// What differs, and later versions (overwrite attempts), each said once.
    pub notes: Vec<String>,
}

/// Sessions downloaded at once: enough to hide the network's latency, few enough to stay polite
/// to the bucket and bounded in memory.
const CONCURRENCY: usize = 16;

/// Downloads the archived (first) version of every file of each session, `CONCURRENCY` sessions
/// at a time, and hands each session to `each` as soon as it is complete (in completion order).
/// A progress bar counts sessions on a terminal.
fn download_each(
    aws: &Aws,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    sessions: Vec<ArchivedSession>,
    mut each: impl FnMut(ArchivedSession, Result<Vec<LocalFile>, String>),
) {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() && sessions.len() > 1 {
        let b = indicatif::ProgressBar::new(sessions.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} bundles ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    aws.rt.block_on(async {
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut set = tokio::task::JoinSet::new();
        for mut s in sessions {
            let (s3, bucket, permits) = (s3.clone(), bucket.to_string(), permits.clone());
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let mut files = vec![];
                for f in &s.files {
                    if f.size > archive::MAX_FILE_BYTES {
                        s.skipped.push(over_budget(&f.name, f.size));
                        continue;
                    }
                    let first = f.pinned.clone().or_else(|| f.versions.first().cloned().flatten());
                    match s3a::get(&s3, &bucket, &f.key, first.as_deref(), archive::MAX_FILE_BYTES).await {
                        Ok(bytes) => files.push(LocalFile::new(&f.name, bytes)),
                        Err(s3a::GetError::TooLarge(size)) => s.skipped.push(over_budget(&f.name, size)),
                        Err(s3a::GetError::Failed(e)) => return (s, Err(e)),
                    }
                }
                (s, Ok(files))
            });
        }
        while let Some(done) = set.join_next().await {
            if let Ok((s, files)) = done {
                each(s, files);
                bar.inc(1);
            }
        }
    });
    bar.finish_and_clear();
}

/// Why an archived object was left unread.
fn over_budget(name: &str, size: u64) -> String {
    format!("{name}: {size} bytes, over the {} MiB limit of an archived object: not read", archive::MAX_FILE_BYTES >> 20)
}

fn verify_cmd(env: &Env, cfg: &ArchiveCfg, a: &ArchiveVerifyArgs) -> anyhow::Result<i32> {
    let (aws, s3) = connect(env, cfg).map_err(anyhow::Error::msg)?;
    let started = std::time::Instant::now();
    let mut sessions = sessions_in(s3a::versions(&aws, &s3, &cfg.bucket, "").map_err(anyhow::Error::msg)?);
    if let Some(want) = &a.session {
        sessions.retain(|s| &s.session_id == want);
        if sessions.is_empty() {
            bail!("session `{want}` is not in s3://{}: `breakglass archive list` shows what is", cfg.bucket);
        }
    }
    let mut results = vec![];
    // The first version of each object is the record (Object Lock keeps it; a later one is an
    // overwrite attempt), whatever this host's receipt says: a receipt is a local file. A receipt
    // that names a later version is checked against the first version's bytes once downloaded
    // (an honest push repeated uploads the same bytes again); one that names versions (or a whole
    // session) the bucket does not hold is a problem, never a pass.
    let later = later_versions(env, cfg, &sessions);
    if a.session.is_none() {
        results.extend(false_receipts(env, cfg, &sessions));
    }
    // The same session under several accounts: someone wrote a second copy.
    let mut seen: Vec<&str> = vec![];
    let dup: Vec<String> = sessions
        .iter()
        .filter(|s| {
            let again = seen.contains(&s.session_id.as_str());
            seen.push(&s.session_id);
            again
        })
        .map(|s| s.session_id.clone())
        .collect();
    download_each(&aws, &s3, &cfg.bucket, sessions, |s, files| {
        // Receipt entries for later versions: the same bytes as the first version is a repeated
        // push; other bytes mean a replacement was uploaded and the receipt edited to match.
        let (mut same, mut replaced) = (vec![], vec![]);
        for (name, sha) in later.get(&(s.account.clone(), s.session_id.clone())).into_iter().flatten() {
            let first = files.as_ref().ok().and_then(|f| f.iter().find(|f| &f.name == name)).map(|f| f.sha256_hex());
            if first.as_deref() == Some(sha.as_str()) { same.push(name.clone()) } else { replaced.push(name.clone()) }
        }
        let mut c = check_session(env, &s, files);
        if !replaced.is_empty() {
            c.archive = "overwritten".into();
            c.notes.push(format!(
                "this host's receipt names a later version than the first one archived for {}, with other bytes: a replacement was uploaded and the receipt edited to match. The first version is the record",
                replaced.join(", ")
            ));
        }
        if !same.is_empty() {
            c.notes.push(format!("this host's receipt names a later upload of the same bytes for {} (a push repeated)", same.join(", ")));
        }
        if dup.contains(&s.session_id) {
            c.notes.push("this session is archived under more than one account: only the one its journal names is the record".into());
        }
        results.push(c);
    });
    results.sort_by(|a, b| (a.account.as_str(), a.session_id.as_str()).cmp(&(b.account.as_str(), b.session_id.as_str())));
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let bad = results.iter().filter(|r| r.archive != "valid" || r.local == "differs").count();
    report(&results, secs, bad, a.json)?;
    let errors = results.iter().filter(|r| r.archive == "error").count();
    Ok(if errors > 0 && errors == bad {
        2
    } else if bad > 0 {
        1
    } else {
        0
    })
}

/// Receipt entries that name a later version than the first one archived, by (account, session):
/// (file name, the receipt's SHA-256), checked against the first version's bytes once downloaded.
fn later_versions(
    env: &Env,
    cfg: &ArchiveCfg,
    sessions: &[ArchivedSession],
) -> std::collections::HashMap<(String, String), Vec<(String, String)>> {
    let mut later: std::collections::HashMap<(String, String), Vec<(String, String)>> = std::collections::HashMap::new();
    for s in sessions {
        let Ok(Some(receipt)) = Receipt::read(&env.sessions_dir().join(&s.session_id)) else { continue };
        if receipt.account != s.account || receipt.bucket != cfg.bucket {
            continue;
        }
        for r in &receipt.files {
            if s.files.iter().any(|f| f.key == r.key && f.versions.contains(&r.version_id) && f.versions.first() != Some(&r.version_id)) {
                later.entry((s.account.clone(), s.session_id.clone())).or_default().push((r.name.clone(), r.sha256.clone()));
            }
        }
    }
    later
}

/// This host's receipts that name versions (or a whole session) the bucket does not hold: a
/// problem, never a pass.
fn false_receipts(env: &Env, cfg: &ArchiveCfg, sessions: &[ArchivedSession]) -> Vec<Checked> {
    let mut out = vec![];
    for dir in local_bundles(env) {
        let Ok(Some(receipt)) = Receipt::read(&dir) else { continue };
        if receipt.bucket != cfg.bucket {
            continue;
        }
        let held = sessions.iter().find(|s| s.account == receipt.account && s.session_id == receipt.session_id);
        let missing: Vec<String> = receipt
            .files
            .iter()
            .filter(|r| !held.is_some_and(|s| s.files.iter().any(|f| f.key == r.key && f.versions.contains(&r.version_id))))
            .map(|r| r.name.clone())
            .collect();
        if !missing.is_empty() {
            out.push(Checked {
                account: receipt.account.clone(),
                session_id: receipt.session_id.clone(),
                archive: "missing".into(),
                local: "receipt".into(),
                notes: vec![format!(
                    "this host's receipt names versions the bucket does not hold ({}): the receipt is false, or the objects are gone",
                    missing.join(", ")
                )],
            });
        }
    }
    out
}

/// The verdicts, as JSON or one line each, and the count.
fn report(results: &[Checked], secs: f64, bad: usize, json: bool) -> anyhow::Result<()> {
    if json {
        emit_json(&format!("{}\n", serde_json::to_string_pretty(results)?))?;
    } else {
        let mut text = String::new();
        for r in results {
            text.push_str(&format!("{:<10} {}/{}  local copy: {}\n", r.archive.to_uppercase(), r.account, r.session_id, r.local));
            for n in &r.notes {
                text.push_str(&format!("           {n}\n"));
            }
        }
        text.push_str(&format!(
            "{} session(s) checked in {secs:.1} s ({:.0} bundles/s); {bad} with problems\n",
            results.len(),
            results.len() as f64 / secs
        ));
        emit(&text)?;
    }
    Ok(())
}

/// Writes downloaded files as a bundle directory `<into>/<session-id>/` (0700/0600).
fn write_bundle(into: &Path, session_id: &str, files: &[LocalFile]) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = into.join(session_id);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    for f in files {
        crate::core::fsread::write_atomic(&dir.join(&f.name), &f.bytes)?;
    }
    Ok(dir)
}

/// Verifies a downloaded session exactly like `verify`, and compares it with the local copy.
fn check_session(env: &Env, s: &ArchivedSession, files: Result<Vec<LocalFile>, String>) -> Checked {
    let mut c = Checked {
        account: s.account.clone(),
        session_id: s.session_id.clone(),
        archive: String::new(),
        local: String::new(),
        notes: vec![],
    };
    for f in s.files.iter().filter(|f| f.versions.len() > 1) {
        c.notes.push(format!(
            "{}: {} later version(s) were written after archiving; the first (archived) one is checked",
            f.name,
            f.versions.len() - 1
        ));
    }
    // Objects no bundle file can be: left out, said, and the rest is checked.
    c.notes.extend(s.skipped.iter().cloned());
    let files = match files {
        Ok(f) => f,
        Err(e) => {
            c.archive = "error".into();
            c.notes.push(e);
            return c;
        }
    };
    if !files.iter().any(|f| f.name == crate::core::journal::FILE_NAME) {
        c.archive = "error".into();
        c.local = "not compared".into();
        c.notes.push(format!(
            "the archived copy holds no {}: it is not a session bundle (an upload cut short, or objects put there by someone else). Compare with the copy under the account its journal names",
            crate::core::journal::FILE_NAME
        ));
        return c;
    }
    // From a private temporary directory, named as the session (verify compares the two).
    let verified =
        tempfile::Builder::new().prefix("breakglass-archive-").tempdir().map_err(|e| format!("temporary directory: {e}")).and_then(|tmp| {
            let dir = write_bundle(tmp.path(), &s.session_id, &files).map_err(|e| e.to_string())?;
            verify::verify(&dir, &env.config, None).map_err(|e| e.to_string())
        });
    c.archive = match verified {
        Ok(r) => {
            for p in r.problems.iter().take(3) {
                c.notes.push(format!("archived copy: {}", p.what));
            }
            match r.status {
                verify::Status::Valid => "valid",
                verify::Status::Invalid => "invalid",
                verify::Status::Incomplete => "incomplete",
            }
            .to_string()
        }
        Err(e) => {
            c.notes.push(e);
            "error".into()
        }
    };
    c.local = compare_local(env, s, &files, &mut c);
    c
}

/// How this host's copy of the session compares with the archived one (`files`, checked into
/// `c.archive` already): same, differs (and which to trust, said in `c.notes`), another
/// account's, or absent.
fn compare_local(env: &Env, s: &ArchivedSession, files: &[LocalFile], c: &mut Checked) -> String {
    let local_dir = env.sessions_dir().join(&s.session_id);
    let local_account = archive::session_of(&local_dir).map(|(_, a)| a);
    if !local_dir.is_dir() {
        "absent".into()
    } else if let Err(e) = &local_account {
        // A local copy whose journal cannot say which account it is for was changed (or lost its
        // journal): that is a difference to look at, never a reason to skip the comparison.
        c.notes.push(format!("local copy: its journal does not read ({e}): compare it with the archived one by hand"));
        "differs".into()
    } else if local_account.as_deref().ok() != Some(s.account.as_str()) {
        // A copy under another account is not this host's session's record: no comparison.
        "other account".into()
    } else {
        match archive::bundle_files(&local_dir) {
            Err(e) => {
                c.notes.push(format!("local copy: {e}"));
                "differs".into()
            }
            Ok(local) => {
                let archived: Vec<(String, String)> = files.iter().map(|f| (f.name.clone(), f.sha256_hex())).collect();
                let diff = archive::differences(&local, &archived);
                // Which copy to trust rests on the signatures, never on which came first: a planted
                // archived copy that does not verify never makes a genuine local copy "tampered".
                let local_valid = || verify::verify(&local_dir, &env.config, None).is_ok_and(|r| r.status == verify::Status::Valid);
                if diff.is_empty() {
                    "same".into()
                } else if c.archive != "valid" && local_valid() {
                    c.notes.push(format!(
                        "the local copy differs from the archive ({}) and verifies, while the archived copy does not: the archived objects are not this session's signed record (planted, or damaged). Trust the local copy; report who wrote to the bucket (Object Lock keeps what was planted)",
                        diff.join(", ")
                    ));
                    "differs".into()
                } else {
                    c.notes.push(format!(
                        "the local copy differs from the archive ({}): treat the local copy as TAMPERED; the archived one is the record",
                        diff.join(", ")
                    ));
                    "differs".into()
                }
            }
        }
    }
}

/// `audit --sessions s3://BUCKET[/PREFIX]`: every archived session downloaded into a private
/// temporary directory, laid out like a data directory's `sessions/`, for a reviewer who does not
/// have the ceremony host's disk. Credentials: `[archive]` profile and region when configured.
pub(crate) fn download_sessions(env: &Env, url: &str) -> anyhow::Result<(tempfile::TempDir, Vec<String>)> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| anyhow::anyhow!("--sessions `{url}` is not an s3://BUCKET[/PREFIX] address"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("--sessions `{url}` names no bucket: write s3://BUCKET[/PREFIX]");
    }
    let cfg = match &env.config.archive {
        Some(a) => ArchiveCfg { bucket: bucket.to_string(), ..a.clone() },
        None => ArchiveCfg { bucket: bucket.to_string(), retention_days: 1, profile: None, region: None },
    };
    let aws = Aws::load_archive(&env.config, &cfg)?;
    let s3 = s3a::client(&aws);
    let sessions = sessions_in(s3a::versions(&aws, &s3, bucket, prefix).map_err(anyhow::Error::msg)?);
    let tmp = tempfile::Builder::new().prefix("breakglass-audit-").tempdir()?;
    // Each account's copy apart first: the same session id may be filed under two account
    // prefixes (one of them planted, and kept for years by Object Lock).
    let by_account = tmp.path().join(".by-account");
    let mut failed = vec![];
    let mut skipped = vec![];
    download_each(&aws, &s3, bucket, sessions, |s, files| {
        skipped.extend(s.skipped.iter().map(|why| format!("{}/{}/{why}", s.account, s.session_id)));
        let into = by_account.join(&s.account);
        match files.and_then(|f| {
            std::fs::create_dir_all(&into).map_err(|e| e.to_string())?;
            write_bundle(&into, &s.session_id, &f).map_err(|e| e.to_string())
        }) {
            Ok(_) => {}
            Err(e) => failed.push(format!("{}: {e}", s.session_id)),
        }
    });
    if !failed.is_empty() {
        bail!(
            "could not download every archived session from {url} ({}): retry; an audit on part of the record would mislead",
            failed.join("; ")
        );
    }
    // The record of a session is the copy filed under the account its own journal names; a copy
    // under another prefix is left out (it could not be the record, and must not block the audit).
    let mut chosen: std::collections::BTreeMap<String, (PathBuf, bool)> = std::collections::BTreeMap::new();
    for account in std::fs::read_dir(&by_account).into_iter().flatten().flatten() {
        let name = account.file_name().to_string_lossy().to_string();
        for d in std::fs::read_dir(account.path())?.flatten() {
            let own = archive::session_of(&d.path()).is_ok_and(|(_, a)| a == name);
            let sid = d.file_name().to_string_lossy().to_string();
            if chosen.get(&sid).is_none_or(|(_, had)| own && !had) {
                chosen.insert(sid, (d.path(), own));
            }
        }
    }
    for (sid, (from, _)) in chosen {
        std::fs::rename(&from, tmp.path().join(sid))?;
    }
    let _ = std::fs::remove_dir_all(&by_account);
    skipped.sort();
    Ok((tmp, skipped))
}
