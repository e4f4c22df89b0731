//! The command line's cases as data: each `tests/cmd/NAME.toml` is one run of the binary (its
//! arguments, and the files of `NAME.in/` as its working directory, in a sandbox), with the exit
//! code and the output it must give (`NAME.stdout`, `NAME.stderr`; `[..]` and `...` elide what
//! changes from run to run). A new case is a new file. `TRYCMD=overwrite cargo test --test
//! cli_cases` rewrites the expected output after a deliberate change; review the diff.

#[test]
fn cli_cases() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
