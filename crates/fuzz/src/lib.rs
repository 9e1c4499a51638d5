//! The fuzz harness Braid's fuzz tests share, on the stable toolchain:
//! proptest runs with a bounded case count in a plain `cargo test` and as
//! many as `BRAID_FUZZ_CASES` asks for in a long run, no failure files,
//! and panics turned into failures that carry the panic's message (so a
//! crash is shrunk to its smallest input like any other failure).

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases per target: `BRAID_FUZZ_CASES`, or `default` in a plain test run.
pub fn cases(default: u32) -> u32 {
    std::env::var("BRAID_FUZZ_CASES").ok().and_then(|text| text.trim().parse().ok()).unwrap_or(default)
}

/// Runs `test` on `cases` inputs from `strategy`, failing with the shrunk
/// input when one fails or panics.
pub fn fuzz<S: Strategy>(default_cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = Config { cases: cases(default_cases), failure_persistence: None, max_shrink_iters: 2048, ..Config::default() };
    let mut runner = TestRunner::new(config);
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}");
    }
}

thread_local! {
    /// Set while [`no_panic`] runs its closure; the panic seen there, if any.
    static CAUGHT: std::cell::RefCell<Option<Option<String>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f`, turning a panic into a test failure that carries the panic's
/// message and location (printed once, not at every shrinking step).
pub fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let caught = CAUGHT.with(|caught| caught.borrow_mut().as_mut().map(|slot| *slot = Some(info.to_string())).is_some());
            if !caught {
                default(info);
            }
        }));
    });
    CAUGHT.with(|caught| *caught.borrow_mut() = Some(None));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let message = CAUGHT.with(|caught| caught.borrow_mut().take().flatten());
    result.map_err(|_| TestCaseError::fail(format!("{what} panicked: {}", message.unwrap_or_default())))
}
