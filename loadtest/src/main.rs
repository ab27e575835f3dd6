//! `jindou-bench`: the load generator (scenarios arrive with the load-generator issue).

fn main() {
    eprintln!("jindou-bench: no scenarios yet");
    std::process::exit(2);
}
