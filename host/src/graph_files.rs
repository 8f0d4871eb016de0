//! Reading and writing skill graphs on disk: one JSON file, or a directory with
//! `graph.yaml` and Markdown skill files.

use std::path::{Path, PathBuf};

use agency_skill_graph::source::{GRAPH_FILE, parse_dir, render_graph_file, render_skill};
use agency_skill_graph::{GraphError, GraphErrors, SkillGraph};

/// Loads and validates the graph at `path`. Errors carry paths as the user wrote them.
pub fn load(path: &Path) -> Result<SkillGraph, GraphErrors> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error, p: &Path| {
        GraphErrors(vec![GraphError::at(
            p.display().to_string(),
            None,
            format!("cannot read: {e}"),
        )])
    };
    if path.is_dir() {
        let mut files = Vec::new();
        collect(path, path, &mut files).map_err(|e| io(e, path))?;
        parse_dir(&files).map_err(|GraphErrors(errors)| {
            GraphErrors(
                errors
                    .into_iter()
                    .map(|mut e| {
                        e.file = Some(match e.file {
                            Some(f) => path.join(f).display().to_string(),
                            None => shown.clone(),
                        });
                        e
                    })
                    .collect(),
            )
        })
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| io(e, path))?;
        SkillGraph::from_json_named(&text, Some(&shown)).map_err(|GraphErrors(errors)| {
            GraphErrors(
                errors
                    .into_iter()
                    .map(|mut e| {
                        e.file.get_or_insert_with(|| shown.clone());
                        e
                    })
                    .collect(),
            )
        })
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(root, &p, out)?;
            continue;
        }
        let rel = p
            .strip_prefix(root)
            .unwrap_or(&p)
            .to_string_lossy()
            .replace('\\', "/");
        let wanted = rel == GRAPH_FILE
            || rel == "graph.yml"
            || (name.ends_with(".md") && !name.eq_ignore_ascii_case("README.md"));
        if wanted {
            out.push((rel, std::fs::read_to_string(&p)?));
        }
    }
    Ok(())
}

/// Writes `graph` to `out`: pretty JSON when it ends in `.json`, else a directory.
pub fn write(graph: &SkillGraph, out: &Path) -> std::io::Result<()> {
    if out.extension().is_some_and(|e| e == "json") {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut g = graph.clone();
        g.version = None;
        return std::fs::write(out, g.to_json_pretty() + "\n");
    }
    std::fs::create_dir_all(out.join("skills"))?;
    std::fs::write(out.join(GRAPH_FILE), render_graph_file(graph))?;
    for s in &graph.skills {
        let mut s = s.clone();
        let file = format!("skills/{}.md", s.id);
        s.file = Some(file.clone());
        std::fs::write(out.join(&file), render_skill(&s))?;
    }
    Ok(())
}
