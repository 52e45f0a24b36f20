//! The operating system's CSPRNG, behind one function so a failure is an error, not a panic.
//! Every random byte comes from the OS; there is no userspace generator.

use std::cell::RefCell;

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

/// Bytes fetched from the OS at once for [`public_bytes`].
const POOL_LEN: usize = 4096;

/// A thread's buffer of OS random bytes, each handed out once.
struct Pool {
    bytes: Box<[u8; POOL_LEN]>,
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool {
        bytes: Box::new([0; POOL_LEN]),
        used: POOL_LEN,
    });
}

/// `N` random bytes for values that are **public** once used, such as AES-GCM IVs (sent in
/// clear in every JWE). They come from the OS CSPRNG like [`bytes()`], but through a
/// per-thread buffer refilled 4 KiB at a time, so one `getrandom(2)` call serves 341 IVs
/// instead of one (the per-response system call showed in the encrypted path's profile).
/// The buffer is not zeroized: never use this for keys or other secrets.
pub fn public_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    const { assert!(N <= POOL_LEN) };
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + N > POOL_LEN {
            fill(&mut pool.bytes[..])?;
            pool.used = 0;
        }
        let mut out = [0u8; N];
        let start = pool.used;
        out.copy_from_slice(&pool.bytes[start..start + N]);
        pool.used += N;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_bytes_never_repeat_across_refills() {
        let mut seen = std::collections::HashSet::new();
        // Several refills' worth of IVs: each distinct (96 random bits each).
        for _ in 0..2_000 {
            assert!(seen.insert(public_bytes::<12>().unwrap()));
        }
    }
}
