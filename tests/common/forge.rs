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
    sh(Command::new("ssh-keygen").args(["-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", id, "-f"]).arg(&ssh));
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
