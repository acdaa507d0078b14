//! Parsing and printing of the units users type: durations (`90s`, `10m`),
//! sizes (`512KiB`, `2MiB`, `1GB`) and rates (`2MiB/min`), and the
//! byte-order mark an editor may put before the first line of a text file.
//!
//! Durations go through humantime and sizes through bytesize; this module only
//! adds the error messages and the rate/percent forms memsoak needs.

use std::time::Duration;

/// Bytes in a kibibyte, for code and tests that build sizes by hand.
pub const KIB: f64 = 1024.0;
/// Bytes in a mebibyte: the one constant code and tests use for MiB.
pub const MIB: f64 = 1024.0 * 1024.0;
/// Bytes in a gibibyte.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A value a user typed that could not be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// Not a duration such as `90s`, `10m`, `2h`.
    #[error("invalid duration `{0}` (expected e.g. 90s, 10m, 2h)")]
    Duration(String),
    /// Not a size such as `512KiB`, `2MiB`, `1GiB`.
    #[error("invalid size `{0}` (expected e.g. 512KiB, 2MiB, 1GiB, 100MB)")]
    Size(String),
    /// A size whose unit could mean more than one thing: `2m`, `2mb` and
    /// `2Mb` (megabytes, mebibytes, or bits).
    #[error(
        "size `{0}` has no clear unit: write `{1}MiB` (×1024²) or `{1}MB` (×1000²); a unit ends in B for bytes, and `k`, `m`, `g` or a lowercase b could mean either, or bits"
    )]
    SizeUnit(String, String),
    /// Not a rate such as `2MiB/min`.
    #[error("invalid rate `{0}` (expected SIZE/UNIT, e.g. 2MiB/min, 64KiB/s, 1GiB/h)")]
    Rate(String),
    /// A duration past [`MAX_DURATION`].
    #[error("duration `{0}` is too long (at most 10 years)")]
    DurationTooLong(String),
    /// A size past [`MAX_SIZE`].
    #[error("size `{0}` is too large (at most 18446744073709549568 bytes, just under 16 EiB)")]
    SizeTooLarge(String),
    /// A rate whose size is past [`MAX_SIZE`].
    #[error(
        "rate `{0}` is too large (its size must be at most 18446744073709549568 bytes, just under 16 EiB)"
    )]
    RateTooLarge(String),
    /// Not a percentage such as `10%`.
    #[error("invalid percentage `{0}` (expected 0% to 100%)")]
    Percent(String),
}

/// Parse a duration: `90s`, `10m`, `2h`, `1h30m`, `250ms`.
///
/// # Examples
/// ```
/// assert_eq!(memsoak::units::parse_duration("10m").unwrap().as_secs(), 600);
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let t = s.trim();
    let d = humantime::parse_duration(t).map_err(|_| UnitError::Duration(s.to_string()))?;
    if d > MAX_DURATION {
        return Err(UnitError::DurationTooLong(s.to_string()));
    }
    Ok(d)
}

/// The longest duration any option takes: 10 years (`10y`, of 365.25
/// days each, as humantime reads `y`).
///
/// NOTE: `--duration 18446744073709551615s` overflowed the monitor's row
/// count and `--cost` of as much the embedder's clock (a panic each); no
/// soak, timeout or cost is longer than this.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 31_557_600);

/// The largest size memsoak takes, in bytes: the largest `f64` below 2^64
/// (16 EiB), the first number of bytes no `u64` holds.
///
/// NOTE: sizes are `f64`, whose steps are 2 KiB wide here: `16EiB` and
/// `18446744073709551615B` both read as 2^64, and were refused as "too
/// large (at most 16 EiB)". The messages name this bound, exactly.
pub const MAX_SIZE: f64 = 18_446_744_073_709_549_568.0;

