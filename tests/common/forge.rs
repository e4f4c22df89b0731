//! Forgeries made the way an attacker would: keys from stock `ssh-keygen` and `age-keygen`,
//! rosters written by hand, signatures by `ssh-keygen -Y sign`, journals re-chained by a script.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A person with a stock OpenSSH P-256 key and an age X25519 identity.
pub struct Person {
    pub id: String,
    pub serial: u32,
    pub ssh: PathBuf,
    pub public: String,
    pub agekey: PathBuf,
    pub recipient: String,
}

fn sh(cmd: &mut Command) -> String {
    let o = cmd.output().expect("the stock tool runs");
    assert!(o.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn person(dir: &Path, id: &str, serial: u32) -> Person {
    super::require_tool("ssh-keygen", "openssh-client");
    super::require_tool("age-keygen", "age");
    let ssh = dir.join(format!("{id}.ssh"));
    // About one P-256 key in 256 has a private scalar that ssh-key 0.6 refuses to read (a leading
    // zero byte); the software stand-in for a YubiKey needs to read it, so such keys are made again.
    for _ in 0..20 {
        let _ = std::fs::remove_file(&ssh);
        let _ = std::fs::remove_file(ssh.with_extension("ssh.pub"));
        sh(Command::new("ssh-keygen").args(["-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", id, "-f"]).arg(&ssh));
        if ssh_key::PrivateKey::from_openssh(std::fs::read_to_string(&ssh).unwrap()).is_ok() {
            break;
        }
    }
    let public = std::fs::read_to_string(ssh.with_extension("ssh.pub")).unwrap().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let agekey = dir.join(format!("{id}.agekey"));
    sh(Command::new("age-keygen").arg("-o").arg(&agekey));
    let recipient = sh(Command::new("age-keygen").arg("-y").arg(&agekey));
    Person { id: id.into(), serial, ssh, public, agekey, recipient }
}

/// A roster as a person would write it by hand.
pub fn roster_text(version: u32, previous: Option<&str>, quorum: usize, people: &[&Person]) -> String {
    let mut s = String::new();
    if version > 1 {
        s.push_str(&format!("version = {version}\n"));
    }
    if let Some(p) = previous {
        s.push_str(&format!("previous = \"{p}\"\n"));
    }
    s.push_str(&format!("quorum = {quorum}\n"));
    for p in people {
        s.push_str(&format!(
            "\n[[custodian]]\nid = \"{}\"\nname = \"{} Example\"\nemail = \"{}@example.com\"\nyubikey_serial = {}\nsigning_key = \"{}\"\nage_recipient = \"{}\"\n",
            p.id, p.id, p.id, p.serial, p.public, p.recipient
        ));
    }
    s
}

/// `ssh-keygen -Y sign` of `file` in `namespace` by `who`, renamed to `<file>.<id>.sig`.
pub fn ssh_sign(who: &Person, as_id: &str, namespace: &str, file: &Path) {
    let sig = PathBuf::from(format!("{}.sig", file.display()));
    let _ = std::fs::remove_file(&sig);
    sh(Command::new("ssh-keygen").args(["-Y", "sign", "-f"]).arg(&who.ssh).args(["-n", namespace]).arg(file));
    std::fs::rename(&sig, format!("{}.{as_id}.sig", file.display())).unwrap();
}

pub fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

/// Rewrites a journal as someone holding the file would: applies `python_edit` (a Python
/// expression over the dict `e`, run for every entry) and re-chains every `prev`.
pub fn rechain(journal: &Path, python_edit: &str) {
    let script = format!(
        r#"
import hashlib, json, sys
p = sys.argv[1]
lines = [l for l in open(p, 'rb').read().split(b'\n') if l]
out = []; prev = '0' * 64
for l in lines:
    e = json.loads(l)
    {python_edit}
    e['prev'] = prev
    b = json.dumps(e, separators=(',', ':'), ensure_ascii=False).encode()
    prev = hashlib.sha256(b).hexdigest(); out.append(b)
open(p, 'wb').write(b'\n'.join(out) + b'\n')
"#
    );
    sh(Command::new("python3").arg("-c").arg(script).arg(journal));
}

/// An organisation: alice, bob and carol (quorum 2), roster v1 signed by alice and bob with stock
/// ssh-keygen, pinned in breakglass.toml.
pub struct Org {
    pub dir: tempfile::TempDir,
    pub alice: Person,
    pub bob: Person,
    pub carol: Person,
    /// dave, erin, ... in a larger organisation ([`Org::with`]).
    pub more: Vec<Person>,
}

impl Org {
    pub fn new() -> Self {
        Self::with(2, &[])
    }

    /// alice, bob, carol and `more` custodians, `quorum` of them needed; v1 signed by the first
    /// `quorum` and pinned.
    pub fn with(quorum: usize, more: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let (alice, bob, carol) = (person(&keys, "alice", 1001), person(&keys, "bob", 1002), person(&keys, "carol", 1003));
        let more = more.iter().enumerate().map(|(i, id)| person(&keys, id, 1004 + i as u32)).collect();
        let org = Self { dir, alice, bob, carol, more };
        let everyone = org.everyone();
        std::fs::write(org.roster(), roster_text(1, None, quorum, &everyone)).unwrap();
        org.write_config(None);
        // `breakglass roster sign` for v1 (keeps history/), stock ssh-keygen for later versions.
        for p in everyone.into_iter().take(quorum) {
            let o = org.bg(&["roster", "sign", org.roster().to_str().unwrap(), "--id", &p.id, "--key", p.ssh.to_str().unwrap()]);
            assert!(o.status.success(), "{}", super::stderr(&o));
        }
        org.write_config(Some(&sha256_file(&org.roster())));
        org
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn everyone(&self) -> Vec<&Person> {
        let mut v = vec![&self.alice, &self.bob, &self.carol];
        v.extend(self.more.iter());
        v
    }
    pub fn roster(&self) -> PathBuf {
        self.path().join("roster.toml")
    }
    pub fn config(&self) -> PathBuf {
        self.path().join("breakglass.toml")
    }
    pub fn write_config(&self, pin: Option<&str>) {
        let mut s = format!("[paths]\nroster = \"{}\"\n", self.roster().display());
        if let Some(pin) = pin {
            s.push_str(&format!("[trust]\nroster_sha256 = \"{pin}\"\n"));
        }
        std::fs::write(self.config(), s).unwrap();
    }
    pub fn bg(&self, args: &[&str]) -> std::process::Output {
        let cfg = self.config();
        let mut a = vec!["--config", cfg.to_str().unwrap()];
        a.extend_from_slice(args);
        super::run(&self.path().join("data"), &a)
    }
    pub fn check(&self) -> std::process::Output {
        self.bg(&["roster", "check"])
    }
    /// Replaces roster.toml (and removes its signatures), as someone with write access would.
    pub fn replace_roster(&self, text: &str) {
        for e in std::fs::read_dir(self.path()).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("roster.toml.") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        std::fs::write(self.roster(), text).unwrap();
    }
}

/// A complete session under the org's roster, played by the library on software tokens holding
/// the org's own stock keys (as a custodian holding those keys could), then re-labelled as a real
/// session and co-signed with stock ssh-keygen: exactly what a reviewer must be able to check.
pub fn session_signed_by(org: &Org, who: &[&Person], tag: &str) -> PathBuf {
    session_in_mode(org, who, tag, breakglass::core::ceremony::Mode::Incident)
}

/// [`session_signed_by`], in `mode` (a drill, say).
pub fn session_in_mode(org: &Org, who: &[&Person], tag: &str, mode: breakglass::core::ceremony::Mode) -> PathBuf {
    session_scripted(org, who, tag, "# R\n\n- [ ] one\n", &|c, r| {
        breakglass::commands::demo::play(c, r, mode, "rotation test", breakglass::core::ceremony::Scenario::Standard)
    })
}

/// A complete incident whose runbook has one secret (`root-password`), revealed; when `rotate`,
/// rotated and sealed back before the close (the sealed runbook lives in the org's folder, under
/// `tag`).
pub fn session_revealing(org: &Org, who: &[&Person], tag: &str, rotate: bool) -> PathBuf {
    use breakglass::adapters::session::drive;
    use breakglass::core::ceremony::{CLOSING, Intent, Mode, SlotIx};
    let runbook = "# R\n\n```secret name=root-password\nold-value\n```\n\n- [ ] one\n";
    session_scripted(org, who, tag, runbook, &|c, r| {
        drive(c, r, Intent::Begin { mode: Mode::Incident, reason: "a secret revealed".into(), ticket: None, scenario: Default::default() });
        let people: Vec<(String, u32)> = r.roster.custodians.iter().map(|p| (p.id.clone(), p.yubikey_serial)).collect();
        for (id, serial) in people.iter().take(2) {
            breakglass::adapters::session::present(c, r, *serial);
            drive(c, r, Intent::PinEntered(secrecy::SecretString::from(breakglass::commands::demo::pin_of(id).to_string())));
            drive(c, r, Intent::Touch);
        }
        drive(c, r, Intent::Reveal(0));
        if rotate {
            drive(c, r, Intent::Rotate { secret: 0, value: Some(secrecy::SecretString::from("a-new-value-9!X".to_string())) });
            drive(c, r, Intent::RotateGo);
            drive(c, r, Intent::Acknowledge { who: SlotIx(0) });
            drive(c, r, Intent::Acknowledge { who: SlotIx(1) });
        }
        drive(c, r, Intent::FinishRunbook);
        for i in 0..CLOSING.len() {
            drive(c, r, Intent::ToggleClosing(i));
        }
        drive(c, r, Intent::ConfirmClose);
        drive(c, r, Intent::Touch);
        drive(c, r, Intent::Touch);
    })
}

type Script<'a> = dyn Fn(&mut breakglass::core::ceremony::Ceremony, &mut breakglass::adapters::session::Runner) + 'a;

/// A session under the org's roster with `runbook` sealed for it, played by `script` on software
/// tokens holding the org's stock keys, re-labelled as real and co-signed with stock ssh-keygen.
fn session_scripted(org: &Org, who: &[&Person], tag: &str, runbook: &str, script: &Script<'_>) -> PathBuf {
    use breakglass::adapters::token::Token;
    let roster = breakglass::core::roster::Roster::load(&org.roster()).unwrap();
    let sealed = breakglass::core::seal::seal_serial(&roster, runbook.as_bytes(), 1).unwrap();
    let live = org.path().join(format!("{tag}-runbook.sealed"));
    sealed.write_dir(&live).unwrap();
    let tokens: Vec<Box<dyn Token>> = who
        .iter()
        .map(|p| {
            let t = breakglass::adapters::token::soft::SoftToken::from_files_text(
                p.serial,
                &std::fs::read_to_string(&p.ssh).unwrap(),
                &std::fs::read_to_string(&p.agekey).unwrap(),
                breakglass::commands::demo::pin_of(&p.id),
            )
            .unwrap();
            Box::new(t) as Box<dyn Token>
        })
        .collect();
    let sigs: Vec<(String, Vec<u8>)> = std::fs::read_dir(org.path())
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            let id = n.strip_prefix("roster.toml.")?.strip_suffix(".sig")?.to_string();
            Some((id, std::fs::read(e.path()).unwrap()))
        })
        .collect();
    let data = org.path().join("data").join(tag);
    let clock: std::sync::Arc<dyn breakglass::core::clock::Clock> = std::sync::Arc::new(breakglass::core::clock::SystemClock::new());
    let outside = breakglass::adapters::session::Outside::outbox(data.join("outbox"));
    let basis = breakglass::adapters::session::Basis { roster, roster_sigs: sigs, sealed };
    let (mut c, mut r) = breakglass::adapters::session::start(&data.join("sessions"), clock, basis, tokens, outside, Default::default());
    r.runbook_path = Some(live);
    script(&mut c, &mut r);
    assert_eq!(*c.phase(), breakglass::core::ceremony::Phase::Summary, "{:?}", c.message());
    let dir = r.dir.clone();
    rechain(&dir.join("journal.jsonl"), "e.pop('demo', None)");
    for p in who {
        let j = dir.join("journal.jsonl");
        let _ = std::fs::remove_file(dir.join(format!("journal.jsonl.{}.sig", p.id)));
        ssh_sign(p, &p.id, "breakglass-session", &j);
    }
    dir
}
