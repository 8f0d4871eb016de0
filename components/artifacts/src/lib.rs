//! The Agency components, built from the guest crates at compile time (see `build.rs`).
//! Host, tests and benches take their bytes from here; nothing is checked in.

include!(concat!(env!("OUT_DIR"), "/components.rs"));
