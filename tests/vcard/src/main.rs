//! `vcard`: a virtual PIV card that the `yubikey` crate takes for a YubiKey 5 (firmware 5.4.3),
//! served to pcscd through vsmartcard's vpcd. TEST RIG ONLY: keys live in RAM, the attestation
//! chain ends in a test CA. See README.md.

mod attest;
mod backend;
mod card;

use std::{
    ffi::CString,
    io::{self, Read as _, Write as _},
    net::{Shutdown, TcpStream},
    path::PathBuf,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering::SeqCst},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use log::{info, warn};
use signal_hook::{
    consts::{SIGUSR1, SIGUSR2},
    iterator::Signals,
};
use socket2::SockRef;
use vpicc::VSmartCard as _;

/// Firmware version the card reports (GET VERSION and attestation extension 41482.3.3).
const VERSION: [u8; 3] = [5, 4, 3];

const USAGE: &str = "usage:
  vcard --serial N [--port 35963] [--host 127.0.0.1]
        [--attest-ca-key FILE --attest-ca-cert FILE | --write-ca-cert FILE] [--f9-key FILE]
      serve a card until killed (no --attest-ca-*: make a test CA now, cert to --write-ca-cert);
      SIGUSR1 pulls the card out of the reader, SIGUSR2 puts the same card back
  vcard wait --serial N [--port 35963] [--timeout SECONDS]
      exit 0 once PC/SC shows a card with that serial (default timeout 10 s); with --port, only
      that vpcd slot is looked into (reading a serial SELECTs the card, ending its PIN session)
  vcard wait-empty [--port 35963] [--timeout SECONDS]
      exit 0 once pcscd has noticed that the vpcd slot for that port holds no card
  vcard make-ca --ca-key FILE --ca-cert FILE [--f9-key FILE]
      write a test CA (RSA-2048 key, PEM certificate) and an f9 key, to share between cards";

#[derive(Default, PartialEq)]
enum Mode {
    #[default]
    Serve,
    Wait,
    WaitEmpty,
    MakeCa,
}

