//! Budget and rate-limit periods, and the window a given instant falls in.
//!
//! Everything works on unix seconds (`i64`, UTC) so a test clock is a number and the
//! window id is stable across processes and machines (it keys shared counters). The
//! civil-date arithmetic is Howard Hinnant's public-domain `days_from_civil` /
//! `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>): twenty
//! lines instead of a date crate.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// Instants are clamped to ±2⁴⁵ s (about ±1.1 million years) so that the date
/// arithmetic below cannot overflow on any input.
pub const MAX_ABS_UNIX: i64 = 1 << 45;

/// How long a budget or limit window lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    /// `1m`
    Minute,
    /// `1h`
    Hour,
    /// `1d`
    Day,
    /// `1w`
    Week,
    /// `1M`
    Month,
    /// `1Y`
    Year,
}

/// Where windows start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    /// UTC calendar boundaries: the minute, hour or day; ISO weeks (Monday 00:00 UTC);
    /// the first of the month; 1 January.
    #[default]
    Calendar,
    /// Back-to-back windows of the period's length counted from an anchor instant (the
    /// budget's creation). Months and years keep the anchor's day of month and time of
    /// day; when that day does not exist in a month (the 29th–31st), the window
    /// boundary falls on the month's last day at the anchor's time of day. Each
    /// boundary is computed from the anchor, not from the previous boundary, so a
    /// budget created on 31 January resets on 28 (or 29) February, 31 March, 30 April,
    /// 31 May, …; one created on 29 February resets on 28 February in common years.
    Rolling,
}

/// A half-open interval `[start, end)` of unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub start: i64,
    /// When the window resets: the first second of the next window.
    pub end: i64,
}

impl Window {
    /// A stable id for the window: its start. Counters are keyed by it.
    pub fn id(&self) -> i64 {
        self.start
    }

    pub fn contains(&self, unix: i64) -> bool {
        self.start <= unix && unix < self.end
    }

    /// Seconds until the window resets, as seen at `now` (for `Retry-After`).
    pub fn seconds_left(&self, now: i64) -> i64 {
        (self.end - now).max(0)
    }
}

/// A period string other than `1m`, `1h`, `1d`, `1w`, `1M` or `1Y`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a period; expected one of 1m (minute), 1h (hour), 1d (day), 1w (week), 1M (month), 1Y (year)"
)]
pub struct PeriodError(pub String);

/// An alignment other than `calendar` or `rolling`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an alignment; expected `calendar` or `rolling`")]
pub struct AlignmentError(pub String);

impl Period {
    pub const ALL: [Period; 6] = [
        Period::Minute,
        Period::Hour,
        Period::Day,
        Period::Week,
        Period::Month,
        Period::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Minute => "1m",
            Period::Hour => "1h",
            Period::Day => "1d",
            Period::Week => "1w",
            Period::Month => "1M",
            Period::Year => "1Y",
        }
    }

    /// The length in seconds of fixed-length periods; `None` for months and years.
    pub fn fixed_seconds(self) -> Option<i64> {
        match self {
            Period::Minute => Some(MINUTE),
            Period::Hour => Some(HOUR),
            Period::Day => Some(DAY),
            Period::Week => Some(WEEK),
            Period::Month | Period::Year => None,
        }
    }

    /// The window containing `now`. `anchor` (unix seconds) is used only by
    /// [`Alignment::Rolling`]; it may lie after `now`, in which case the window is the
    /// one before the anchor's. Always `start <= now < end`.
    pub fn window(self, alignment: Alignment, anchor: i64, now: i64) -> Window {
        let now = now.clamp(-MAX_ABS_UNIX, MAX_ABS_UNIX);
        let anchor = anchor.clamp(-MAX_ABS_UNIX, MAX_ABS_UNIX);
        match (alignment, self.fixed_seconds()) {
            (Alignment::Calendar, Some(_)) if self == Period::Week => {
                let day = now.div_euclid(DAY);
                // 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday.
                let monday = day - (day + 3).rem_euclid(7);
                Window {
                    start: monday * DAY,
                    end: (monday + 7) * DAY,
                }
            }
            (Alignment::Calendar, Some(len)) => {
                let start = now.div_euclid(len) * len;
                Window {
                    start,
                    end: start + len,
                }
            }
            (Alignment::Calendar, None) => {
                let (y, m, _) = civil_from_days(now.div_euclid(DAY));
                let (start, end) = if self == Period::Month {
                    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                    (days_from_civil(y, m, 1), days_from_civil(ny, nm, 1))
                } else {
                    (days_from_civil(y, 1, 1), days_from_civil(y + 1, 1, 1))
                };
                Window {
                    start: start * DAY,
                    end: end * DAY,
                }
            }
            (Alignment::Rolling, Some(len)) => {
                let start = anchor + (now - anchor).div_euclid(len) * len;
                Window {
                    start,
                    end: start + len,
                }
            }
            (Alignment::Rolling, None) => {
                let step = if self == Period::Month { 1 } else { 12 };
                rolling_months(anchor, now, step)
            }
        }
    }
}

