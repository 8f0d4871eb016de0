//! Precompiled components on disk, keyed by the engine's compatibility hash and the
//! component's bytes, so a restart skips Cranelift. Every new build of a component (an
//! upgrade, another engine setting) is a new entry; the least recently used beyond
//! [`KEEP`] are deleted, so the directory does not grow without bound.

use std::hash::{Hash, Hasher};
use std::path::Path;

use wasmtime::Engine;
use wasmtime::component::Component;

/// Precompiled components kept per cache directory: a few versions of each component
/// (two components, with and without fuel metering, across an upgrade).
pub const KEEP: usize = 8;

pub fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> anyhow::Result<Component> {
    let Some(dir) = cache_dir else {
        return Ok(Component::new(engine, bytes)?);
    };
    let mut h = Fnv(agency_skill_graph::text::FNV_OFFSET);
    engine.precompile_compatibility_hash().hash(&mut h);
    bytes.hash(&mut h);
    let path = dir.join(format!("component-{:016x}.cwasm", h.0));
    if path.exists() {
        // SAFETY: the file is one this function wrote into our own cache directory, for
        // an engine with the same compatibility hash; a stale or damaged file fails
        // deserialization's checks and is replaced below.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(c) => {
                // Used now: the last to be pruned.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                return Ok(c);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unreadable precompiled component")
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Ok(serialized) = component.serialize() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&tmp, serialized))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(dir = %dir.display(), error = %e, "could not cache the precompiled component");
            let _ = std::fs::remove_file(&tmp);
        }
        prune(dir);
    }
    Ok(component)
}

/// Deletes all but the [`KEEP`] most recently used precompiled components in `dir`.
/// Best effort: another process may be pruning too, and a deleted entry only costs a
/// compile.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut cached: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("component-") && name.ends_with(".cwasm")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    cached.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (_, path) in cached.iter().skip(KEEP) {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::debug!(path = %path.display(), error = %e, "could not prune a precompiled component");
        }
    }
}

/// A `Hasher` over [`agency_skill_graph::text::fnv1a`]: stable across Rust releases,
/// unlike `DefaultHasher`.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = agency_skill_graph::text::fnv1a(self.0, bytes);
    }
}
