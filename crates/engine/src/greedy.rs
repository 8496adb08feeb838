//! The lazy greedy of weighted set cover, shared by the tiling and the minimal cover.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::error::EngineError;
use crate::observer::Observer;

/// Takes candidates `0..candidates` one at a time, the best `score` first (ties to the lower
/// index), while the best is `worth` taking; `take` records a choice in `state`. A candidate's
/// score may only shrink as `state` changes (what is explained stays explained), so a stale
/// score bounds the fresh one and only the top of the queue is ever re-scored. Deterministic
/// for any thread count: the initial scores are computed in parallel, the rest in order.
pub(crate) fn lazy_greedy<S, K>(
    state: &mut S,
    candidates: usize,
    score: impl Fn(&S, usize) -> K + Sync,
    worth: impl Fn(K) -> bool,
    mut take: impl FnMut(&mut S, usize) -> Result<(), EngineError>,
    observer: &dyn Observer,
) -> Result<(), EngineError>
where
    S: Sync,
    K: Ord + Copy + Send,
{
    let initial: Vec<K> = {
        let state = &*state;
        (0..candidates)
            .into_par_iter()
            .map(|i| score(state, i))
            .collect()
    };
    let mut queue: BinaryHeap<(K, Reverse<usize>)> = initial
        .into_iter()
        .enumerate()
        .filter(|&(_, k)| worth(k))
        .map(|(i, k)| (k, Reverse(i)))
        .collect();
    while let Some((_, Reverse(index))) = queue.pop() {
        if observer.cancelled() {
            return Err(EngineError::Cancelled);
        }
        let fresh = score(state, index);
        if !worth(fresh) {
            continue;
        }
        if queue
            .peek()
            .is_some_and(|top| (fresh, Reverse(index)) < *top)
        {
            queue.push((fresh, Reverse(index)));
            continue;
        }
        take(state, index)?;
    }
    Ok(())
}