/// Parse a size in bytes: `512KiB`, `2MiB`, `1GiB`, `100MB`, `4096` (bytes),
/// at most [`MAX_SIZE`]. Negative sizes are rejected.
///
/// # Examples
/// ```
/// assert_eq!(memsoak::units::parse_size("2MiB").unwrap(), 2.0 * 1024.0 * 1024.0);
/// ```
pub fn parse_size(s: &str) -> Result<f64, UnitError> {
    let t = s.trim();
    if t.is_empty() || t.starts_with('-') {
        return Err(UnitError::Size(s.to_string()));
    }
    // NOTE: u64::MAX as f64 is 2^64, which no u64 holds: bytesize
    // saturates there, so a value that reaches it was too large to parse.
    let too_large = |v: f64| v > MAX_SIZE;
    if let Ok(v) = t.parse::<f64>() {
        return if !(v.is_finite() && v >= 0.0) {
            Err(UnitError::Size(s.to_string()))
        } else if too_large(v) {
            Err(UnitError::SizeTooLarge(s.to_string()))
        } else {
            Ok(v)
        };
    }
    let (number, unit) = t.split_at(
        t.len()
            - t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .len(),
    );
    let unit = unit.trim();
    if !clear_unit(unit) {
        let named = !number.is_empty() && unit.chars().all(|c| c.is_ascii_alphabetic());
        return Err(if named && number.parse::<f64>().is_ok() {
            UnitError::SizeUnit(s.to_string(), number.to_string())
        } else {
            UnitError::Size(s.to_string())
        });
    }
    let v = t
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64() as f64)
        .map_err(|_| UnitError::Size(s.to_string()))?;
    if too_large(v) {
        return Err(UnitError::SizeTooLarge(s.to_string()));
    }
    Ok(v)
}

/// Whether a size's unit says one thing: `B`, or a decimal or binary
/// prefix before an uppercase `B` (`kB`, `MB`, `KiB`, `MiB`, `GIB`).
///
/// NOTE: bytesize reads `2m`, `2mb` and `2Mb` as 2 MB (2,000,000 bytes); a
/// user who typed `rss.max<2m` may have meant mebibytes, and `Mb` is
/// megabits. memsoak refuses those forms rather than guess.
fn clear_unit(unit: &str) -> bool {
    let Some(prefix) = unit.strip_suffix('B') else {
        return false;
    };
    let prefix = prefix
        .strip_suffix(['i', 'I'])
        .filter(|p| !p.is_empty())
        .unwrap_or(prefix);
    prefix.is_empty() || (prefix.len() == 1 && "kmgtpeKMGTPE".contains(prefix))
}

/// A time unit of a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerTime {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
}

impl PerTime {
    /// Seconds in one unit.
    pub fn seconds(self) -> f64 {
        match self {
            PerTime::Second => 1.0,
            PerTime::Minute => 60.0,
            PerTime::Hour => 3600.0,
        }
    }

    /// Short name as typed (`s`, `min`, `h`).
    pub fn name(self) -> &'static str {
        match self {
            PerTime::Second => "s",
            PerTime::Minute => "min",
            PerTime::Hour => "h",
        }
    }
}

/// Parse a rate `SIZE/UNIT` into bytes per second and the unit typed.
///
/// # Examples
/// ```
/// let (bps, _) = memsoak::units::parse_rate("2MiB/min").unwrap();
/// assert!((bps - 2.0 * 1048576.0 / 60.0).abs() < 1e-9);
/// ```
pub fn parse_rate(s: &str) -> Result<(f64, PerTime), UnitError> {
    let err = || UnitError::Rate(s.to_string());
    let (size, unit) = s.trim().rsplit_once('/').ok_or_else(err)?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => PerTime::Second,
        "m" | "min" | "minute" => PerTime::Minute,
        "h" | "hr" | "hour" => PerTime::Hour,
        _ => return Err(err()),
    };
    let bytes = parse_size(size).map_err(|e| match e {
        UnitError::SizeTooLarge(_) => UnitError::RateTooLarge(s.to_string()),
        unclear @ UnitError::SizeUnit(..) => unclear,
        _ => err(),
    })?;
    Ok((bytes / per.seconds(), per))
}

/// Parse a percentage `10%` into a fraction in `[0, 1]`.
pub fn parse_percent(s: &str) -> Result<f64, UnitError> {
    let err = || UnitError::Percent(s.to_string());
    let v: f64 = s
        .trim()
        .strip_suffix('%')
        .ok_or_else(err)?
        .trim()
        .parse()
        .map_err(|_| err())?;
    if (0.0..=100.0).contains(&v) {
        Ok(v / 100.0)
    } else {
        Err(err())
    }
}

