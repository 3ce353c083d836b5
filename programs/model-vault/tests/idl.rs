//! The committed IDL (`idls/model_vault.json`) must match the program. Other languages' clients,
//! `paywire crank`'s error names and `declare_program!` users read that file, so a stale one is
//! a bug.

use std::path::Path;

use anchor_lang_idl::build::IdlBuilder;

#[test]
fn committed_idl_matches_the_program() {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let committed_path = program.join("../../idls/model_vault.json");
    // The builder runs `cargo test --features idl-build` in the program's directory and sets
    // RUSTFLAGS for it; an explicit (empty) CARGO_ENCODED_RUSTFLAGS takes precedence, so the
    // nested build shares this target directory's artifacts instead of rebuilding them all.
    // The builder also turns a set RUSTUP_TOOLCHAIN into a literal `cargo +{toolchain}`
    // (anchor-lang-idl 0.1.4), so leave the toolchain to rustup's own resolution.
    // SAFETY: changed before the builder spawns cargo; no other thread of this test reads them.
    unsafe {
        std::env::set_var("CARGO_ENCODED_RUSTFLAGS", "");
        std::env::remove_var("RUSTUP_TOOLCHAIN");
    }
    let idl = IdlBuilder::new()
        .program_path(program.to_path_buf())
        .cargo_args(vec!["--lib".into()])
        .build()
        .expect("building the IDL (cargo test --features idl-build) failed; see the output above");
    let fresh = serde_json::to_string_pretty(&idl).unwrap() + "\n";

    if std::env::var_os("UPDATE_IDL").is_some() {
        std::fs::create_dir_all(committed_path.parent().unwrap()).unwrap();
        std::fs::write(&committed_path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale or missing: regenerate it with `UPDATE_IDL=1 cargo test -p model-vault-tests idl` and commit it",
        committed_path.display()
    );
    assert_eq!(idl.address, model_vault::ID.to_string());
}
