//! Build script: the `mpi` collective engine. With the `mpi` feature (and only then: what is
//! on PATH never changes what is built), compile `src/dist/mpi_shim.c` with the MPI compiler
//! wrapper (`$MPICC`, else `mpicc`), link the MPI library and set `cfg(trm_mpi)`. Without the
//! feature the crate has the local engine only.

use std::process::Command;

fn showme(mpicc: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(mpicc).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rustc-check-cfg=cfg(trm_mpi)");
    println!("cargo:rerun-if-changed=src/dist/mpi_shim.c");
    println!("cargo:rerun-if-env-changed=MPICC");
    if std::env::var_os("CARGO_FEATURE_MPI").is_none() {
        return;
    }
    let mpicc = std::env::var("MPICC").unwrap_or_else(|_| "mpicc".into());
    // Open MPI: --showme:link; MPICH: -link_info (prints the whole link line).
    let link = showme(&mpicc, &["--showme:link"]).or_else(|| {
        showme(&mpicc, &["-link_info"])
            .map(|s| s.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
    });
    let Some(link) = link else {
        panic!(
            "the `mpi` feature needs an MPI compiler wrapper: `{mpicc}` was not found or failed \
             (Debian: apt install libopenmpi-dev openmpi-bin; or set MPICC)"
        );
    };
    cc::Build::new()
        .compiler(&mpicc)
        .file("src/dist/mpi_shim.c")
        .warnings(true)
        .compile("trm_mpi_shim");
    for flag in link.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={lib}");
        } else if let Some(rpath) = flag.strip_prefix("-Wl,-rpath,") {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{rpath}");
        }
    }
    println!("cargo:rustc-cfg=trm_mpi");
}
