//! What the documents promise about the tool's own words: the PGP word list shipped for the paper
//! check is the one the tool speaks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

/// docs/pgp-words.md, as the tool's word list makes it (`BREAKGLASS_BLESS=1` rewrites the file).
fn word_table() -> String {
    let mut s = String::from(
        "# The PGP word list\n\n\
         breakglass shows hashes as words (the chain head on the summary screen and in the \"root released\"\n\
         notice, the genesis hash in \"root in use\", a roster's fingerprint) so that two people can read them\n\
         aloud and write them on paper. The words are the PGP word list (Juola and Zimmermann): a byte at an\n\
         even position (0, 2, 4, ... counting from 0) is a two-syllable word, at an odd position a\n\
         three-syllable word, so a swapped or dropped word is noticed. To check the words on paper against a\n\
         hash by hand, look up each byte of the hash, in order, in the column for its position.\n\n\
         | byte | even position | odd position |\n|---|---|---|\n",
    );
    for b in 0..=255u8 {
        let even = pgp_words::to_words(&[b]).into_iter().next().unwrap_or_default().to_string();
        let odd = pgp_words::to_words(&[0, b]).into_iter().nth(1).unwrap_or_default().to_string();
        s.push_str(&format!("| {b:02X} | {even} | {odd} |\n"));
    }
    s
}

#[test]
fn the_pgp_word_list_for_the_paper_check_is_shipped_and_is_the_tools() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/pgp-words.md");
    let want = word_table();
    if std::env::var_os("BREAKGLASS_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).expect("docs/pgp-words.md is shipped (BREAKGLASS_BLESS=1 cargo test --test docs writes it)");
    assert_eq!(have, want, "docs/pgp-words.md differs from the word list the tool uses");
    // The tool's words for a known hash are found in the table, position by position.
    let words = breakglass::core::notice::words(&[0x00, 0x01, 0xFF, 0xFE]);
    let ws: Vec<&str> = words.split(' ').collect();
    assert_eq!(ws.len(), 4);
    assert!(have.contains(&format!("| 00 | {} |", ws[0])), "{words}");
    assert!(have.contains(&format!("| FF | {} |", ws[2])), "{words}");
}

/// Every rule of docs/evidence-model.md is in the code (`breakglass::core::evidence::Rule`) and every
/// rule of the code is in the document, numbered in order, with the same title.
#[test]
fn the_evidence_model_and_the_code_name_the_same_rules() {
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/evidence-model.md")).unwrap();
    // A rule is stated as a paragraph that opens with `**E<n>. <title>.**`.
    let stated: Vec<(String, String)> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("**E"))
        .filter_map(|l| {
            let (n, rest) = l.split_once(". ")?;
            let (title, _) = rest.split_once(".**")?;
            Some((format!("E{n}"), title.to_string()))
        })
        .collect();
    let code: Vec<(String, String)> =
        breakglass::core::evidence::Rule::ALL.iter().map(|r| (r.id().to_string(), r.title().to_string())).collect();
    assert_eq!(stated, code, "docs/evidence-model.md and src/core/evidence.rs disagree");
    // Every rule id the document cites elsewhere is one of them.
    for w in doc.split(|c: char| !c.is_ascii_alphanumeric()) {
        if let Some(n) = w.strip_prefix('E').filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            assert!(code.iter().any(|(id, _)| id == &format!("E{n}")), "docs/evidence-model.md cites E{n}, which is no rule");
        }
    }
}

/// Every audit check id is documented in docs/audit.md, as `audit --json` writes it.
#[test]
fn every_audit_check_is_documented() {
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit.md")).unwrap();
    for id in breakglass::core::audit::CheckId::ALL {
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        assert!(doc.contains(&format!("`{id}`")), "docs/audit.md does not name `{id}`");
    }
}
