//! Randomness is an input: the host hands in a seed, the machine stretches it.
//!
//! PKCE verifiers (RFC 7636 §4.1), `state` values and refresh jitter need unpredictable
//! bytes, but a sans-IO machine cannot read an OS RNG (no_std, WASM, C hosts each have
//! their own). The host seeds the session with 32 bytes from its CSPRNG; the session
//! derives blocks as SHA-256(seed ‖ counter), a hash-based generator in the spirit of
//! NIST SP 800-90A's Hash_DRBG. Hosts can mix in more entropy at any time.

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// A deterministic generator stretched from host entropy.
pub(crate) struct Entropy {
    seed: [u8; 32],
    counter: u64,
}

impl Entropy {
    pub(crate) fn new(seed: [u8; 32]) -> Entropy {
        Entropy { seed, counter: 0 }
    }

    /// Mix more host entropy into the seed.
    pub(crate) fn reseed(&mut self, more: &[u8]) {
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(more);
        self.seed.copy_from_slice(&h.finalize());
    }

    /// The next 32 bytes.
    pub(crate) fn block(&mut self) -> [u8; 32] {
        self.counter = self.counter.wrapping_add(1);
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(self.counter.to_le_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&h.finalize());
        out
    }

    /// A uniform `u32`, for jitter.
    pub(crate) fn unit(&mut self) -> u32 {
        let b = self.block();
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl Drop for Entropy {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_differ_and_are_reproducible() {
        let mut a = Entropy::new([7; 32]);
        let mut b = Entropy::new([7; 32]);
        let a1 = a.block();
        assert_eq!(a1, b.block());
        assert_ne!(a1, a.block());
        b.reseed(b"more");
        assert_ne!(a.block(), b.block());
    }
}
