//! Thin entry point: parse, install the panic hook, dispatch.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = breakglass::cli::Cli::parse();
    let code = match breakglass::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("breakglass: {}", breakglass::plain::for_terminal(&format!("{e:#}")));
            2
        }
    };
    std::process::exit(code);
}
