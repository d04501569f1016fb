//! The probe binary copied into test bundles; see [`conformance::probe`].

fn main() {
    std::process::exit(conformance::probe::main_with(std::env::args().skip(1)));
}
