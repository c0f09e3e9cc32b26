//! A tiny deterministic PRNG (SplitMix64) and the derivation of seeds and UUIDs from it.
//!
//! Written here rather than taken from `rand` so that the output stays byte-for-byte the same
//! across crate versions, platforms and Rust releases: everything is 64-bit integer arithmetic.

use uuid::Uuid;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser: a good 64-bit mixer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over a string, for turning tags into numbers.
pub(crate) fn tag(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Combines several numbers into one well-mixed seed.
pub(crate) fn derive(parts: &[u64]) -> u64 {
    parts.iter().fold(0x6A09_E667_F3BC_C908, |h, p| {
        mix(h ^ mix(p.wrapping_add(GOLDEN)))
    })
}

/// SplitMix64. Not cryptographic; only reproducible.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(parts: &[u64]) -> Self {
        Rng(derive(parts))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`; 0 for `n == 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a collection of `len` items.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u32, hi: u32) -> u32 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn per_mille(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// True with probability `percent / 100`.
    pub(crate) fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < u64::from(percent)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// One of `items`, each as likely as its weight.
    pub(crate) fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut roll = self.below(total);
        for (item, w) in items {
            if roll < u64::from(*w) {
                return item;
            }
            roll -= u64::from(*w);
        }
        &items[items.len() - 1].0
    }
}

/// Derives UUIDs (version 8, "custom") from the organisation's key, a kind tag and a counter, so
/// the same organisation always gets the same UUIDs and different seeds or municipalities never
/// share one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UuidSource {
    key: u64,
}

impl UuidSource {
    pub(crate) fn new(key: u64) -> Self {
        UuidSource { key }
    }

    pub(crate) fn uuid(&self, kind: u64, n: u64) -> Uuid {
        let hi = derive(&[self.key, kind, n, 1]);
        let lo = derive(&[self.key, kind, n, 2]);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_fixed() {
        // SplitMix64 from state 0: the published reference values.
        let mut r = Rng(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = Rng::new(&[1, 2, 3]);
        for _ in 0..10_000 {
            assert!(r.below(7) < 7);
            let x = r.range(3, 5);
            assert!((3..=5).contains(&x));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range(4, 4), 4);
    }

    #[test]
    fn uuids_are_version_8_and_distinct() {
        let s = UuidSource::new(42);
        let a = s.uuid(1, 0);
        assert_eq!(a.get_version_num(), 8);
        assert_ne!(a, s.uuid(1, 1));
        assert_ne!(a, s.uuid(2, 0));
        assert_ne!(a, UuidSource::new(43).uuid(1, 0));
        assert_eq!(a, UuidSource::new(42).uuid(1, 0));
    }
}
