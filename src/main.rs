//! The `trm-tui` binary: parse the command line and hand over to the library.

fn main() {
    std::process::exit(trm_tui::cli::main());
}
