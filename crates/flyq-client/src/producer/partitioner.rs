//! The default partitioner, byte-compatible with the Java client's: keyed records go to
//! `toPositive(murmur2(key)) % partitions`; keyless records stick to one partition until its
//! batch is closed, then switch (the sticky partitioner of KIP-480).

/// Kafka's murmur2 (seed 0x9747b28c), exactly as `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java hashes the length as an int; keys above 4 GiB cannot reach a producer anyway.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rem = chunks.remainder();
    if rem.len() >= 3 {
        h ^= u32::from(rem[2]) << 16;
    }
    if rem.len() >= 2 {
        h ^= u32::from(rem[1]) << 8;
    }
    if !rem.is_empty() {
        h ^= u32::from(rem[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record among `partitions` (which must be above zero).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// A small xorshift generator for picking sticky partitions: no cryptographic needs, and no
/// dependency for it.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self(u64::from(nanos) | 1)
    }

    /// A value in `0..n` (n above zero).
    pub(crate) fn below(&mut self, n: i32) -> i32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n.max(1).unsigned_abs())) as i32
    }

    /// A partition in `0..n` other than `previous` when there is a choice.
    pub(crate) fn next_sticky(&mut self, n: i32, previous: Option<i32>) -> i32 {
        match previous {
            Some(p) if n > 1 => (p + 1 + self.below(n - 1)) % n,
            _ => self.below(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // From Kafka's UtilsTest.testMurmur2.
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn keyed_partition_is_positive_and_stable() {
        // toPositive(-790332482) = 1357151166; % 7 = 1357151166 - 7 * 193878738 = 0.
        assert_eq!(partition_for_key(b"foobar", 7), 1_357_151_166 % 7);
        for n in 1..20 {
            let p = partition_for_key(b"21", n);
            assert!((0..n).contains(&p));
        }
    }

    #[test]
    fn sticky_switch_moves_to_another_partition() {
        let mut rng = Rng::seeded();
        for _ in 0..100 {
            let p = rng.next_sticky(4, Some(2));
            assert!(p != 2 && (0..4).contains(&p));
        }
        assert_eq!(rng.next_sticky(1, Some(0)), 0);
    }
}
