//! Compiles `proto/wkhook.proto` (the webhook gRPC service) with protox, a pure-Rust protobuf
//! compiler, so building needs no `protoc`.

fn main() {
    println!("cargo:rerun-if-changed=proto/wkhook.proto");
    let fds = protox::compile(["proto/wkhook.proto"], ["proto"]).expect("compile wkhook.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .compile_fds(fds)
        .expect("generate the wkhook gRPC code");
}
