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
