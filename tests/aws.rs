//! AWS against a local moto server (real AWS SDK, never real AWS): notices delivered over SNS to
//! a subscribed SQS queue, the account check, an outage mid-ceremony with joint acknowledgement
//! and later delivery, throttling retried within bounds, and clear errors for bad settings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use breakglass::adapters::aws::Aws;
use breakglass::adapters::aws::sns::SnsBroadcaster;
use breakglass::adapters::session::{Outside, drive};
use breakglass::core::ceremony::SlotIx;
use breakglass::core::ceremony::{AccountProblem, Intent, Mode, Phase};
use breakglass::core::clock::FixedClock;
use common::moto::{Moto, drain, sdk_for, topic_with_queue};
use common::*;
use secrecy::SecretString;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn config(dir: &Path, account: &str, topic: Option<&str>) -> std::path::PathBuf {
    let p = dir.join("breakglass.toml");
    let mut s = format!("[aws]\nregion = \"us-east-1\"\naccount_id = \"{account}\"\n");
    if let Some(t) = topic {
        s.push_str(&format!("[notice]\nsns_topic_arn = \"{t}\"\n"));
    }
    std::fs::write(&p, s).unwrap();
    p
}

fn run_env(data: &Path, env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    let mut c = Command::new(bin());
    c.arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("BREAKGLASS_DATA_DIR")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn demo_with_sns(drill: bool) -> (Moto, tempfile::TempDir, std::path::PathBuf, Vec<serde_json::Value>) {
    let moto = Moto::start();
    let sdk = moto.sdk();
    let (topic, queue) = topic_with_queue(&sdk, "root-in-use");
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "123456789012", Some(&topic));
    let mut args = vec!["--config", cfg.to_str().unwrap(), "demo", "--auto"];
    if drill {
        args.push("--drill");
    }
    let o = run_env(d.path(), &moto.env(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = std::path::PathBuf::from(stdout(&o).lines().last().unwrap().trim());
    let msgs = drain(&sdk, &queue);
    (moto, d, dir, msgs)
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn notices_reach_a_subscribed_queue_in_order_with_attributes_and_ids_journalled() {
    let (_moto, _d, dir, msgs) = demo_with_sns(false);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    let sid = dir.file_name().unwrap().to_str().unwrap();
    let phases: Vec<&str> = msgs.iter().map(|m| m["MessageAttributes"]["phase"]["Value"].as_str().unwrap()).collect();
    assert_eq!(phases, ["in_use", "released"]);
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    for m in &msgs {
        assert_eq!(m["MessageAttributes"]["session_id"]["Value"], sid);
        assert_eq!(m["MessageAttributes"]["mode"]["Value"], "incident");
        assert!(journal.contains(m["MessageId"].as_str().unwrap()), "message id journalled");
        let body = m["Message"].as_str().unwrap();
        assert!(body.contains("123456789012") && body.contains("Alice Example") && body.contains(sid), "{body}");
    }
    assert!(msgs[0]["Subject"].as_str().unwrap().contains("AWS root IN USE"));
    assert!(msgs[1]["Subject"].as_str().unwrap().contains("released"));
    // The account check ran first and recorded the principal.
    let first_aws = journal.lines().find(|l| l.contains("\"kind\":\"aws.identity\"")).unwrap();
    assert!(first_aws.contains("\"account\":\"123456789012\"") && first_aws.contains("\"principal\":\"arn:aws:"), "{first_aws}");
    let o = Command::new(bin()).args(["verify", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn drill_notices_carry_the_drill_prefix_and_mode() {
    let (_moto, _d, _dir, msgs) = demo_with_sns(true);
    assert_eq!(msgs.len(), 2);
    for m in &msgs {
        assert!(m["Subject"].as_str().unwrap().starts_with("[DRILL] "), "{}", m["Subject"]);
        assert_eq!(m["MessageAttributes"]["mode"]["Value"], "drill");
    }
}

fn outside(sdk: aws_config::SdkConfig, topic: &str, account: &str) -> Outside {
    Outside {
        broadcaster: Box::new(SnsBroadcaster { aws: Aws::from_sdk(sdk.clone()).unwrap(), topic_arn: topic.into() }),
        aws: Some(Aws::from_sdk(sdk)),
        account: Some(account.into()),
        heartbeat_s: 0,
        rehearsal_roots: vec![],
    }
}

fn check_in(c: &mut breakglass::core::ceremony::Ceremony, r: &mut breakglass::adapters::session::Runner, id: &str) {
    let serial = r.roster.custodian(id).unwrap().yubikey_serial;
    let seen = r.present(serial);
    drive(c, r, seen);
    drive(c, r, Intent::PinEntered(SecretString::from(breakglass::commands::demo::pin_of(id).to_string())));
    drive(c, r, Intent::Touch);
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn a_wrong_account_is_refused_showing_both_values() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) = breakglass::commands::demo::setup(
        d.path(),
        Arc::new(FixedClock::new()),
        outside(moto.sdk(), "arn:aws:sns:us-east-1:123456789012:none", "111111111111"),
    )
    .unwrap();
    drive(
        &mut c,
        &mut r,
        Intent::Begin { mode: Mode::Incident, reason: "wrong account test".into(), ticket: None, scenario: Default::default() },
    );
    let Phase::Account { failed: Some(AccountProblem::Elsewhere { account, expected, .. }) } = &c.phase() else {
        panic!("{:?}", c.phase())
    };
    assert_eq!((account.as_str(), expected.as_str()), ("123456789012", "111111111111"));
    let journal = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"refused\":true"));
    // Nothing moves on by itself; retrying checks again.
    drive(&mut c, &mut r, Intent::RetryAccount);
    assert!(matches!(c.phase(), Phase::Account { failed: Some(_) }));
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn an_outage_stops_the_ceremony_both_acknowledge_and_the_notice_goes_out_later() {
    let mut moto = Moto::start();
    let (topic, queue) = topic_with_queue(&moto.sdk(), "root-in-use");
    let d = tempfile::tempdir().unwrap();
    let (mut c, mut r) =
        breakglass::commands::demo::setup(d.path(), Arc::new(FixedClock::new()), outside(moto.sdk(), &topic, "123456789012")).unwrap();
    drive(&mut c, &mut r, Intent::Begin { mode: Mode::Incident, reason: "outage test".into(), ticket: None, scenario: Default::default() });
    check_in(&mut c, &mut r, "alice");
    // The server goes away just before the "root in use" notice.
    let port = moto.port;
    moto.stop();
    check_in(&mut c, &mut r, "bob");
    assert!(matches!(c.phase(), Phase::Notify { status: breakglass::core::ceremony::NotifyStatus::Failed { .. }, .. }), "{:?}", c.phase());
    // Time passes: nothing moves without both acknowledgements.
    drive(&mut c, &mut r, Intent::Tick { now_s: 500 });
    assert!(matches!(c.phase(), Phase::Notify { .. }));
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(0) });
    drive(&mut c, &mut r, Intent::Acknowledge { who: SlotIx(1) });
    assert_eq!(*c.phase(), Phase::Runbook);
    assert_eq!(c.pending().len(), 1);
    // AWS comes back (same endpoint, same topic); the background retry delivers and records it.
    let moto2 = Moto::start_on(port);
    let (topic2, queue2) = topic_with_queue(&moto2.sdk(), "root-in-use");
    assert_eq!((topic2.as_str(), queue2.as_str()), (topic.as_str(), queue.as_str()));
    drive(&mut c, &mut r, Intent::Tick { now_s: 1000 });
    assert!(c.pending().is_empty(), "delivered");
    let journal = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    let kinds: Vec<serde_json::Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(kinds.iter().any(|e| e["kind"] == "notice.failed" && e["phase"] == "in_use"));
    assert_eq!(kinds.iter().filter(|e| e["kind"] == "notice.acknowledged").count(), 2);
    let late = kinds.iter().find(|e| e["kind"] == "notice.sent" && e["phase"] == "in_use").expect("late delivery journalled");
    assert_eq!(late["late"], true);
    let msgs = drain(&moto2.sdk(), &queue2);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["MessageId"], late["message_id"]);
}

/// A tiny HTTP endpoint that answers each request with the next canned response.
fn fake_aws(responses: Vec<(u16, &'static str)>) -> (String, std::thread::JoinHandle<usize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let mut served = 0;
        for (status, body) in responses {
            let Ok((mut s, _)) = l.accept() else { break };
            let mut buf = vec![0u8; 65536];
            let mut got = 0;
            // Read headers and body (Content-Length).
            loop {
                let n = s.read(&mut buf[got..]).unwrap_or(0);
                got += n;
                let text = String::from_utf8_lossy(&buf[..got]);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if got >= end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let reason = if status == 200 { "OK" } else { "Error" };
            let _ = write!(
                s,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            served += 1;
        }
        served
    });
    (url, h)
}

const THROTTLED: &str = r#"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>t</RequestId></ErrorResponse>"#;
const PUBLISHED: &str = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>after-throttling</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>"#;
const DENIED: &str = r#"<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>User is not authorized to perform: SNS:Publish</Message></Error><RequestId>d</RequestId></ErrorResponse>"#;

fn bounded_sdk(url: &str) -> aws_config::SdkConfig {
    let (timeouts, retries) = breakglass::adapters::aws::bounds();
    let retries = retries.with_initial_backoff(std::time::Duration::from_millis(5));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "tests"))
            .timeout_config(timeouts)
            .retry_config(retries)
            .load(),
    )
}

