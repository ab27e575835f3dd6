//! Compiles `proto/wkhook.proto` (the webhook gRPC service) with protox, a pure-Rust protobuf
//! compiler, so building needs no `protoc`; lists the chat demo's static files
//! (`src/api/demo/static/`) for `include_bytes!`, so the binary carries them.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=proto/wkhook.proto");
    let fds = protox::compile(["proto/wkhook.proto"], ["proto"]).expect("compile wkhook.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .compile_fds(fds)
        .expect("generate the wkhook gRPC code");
    demo_assets();
}

/// Writes `$OUT_DIR/demo_assets.rs`: a slice of `(path below static/, include_bytes!(…))`,
/// sorted by path (the server looks files up by binary search).
fn demo_assets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/demo/static");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut entries: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).expect("below static/");
            let rel = rel.to_str().expect("UTF-8 file names").replace('\\', "/");
            (rel, p)
        })
        .collect();
    entries.sort();
    let mut out = String::from("&[\n");
    for (rel, path) in &entries {
        println!("cargo:rerun-if-changed={}", path.display());
        out.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?}) as &[u8]),\n",
            path.display().to_string()
        ));
    }
    out.push(']');
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("demo_assets.rs");
    std::fs::write(dest, out).expect("write demo_assets.rs");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("read_dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}
