use super::*;

fn policy() -> Policy {
    Policy {
        batch_size: 10,
        batch_max_age: Duration::from_secs(60),
        backoff_initial: Duration::from_secs(5),
        backoff_max: Duration::from_secs(1800),
        poll_interval: Duration::from_secs(60),
        shutdown_grace: Duration::from_secs(5),
        wall_clock: Timestamp::now,
    }
}

#[test]
fn backoff_grows_to_the_cap_with_full_jitter() {
    let p = policy();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    for attempt in 1..40 {
        let bound = Duration::from_secs(5 * (1u64 << (attempt - 1).min(20))).min(p.backoff_max);
        let draws: Vec<Duration> = (0..200)
            .map(|_| p.backoff(attempt, None, &mut rng))
            .collect();
        assert!(draws.iter().all(|d| *d <= bound), "attempt {attempt}");
        // Full jitter spreads over the whole range, not just near the bound.
        assert!(draws.iter().any(|d| *d < bound / 4), "attempt {attempt}");
        assert!(
            draws.iter().any(|d| *d > bound * 3 / 4),
            "attempt {attempt}"
        );
    }
}

#[test]
fn backoff_honours_retry_after() {
    let p = policy();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    for _ in 0..100 {
        assert!(p.backoff(1, Some(Duration::from_secs(120)), &mut rng) >= Duration::from_secs(120));
    }
}

#[test]
fn human_durations() {
    assert_eq!(human(Duration::from_secs(40)), "40s");
    assert_eq!(human(Duration::from_secs(7260)), "2h 1m");
    assert_eq!(human(Duration::from_secs(7 * 86_400 + 3 * 3600)), "7d 3h");
}
