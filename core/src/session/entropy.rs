//! Randomness is an input: the host hands in a seed, the machine stretches it.
//!
//! PKCE verifiers (RFC 7636 §4.1), `state` values and refresh jitter need unpredictable
//! bytes, but a sans-IO machine cannot read an OS RNG (no_std, WASM, C hosts each have
//! their own). The host seeds the session with 32 bytes from its CSPRNG; the session
//! derives each block as SHA-256(0x01 ‖ state) and moves the state on to
//! SHA-256(0x02 ‖ state), a hash ratchet in the spirit of NIST SP 800-90A's Hash_DRBG:
//! 32 bytes of state, and an earlier block cannot be recomputed from a later state (a
//! memory dump does not reveal past PKCE verifiers). Hosts can mix in more entropy at
//! any time.

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// A deterministic generator stretched from host entropy.
pub(crate) struct Entropy {
    state: [u8; 32],
}

/// SHA-256 of a domain byte, the state and `more`.
fn hash(domain: u8, state: &[u8; 32], more: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([domain]);
    h.update(state);
    h.update(more);
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    out
}

impl Entropy {
    pub(crate) fn new(seed: [u8; 32]) -> Entropy {
        Entropy { state: seed }
    }

    /// Mix more host entropy into the state.
    pub(crate) fn reseed(&mut self, more: &[u8]) {
        let next = hash(0x03, &self.state, more);
        self.state.zeroize();
        self.state = next;
    }

    /// The next 32 bytes.
    pub(crate) fn block(&mut self) -> [u8; 32] {
        let out = hash(0x01, &self.state, &[]);
        let next = hash(0x02, &self.state, &[]);
        self.state.zeroize();
        self.state = next;
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
        self.state.zeroize();
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
    }

    /// Twins that have drawn the same number of blocks stay equal until one is
    /// reseeded: then they differ, so a reseed that did nothing would be caught.
    #[test]
    fn reseeding_changes_what_follows() {
        let mut a = Entropy::new([7; 32]);
        let mut b = Entropy::new([7; 32]);
        let _ = (a.block(), b.block());
        b.reseed(b"more host entropy");
        assert_ne!(a.block(), b.block(), "a reseed changes the next block");
        let mut c = Entropy::new([7; 32]);
        let mut d = Entropy::new([7; 32]);
        assert_eq!(c.block(), d.block(), "twins agree without a reseed");
        c.reseed(b"x");
        d.reseed(b"y");
        assert_ne!(c.block(), d.block(), "different entropy, different streams");
    }
}
