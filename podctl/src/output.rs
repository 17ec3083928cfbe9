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

/// A progress bar per blob of a pull or push (bytes, rate) on a terminal,
/// nothing when standard error is not one.
pub struct BlobBars {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<Vec<indicatif::ProgressBar>>,
}

impl BlobBars {
    pub fn new() -> Self {
        Self {
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            bars: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl podcore::image::registry::Progress for BlobBars {
    fn start(&self, digest: &str, size: u64) -> usize {
        let bar = self.multi.add(indicatif::ProgressBar::new(size));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        let short = podcore::image::Digest::parse(digest)
            .map_or_else(|_| digest.to_string(), |d| d.short().to_string());
        bar.set_message(short);
        let mut bars = self.bars.lock().expect("no panic holds the bars");
        bars.push(bar);
        bars.len() - 1
    }

    fn advance(&self, id: usize, bytes: u64) {
        if let Some(bar) = self.bars.lock().expect("no panic holds the bars").get(id) {
            bar.inc(bytes);
        }
    }

    fn finish(&self, id: usize, ok: bool) {
        if let Some(bar) = self.bars.lock().expect("no panic holds the bars").get(id) {
            if ok {
                bar.finish();
            } else {
                bar.abandon();
            }
        }
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
