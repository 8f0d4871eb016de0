//! Builds the guest crates for wasm32-unknown-unknown with a nested cargo (own target
//! directory, so it never waits on the outer build's lock) and wraps each core module
//! into a component with wit-component. No step is manual and no binary is checked in.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every component, declared once: the build, `ALL` (what the host's tests list) and
/// the rebuild triggers follow from this table.
const GUESTS: &[Guest] = &[
    Guest {
        name: "router",
        folder: "components/router",
        package: "router-guest",
        stem: "router_guest",
    },
    Guest {
        name: "approval",
        folder: "components/approval",
        package: "approval-guest",
        stem: "approval_guest",
    },
    Guest {
        name: "monitor",
        folder: "components/monitor",
        package: "monitor-guest",
        stem: "monitor_guest",
    },
];

struct Guest {
    /// Its name, and its constant `{NAME}_COMPONENT`.
    name: &'static str,
    folder: &'static str,
    package: &'static str,
    /// The wasm file's stem.
    stem: &'static str,
}

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let target_dir = root.join("target").join("guests");

    // The guests' release profiles live in the workspace manifest.
    let shared = ["wit", "Cargo.lock", "Cargo.toml"];
    for dir in shared.into_iter().chain(GUESTS.iter().map(|g| g.folder)) {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
        ])
        .arg(&target_dir);
    for g in GUESTS {
        cmd.args(["-p", g.package]);
    }
    // The outer build's flags are for the host target, not for wasm32.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    // wasm SIMD lets memchr and aho-corasick's prefilters vectorise, as they do natively;
    // wasmtime supports it on every platform we run on.
    cmd.env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+simd128");
    // The guests are small: whole-program optimisation costs seconds here and lets the
    // automaton's and the allocator's code inline into the routing loops (this build has
    // its own target dir, so the host's profile is untouched).
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    let status = cmd.status().expect("running cargo for the wasm guests");
    if !status.success() {
        panic!(
            "building the wasm guests failed (is the wasm32-unknown-unknown target installed? `rustup target add wasm32-unknown-unknown`)"
        );
    }

    let mut generated = String::new();
    let mut all = String::new();
    for &Guest { name, stem, .. } in GUESTS {
        let constant = name.to_uppercase();
        let module_path = target_dir
            .join("wasm32-unknown-unknown/release")
            .join(format!("{stem}.wasm"));
        let module = std::fs::read(&module_path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", module_path.display()));
        let component = wit_component::ComponentEncoder::default()
            .module(&module)
            .and_then(|e| e.validate(true).encode())
            .unwrap_or_else(|e| panic!("wrapping {stem} into a component: {e:?}"));
        let path = out_dir.join(format!("{stem}.component.wasm"));
        std::fs::write(&path, &component).expect("writing component");
        generated.push_str(&format!(
            "/// The {stem} component (zero imports).\npub const {constant}_COMPONENT: &[u8] = include_bytes!({:?});\n",
            path.display().to_string()
        ));
        all.push_str(&format!("    ({name:?}, {constant}_COMPONENT),\n"));
    }
    generated.push_str(&format!(
        "/// Every component, by name.\npub const ALL: &[(&str, &[u8])] = &[\n{all}];\n"
    ));
    std::fs::write(out_dir.join("components.rs"), generated).expect("writing components.rs");
}