/// The first line of a text file without the UTF-8 byte-order mark a
/// spreadsheet or an editor may have saved before it (it prints as nothing,
/// yet spoiled the header or JSON it stood before). Every reader of a text
/// input calls this on its first line. O(1).
///
/// # Examples
/// ```
/// use memsoak::units::strip_bom;
/// assert_eq!(strip_bom("\u{feff}t_s,items"), "t_s,items");
/// assert_eq!(strip_bom("t_s,items"), "t_s,items");
/// ```
pub fn strip_bom(first_line: &str) -> &str {
    first_line.strip_prefix('\u{feff}').unwrap_or(first_line)
}

/// Format bytes for people: binary units, three significant digits
/// (`12.3 MiB`, `0.979 MiB`), never four (`-1002 KiB` reads `-0.979 MiB`).
/// Negative values keep their sign.
pub fn fmt_bytes(b: f64) -> String {
    if !b.is_finite() {
        return format!("{b}");
    }
    let sign = if b < 0.0 { "-" } else { "" };
    let mut v = b.abs();
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut i = 0;
    // 999.5 and up would round to four digits: the next unit says it in three.
    while v >= 999.5 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    // The decimals are chosen on where the value rounds to, so 99.96 reads
    // "100", not "100.0".
    let decimals = if i == 0 || v >= 99.95 {
        0
    } else if v >= 9.995 {
        1
    } else if v >= 0.9995 {
        2
    } else {
        3
    };
    format!("{sign}{v:.decimals$} {}", units[i])
}

/// Format a fraction as a percent for people, with as many decimals as it
/// has up to two: `95%`, `99.9%`, `97.25%` (a confidence of 0.999 read
/// "100%" at no decimals).
pub fn fmt_percent(fraction: f64) -> String {
    let s = format!("{:.2}", fraction * 100.0);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}%")
}

/// Format a p-value for people: three decimals, and `<0.001` below what
/// three decimals show (never `0.000`, which reads as certainty).
pub fn fmt_p(p: f64) -> String {
    if p.is_nan() {
        "n/a".into()
    } else if p < 0.0005 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// [`fmt_p`] with its relation: `p=0.012`, or `p<0.001`.
pub fn fmt_p_is(p: f64) -> String {
    let v = fmt_p(p);
    if v.starts_with('<') {
        format!("p{v}")
    } else {
        format!("p={v}")
    }
}

/// Format a rate in bytes per second as bytes per `per`.
pub fn fmt_rate(bytes_per_s: f64, per: PerTime) -> String {
    format!("{}/{}", fmt_bytes(bytes_per_s * per.seconds()), per.name())
}

/// Format a number for a one-line message: as Rust prints it while that
/// is short (`0.25`, `12345`), in scientific notation from 1e15 up and
/// below 1e-4 (`1e300`, where `{}` prints 301 digits). O(1).
///
/// # Examples
/// ```
/// use memsoak::units::fmt_num;
/// assert_eq!(fmt_num(1e300), "1e300");
/// assert_eq!(fmt_num(-2.5), "-2.5");
/// ```
pub fn fmt_num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() || (1e-4..1e15).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Format seconds for people: `45 s`, `12.5 min`, `3.2 h`, `2 d 4 h`.
pub fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        return "∞".into();
    }
    // Below 0.9995 s: from there ms would round to "1000 ms".
    if s.abs() < 0.9995 && s != 0.0 {
        // Under a second in ms: one decimal of a second read a 30 ms pause
        // as "0 s" and 50–149 ms alike as "0.1 s".
        let ms = s * 1000.0;
        return if ms.abs() < 0.5 {
            "under 1 ms".into()
        } else {
            format!("{ms:.0} ms")
        };
    }
    if s < 10.0 && s.fract().abs() >= 0.05 {
        // NOTE: short runs: a 1.5 s warm-up read "1 s" beside its band.
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        let d = (s / 86_400.0).floor();
        let h = ((s - d * 86_400.0) / 3600.0).round();
        format!("{d:.0} d {h:.0} h")
    }
}