#[derive(Default)]
struct Args {
    mode: Mode,
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
    match it.peek().map(String::as_str) {
        Some("wait") => args.mode = Mode::Wait,
        Some("wait-empty") => args.mode = Mode::WaitEmpty,
        Some("make-ca") => args.mode = Mode::MakeCa,
        _ => {}
    }
    if args.mode != Mode::Serve {
        it.next();
    }
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match (&args.mode, flag.as_str()) {
            (Mode::Serve | Mode::Wait, "--serial") => args.serial = Some(value.parse().map_err(|e| bad(&e))?),
            (Mode::Serve | Mode::Wait | Mode::WaitEmpty, "--port") => args.port = Some(value.parse().map_err(|e| bad(&e))?),
            (Mode::Serve, "--host") => args.host = Some(value),
            (Mode::Serve, "--attest-ca-key") | (Mode::MakeCa, "--ca-key") => args.ca_key = Some(value.into()),
            (Mode::Serve, "--attest-ca-cert") | (Mode::MakeCa, "--ca-cert") => args.ca_cert = Some(value.into()),
            (Mode::Serve, "--write-ca-cert") => args.write_ca_cert = Some(value.into()),
            (Mode::Serve | Mode::MakeCa, "--f9-key") => args.f9_key = Some(value.into()),
            (Mode::Wait | Mode::WaitEmpty, "--timeout") => args.timeout = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    match args.mode {
        Mode::MakeCa if args.ca_key.is_none() || args.ca_cert.is_none() => {
            return Err("make-ca needs --ca-key and --ca-cert".into())
        }
        Mode::MakeCa | Mode::WaitEmpty => {}
        _ if args.serial.is_none() => return Err("--serial is required".into()),
        _ if args.ca_key.is_some() != args.ca_cert.is_some() => {
            return Err("--attest-ca-key and --attest-ca-cert go together".into())
        }
        _ if args.ca_key.is_some() && args.write_ca_cert.is_some() => {
            return Err("--write-ca-cert is for a generated CA; not with --attest-ca-*".into())
        }
        _ => {}
    }
    Ok(args)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,vcard=info")).init();
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
    if args.mode == Mode::MakeCa {
        let (key, cert) = (args.ca_key.as_deref().expect("checked"), args.ca_cert.as_deref().expect("checked"));
        return match attest::write_test_pki(key, cert, args.f9_key.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vcard make-ca: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.mode == Mode::WaitEmpty {
        let port = args.port.unwrap_or(vpicc::DEFAULT_PORT);
        return wait_empty(port, Duration::from_secs_f64(args.timeout.unwrap_or(10.0)));
    }
    let serial = args.serial.expect("checked");
    if args.mode == Mode::Wait {
        return wait_visible(serial, args.port, Duration::from_secs_f64(args.timeout.unwrap_or(10.0)));
    }

    // First thing in serve mode: SIGUSR1's default action would kill the card.
    let plug = match Plug::install() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vcard: cannot install the SIGUSR1/SIGUSR2 handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
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
        let mut said_unreachable = false;
        loop {
            // Unplugged (SIGUSR1): stay out of the reader until SIGUSR2. `card` lives on, so the
            // card that comes back is the same one (keys, PIN and PUK retry counters).
            if plug.unplugged.load(SeqCst) {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            match TcpStream::connect(addr.as_str()) {
                Ok(stream) => {
                    said_unreachable = false;
                    info!("card serial {serial} inserted into vpcd at {addr}");
                    // Hand the signal thread a handle (dup) so SIGUSR1 can cut this connection;
                    // then re-check the flag, for a SIGUSR1 that came before the handle was there.
                    *plug.conn.lock().unwrap() = stream.try_clone().ok();
                    if plug.unplugged.load(SeqCst) {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    let result = serve(stream, &mut card);
                    *plug.conn.lock().unwrap() = None;
                    // WHY: a card that leaves the reader loses power, so its session ends (PIN
                    // logged out) here, at the removal. (pcscd + vpcd happen to power the card
                    // off and on again on re-insertion, which also ends it; don't rely on that.)
                    card.power_off();
                    if plug.unplugged.load(SeqCst) {
                        info!("card serial {serial} unplugged; state kept, SIGUSR2 plugs it back in");
                    } else if let Err(e) = result {
                        warn!("vpcd connection ended: {e}; reconnecting");
                    }
                }
                Err(e) if !said_unreachable => {
                    said_unreachable = true;
                    warn!("cannot reach vpcd at {addr} ({e}); is pcscd running with vpcd? retrying every 100 ms");
                }
                Err(_) => {}
            }
            thread::sleep(Duration::from_millis(100));
        }
    })
}

/// Simulated unplug/replug of the same card (`rig.sh unplug`/`plug`): SIGUSR1 pulls the card
/// out of the reader, SIGUSR2 puts it back. Only the vpcd connection goes away (that is what
/// pcscd sees as a removal); the `Card` and everything in it stay in this process.
struct Plug {
    /// Set by SIGUSR1, cleared by SIGUSR2; the serve loop does not (re)connect while set.
    unplugged: AtomicBool,
    /// A dup of the current vpcd connection, for the signal thread to cut.
    conn: Mutex<Option<TcpStream>>,
}

impl Plug {
    /// Registers the handlers (signal-hook) and starts the thread that acts on them. WHY a thread:
    /// a signal handler may only do async-signal-safe things; signal-hook's handler just wakes
    /// this thread, which may lock and shut a socket down.
    fn install() -> io::Result<Arc<Plug>> {
        let plug = Arc::new(Plug { unplugged: AtomicBool::new(false), conn: Mutex::new(None) });
        let mut signals = Signals::new([SIGUSR1, SIGUSR2])?;
        let p = plug.clone();
        thread::spawn(move || {
            for signal in signals.forever() {
                let unplug = signal == SIGUSR1;
                info!("{}", if unplug { "SIGUSR1: unplugging the card" } else { "SIGUSR2: plugging the card back in" });
                // Flag first, then cut: the serve loop re-checks the flag after publishing `conn`.
                p.unplugged.store(unplug, SeqCst);
                if let (true, Some(conn)) = (unplug, p.conn.lock().unwrap().as_ref()) {
                    // WHY shutdown: `serve` sits in a blocking read; this ends it at once (EOF),
                    // and vpcd gets a FIN, so pcscd's next presence poll (<= 400 ms) finds no card.
                    let _ = conn.shutdown(Shutdown::Both);
                }
            }
        });
        Ok(plug)
    }
}

/// WHY our own loop instead of `vpicc::Connection::run` (same protocol, same `VSmartCard`
/// trait): Debian 12's vpcd writes every message as two send()s (2-byte length, then body). Nagle on
/// its side holds the body until our ACK of the length arrives, and our kernel delays that ACK
/// by ~40 ms because we had just sent a reply: every APDU took ~44 ms. TCP_QUICKACK fixes it,
/// but is not sticky and must be re-armed *after* each reply is sent, which `Connection::run`
/// gives no hook for. With it, an APDU round trip costs well under a millisecond plus the work.
///
/// The loop also un-sticks pcscd (see `wait_empty`): on a real insertion pcscd powers the card
/// up within one presence poll (400 ms). If we are only ever asked for the ATR, pcscd believes
/// the slot empty while polling us as present; leaving and coming back is a removal and an
/// insertion it does notice.
fn serve(mut stream: TcpStream, card: &mut impl vpicc::VSmartCard) -> io::Result<()> {
    const POWER_UP_EXPECTED_WITHIN: Duration = Duration::from_secs(2);
    stream.set_nodelay(true)?;
    let connected = Instant::now();
    let mut powered = false;
    loop {
        SockRef::from(&stream).set_tcp_quickack(true)?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut msg)?;
        // One byte is a control message (vsmartcard's vpcd protocol); more is an APDU.
        let reply = match msg.as_slice() {
            [] => return Err(io::Error::other("empty message from vpcd")),
            [0] => {
                card.power_off();
                continue;
            }
            [1] => {
                powered = true;
                card.power_on();
                continue;
            }
            [2] => {
                powered = true;
                card.reset();
                continue;
            }
            [4] if !powered && connected.elapsed() > POWER_UP_EXPECTED_WITHIN => {
                return Err(io::Error::other("pcscd polls but never powers the card up (stale slot state)"));
            }
            [4] => card.atr().to_vec(),
            [c] => return Err(io::Error::other(format!("unknown vpcd control message {c}"))),
            apdu => {
                powered = true;
                card.execute(apdu)
            }
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        out.extend_from_slice(&reply);
        stream.write_all(&out)?;
    }
}

/// Waits until pcscd reports the vpcd slot of `port` empty, using only SCardGetStatusChange.
///
/// WHY: when a card process dies, pcscd notices only at its next presence poll (every 400 ms).
/// A client that connects in between makes pcscd try to power up the dead card; that fails
/// ("Error powering up card: SCARD_W_REMOVED_CARD"), and if the next card has connected by the
/// following poll, pcscd never sees a removal and keeps the slot "empty" for good (SCardConnect
/// says no card while the new card answers every presence poll). So, after stopping a card and
/// before starting the next one (or connecting), wait for this, without connecting.
fn wait_empty(port: u16, timeout: Duration) -> ExitCode {
    let started = Instant::now();
    let slot = port.wrapping_sub(vpicc::DEFAULT_PORT);
    let result = (|| -> Result<bool, pcsc::Error> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
        let mut buf = vec![0u8; 4096];
        // vpcd's slots are named "Virtual PCD 00 00", "Virtual PCD 00 01", ... by slot index.
        let suffix = format!(" {slot:02X}");
        let Some(reader) = ctx
            .list_readers(&mut buf)?
            .find(|r| r.to_string_lossy().starts_with("Virtual PCD") && r.to_string_lossy().ends_with(&suffix))
            .map(CString::from)
        else {
            return Ok(true); // no such reader: nothing can be in it
        };
        let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
        loop {
            match ctx.get_status_change(Duration::from_millis(100), &mut states) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => return Err(e),
            }
            let state = states[0].event_state();
            if state.contains(pcsc::State::EMPTY) || state.contains(pcsc::State::UNKNOWN) {
                return Ok(true);
            }
            if started.elapsed() >= timeout {
                return Ok(false);
            }
            states[0].sync_current_state();
        }
    })();
    match result {
        Ok(true) => {
            println!("vpcd slot for port {port} empty after {:?}", started.elapsed());
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("vcard wait-empty: slot for port {port} still holds a card after {timeout:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("vcard wait-empty: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Polls PC/SC until a reader holds a PIV card answering GET SERIAL with `serial`.
/// WHY `port`: finding a serial SELECTs the card in each reader looked into, which ends that
/// card's PIN session (as on a YubiKey). Plugging one card back must not log the others out, so
/// with the card's port only its own vpcd slot is read.
fn wait_visible(serial: u32, port: Option<u16>, timeout: Duration) -> ExitCode {
    let deadline = Instant::now() + timeout;
    let started = Instant::now();
    loop {
        match find_serial(serial, port) {
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

fn find_serial(serial: u32, port: Option<u16>) -> Result<Option<String>, pcsc::Error> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
    let mut buf = vec![0u8; 4096];
    // vpcd's slots are named "Virtual PCD 00 00", "Virtual PCD 00 01", ... by slot index.
    let only = port.map(|p| format!(" {:02X}", p.wrapping_sub(vpicc::DEFAULT_PORT)));
    let readers: Vec<CString> = ctx
        .list_readers(&mut buf)?
        .filter(|r| only.as_ref().is_none_or(|s| r.to_string_lossy().starts_with("Virtual PCD") && r.to_string_lossy().ends_with(s.as_str())))
        .map(CString::from)
        .collect();
    for reader in readers {
        let card = match ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
            Ok(card) => card,
            Err(e) => {
                log::debug!("{reader:?}: connect: {e}");
                continue;
            }
        };
        let mut rx = [0u8; 258];
        // SELECT PIV (5-byte RID, as the yubikey crate does), then GET SERIAL.
        let selected = card
            .transmit(&[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08], &mut rx)
            .map(|r| r.ends_with(&[0x90, 0x00]))
            .unwrap_or_else(|e| {
                log::debug!("{reader:?}: SELECT: {e}");
                false
            });
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
