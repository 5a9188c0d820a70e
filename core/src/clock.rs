//! Where "now" comes from: the system clock in rosterd, a clock the test
//! moves in tests.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// Time since boot on `CLOCK_BOOTTIME` (it runs through suspend and
    /// nobody sets it) and which boot it counts from: what a fleet host's
    /// offline grace is measured on. A clock that only has [`Clock::now`]
    /// (a test's) answers one boot that began at the epoch.
    fn boot_time(&self) -> BootTime {
        BootTime {
            boot_id: "the epoch".to_string(),
            since_boot_ms: self.now().saturating_mul(1000),
        }
    }
}

/// A point on `CLOCK_BOOTTIME`, with the boot it belongs to (two readings
/// compare only within one boot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootTime {
    /// `/proc/sys/kernel/random/boot_id`: new at every boot.
    pub boot_id: String,
    pub since_boot_ms: i64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    fn boot_time(&self) -> BootTime {
        static BOOT_ID: OnceLock<String> = OnceLock::new();
        let boot_id = BOOT_ID.get_or_init(|| {
            // Unreadable (no /proc): every reading then counts as a new
            // boot, which falls back to the wall clock: never longer grace.
            std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|id| id.trim().to_string())
                .unwrap_or_default()
        });
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec we own.
        let ok = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } == 0;
        BootTime {
            boot_id: if ok { boot_id.clone() } else { String::new() },
            since_boot_ms: if ok {
                ts.tv_sec
                    .saturating_mul(1000)
                    .saturating_add(ts.tv_nsec / 1_000_000)
            } else {
                0
            },
        }
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at(now: Timestamp) -> Self {
        FixedClock(AtomicI64::new(now))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    pub fn set(&self, now: Timestamp) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }

    fn boot_time(&self) -> BootTime {
        (**self).boot_time()
    }
}
