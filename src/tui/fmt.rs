//! Number and time formatting for axes, gauges and tables.

/// Compact number: 3 significant digits, SI suffixes for large values, scientific for tiny.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else {
            "inf".into()
        };
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e9 {
        format!("{:.3}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else if a >= 1e-3 {
        format!("{v:.4}")
    } else {
        format!("{v:.2e}")
    }
}

/// Seconds as `1h02m`, `3m05s`, `12.3s` (`--` when not a duration).
pub fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "--".into();
    }
    crate::util::format_duration(s)
}

/// Bytes as `12.3 MiB`.
pub fn bytes(b: u64) -> String {
    let f = b as f64;
    if f >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", f / (1024.0 * 1024.0 * 1024.0))
    } else if f >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", f / (1024.0 * 1024.0))
    } else if f >= 1024.0 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1234.0), "1234");
        assert_eq!(num(12345.0), "12.3k");
        assert_eq!(num(0.5), "0.5000");
        assert_eq!(num(2e-5), "2.00e-5");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(duration(3725.0), "1h02m");
        assert_eq!(duration(65.0), "1m05s");
        assert_eq!(duration(f64::NAN), "--");
        assert_eq!(bytes(2048), "2.0 KiB");
    }
}
