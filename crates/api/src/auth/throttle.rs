//! Failed token requests, counted per client id and per address, so that guessing secrets
//! (or flooding the token endpoint with wrong ones) is refused cheaply, before any argon2 work.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept before expired ones are dropped (and, past that, the oldest).
const MAX_KEYS: usize = 10_000;

/// A fixed-window count of failures per key.
#[derive(Debug)]
pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl FailureThrottle {
    /// At most `limit` failures per key in each `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long until `key` may try again, when it has used up its failures.
    pub fn blocked(&self, key: &str) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let (started, count) = failures.get(key)?;
        let elapsed = started.elapsed();
        (elapsed < self.window && *count >= self.limit).then(|| self.window - elapsed)
    }

    /// Records a failure of `key`.
    pub fn failed(&self, key: &str) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_KEYS && !failures.contains_key(key) {
            let window = self.window;
            failures.retain(|_, (started, _)| started.elapsed() < window);
            if failures.len() >= MAX_KEYS {
                if let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (started, _))| *started)
                    .map(|(key, _)| key.clone())
                {
                    failures.remove(&oldest);
                }
            }
        }
        let now = Instant::now();
        let entry = failures.entry(key.to_owned()).or_insert((now, 0));
        if entry.0.elapsed() >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::FailureThrottle;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let throttle = FailureThrottle::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(throttle.blocked("a").is_none());
            throttle.failed("a");
        }
        assert!(throttle.blocked("a").is_some());
        assert!(throttle.blocked("b").is_none());
        std::thread::sleep(Duration::from_millis(250));
        assert!(throttle.blocked("a").is_none());
    }
}
