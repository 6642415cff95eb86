//! The OS random source.

use zenoauth_domain::ports::RandomSource;

/// The operating system's CSPRNG, through aws-lc (`RAND_bytes`, seeded from
/// `getrandom`). Every random byte this process uses for secrets, salts,
/// nonces, ids and Ed25519 keys comes from here. (aws-lc also draws from the
/// same generator internally for ES256 nonces and for ES256/RS256 key
/// generation, which take no caller-supplied randomness.)
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl OsRandom {
    pub const fn new() -> Self {
        Self
    }
}

impl RandomSource for OsRandom {
    fn fill(&self, bytes: &mut [u8]) {
        if aws_lc_rs::rand::fill(bytes).is_err() {
            // Without randomness no secret is safe to issue. aws-lc itself
            // aborts when the OS entropy source fails, so this is a backstop:
            // stop the process rather than hand out predictable bytes.
            eprintln!("zenoauth: the operating system random number generator failed; aborting");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_byte_and_differs_between_calls() {
        let random = OsRandom::new();
        let mut first = [0u8; 64];
        let mut second = [0u8; 64];
        random.fill(&mut first);
        random.fill(&mut second);
        assert_ne!(first, second);
        assert_ne!(first, [0u8; 64]);
        // 64 random bytes all equal to one value: probability 2^-504.
        assert!(first.iter().any(|byte| *byte != first[0]));
    }

    #[test]
    fn empty_fill_is_a_no_op() {
        OsRandom.fill(&mut []);
    }
}
