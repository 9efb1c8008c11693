//! Embeds `runbooks/*.rhai` and `stdlib/*.rhai` into the binary so `runbook list` and
//! `runbook run NAME` work from any directory.

use std::fmt::Write;
use std::path::Path;

fn collect(dir: &str) -> String {
    println!("cargo:rerun-if-changed={dir}");
    // Read at run time, not `env!` at the build script's compile time: a target/ copied from
    // another checkout would otherwise keep embedding that checkout's files.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "rhai"));
    files.sort();
    let mut out = String::from("&[\n");
    for p in files {
        let stem = p
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 file name");
        println!("cargo:rerun-if-changed={}", p.display());
        writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            p.display().to_string()
        )
        .unwrap();
    }
    out.push(']');
    out
}

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    let code = format!(
        "/// Runbooks built into the binary: (name, source).\npub static RUNBOOKS: &[(&str, &str)] = {};\n\
         /// Stdlib modules built into the binary: (name, source).\npub static STDLIB: &[(&str, &str)] = {};\n",
        collect("runbooks"),
        collect("stdlib")
    );
    std::fs::write(Path::new(&out_dir).join("embedded.rs"), code).expect("write embedded.rs");
}
