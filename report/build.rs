//! Compiles the control packs under `queries/<pack>/*.sql` (every
//! directory but `examples`) into the binary.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries");
    println!("cargo:rerun-if-changed={}", queries.display());
    let mut entries = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&queries)
        .expect("queries/ exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir() && e.file_name() != "examples")
        .collect();
    dirs.sort_by_key(|e| e.file_name());
    for dir in dirs {
        println!("cargo:rerun-if-changed={}", dir.path().display());
        let pack = dir.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("pack directory is readable")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let path = file.canonicalize().expect("control file path");
            entries.push((pack.clone(), name, path));
        }
    }
    let mut out = String::from("/// (pack, file name, SQL) of every compiled-in control.\n");
    out.push_str("pub(crate) const EMBEDDED_CONTROLS: &[(&str, &str, &str)] = &[\n");
    for (pack, name, path) in entries {
        writeln!(
            out,
            "    ({pack:?}, {name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_packs.rs");
    std::fs::write(dest, out).unwrap();
}
