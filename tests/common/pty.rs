//! The real binary in an 80x24 pseudo-terminal, driven by keystrokes like a custodian would, and
//! read back through a terminal emulator (vt100).
#![allow(dead_code)]

use super::bin;
pub use portable_pty::CommandBuilder;
use portable_pty::{PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ENTER: &str = "\r";
pub const DOWN: &str = "\x1b[B";
pub const UP: &str = "\x1b[A";
pub const RIGHT: &str = "\x1b[C";
pub const TAB: &str = "\t";
pub const ESC: &str = "\x1b";

pub type Child = Box<dyn portable_pty::Child + Send + Sync>;

pub struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    /// Every byte the process wrote to the terminal.
    pub raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
}

impl Screen {
    pub fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until `needle` is on screen; fails with the screen if it never comes.
    pub fn wait_for(&self, needle: &str) {
        self.wait_for_within(needle, Duration::from_secs(20));
    }

    pub fn wait_for_within(&self, needle: &str, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("`{needle}` never appeared within {limit:?}; the screen shows:\n{}", self.text());
    }

    pub fn keys(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }

    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).to_string()
    }

    /// Whether the raw output holds `needle` within 5 s: after the program exits, its last bytes
    /// may still be on their way through the pty to the reader thread.
    pub fn raw_arrives(&self, needle: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if self.raw_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// Starts `breakglass demo` in an 80x24 pseudo-terminal.
pub fn spawn(data: &std::path::Path, env: &[(&str, &str)]) -> (Screen, Child) {
    spawn_args(data, &["demo"], env)
}

/// Starts `breakglass --data-dir DATA ARGS...` in an 80x24 pseudo-terminal.
pub fn spawn_args(data: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (Screen, Child) {
    let mut cmd = CommandBuilder::new(bin());
    cmd.args(["--data-dir", data.to_str().unwrap()]);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    spawn_command(cmd)
}

/// Starts any command in an 80x24 pseudo-terminal (TERM set, BREAKGLASS_DATA_DIR removed).
pub fn spawn_command(mut cmd: CommandBuilder) -> (Screen, Child) {
    let pty = native_pty_system().openpty(PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 }).unwrap();
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("BREAKGLASS_DATA_DIR");
    let child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(24, 80, 0)));
    let raw = Arc::new(Mutex::new(Vec::new()));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let (p2, r2) = (parser.clone(), raw.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            p2.lock().unwrap().process(&buf[..n]);
            r2.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let writer = pty.master.take_writer().unwrap();
    // Keep the master open as long as the screen lives.
    std::mem::forget(pty.master);
    (Screen { parser, raw, writer }, child)
}

/// Waits for the app to exit (20 s at most; then it is killed and the test fails).
pub fn wait_exit(child: &mut Child) -> portable_pty::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the app did not exit within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks in a demo custodian whose key is under the cursor.
pub fn check_in(s: &mut Screen, pin: &str) {
    s.keys(ENTER);
    s.wait_for("enter your PIN");
    s.keys(pin);
    s.keys(ENTER);
    s.wait_for("touch your key now");
    s.keys(ENTER);
}

/// With alice and bob checked in: Ctrl-C, `y` to abort, and both sign the aborted session.
pub fn abort_and_both_sign(s: &mut Screen) {
    s.keys("\x03");
    s.wait_for("Abort the ceremony?");
    s.keys("y");
    // Root was in use: the closing checklist first; here every item is marked not done.
    let start = Instant::now();
    while !s.text().contains("Alice Example: sign the session log") && start.elapsed() < Duration::from_secs(20) {
        if s.text().contains("Root was in use. Before it is released") {
            for _ in 0..4 {
                s.keys("x");
                s.keys(DOWN);
            }
            s.keys(ENTER);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    s.wait_for("Alice Example: sign the session log");
    s.keys(ENTER);
    s.wait_for("Bob Example: sign the session log");
    s.keys(ENTER);
}

/// Sends `kill -SIG` to the child.
pub fn signal(child: &Child, sig: &str) {
    let pid = child.process_id().expect("the child has a pid");
    let ok = std::process::Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Runs a command in a pseudo-terminal and answers its prompts in order: (text to wait for, reply).
pub fn answer(cmd: portable_pty::CommandBuilder, answers: &[(&str, &str)]) -> (bool, String) {
    use portable_pty::{PtySize, native_pty_system};
    use std::io::{Read, Write};
    let pty = native_pty_system().openpty(PtySize { rows: 40, cols: 200, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let out = Arc::new(Mutex::new(String::new()));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let o2 = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            o2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut w = pty.master.take_writer().unwrap();
    let mut from = 0;
    for (wait, reply) in answers {
        let start = std::time::Instant::now();
        loop {
            let text = out.lock().unwrap().clone();
            if let Some(i) = text[from..].find(wait) {
                from += i + wait.len();
                break;
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(60), "`{wait}` never came; output:\n{text}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        w.write_all(format!("{reply}\r").as_bytes()).unwrap();
        w.flush().unwrap();
    }
    let ok = child.wait().unwrap().success();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let text = out.lock().unwrap().clone();
    (ok, text)
}
