//! The one random generator of the crate, for seeded workloads (synthetic catalogues,
//! perturbed queries): the same seed gives the same numbers on every platform.

/// SplitMix64: small, seedable, identical on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` distinct entries of `pool` drawn uniformly with `seed` (a partial Fisher–Yates
/// shuffle), in ascending order; all of `pool`, sorted, when it has no more than `n`. The
/// same pool, `n` and seed give the same sample on every platform: seeded evaluations and
/// benchmarks rely on it.
pub fn sample_sorted(mut pool: Vec<usize>, n: usize, seed: u64) -> Vec<usize> {
    if pool.len() > n {
        let mut rng = SplitMix64::new(seed);
        for i in 0..n {
            let j = i + rng.below(pool.len() - i);
            pool.swap(i, j);
        }
        pool.truncate(n);
    }
    pool.sort_unstable();
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_depends_only_on_the_seed() {
        let pool: Vec<usize> = (0..1000).map(|i| i * 3).collect();
        let a = sample_sorted(pool.clone(), 20, 42);
        assert_eq!(a, sample_sorted(pool.clone(), 20, 42));
        assert_ne!(a, sample_sorted(pool.clone(), 20, 43));
        assert_eq!(a.len(), 20);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "distinct, ascending");
        assert!(a.iter().all(|u| pool.contains(u)));
        assert_eq!(sample_sorted(pool[..5].to_vec(), 20, 1), pool[..5].to_vec());
    }
}
