//! How many threads the CPU kernels share their work over: rayon's pool by default, at most
//! `set_num_threads(n)` of them, and only the calling thread in a forked child.
//!
//! Every parallel loop in cpu/ goes through [`Limited::within_limit`] (and matrix products
//! through [`gemm_parallelism`]), so this file is the one place that decides.

use crate::bail;
use crate::error::Result;
use rayon::iter::{IndexedParallelIterator, MinLen};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The `set_num_threads` value; 0 while unset (all of rayon's pool).
static LIMIT: AtomicUsize = AtomicUsize::new(0);
/// Set in a child made by fork(): it inherits rayon's pool state but none of its threads,
/// so work handed to the pool would never be picked up.
static FORKED: AtomicBool = AtomicBool::new(false);

/// `torch.set_num_threads`: later kernels split their work over at most `n` threads.
pub fn set_num_threads(n: i64) -> Result<()> {
    if n <= 0 {
        bail!(
            Runtime,
            "set_num_threads expects a positive integer, but got {n}"
        );
    }
    LIMIT.store(n as usize, Ordering::Relaxed);
    Ok(())
}

/// `torch.get_num_threads`: the threads a kernel may use now.
pub fn get_num_threads() -> usize {
    threads()
}

/// Called in the child right after fork(): from here on every kernel runs serially.
pub fn after_fork_in_child() {
    FORKED.store(true, Ordering::Relaxed);
}

/// The threads a kernel may split its work over (at least 1).
pub fn threads() -> usize {
    if FORKED.load(Ordering::Relaxed) {
        return 1;
    }
    let pool = rayon::current_num_threads();
    match LIMIT.load(Ordering::Relaxed) {
        0 => pool,
        n => n.min(pool),
    }
}

/// gemm's setting for one product large enough to be worth threads.
pub fn gemm_parallelism() -> gemm::Parallelism {
    match threads() {
        1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// Keeps a parallel loop within [`threads`].
pub trait Limited: IndexedParallelIterator {
    /// The loop, cut into at most `threads()` pieces where a limit is in force. One piece
    /// means serial: rayon's bridge runs an iterator it may not split inline on the calling
    /// thread without handing anything to the pool, which is what makes a forked child safe.
    fn within_limit(self) -> MinLen<Self> {
        let n = threads();
        let min = if n == 1 {
            usize::MAX
        } else if LIMIT.load(Ordering::Relaxed) == 0 {
            // No limit asked for: rayon balances the load as it likes.
            1
        } else {
            self.len().div_ceil(n).max(1)
        };
        self.with_min_len(min)
    }
}

impl<I: IndexedParallelIterator> Limited for I {}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn a_limit_of_one_runs_on_the_calling_thread() {
        let caller = std::thread::current().id();
        LIMIT.store(1, Ordering::Relaxed);
        let ids: Vec<_> = (0..10_000usize)
            .into_par_iter()
            .within_limit()
            .map(|_| std::thread::current().id())
            .collect();
        LIMIT.store(0, Ordering::Relaxed);
        assert!(ids.iter().all(|&id| id == caller));
        assert!(set_num_threads(0).is_err());
    }
}
