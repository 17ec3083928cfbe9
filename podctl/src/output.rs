//! Output in kubectl's and podman's shapes: aligned tables (Go's tabwriter,
//! which kubectl uses, as the `tabwriter` crate) and ages ("5m", "2d").

use std::io::Write;

use chrono::{DateTime, Utc};

/// Print rows as a table with columns separated by three spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut writer = tabwriter::TabWriter::new(std::io::stdout().lock()).padding(3);
    writeln!(writer, "{}", header.join("\t"))?;
    for row in rows {
        writeln!(writer, "{}", row.join("\t"))?;
    }
    writer.flush()
}

/// A spinner on standard error that shows only on a terminal (quiet when
/// piped). It is ticked by hand: podctl stays single-threaded.
pub fn spinner() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
    );
    bar
}

/// An age as kubectl prints it: `45s`, `12m`, `3h`, `5d`, `2y`.
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - since).num_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 2 * 365 * 86400 => format!("{}d", s / 86400),
        s => format!("{}y", s / (365 * 86400)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn ages_like_kubectl() {
        let now = chrono::Utc.timestamp_opt(1_000_000_000, 0).unwrap();
        let ago = |s: i64| super::age(now - chrono::Duration::seconds(s), now);
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(119), "119s");
        assert_eq!(ago(600), "10m");
        assert_eq!(ago(5 * 3600), "5h");
        assert_eq!(ago(3 * 86400), "3d");
        assert_eq!(ago(3 * 365 * 86400), "3y");
    }
}