/// The last window a budget's period gave, kept so that later requests in the same
/// window skip the calendar arithmetic (a month's bounds cost about a hundred
/// instructions, and every request asks for each budget on its chain twice). Windows
/// partition time, so a remembered window that holds `now` is the one `now` is in.
///
/// One atomic word, so that a reader never pairs one window's start with another's end:
/// the start (39 bits) above the length (25 bits, enough for a leap year). A window that
/// does not fit (before 1970, or after the year 19000) is computed every time.
#[derive(Debug, Default)]
pub struct WindowCache(AtomicU64);

const LENGTH_BITS: u32 = 25;

impl WindowCache {
    /// The window holding `now`: the remembered one if it does, else `compute()`'s,
    /// which is then remembered.
    pub fn window(&self, now: i64, compute: impl FnOnce() -> Window) -> Window {
        let packed = self.0.load(Ordering::Relaxed);
        // 0 is never stored (a window has a length), so it means "nothing yet".
        if packed != 0 {
            let start = (packed >> LENGTH_BITS) as i64;
            let end = start + (packed & ((1 << LENGTH_BITS) - 1)) as i64;
            if start <= now && now < end {
                return Window { start, end };
            }
        }
        let window = compute();
        if let Some(packed) = pack(window) {
            self.0.store(packed, Ordering::Relaxed);
        }
        window
    }
}

fn pack(window: Window) -> Option<u64> {
    let start = u64::try_from(window.start)
        .ok()
        .filter(|start| *start < 1 << (64 - LENGTH_BITS))?;
    let length = u64::try_from(window.end - window.start)
        .ok()
        .filter(|length| *length > 0 && *length < 1 << LENGTH_BITS)?;
    Some(start << LENGTH_BITS | length)
}

/// The rolling window of `step` months (1 or 12) from `anchor` that contains `now`.
fn rolling_months(anchor: i64, now: i64, step: i64) -> Window {
    let (ay, am, _) = civil_from_days(anchor.div_euclid(DAY));
    let (ny, nm, _) = civil_from_days(now.div_euclid(DAY));
    let months = (ny - ay) * 12 + (nm - am);
    // A first guess from the calendar months between them; the boundary's day of month
    // can put `now` one window either side of it.
    let mut k = months.div_euclid(step);
    while boundary(anchor, k * step) > now {
        k -= 1;
    }
    while boundary(anchor, (k + 1) * step) <= now {
        k += 1;
    }
    Window {
        start: boundary(anchor, k * step),
        end: boundary(anchor, (k + 1) * step),
    }
}

/// `anchor` moved by `months` calendar months, the day clamped to the target month's
/// last day, the time of day kept.
fn boundary(anchor: i64, months: i64) -> i64 {
    let days = anchor.div_euclid(DAY);
    let time_of_day = anchor.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let index = y * 12 + (m - 1) + months;
    let (ty, tm) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let td = d.min(days_in_month(ty, tm));
    days_from_civil(ty, tm, td) * DAY + time_of_day
}

pub fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` (1–12) of year `y`.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y`-`m`-`d` (Hinnant).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day count since 1970-01-01
/// (Hinnant).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exactly `1m`, `1h`, `1d`, `1w`, `1M`, `1Y`: case matters (`1m` is a minute, `1M`
/// a month), so nothing else is guessed at.
impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Period, PeriodError> {
        Ok(match s {
            "1m" => Period::Minute,
            "1h" => Period::Hour,
            "1d" => Period::Day,
            "1w" => Period::Week,
            "1M" => Period::Month,
            "1Y" => Period::Year,
            _ => return Err(PeriodError(s.to_string())),
        })
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Period, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Alignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Alignment::Calendar => "calendar",
            Alignment::Rolling => "rolling",
        })
    }
}

impl FromStr for Alignment {
    type Err = AlignmentError;
    fn from_str(s: &str) -> Result<Alignment, AlignmentError> {
        match s {
            "calendar" => Ok(Alignment::Calendar),
            "rolling" => Ok(Alignment::Rolling),
            _ => Err(AlignmentError(s.to_string())),
        }
    }
}
