//! Upload policies for tests. `Policy` is a plain struct: a test that needs another
//! value writes `Policy { backoff_max: ..., ..policy::fast(50) }`.

use std::time::Duration;
use weatherd::time::Timestamp;
use weatherd::upload::Policy;

/// Short backoffs and polls, so faults and retries play out in milliseconds.
pub fn fast(batch_size: usize) -> Policy {
    Policy {
        batch_size,
        batch_max_age: Duration::from_secs(60),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(2),
        wall_clock: Timestamp::now,
    }
}

/// The defaults of a real `[[upload]]` table (for tests on paused tokio time).
pub fn defaults(batch_size: usize) -> Policy {
    Policy {
        batch_size,
        batch_max_age: Duration::from_secs(60),
        backoff_initial: Duration::from_secs(5),
        backoff_max: Duration::from_secs(1800),
        poll_interval: Duration::from_secs(60),
        shutdown_grace: Duration::from_secs(5),
        wall_clock: Timestamp::now,
    }
}
