use proptest::prelude::*;
use sluice_governance::period::{WindowCache, civil_from_days, days_from_civil, days_in_month};
use sluice_governance::{Alignment, Period, Window};

const DAY: i64 = 86_400;

/// Unix seconds of a UTC date and time.
fn at(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> i64 {
    days_from_civil(y, m, d) * DAY + hh * 3_600 + mm * 60 + ss
}

fn date(y: i64, m: i64, d: i64) -> i64 {
    at(y, m, d, 0, 0, 0)
}

fn cal(p: Period, now: i64) -> Window {
    p.window(Alignment::Calendar, 0, now)
}

#[test]
fn parses_exactly_the_six_periods() {
    for (s, p) in [
        ("1m", Period::Minute),
        ("1h", Period::Hour),
        ("1d", Period::Day),
        ("1w", Period::Week),
        ("1M", Period::Month),
        ("1Y", Period::Year),
    ] {
        assert_eq!(s.parse::<Period>(), Ok(p));
        assert_eq!(p.to_string(), s);
    }
    for bad in [
        "", "1", "m", "2m", "1D", "1H", "1y", "1W", "month", " 1m", "1mo",
    ] {
        let err = bad.parse::<Period>().unwrap_err().to_string();
        assert!(err.contains("1M (month)"), "{bad}: {err}");
    }
}

#[test]
fn deserializes_from_strings() {
    #[derive(serde::Deserialize)]
    struct Budget {
        period: Period,
        #[serde(default)]
        align: Alignment,
    }
    let b: Budget = serde_saphyr::from_str("period: 1M\nalign: rolling\n").unwrap();
    assert_eq!((b.period, b.align), (Period::Month, Alignment::Rolling));
    let b: Budget = serde_saphyr::from_str("period: 1d\n").unwrap();
    assert_eq!((b.period, b.align), (Period::Day, Alignment::Calendar));
    assert!(serde_saphyr::from_str::<Budget>("period: 30d\n").is_err());
    assert!(serde_saphyr::from_str::<Budget>("period: 1d\nalign: weekly\n").is_err());
    assert_eq!("rolling".parse(), Ok(Alignment::Rolling));
    assert!("Rolling".parse::<Alignment>().is_err());
}

#[test]
fn civil_date_conversions() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    assert_eq!(date(2026, 11, 26), 1_795_651_200);
    assert_eq!(days_in_month(2024, 2), 29);
    assert_eq!(days_in_month(2100, 2), 28);
    assert_eq!(days_in_month(2000, 2), 29);
}

#[test]
fn calendar_fixed_cases() {
    let now = at(2026, 11, 26, 15, 42, 7);
    assert_eq!(
        cal(Period::Minute, now),
        Window {
            start: at(2026, 11, 26, 15, 42, 0),
            end: at(2026, 11, 26, 15, 43, 0)
        }
    );
    assert_eq!(
        cal(Period::Hour, now),
        Window {
            start: at(2026, 11, 26, 15, 0, 0),
            end: at(2026, 11, 26, 16, 0, 0)
        }
    );
    assert_eq!(
        cal(Period::Day, now),
        Window {
            start: date(2026, 11, 26),
            end: date(2026, 11, 27)
        }
    );
    // 2026-11-26 is a Thursday; its ISO week starts Monday 23 November.
    assert_eq!(
        cal(Period::Week, now),
        Window {
            start: date(2026, 11, 23),
            end: date(2026, 11, 30)
        }
    );
    assert_eq!(
        cal(Period::Month, now),
        Window {
            start: date(2026, 11, 1),
            end: date(2026, 12, 1)
        }
    );
    assert_eq!(
        cal(Period::Year, now),
        Window {
            start: date(2026, 1, 1),
            end: date(2027, 1, 1)
        }
    );
}

#[test]
fn calendar_month_and_year_ends() {
    // The last second of a year belongs to it; the next second starts the next.
    let last = at(2026, 12, 31, 23, 59, 59);
    assert_eq!(
        cal(Period::Month, last),
        Window {
            start: date(2026, 12, 1),
            end: date(2027, 1, 1)
        }
    );
    assert_eq!(cal(Period::Year, last).end, last + 1);
    assert_eq!(cal(Period::Year, last + 1).start, last + 1);
    // February in leap and common years.
    assert_eq!(
        cal(Period::Month, date(2024, 2, 29)),
        Window {
            start: date(2024, 2, 1),
            end: date(2024, 3, 1)
        }
    );
    assert_eq!(cal(Period::Month, date(2025, 2, 28)).end, date(2025, 3, 1));
    assert_eq!(
        cal(Period::Year, date(2024, 7, 1)).end - cal(Period::Year, date(2024, 7, 1)).start,
        366 * DAY
    );
    // Before 1970.
    assert_eq!(
        cal(Period::Month, date(1969, 12, 15)),
        Window {
            start: date(1969, 12, 1),
            end: date(1970, 1, 1)
        }
    );
    assert_eq!(
        cal(Period::Day, -1),
        Window {
            start: -DAY,
            end: 0
        }
    );
}