/// A length of time after "a run of": `about 5.8 s`, `about 10.0 min`, and
/// [`fmt_secs`]'s `under 1 ms` as it is.
///
/// NOTE: "a run of about under 1 ms" read wrong, for a samples file that
/// spans microseconds.
///
/// # Examples
/// ```
/// use memsoak::units::fmt_about_secs;
/// assert_eq!(fmt_about_secs(600.0), "about 10.0 min");
/// assert_eq!(fmt_about_secs(59e-6), "under 1 ms");
/// ```
pub fn fmt_about_secs(s: f64) -> String {
    let t = fmt_secs(s);
    if t.starts_with("under ") || t == "∞" {
        t
    } else {
        format!("about {t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512KiB").unwrap(), 512.0 * 1024.0);
        assert_eq!(parse_size("1GiB").unwrap(), 1073741824.0);
        assert_eq!(parse_size("100MB").unwrap(), 100e6);
        assert_eq!(parse_size("2 kB").unwrap(), 2000.0);
        assert_eq!(parse_size("4096").unwrap(), 4096.0);
        assert!(parse_size("-1MiB").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn a_size_whose_unit_could_mean_two_things_is_refused() {
        for ok in ["2MiB", "2MIB", "2MB", "2 kB", "2KB", "3GiB", "7B", "1.5EiB"] {
            assert!(parse_size(ok).is_ok(), "{ok}");
        }
        for unclear in ["2m", "2mib", "2mb", "2Mb", "2k", "2 g", "2Mib", "1.5kb"] {
            let number = unclear
                .split(|c: char| c.is_alphabetic() || c == ' ')
                .next()
                .unwrap();
            assert_eq!(
                parse_size(unclear),
                Err(UnitError::SizeUnit(unclear.into(), number.into())),
                "{unclear}"
            );
        }
        let e = parse_size("2m").unwrap_err().to_string();
        assert!(e.contains("`2MiB`") && e.contains("`2MB`"), "{e}");
        assert!(parse_size("2iB").is_err());
        assert!(matches!(parse_size("2MiBs"), Err(UnitError::SizeUnit(..))));
        assert!(matches!(parse_rate("2m/min"), Err(UnitError::SizeUnit(..))));
        assert!(parse_rate("2MB/min").is_ok());
    }

    #[test]
    fn rates() {
        let (v, per) = parse_rate("2MiB/min").unwrap();
        assert_eq!(per, PerTime::Minute);
        assert!((v * 60.0 - 2097152.0).abs() < 1e-6);
        assert_eq!(parse_rate("1KiB/s").unwrap().0, 1024.0);
        assert!((parse_rate("36KiB/h").unwrap().0 - 10.24).abs() < 1e-9);
        assert!(parse_rate("2MiB").is_err());
        assert!(parse_rate("2MiB/fortnight").is_err());
    }

    #[test]
    fn values_past_what_the_types_hold_are_refused() {
        for d in ["18446744073709551615s", "9223372036854775807s", "3653d"] {
            assert_eq!(
                parse_duration(d),
                Err(UnitError::DurationTooLong(d.into())),
                "{d}"
            );
        }
        assert_eq!(parse_duration("10y").unwrap(), MAX_DURATION);
        assert!(parse_duration("3652d").is_ok());
        for b in ["99999999999999999999GiB", "99999999999999999999", "16EiB"] {
            assert_eq!(parse_size(b), Err(UnitError::SizeTooLarge(b.into())), "{b}");
        }
        assert!(parse_size("15EiB").is_ok());
        // Regression: "too large (at most 16 EiB)" for 16 EiB, and for
        // u64::MAX bytes; the bound named is the one applied.
        for b in ["16EiB", "18446744073709551615B", "18446744073709551615"] {
            let e = parse_size(b).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "size `{b}` is too large (at most 18446744073709549568 bytes, just under 16 EiB)"
                )
            );
        }
        for b in ["18446744073709549568B", "18446744073709549568"] {
            assert_eq!(parse_size(b), Ok(MAX_SIZE), "{b}");
        }
        // Regression: a rate of that form was "invalid rate … (expected
        // SIZE/UNIT…)".
        for r in ["99999999999999999999EiB/min", "16EiB/s"] {
            assert_eq!(parse_rate(r), Err(UnitError::RateTooLarge(r.into())), "{r}");
        }
        assert!(parse_rate("15EiB/h").is_ok());
    }

    #[test]
    fn durations_and_percent() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_percent("10%").unwrap(), 0.1);
        assert!(parse_percent("110%").is_err());
        assert!(parse_percent("10").is_err());
    }

    #[test]
    fn p_values_never_read_as_certainty() {
        assert_eq!(fmt_p(0.0123), "0.012");
        assert_eq!(fmt_p(0.0005), "0.001");
        assert_eq!(fmt_p(0.000_49), "<0.001");
        assert_eq!(fmt_p(0.0), "<0.001");
        assert_eq!(fmt_p_is(0.554), "p=0.554");
        assert_eq!(fmt_p_is(1e-9), "p<0.001");
        assert_eq!(fmt_p_is(f64::NAN), "p=n/a");
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_bytes(0.0), "0 B");
        assert_eq!(fmt_bytes(2.0 * 1048576.0), "2.00 MiB");
        assert_eq!(fmt_bytes(-1536.0), "-1.50 KiB");
        // Three digits: never "1002 KiB", "1023 B" or "100.0 KiB".
        assert_eq!(fmt_bytes(-1002.0 * 1024.0), "-0.979 MiB");
        assert_eq!(fmt_bytes(1023.0), "0.999 KiB");
        assert_eq!(fmt_bytes(1023.9), "1.00 KiB");
        assert_eq!(fmt_bytes(999.0), "999 B");
        assert_eq!(fmt_bytes(999.0 * 1024.0), "999 KiB");
        assert_eq!(fmt_bytes(99.97 * 1024.0), "100 KiB");
        assert_eq!(fmt_bytes(9.997 * 1024.0), "10.0 KiB");
        assert_eq!(fmt_bytes(12.3 * 1048576.0), "12.3 MiB");
        assert_eq!(fmt_bytes(2000.0 * 1024f64.powi(4)), "1.95 PiB");
        assert_eq!(
            fmt_rate(2.0 * 1048576.0 / 60.0, PerTime::Minute),
            "2.00 MiB/min"
        );
        assert_eq!(fmt_percent(0.95), "95%");
        assert_eq!(fmt_percent(0.999), "99.9%");
        assert_eq!(fmt_percent(0.9725), "97.25%");
        assert_eq!(fmt_percent(1.0), "100%");
        assert_eq!(fmt_secs(45.0), "45 s");
        assert_eq!(fmt_secs(1.5), "1.5 s");
        assert_eq!(fmt_secs(3.0), "3 s");
        assert_eq!(fmt_secs(0.03), "30 ms");
        assert_eq!(fmt_secs(0.05), "50 ms");
        assert_eq!(fmt_secs(0.25), "250 ms");
        assert_eq!(fmt_secs(0.0002), "under 1 ms");
        assert_eq!(fmt_secs(0.9994), "999 ms");
        assert_eq!(fmt_secs(0.9996), "1.0 s");
        assert_eq!(fmt_secs(0.0), "0 s");
        assert_eq!(fmt_secs(3.0 * 86400.0 + 4.0 * 3600.0), "3 d 4 h");
    }

    #[test]
    fn numbers_in_messages_are_short() {
        // Regression: a refused trace time of 1e300 was printed as 301 digits.
        assert_eq!(fmt_num(1e300), "1e300");
        assert_eq!(fmt_num(-1.5e20), "-1.5e20");
        assert_eq!(fmt_num(2e-7), "2e-7");
        assert_eq!(fmt_num(12345678901.5), "12345678901.5");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(f64::INFINITY), "inf");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,24}") {
            let _ = parse_size(&s);
            let _ = parse_rate(&s);
            let _ = parse_duration(&s);
            let _ = parse_percent(&s);
        }

        #[test]
        fn size_roundtrip_kib(n in 0u64..1_000_000) {
            prop_assert_eq!(parse_size(&format!("{n}KiB")).unwrap(), n as f64 * 1024.0);
        }
    }
}
