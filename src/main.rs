//! The `sealgate` binary: parse the arguments and hand them to [`sealgate::cli`], where each
//! subcommand has its file. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's allocator: a request allocates many small, short-lived
/// buffers (headers, bodies, base64), and in a profile of the encrypted path glibc's
/// malloc/free took ~9 % of the gateway's CPU. The load harness uses the same allocator for
/// every variant, so its ratios compare like with like.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sealgate::cli::main(sealgate::cli::Args::parse())
}