#[test]
fn iso_weeks_start_on_monday() {
    // 2027-01-01 is a Friday: its week began Monday 2026-12-28, across the year end.
    assert_eq!(
        cal(Period::Week, date(2027, 1, 1)),
        Window {
            start: date(2026, 12, 28),
            end: date(2027, 1, 4)
        }
    );
    // Sunday 23:59:59 is still the old week; Monday 00:00 starts the new one.
    let sunday = at(2026, 11, 29, 23, 59, 59);
    assert_eq!(cal(Period::Week, sunday).end, sunday + 1);
    assert_eq!(cal(Period::Week, sunday + 1).start, sunday + 1);
    // 1970-01-01 was a Thursday.
    assert_eq!(
        cal(Period::Week, 0),
        Window {
            start: -3 * DAY,
            end: 4 * DAY
        }
    );
}

#[test]
fn rolling_fixed_windows_count_from_the_anchor() {
    let anchor = at(2026, 11, 26, 10, 30, 15);
    let w = Period::Hour.window(Alignment::Rolling, anchor, anchor + 3 * 3_600 + 5);
    assert_eq!(
        w,
        Window {
            start: anchor + 3 * 3_600,
            end: anchor + 4 * 3_600
        }
    );
    let w = Period::Day.window(Alignment::Rolling, anchor, anchor);
    assert_eq!(
        w,
        Window {
            start: anchor,
            end: anchor + DAY
        }
    );
    // Before the anchor: the window that ends at it.
    let w = Period::Week.window(Alignment::Rolling, anchor, anchor - 1);
    assert_eq!(
        w,
        Window {
            start: anchor - 7 * DAY,
            end: anchor
        }
    );
}

#[test]
fn rolling_month_from_the_31st_resets_on_each_months_last_day() {
    let anchor = at(2026, 1, 31, 9, 0, 0);
    let mut now = anchor;
    let mut ends = Vec::new();
    for _ in 0..6 {
        let w = Period::Month.window(Alignment::Rolling, anchor, now);
        ends.push(civil_from_days(w.end.div_euclid(DAY)));
        assert_eq!(w.end.rem_euclid(DAY), 9 * 3_600, "keeps the time of day");
        now = w.end;
    }
    assert_eq!(
        ends,
        vec![
            (2026, 2, 28),
            (2026, 3, 31),
            (2026, 4, 30),
            (2026, 5, 31),
            (2026, 6, 30),
            (2026, 7, 31)
        ]
    );
    // In a leap year February has a 29th.
    let anchor = date(2028, 1, 30);
    let w = Period::Month.window(Alignment::Rolling, anchor, date(2028, 2, 15));
    assert_eq!(
        w,
        Window {
            start: anchor,
            end: date(2028, 2, 29)
        }
    );
    // The day between the clamped boundary and the anchor's day.
    let anchor = date(2026, 1, 31);
    let w = Period::Month.window(Alignment::Rolling, anchor, date(2026, 3, 1));
    assert_eq!(
        w,
        Window {
            start: date(2026, 2, 28),
            end: date(2026, 3, 31)
        }
    );
}

#[test]
fn rolling_year_from_29_february() {
    let anchor = date(2024, 2, 29);
    let w = Period::Year.window(Alignment::Rolling, anchor, date(2025, 6, 1));
    assert_eq!(
        w,
        Window {
            start: date(2025, 2, 28),
            end: date(2026, 2, 28)
        }
    );
    let w = Period::Year.window(Alignment::Rolling, anchor, date(2028, 2, 29));
    assert_eq!(
        w,
        Window {
            start: date(2028, 2, 29),
            end: date(2029, 2, 28)
        }
    );
    let w = Period::Year.window(Alignment::Rolling, anchor, date(2028, 2, 28));
    assert_eq!(
        w,
        Window {
            start: date(2027, 2, 28),
            end: date(2028, 2, 29)
        }
    );
}

#[test]
fn extreme_instants_do_not_panic() {
    for p in Period::ALL {
        for a in [Alignment::Calendar, Alignment::Rolling] {
            for (anchor, now) in [
                (i64::MIN, i64::MAX),
                (i64::MAX, i64::MIN),
                (0, i64::MAX),
                (i64::MIN, 0),
            ] {
                let w = p.window(a, anchor, now);
                assert!(w.start < w.end);
            }
        }
    }
}

/// Roughly years 1000–3000.
const RANGE: std::ops::Range<i64> = -30_000_000_000..32_000_000_000;

#[test]
fn a_window_cache_follows_the_clock_across_boundaries() {
    let cache = WindowCache::default();
    let month = |now| cache.window(now, || cal(Period::Month, now));
    let march = date(2026, 3, 1);
    let april = date(2026, 4, 1);
    // Back and forth across the boundary: each instant gets its own month.
    for now in [april - 1, april, april - 1, march, march - 1, april + 5] {
        assert_eq!(month(now), cal(Period::Month, now), "{now}");
    }
    // Before 1970 nothing is kept, and every answer is still right.
    let old = date(1969, 12, 31);
    assert_eq!(month(old), cal(Period::Month, old));
    assert_eq!(month(old + 1), cal(Period::Month, old + 1));
}

