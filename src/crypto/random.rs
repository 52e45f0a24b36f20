//! The operating system's CSPRNG, behind one function so a failure is an error, not a panic.

use thiserror::Error;

/// The OS refused to give random bytes (no entropy source): nothing can be issued safely.
#[derive(Debug, Clone, Copy, Error)]
#[error("the operating system's random source failed")]
pub struct RandomError;

/// Fills `buf` from the OS CSPRNG (`getrandom(2)` on Linux).
pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::getrandom(buf).map_err(|_| RandomError)
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}