fn notice() -> breakglass::core::notice::Notice {
    breakglass::core::notice::Notice {
        session_id: "s".into(),
        phase: breakglass::core::notice::Phase::InUse,
        mode: breakglass::core::mode::Mode::Incident,
        demo: false,
        account: None,
        custodians: vec![],
        reason: "r".into(),
        ticket: Some("INC-1".into()),
        host: "h".into(),
        started: String::new(),
        at: String::new(),
        journal_hash: String::new(),
        journal_words: String::new(),
        journal_entry: Some(0),
        idempotency_key: String::new(),
        maybe_repeat: false,
    }
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn throttling_is_retried_within_bounds() {
    use breakglass::core::notice::Broadcaster;
    let (url, h) = fake_aws(vec![(400, THROTTLED), (400, THROTTLED), (200, PUBLISHED)]);
    let mut b = SnsBroadcaster { aws: Aws::from_sdk(bounded_sdk(&url)).unwrap(), topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into() };
    let d = b.send(&notice()).unwrap();
    assert_eq!(d.message_id, "after-throttling");
    assert_eq!(h.join().unwrap(), 3);
    // Throttled every time: it gives up after the bound and says so.
    let (url, h) = fake_aws(vec![(400, THROTTLED), (400, THROTTLED), (400, THROTTLED), (200, PUBLISHED)]);
    let mut b = SnsBroadcaster { aws: Aws::from_sdk(bounded_sdk(&url)).unwrap(), topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into() };
    let e = b.send(&notice()).unwrap_err().to_string();
    assert!(e.contains("Throttling"), "{e}");
    drop(h);
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn an_sns_access_denied_names_the_permission_and_the_fix() {
    use breakglass::core::notice::Broadcaster;
    let (url, _h) = fake_aws(vec![(403, DENIED)]);
    let mut b = SnsBroadcaster { aws: Aws::from_sdk(bounded_sdk(&url)).unwrap(), topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into() };
    let e = b.send(&notice()).unwrap_err().to_string();
    assert!(
        e.contains("sns:Publish was denied") && e.contains("docs/iam-policy.json") && e.contains("arn:aws:sns:us-east-1:123456789012:t"),
        "{e}"
    );
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn bad_settings_get_one_clear_message_each() {
    let d = tempfile::tempdir().unwrap();
    // A malformed topic ARN: named with the file and line before anything runs.
    let cfg = d.path().join("bad.toml");
    std::fs::write(&cfg, "[notice]\nsns_topic_arn = \"root-in-use\"\n").unwrap();
    let o = run(d.path(), &["--config", cfg.to_str().unwrap(), "demo", "--auto"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.toml line 2") && stderr(&o).contains("not an SNS topic ARN"), "{}", stderr(&o));
    // A malformed account id.
    std::fs::write(&cfg, "[aws]\naccount_id = \"12345\"\n").unwrap();
    let o = run(d.path(), &["--config", cfg.to_str().unwrap(), "doctor"]);
    assert!(stderr(&o).contains("12-digit"), "{}", stderr(&o));
    // No region anywhere.
    let no_aws_env = [("AWS_CONFIG_FILE", "/nonexistent".to_string()), ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".to_string())];
    std::fs::write(&cfg, "[aws]\naccount_id = \"123456789012\"\n").unwrap();
    let mut c = Command::new(bin());
    c.args(["--data-dir", d.path().to_str().unwrap(), "--config", cfg.to_str().unwrap(), "demo", "--auto"]);
    for k in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"] {
        c.env_remove(k);
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in &no_aws_env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("no AWS region"), "{}", stderr(&o));
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn missing_credentials_say_how_to_sign_in() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "123456789012", None);
    let env = vec![
        ("AWS_ENDPOINT_URL", moto.url.clone()),
        ("AWS_CONFIG_FILE", "/nonexistent".to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".to_string()),
    ];
    let mut c = Command::new(bin());
    c.args(["--data-dir", d.path().to_str().unwrap(), "--config", cfg.to_str().unwrap(), "demo", "--auto"]);
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        c.env_remove(k);
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in &env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert_ne!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(e.contains("no AWS credentials") && e.contains("aws sso login"), "{e}");
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn a_topic_nobody_is_subscribed_to_is_a_warning() {
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let topic = rt.block_on(aws_sdk_sns::Client::new(&moto.sdk()).create_topic().name("lonely").send()).unwrap().topic_arn.unwrap();
    let b = SnsBroadcaster { aws: Aws::from_sdk(sdk_for(&moto.url)).unwrap(), topic_arn: topic };
    use breakglass::core::notice::Broadcaster;
    let w = b.warning().expect("a warning");
    assert!(w.contains("no confirmed subscription"), "{w}");
    let (topic, _q) = topic_with_queue(&moto.sdk(), "watched");
    let b = SnsBroadcaster { aws: Aws::from_sdk(sdk_for(&moto.url)).unwrap(), topic_arn: topic };
    assert_eq!(b.warning(), None);
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn doctor_checks_the_account_and_the_topic_subscriptions() {
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let lonely = rt.block_on(aws_sdk_sns::Client::new(&moto.sdk()).create_topic().name("lonely").send()).unwrap().topic_arn.unwrap();
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "123456789012", Some(&lonely));
    let o = run_env(d.path(), &moto.env(), &["--config", cfg.to_str().unwrap(), "doctor"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("ok   AWS account        123456789012"), "{out}");
    assert!(out.contains("FAIL notice topic") && out.contains("no confirmed subscription"), "{out}");
    let (watched, _q) = topic_with_queue(&moto.sdk(), "watched");
    let cfg = config(d.path(), "999999999999", Some(&watched));
    let o = run_env(d.path(), &moto.env(), &["--config", cfg.to_str().unwrap(), "doctor"]);
    let out = stdout(&o);
    assert!(out.contains("FAIL AWS account") && out.contains("aws.account_id = 999999999999"), "{out}");
    assert!(out.contains("ok   notice topic"), "{out}");
}

#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn heartbeats_reach_the_queue_while_root_is_in_use() {
    let moto = Moto::start();
    let (topic, queue) = topic_with_queue(&moto.sdk(), "root-in-use");
    let d = tempfile::tempdir().unwrap();
    let mut out = outside(moto.sdk(), &topic, "123456789012");
    out.heartbeat_s = 60;
    let (mut c, mut r) = breakglass::commands::demo::setup(d.path(), Arc::new(FixedClock::new()), out).unwrap();
    drive(
        &mut c,
        &mut r,
        Intent::Begin { mode: Mode::Incident, reason: "heartbeat test".into(), ticket: None, scenario: Default::default() },
    );
    check_in(&mut c, &mut r, "alice");
    check_in(&mut c, &mut r, "bob");
    assert_eq!(*c.phase(), Phase::Runbook);
    drive(&mut c, &mut r, Intent::Tick { now_s: 61 });
    let msgs = drain(&moto.sdk(), &queue);
    let phases: Vec<&str> = msgs.iter().map(|m| m["MessageAttributes"]["phase"]["Value"].as_str().unwrap()).collect();
    assert_eq!(phases, ["in_use", "heartbeat"]);
    assert!(msgs[1]["Subject"].as_str().unwrap().contains("still in use"));
    let journal = std::fs::read_to_string(r.dir.join("journal.jsonl")).unwrap();
    assert!(journal.contains(msgs[1]["MessageId"].as_str().unwrap()));
}

/// A TCP proxy in front of the local AWS server hangs, then drops connections, while the "root
/// in use" notice goes out from the real binary in a pty: the screen keeps answering keys, says
/// what it waits for and for how long, every wait ends within its bound with a reason, and the
/// notice is delivered once the network is back.
#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn a_hanging_or_dropping_sns_endpoint_never_freezes_the_screen_and_every_wait_is_bounded() {
    use common::proxy::{Mode as Net, Proxy};
    use common::pty::*;
    use std::time::{Duration, Instant};
    let moto = Moto::start();
    let (topic, queue) = topic_with_queue(&moto.sdk(), "root-in-use");
    let proxy = Proxy::start(&format!("127.0.0.1:{}", moto.port));
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "123456789012", Some(&topic));
    let mut cmd = CommandBuilder::new(bin());
    cmd.args(["--data-dir", d.path().to_str().unwrap(), "--config", cfg.to_str().unwrap(), "demo"]);
    for (k, v) in moto.env() {
        cmd.env(k, if k == "AWS_ENDPOINT_URL" { proxy.url.clone() } else { v });
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    let (mut s, mut child) = spawn_command(cmd);
    s.wait_for("Start a session");
    s.keys("network fault test");
    s.keys(ENTER);
    s.wait_for("Custodian 1: insert your YubiKey");
    check_in(&mut s, "314159");
    s.wait_for("Custodian 2: insert your YubiKey");
    // The network hangs just before the "root in use" notice.
    proxy.set(Net::Hang);
    check_in(&mut s, "271828");
    let sending = Instant::now();
    s.wait_for("AWS SNS: waiting 12 s at most.");
    // The screen answers keys while the notice waits: help opens and closes.
    s.keys("?");
    s.wait_for_within("Keys here", Duration::from_secs(2));
    s.keys(ESC);
    s.wait_for_within("AWS SNS: waiting 12 s at most.", Duration::from_secs(2));
    assert!(sending.elapsed() < Duration::from_secs(8), "help opened while the notice was still waiting");
    s.wait_for_within("was NOT delivered", Duration::from_secs(25));
    let waited = sending.elapsed();
    assert!(waited < Duration::from_secs(20), "the wait is bounded: {waited:?}");
    assert!(s.text().contains("did not answer") || s.text().contains("in time"), "says why:\n{}", s.text());
    // Connections dropped: the retry fails fast and says so.
    proxy.set(Net::Drop);
    let retry = Instant::now();
    s.keys("r");
    s.wait_for_within("(attempt 2", Duration::from_secs(20));
    assert!(retry.elapsed() < Duration::from_secs(15), "{:?}", retry.elapsed());
    // The network is back: the next retry delivers and the ceremony goes on.
    proxy.set(Net::Pass);
    s.keys("r");
    s.wait_for_within("Runbook: 0/13 steps done", Duration::from_secs(20));
    abort_and_both_sign(&mut s);
    s.wait_for("Ceremony ABORTED and recorded");
    s.keys("q");
    assert!(wait_exit(&mut child).success());
    let phases: Vec<String> = drain(&moto.sdk(), &queue)
        .iter()
        .map(|m| m["MessageAttributes"]["phase"]["Value"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(phases, ["in_use", "aborted"], "each notice delivered once, in order");
    let dir = std::fs::read_dir(d.path().join("sessions")).unwrap().flatten().next().unwrap().path();
    let j = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert_eq!(j.matches("\"kind\":\"notice.failed\"").count(), 2, "both failures journalled");
    assert!(proxy.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 3);
}

/// A ceremony with AWS reads the root posture as the account is checked and again as it closes,
/// journals what changed, and journals root's CloudTrail events for its own window (the rig
/// emulates LookupEvents): all before "root released", and the bundle still verifies.
#[test]
#[ignore = "needs the test rig: a local moto server (./scripts/test installs it)"]
fn the_ceremony_journals_the_root_posture_and_root_activity_in_its_window() {
    let moto = Moto::start();
    let now = chrono::Utc::now();
    let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let event = |t: &str, name: &str| {
        serde_json::json!({"eventTime": t, "eventName": name, "sourceIPAddress": "198.51.100.7", "userAgent": "console",
            "recipientAccountId": "123456789012", "userIdentity": {"type": "Root"}})
    };
    // One root event during the ceremony (its window is "now"), one the day before.
    std::fs::write(
        format!("/tmp/breakglass-moto-{}-cloudtrail.json", moto.port),
        serde_json::to_vec(&[event(&at(now), "ConsoleLogin"), event(&at(now - chrono::Duration::days(1)), "DeleteUser")]).unwrap(),
    )
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "123456789012", None);
    let o = run_env(d.path(), &moto.env(), &["--config", cfg.to_str().unwrap(), "demo", "--auto"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = std::path::PathBuf::from(stdout(&o).lines().last().unwrap().trim());
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.join("journal.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let pos = |kind: &str, when: Option<&str>| {
        lines
            .iter()
            .position(|e| e["kind"] == kind && when.is_none_or(|w| e["when"] == w))
            .unwrap_or_else(|| panic!("{kind} {when:?} missing"))
    };
    let (start, close, activity) =
        (pos("posture.checked", Some("start")), pos("posture.checked", Some("close")), pos("root.activity", None));
    assert!(start < pos("custodian.verified", None), "the start posture comes before the check-ins");
    let released = lines.iter().position(|e| e["kind"] == "notice.sent" && e["phase"] == "released").unwrap();
    assert!(close < released && activity < released, "both before root is released");
    let ids: Vec<&str> = lines[start]["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"iam_root_mfa_enabled") && ids.contains(&"iam_no_root_access_key"), "{ids:?}");
    assert_eq!(lines[close]["changed"], serde_json::json!([]), "nothing changed during the ceremony");
    let events: Vec<&str> = lines[activity]["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["ConsoleLogin"], "only the window's events");
    let v = run(d.path(), &["verify", dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
}