fn period() -> impl Strategy<Value = Period> {
    prop::sample::select(Period::ALL.to_vec())
}

fn alignment() -> impl Strategy<Value = Alignment> {
    prop::sample::select(vec![Alignment::Calendar, Alignment::Rolling])
}

proptest! {
    #[test]
    fn now_is_inside_its_window(p in period(), a in alignment(), anchor in RANGE, now in RANGE) {
        let w = p.window(a, anchor, now);
        prop_assert!(w.start <= now && now < w.end, "{w:?} {now}");
        prop_assert_eq!(w.id(), w.start);
    }

    #[test]
    fn windows_tile_without_gaps(p in period(), a in alignment(), anchor in RANGE, now in RANGE) {
        let w = p.window(a, anchor, now);
        // The next window starts where this one ends; the previous ends where it starts.
        let next = p.window(a, anchor, w.end);
        prop_assert_eq!(next.start, w.end);
        let prev = p.window(a, anchor, w.start - 1);
        prop_assert_eq!(prev.end, w.start);
        // Every instant of the window maps to the same window.
        prop_assert_eq!(p.window(a, anchor, w.end - 1), w);
        prop_assert_eq!(p.window(a, anchor, w.start), w);
    }

    #[test]
    fn window_lengths_are_sane(p in period(), a in alignment(), anchor in RANGE, now in RANGE) {
        let w = p.window(a, anchor, now);
        let len = w.end - w.start;
        let (lo, hi) = match p {
            Period::Minute => (60, 60),
            Period::Hour => (3_600, 3_600),
            Period::Day => (DAY, DAY),
            Period::Week => (7 * DAY, 7 * DAY),
            Period::Month => (28 * DAY, 31 * DAY),
            Period::Year => (365 * DAY, 366 * DAY),
        };
        prop_assert!(lo <= len && len <= hi, "{p} {len}");
    }

    #[test]
    fn calendar_windows_start_on_boundaries(p in period(), now in RANGE) {
        let w = p.window(Alignment::Calendar, 0, now);
        let (y, m, d) = civil_from_days(w.start.div_euclid(DAY));
        let tod = w.start.rem_euclid(DAY);
        match p {
            Period::Minute => prop_assert_eq!(w.start % 60, 0),
            Period::Hour => prop_assert_eq!(w.start % 3_600, 0),
            Period::Day => prop_assert_eq!(tod, 0),
            Period::Week => {
                prop_assert_eq!(tod, 0);
                // Monday: day 0 (1970-01-01) was a Thursday.
                prop_assert_eq!((w.start.div_euclid(DAY) + 3).rem_euclid(7), 0);
            }
            Period::Month => prop_assert_eq!((d, tod), (1, 0)),
            Period::Year => prop_assert_eq!((m, d, tod), (1, 1, 0)),
        }
        let _ = y;
    }

    #[test]
    fn rolling_windows_keep_the_anchor_phase(p in period(), anchor in RANGE, now in RANGE) {
        let w = p.window(Alignment::Rolling, anchor, now);
        match p.fixed_seconds() {
            Some(len) => prop_assert_eq!((w.start - anchor).rem_euclid(len), 0),
            None => {
                // Same time of day, and the anchor's day of month unless clamped.
                prop_assert_eq!(w.start.rem_euclid(DAY), anchor.rem_euclid(DAY));
                let (_, am, ad) = civil_from_days(anchor.div_euclid(DAY));
                let (sy, sm, sd) = civil_from_days(w.start.div_euclid(DAY));
                prop_assert_eq!(sd, ad.min(days_in_month(sy, sm)));
                if p == Period::Year {
                    prop_assert_eq!(sm, am);
                }
            }
        }
    }

    /// A cache that saw earlier instants (the same window, a neighbour, or one far off)
    /// gives what the period computes, whatever order the instants come in.
    #[test]
    fn a_cached_window_is_the_computed_one(
        p in period(), a in alignment(), anchor in RANGE,
        instants in prop::collection::vec(RANGE, 1..8),
    ) {
        let cache = WindowCache::default();
        for now in instants.iter().flat_map(|&t| [t, t + 1, t - 1]) {
            let computed = p.window(a, anchor, now);
            prop_assert_eq!(cache.window(now, || p.window(a, anchor, now)), computed, "{}", now);
        }
    }

    #[test]
    fn civil_round_trip(days in -1_000_000i64..1_000_000) {
        let (y, m, d) = civil_from_days(days);
        prop_assert!((1..=12).contains(&m) && 1 <= d && d <= days_in_month(y, m));
        prop_assert_eq!(days_from_civil(y, m, d), days);
    }
}
