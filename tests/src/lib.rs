//! placeholder (test harness)
