//! Small charts drawn on the server as SVG shapes (no script): bars for the requests per slice
//! of the window, and numbers formatted for people.

use actors::audit::SeriesPoint;
use serde::Serialize;

pub(crate) const WIDTH: u32 = 480;
pub(crate) const HEIGHT: u32 = 120;

#[derive(Debug, Serialize)]
pub(crate) struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub error_y: u32,
    pub error_height: u32,
    /// The tooltip: when the slice starts, how many requests and errors.
    pub label: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Chart {
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    pub peak: u64,
    /// How long one slice is, in words.
    pub slice: String,
}

/// Bars scaled to the busiest slice; a slice with any request is at least 1 unit high.
pub(crate) fn requests(series: &[SeriesPoint], window_minutes: u64) -> Chart {
    let peak = series.iter().map(|p| p.total).max().unwrap_or(0);
    let slot = WIDTH / (series.len().max(1) as u32);
    let scale = |n: u64| -> u32 {
        if n == 0 || peak == 0 {
            0
        } else {
            ((n as f64 / peak as f64) * f64::from(HEIGHT - 4))
                .round()
                .max(1.0) as u32
        }
    };
    let bars = series
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let height = scale(p.total);
            let error_height = scale(p.errors).min(height);
            Bar {
                x: i as u32 * slot + 1,
                y: HEIGHT - height,
                width: slot.saturating_sub(2).max(1),
                height,
                error_y: HEIGHT - error_height,
                error_height,
                label: format!(
                    "{}: {} requests, {} errors",
                    utc(p.start_ms),
                    p.total,
                    p.errors
                ),
            }
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        bars,
        peak,
        slice: duration_words(window_minutes * 60 / series.len().max(1) as u64),
    }
}

/// `2 h 30 min`, `7 h`, `150 s`-style wording for a slice length in seconds.
fn duration_words(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` or `YYYY-MM-DDTHH:MM[:SS]` (UTC, what a `datetime-local`
/// field sends) → unix milliseconds; `None` for anything else.
pub(crate) fn parse_utc(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut date = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (date.next()??, date.next()??, date.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    // A date that does not exist (31 February) does not come back the same.
    if civil_from_days(days) != (y, m as u32, d as u32) {
        return None;
    }
    let mut seconds = 0;
    if let Some(time) = time {
        let parts: Vec<Option<i64>> = time.split(':').map(|p| p.parse().ok()).collect();
        let limits = [24, 60, 60];
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        for (part, limit) in parts.iter().zip(limits) {
            let value = (*part).filter(|v| (0..limit).contains(v))?;
            seconds = seconds * 60 + value;
        }
        if parts.len() == 2 {
            seconds *= 60;
        }
    }
    Some((days * 86_400 + seconds) * 1000)
}

/// (year, month, day) → days since 1970-01-01, the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A share of the largest count, 0–100, for the meter bars of the top lists.
pub(crate) fn share(count: u64, largest: u64) -> u32 {
    if largest == 0 {
        0
    } else {
        ((count as f64 / largest as f64) * 100.0).round() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_798_761_599_000), "2026-12-31 23:59:59");
    }

    #[test]
    fn utc_times_parse_back() {
        for ms in [0, 951_782_400_000, 1_798_761_599_000] {
            assert_eq!(parse_utc(&utc(ms)), Some(ms));
        }
        assert_eq!(parse_utc("2000-02-29T00:01"), Some(951_782_460_000));
        assert_eq!(parse_utc("2000-02-29"), Some(951_782_400_000));
        for bad in [
            "",
            "2001-02-29",
            "2000-13-01",
            "2000-01-01T24:00",
            "yesterday",
            "2000-01-01T1",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn bars_scale_to_the_peak() {
        let series: Vec<SeriesPoint> = (0..24)
            .map(|i| SeriesPoint {
                start_ms: i * 60_000,
                total: if i == 3 {
                    10
                } else if i == 4 {
                    1
                } else {
                    0
                },
                errors: if i == 3 { 5 } else { 0 },
            })
            .collect();
        let chart = requests(&series, 24);
        assert_eq!(chart.peak, 10);
        assert_eq!(chart.slice, "1 min");
        assert_eq!(chart.bars[3].height, HEIGHT - 4);
        assert_eq!(chart.bars[3].error_height, (HEIGHT - 4) / 2);
        assert!(chart.bars[4].height >= 1);
        assert_eq!(chart.bars[0].height, 0);
        assert_eq!(duration_words(9000), "2 h 30 min");
        assert_eq!(duration_words(150), "150 s");
        assert_eq!(share(5, 10), 50);
    }
}
