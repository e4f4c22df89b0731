//! A TCP proxy in front of the local AWS server that can pass traffic through, hang (accept and
//! never answer) or drop connections, switched while a test runs.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward both ways to the upstream server.
    Pass = 0,
    /// Accept, read what comes, never answer (a stuck network or a server that stopped).
    Hang = 1,
    /// Accept and close at once (a connection reset).
    Drop = 2,
}

pub struct Proxy {
    pub url: String,
    mode: Arc<AtomicU8>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (host:port).
    pub fn start(upstream: &str) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (m, a, up) = (mode.clone(), accepted.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(client) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let mode = m.load(Ordering::SeqCst);
                let up = up.clone();
                std::thread::spawn(move || match mode {
                    0 => forward(client, &up),
                    1 => hang(client),
                    _ => {
                        let _ = client.shutdown(Shutdown::Both);
                    }
                });
            }
        });
        Proxy { url, mode, accepted }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

fn hang(mut client: TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(120)));
    let mut buf = [0u8; 4096];
    while matches!(client.read(&mut buf), Ok(n) if n > 0) {}
}

fn forward(client: TcpStream, upstream: &str) {
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(Shutdown::Write);
    });
    let (mut s, mut c) = (server, client);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.flush();
    let _ = c.shutdown(Shutdown::Write);
    let _ = up.join();
}
