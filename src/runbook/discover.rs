//! Where runbooks are found: `--runbooks DIR`s, `./runbooks`, the user config dir
//! (`~/.config/runbook/runbooks`), then the runbooks built into the binary. The first folder
//! holding `NAME.rhai` wins. The stdlib is searched the same way (`stdlib/` beside each
//! runbooks folder, then built in).

use std::path::{Path, PathBuf};

use crate::engine::StdlibPath;
use crate::error::{Error, Result};
use crate::runbook::embedded;
use crate::runbook::header::{self, Header};

/// The ordered list of runbook folders.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    pub dirs: Vec<PathBuf>,
}

/// A runbook found on the search path (or given as a file).
#[derive(Debug, Clone)]
pub struct Runbook {
    /// Name (file stem).
    pub name: String,
    /// How errors name the file: a path, or `<built-in>/runbooks/NAME.rhai`.
    pub display_path: String,
    /// The file on disk (`None` for a built-in runbook).
    pub path: Option<PathBuf>,
    /// The script text.
    pub source: String,
    /// Where it came from: a folder, or `built-in`.
    pub origin: String,
}

impl Runbook {
    /// Parse the header. Errors carry `file:line:col`.
    pub fn header(&self) -> Result<Header> {
        header::parse(&self.source, &self.display_path)
    }
}

impl SearchPath {
    /// `extra` folders first, then `./runbooks`, then the user config dir.
    pub fn new(extra: &[PathBuf]) -> Self {
        let mut dirs: Vec<PathBuf> = extra.to_vec();
        dirs.push(PathBuf::from("runbooks"));
        if let Some(d) = crate::policy::user_config_dir() {
            dirs.push(d.join("runbooks"));
        }
        SearchPath { dirs }
    }

    /// Stdlib folders matching this search path: `DIR/../stdlib` for each runbooks folder
    /// (so a repository's `runbooks/` finds its `stdlib/`), `./stdlib`, the user's stdlib.
    pub fn stdlib_path(&self) -> StdlibPath {
        let mut dirs = Vec::new();
        for d in &self.dirs {
            let s = d
                .parent()
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    }
                })
                .unwrap_or(Path::new("."))
                .join("stdlib");
            if !dirs.contains(&s) {
                dirs.push(s);
            }
        }
        StdlibPath { dirs }
    }

    /// Find a runbook by name, or load it as a file when `name_or_file` ends in `.rhai` or
    /// contains a `/`. Errors: unknown name (usage, exit 2, listing where it looked), unreadable file.
    pub fn find(&self, name_or_file: &str) -> Result<Runbook> {
        if name_or_file.ends_with(".rhai") || name_or_file.contains('/') {
            let p = PathBuf::from(name_or_file);
            if !p.exists() && !name_or_file.contains('/') {
                // `run health-check.rhai` from another folder: the user meant the runbook's name.
                let stem = name_or_file.trim_end_matches(".rhai");
                if self.find(stem).is_ok() {
                    return Err(Error::Usage(format!(
                        "no runbook file {name_or_file} here — to run the runbook by its name, drop \
                         the .rhai: `{stem}`"
                    )));
                }
            }
            let source = read_script(&p)?;
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            return Ok(Runbook {
                name,
                display_path: name_or_file.to_string(),
                path: Some(p.clone()),
                source,
                origin: p
                    .parent()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            });
        }
        for d in &self.dirs {
            let p = d.join(format!("{name_or_file}.rhai"));
            if p.is_file() {
                let source = read_script(&p)?;
                return Ok(Runbook {
                    name: name_or_file.to_string(),
                    display_path: p.display().to_string(),
                    path: Some(p),
                    source,
                    origin: d.display().to_string(),
                });
            }
        }
        if let Some((n, src)) = embedded::RUNBOOKS.iter().find(|(n, _)| *n == name_or_file) {
            return Ok(Runbook {
                name: n.to_string(),
                display_path: format!("<built-in>/runbooks/{n}.rhai"),
                path: None,
                source: src.to_string(),
                origin: "built-in".into(),
            });
        }
        let looked: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        let closest = self
            .list()
            .into_iter()
            .map(|r| (strsim::levenshtein(&r.name, name_or_file), r.name))
            .filter(|(d, _)| *d <= 3)
            .min();
        let hint = closest
            .map(|(_, n)| format!(" — did you mean {n}?"))
            .unwrap_or_default();
        Err(Error::Usage(format!(
            "unknown runbook {name_or_file:?}{hint} (looked in {}, and the built-in runbooks; `runbook list` shows them)",
            looked.join(", ")
        )))
    }

    /// Where else a runbook named `name` exists, after the first one found: the folders (and
    /// `built-in`) whose `NAME.rhai` the first one hides. A copy with the same text hides
    /// nothing (the repository's `runbooks/` next to the same built-in runbooks), so it is
    /// not listed.
    pub fn shadowed(&self, name: &str) -> Vec<String> {
        let file = format!("{name}.rhai");
        let mut found: Vec<(String, String)> = self
            .dirs
            .iter()
            .filter(|d| d.join(&file).is_file())
            .map(|d| {
                let text = read_script(&d.join(&file)).unwrap_or_default();
                (d.display().to_string(), text)
            })
            .collect();
        if let Some((_, text)) = embedded::RUNBOOKS.iter().find(|(n, _)| *n == name) {
            found.push(("built-in".into(), text.to_string()));
        }
        let Some(((_, first), rest)) = found.split_first() else {
            return Vec::new();
        };
        rest.iter()
            .filter(|(_, text)| text != first)
            .map(|(label, _)| label.clone())
            .collect()
    }

    /// Every runbook on the search path, first occurrence of each name, sorted by name.
    pub fn list(&self) -> Vec<Runbook> {
        let mut out: Vec<Runbook> = Vec::new();
        for d in &self.dirs {
            let Ok(rd) = std::fs::read_dir(d) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            for p in files {
                if p.extension().is_none_or(|e| e != "rhai") {
                    continue;
                }
                let Some(name) = p.file_stem().map(|s| s.to_string_lossy().to_string()) else {
                    continue;
                };
                if out.iter().any(|r| r.name == name) {
                    continue;
                }
                if let Ok(source) = read_script(&p) {
                    out.push(Runbook {
                        name,
                        display_path: p.display().to_string(),
                        path: Some(p.clone()),
                        source,
                        origin: d.display().to_string(),
                    });
                }
            }
        }
        for (n, src) in embedded::RUNBOOKS {
            if !out.iter().any(|r| r.name == *n) {
                out.push(Runbook {
                    name: n.to_string(),
                    display_path: format!("<built-in>/runbooks/{n}.rhai"),
                    path: None,
                    source: src.to_string(),
                    origin: "built-in".into(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

pub use crate::script::{MAX_SCRIPT_BYTES, read_script};
