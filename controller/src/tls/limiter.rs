//! Token buckets: one for accepted connections ([`AcceptLimiter`]) and
//! one per host for its requests ([`HostLimiter`]). Hand-written (a
//! `Mutex` around two numbers): the one check per connection or request
//! needs nothing a crate would add, and `governor` would bring its own
//! clock and a dozen dependencies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Result, TlsError};

/// Up to `burst` connections at once, refilled at `rate_per_sec`.
#[derive(Debug)]
pub struct AcceptLimiter {
    rate_per_sec: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            refilled_at: now,
        }
    }

    /// Refill for the time since the last take, then take a token if
    /// there is one.
    fn take(&mut self, now: Instant, rate_per_sec: f64, burst: f64) -> bool {
        self.take_owing(now, rate_per_sec, burst, 0.0).is_some()
    }

    /// Refill, then take a token, owing up to `may_owe` tokens: the
    /// seconds until the token taken is earned (0 when it was there),
    /// `None` (nothing taken) when that would owe more.
    fn take_owing(
        &mut self,
        now: Instant,
        rate_per_sec: f64,
        burst: f64,
        may_owe: f64,
    ) -> Option<f64> {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate_per_sec).min(burst);
        // An `Instant` earlier than the last one (another thread's) must not
        // move the refill time back and count the same interval twice.
        if now > self.refilled_at {
            self.refilled_at = now;
        }
        if self.tokens - 1.0 < -may_owe {
            return None;
        }
        self.tokens -= 1.0;
        Some((-self.tokens).max(0.0) / rate_per_sec)
    }
}

fn check(rate_per_sec: f64, burst: u32, what: &'static str) -> Result<()> {
    if !rate_per_sec.is_finite() || rate_per_sec <= 0.0 {
        return Err(TlsError::BadLimit(what));
    }
    if burst == 0 {
        return Err(TlsError::BadLimit("a burst must be at least 1"));
    }
    Ok(())
}

impl AcceptLimiter {
    /// A full bucket of `burst` tokens refilled at `rate_per_sec` (which may
    /// be fractional: 0.5 is one connection every 2 s). Refuses a rate that
    /// is not a positive finite number and a burst of 0.
    pub fn new(rate_per_sec: f64, burst: u32) -> Result<AcceptLimiter> {
        check(
            rate_per_sec,
            burst,
            "the accept rate must be a positive number of connections per second",
        )?;
        Ok(AcceptLimiter {
            rate_per_sec,
            burst: f64::from(burst),
            bucket: Mutex::new(Bucket::full(f64::from(burst), Instant::now())),
        })
    }

    /// Takes a token now if there is one.
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_at(Instant::now())
    }

    /// Takes a token at `now` if there is one (time comes in from outside so
    /// tests move it instead of sleeping).
    pub fn try_acquire_at(&self, now: Instant) -> bool {
        // A panic while holding this lock can't leave the two numbers
        // inconsistent in a way that matters: carry on with them.
        self.bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(now, self.rate_per_sec, self.burst)
    }

    /// The refill rate, connections per second.
    pub fn rate_per_sec(&self) -> f64 {
        self.rate_per_sec
    }

    /// The bucket's size.
    pub fn burst(&self) -> u32 {
        // Built from a u32, so the conversion back is exact.
        self.burst as u32
    }
}

