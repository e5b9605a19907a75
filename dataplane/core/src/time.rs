//! Time as the core takes it: the caller's monotonic clock, passed in.

/// A point in time on the caller's monotonic clock, in milliseconds.
///
/// The core keeps time in whole seconds; the milliseconds only let callers
/// pass their clock as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    /// `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Time {
        Time(s * 1000)
    }

    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms)
    }

    /// Whole seconds since the epoch, as the core counts them. The count
    /// stops at 2^31 s (68 years), so that adding any timer to it cannot
    /// overflow.
    pub fn secs(self) -> u32 {
        (self.0 / 1000).min(Time::MAX_SECS) as u32
    }

    /// The largest second count the core uses.
    const MAX_SECS: u64 = 1 << 31;
}
