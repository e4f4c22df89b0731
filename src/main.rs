//! Thin entry point: parse, install the panic hook, dispatch.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    // A panic message may quote outside text (a journal's field): it is printed like every other
    // output, with control characters shown, never sent to the terminal. (The TUI adds the
    // restoring of the terminal in front of this hook.)
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!(
            "breakglass panicked{at}: {}\nThis is a bug in breakglass. What was journalled before it is kept: check the session with `breakglass verify`, and report the command you ran.",
            breakglass::core::plain::for_terminal(msg.as_deref().unwrap_or("(no message)"))
        );
    }));
    let cli = breakglass::commands::cli::Cli::parse();
    let code = match breakglass::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("breakglass: {}", breakglass::core::plain::for_terminal(&format!("{e:#}")));
            2
        }
    };
    std::process::exit(code);
}