/// A bucket per host: `burst` requests at once, refilled at
/// `rate_per_sec`. A host over its limit waits alone; the others' buckets
/// are their own. Keyed by the host id of a verified certificate, so the
/// map holds at most one entry per enrolled host (tens of bytes each).
#[derive(Debug)]
pub struct HostLimiter {
    rate_per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl HostLimiter {
    /// Refuses a rate that is not a positive finite number and a burst of 0.
    pub fn new(rate_per_sec: f64, burst: u32) -> Result<HostLimiter> {
        check(
            rate_per_sec,
            burst,
            "the per-host rate must be a positive number of requests per second",
        )?;
        Ok(HostLimiter {
            rate_per_sec,
            burst: f64::from(burst),
            buckets: Mutex::default(),
        })
    }

    /// Takes a token of `host`'s now if it has one.
    pub fn try_acquire(&self, host: i64) -> bool {
        self.try_acquire_at(host, Instant::now())
    }

    pub fn try_acquire_at(&self, host: i64, now: Instant) -> bool {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(host)
            .or_insert_with(|| Bucket::full(self.burst, now))
            .take(now, self.rate_per_sec, self.burst)
    }

    /// A token of `host`'s now, or one it will have earned within
    /// `max_wait`: how long to wait for it (zero when it had one); `None`
    /// (nothing taken) when it is further behind than that. For the long
    /// poll: a host polling faster than its rate is slowed down (its
    /// answers then carry more changes each) before it is refused.
    pub fn acquire_paced(&self, host: i64, max_wait: Duration) -> Option<Duration> {
        self.acquire_paced_at(host, max_wait, Instant::now())
    }

    pub fn acquire_paced_at(
        &self,
        host: i64,
        max_wait: Duration,
        now: Instant,
    ) -> Option<Duration> {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(host)
            .or_insert_with(|| Bucket::full(self.burst, now))
            .take_owing(
                now,
                self.rate_per_sec,
                self.burst,
                max_wait.as_secs_f64() * self.rate_per_sec,
            )
            .map(Duration::from_secs_f64)
    }

    /// Whole seconds until a host that was refused has a token again.
    pub fn retry_after_secs(&self) -> u64 {
        // At least 1: Retry-After counts whole seconds.
        (1.0 / self.rate_per_sec).ceil().clamp(1.0, 3600.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = AcceptLimiter::new(2.0, 3).unwrap();
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.try_acquire_at(start)));
        assert!(!limiter.try_acquire_at(start));
        // Half a second at 2/s is one token.
        let later = start + Duration::from_millis(500);
        assert!(limiter.try_acquire_at(later));
        assert!(!limiter.try_acquire_at(later));
        // A long pause refills to the burst, never beyond.
        let much_later = later + Duration::from_secs(3600);
        assert_eq!(
            (0..10)
                .filter(|_| limiter.try_acquire_at(much_later))
                .count(),
            3
        );
    }

    #[test]
    fn fractional_rates_and_time_going_backwards() {
        let limiter = AcceptLimiter::new(0.5, 1).unwrap();
        let start = Instant::now();
        assert!(limiter.try_acquire_at(start));
        assert!(!limiter.try_acquire_at(start + Duration::from_secs(1)));
        // An earlier instant neither refills nor rewinds.
        assert!(!limiter.try_acquire_at(start));
        assert!(limiter.try_acquire_at(start + Duration::from_secs(2)));
    }

    #[test]
    fn each_host_has_its_own_bucket() {
        let limiter = HostLimiter::new(1.0, 2).unwrap();
        let start = Instant::now();
        assert!(limiter.try_acquire_at(1, start));
        assert!(limiter.try_acquire_at(1, start));
        assert!(!limiter.try_acquire_at(1, start), "host 1 is over");
        // Another host is untouched by host 1's hammering.
        assert!(limiter.try_acquire_at(2, start));
        assert!(limiter.try_acquire_at(2, start));
        assert!(limiter.try_acquire_at(1, start + Duration::from_secs(1)));
        assert_eq!(limiter.retry_after_secs(), 1);
        assert_eq!(HostLimiter::new(0.1, 1).unwrap().retry_after_secs(), 10);
        assert!(HostLimiter::new(0.0, 1).is_err());
        assert!(HostLimiter::new(1.0, 0).is_err());
    }

    #[test]
    fn a_paced_host_waits_for_its_tokens_then_is_refused() {
        let limiter = HostLimiter::new(10.0, 2).unwrap();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(
            limiter.acquire_paced_at(1, second, start),
            Some(Duration::ZERO)
        );
        assert_eq!(
            limiter.acquire_paced_at(1, second, start),
            Some(Duration::ZERO)
        );
        // Owed: each next one waits a tenth of a second more…
        for owed in 1..=10u32 {
            let wait = limiter.acquire_paced_at(1, second, start).unwrap();
            assert!(
                wait.abs_diff(Duration::from_millis(100) * owed) < Duration::from_micros(10),
                "{owed}: {wait:?}"
            );
        }
        // …up to a second's worth; then refused, nothing taken.
        assert_eq!(limiter.acquire_paced_at(1, second, start), None);
        assert!(!limiter.try_acquire_at(1, start));
        // Host 2 is untouched; host 1 earns its debt back with time.
        assert!(limiter.try_acquire_at(2, start));
        assert!(limiter.try_acquire_at(1, start + second * 2));
    }

    #[test]
    fn unusable_limits_are_refused() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(AcceptLimiter::new(rate, 1).is_err(), "{rate}");
        }
        assert!(AcceptLimiter::new(1.0, 0).is_err());
        let limiter = AcceptLimiter::new(1.5, 4).unwrap();
        assert_eq!((limiter.rate_per_sec(), limiter.burst()), (1.5, 4));
    }
}
