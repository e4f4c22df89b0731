//! `vcard`: a virtual PIV card that the `yubikey` crate takes for a YubiKey 5 (firmware 5.4.3),
//! served to pcscd through vsmartcard's vpcd. TEST RIG ONLY: keys live in RAM, the attestation
//! chain ends in a test CA.
//!
//! ```text
//! vcard --serial N [--port 35963] [--host 127.0.0.1]
//!       [--attest-ca-key FILE --attest-ca-cert FILE | --write-ca-cert FILE] [--f9-key FILE]
//! vcard wait --serial N [--timeout SECONDS]     exit 0 once PC/SC shows that card
//! ```

mod attest;
mod backend;
mod card;

use std::{
    ffi::CString,
    path::PathBuf,
    process::ExitCode,
    thread,
    time::{Duration, Instant},
};

use log::{info, warn};

/// Firmware version the card reports (GET VERSION and attestation extension 41482.3.3).
const VERSION: [u8; 3] = [5, 4, 3];

const USAGE: &str = "usage:
  vcard --serial N [--port 35963] [--host 127.0.0.1]
        [--attest-ca-key FILE --attest-ca-cert FILE | --write-ca-cert FILE] [--f9-key FILE]
  vcard wait --serial N [--timeout SECONDS]";

#[derive(Default)]
struct Args {
    wait: bool,
    serial: Option<u32>,
    port: Option<u16>,
    host: Option<String>,
    ca_key: Option<PathBuf>,
    ca_cert: Option<PathBuf>,
    write_ca_cert: Option<PathBuf>,
    f9_key: Option<PathBuf>,
    timeout: Option<f64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1).peekable();
    if it.peek().map(String::as_str) == Some("wait") {
        args.wait = true;
        it.next();
    }
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--serial" => args.serial = Some(value.parse().map_err(|e| bad(&e))?),
            "--port" => args.port = Some(value.parse().map_err(|e| bad(&e))?),
            "--host" => args.host = Some(value),
            "--attest-ca-key" => args.ca_key = Some(value.into()),
            "--attest-ca-cert" => args.ca_cert = Some(value.into()),
            "--write-ca-cert" => args.write_ca_cert = Some(value.into()),
            "--f9-key" => args.f9_key = Some(value.into()),
            "--timeout" if args.wait => args.timeout = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if args.serial.is_none() {
        return Err("--serial is required".into());
    }
    if args.ca_key.is_some() != args.ca_cert.is_some() {
        return Err("--attest-ca-key and --attest-ca-cert go together".into());
    }
    if args.ca_key.is_some() && args.write_ca_cert.is_some() {
        return Err("--write-ca-cert is for a generated CA; not with --attest-ca-*".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("vcard: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let serial = args.serial.expect("checked");
    if args.wait {
        return wait_visible(serial, Duration::from_secs_f64(args.timeout.unwrap_or(10.0)));
    }

    let started = Instant::now();
    let ca = match (&args.ca_key, &args.ca_cert) {
        (Some(key), Some(cert)) => attest::CaSource::Files { key, cert },
        _ => attest::CaSource::Generate { write_cert: args.write_ca_cert.as_deref() },
    };
    let attestor = match attest::Attestor::new(ca, args.f9_key.as_deref(), serial, VERSION) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vcard: attestation setup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    info!("attestation keys ready in {:?}", started.elapsed());

    let addr = format!("{}:{}", args.host.as_deref().unwrap_or("127.0.0.1"), args.port.unwrap_or(vpicc::DEFAULT_PORT));
    backend::with_client(|client| {
        let mut card = card::Card::new(client, serial, VERSION, attestor);
        // Serve until killed. If pcscd goes away, keep the card (and its keys) and reconnect.
        let mut waiting_since: Option<Instant> = None;
        loop {
            match vpicc::connect_socket(addr.as_str()) {
                Ok(connection) => {
                    waiting_since = None;
                    info!("card serial {serial} inserted into vpcd at {addr}");
                    if let Err(e) = connection.run(&mut card) {
                        warn!("vpcd connection ended: {e}; reconnecting");
                    }
                }
                Err(e) => {
                    let since = *waiting_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < Duration::from_millis(250) {
                        warn!("cannot reach vpcd at {addr} ({e}); is pcscd running with vpcd? retrying");
                    }
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
    })
}

/// Polls PC/SC until a reader holds a PIV card answering GET SERIAL with `serial`.
fn wait_visible(serial: u32, timeout: Duration) -> ExitCode {
    let deadline = Instant::now() + timeout;
    let started = Instant::now();
    loop {
        match find_serial(serial) {
            Ok(Some(reader)) => {
                println!("card {serial} visible in reader {reader:?} after {:?}", started.elapsed());
                return ExitCode::SUCCESS;
            }
            Ok(None) => {}
            Err(e) if Instant::now() >= deadline => eprintln!("vcard wait: {e}"),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            eprintln!("vcard wait: card {serial} not visible after {timeout:?}");
            return ExitCode::FAILURE;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn find_serial(serial: u32) -> Result<Option<String>, pcsc::Error> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
    let mut buf = vec![0u8; 4096];
    let readers: Vec<CString> = ctx.list_readers(&mut buf)?.map(CString::from).collect();
    for reader in readers {
        let Ok(card) = ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) else { continue };
        let mut rx = [0u8; 258];
        // SELECT PIV (5-byte RID, as the yubikey crate does), then GET SERIAL.
        let selected = card
            .transmit(&[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08], &mut rx)
            .map(|r| r.ends_with(&[0x90, 0x00]))
            .unwrap_or(false);
        if !selected {
            continue;
        }
        if let Ok(r) = card.transmit(&[0x00, 0xF8, 0x00, 0x00, 0x00], &mut rx) {
            if r.len() == 6 && r[4..] == [0x90, 0x00] && u32::from_be_bytes([r[0], r[1], r[2], r[3]]) == serial {
                let _ = card.disconnect(pcsc::Disposition::LeaveCard);
                return Ok(Some(reader.to_string_lossy().into_owned()));
            }
        }
        let _ = card.disconnect(pcsc::Disposition::LeaveCard);
    }
    Ok(None)
}
