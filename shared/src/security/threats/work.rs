//! The detectors' work, counted, so that tests can prove inspection is linear in its input
//! without timing anything (`linear_tests.rs`, the fuzz target in `tests/fuzz.rs`).
//!
//! A step is one iteration of a loop whose length depends on the input: a byte examined, a
//! token visited, a JSON node walked. What costs a bounded amount per step (a lookup in one
//! of the fixed tables, a few comparisons) is not counted separately. Loops add their steps in
//! one go where they can, so counting costs an add per loop rather than per byte.

use std::cell::Cell;

/// The bound the tests hold every detector, the whole scan of a value and the JSON and query
/// walkers to: steps per byte of input, plus [`STEPS_PER_CALL`] for what a call costs however
/// short its input. The worst inputs found so far take about 26 a byte (runs of quotes or of
/// `;` through all three detectors).
pub const STEPS_PER_BYTE: u64 = 64;
/// What one call may cost on top of [`STEPS_PER_BYTE`]: every pass counts at least a step,
/// even over an empty tail.
pub const STEPS_PER_CALL: u64 = 256;

/// Is `steps` within the bound for `bytes` of input?
pub fn within_bound(steps: u64, bytes: usize) -> bool {
    steps <= STEPS_PER_BYTE * bytes as u64 + STEPS_PER_CALL
}

thread_local! {
    // One counter per thread: the detectors run on the request's thread and never share it.
    static STEPS: Cell<u64> = const { Cell::new(0) };
}

/// `n` steps of work.
#[inline]
pub(crate) fn add(n: usize) {
    STEPS.with(|s| s.set(s.get().wrapping_add(n as u64)));
}

/// Runs `f` and returns what it returned with the number of steps the detectors took
/// meanwhile on this thread.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = STEPS.with(Cell::get);
    let r = f();
    (r, STEPS.with(Cell::get).wrapping_sub(before))
}
