//! Container logs in the kubelet's CRI format: one line per write line,
//! `<RFC 3339 nano timestamp> <stdout|stderr> <F|P> <text>`, where `P` marks
//! a piece of a line longer than [`MAX_LINE`] (or cut at the stream's end is `F`).

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};

/// Longest piece written as one log line; longer lines are split into `P` pieces.
pub const MAX_LINE: usize = 16 * 1024;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Turns a stream's bytes into CRI log lines.
#[derive(Debug)]
pub struct LineBuffer {
    stream: Stream,
    pending: Vec<u8>,
}

impl LineBuffer {
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    /// Add bytes read from the stream; writes every complete line (and
    /// every full piece of an over-long one) to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut impl Write) -> std::io::Result<()> {
        self.pending.extend_from_slice(data);
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n')
                && i <= MAX_LINE
            {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                write_line(out, self.stream, 'F', &line[..line.len() - 1])?;
                continue;
            }
            if self.pending.len() > MAX_LINE {
                let piece: Vec<u8> = self.pending.drain(..MAX_LINE).collect();
                write_line(out, self.stream, 'P', &piece)?;
                continue;
            }
            return Ok(());
        }
    }

    /// The stream ended: write what is left as a last full line.
    pub fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            write_line(out, self.stream, 'F', &rest)?;
        }
        Ok(())
    }
}

fn write_line(out: &mut impl Write, stream: Stream, tag: char, text: &[u8]) -> std::io::Result<()> {
    let mut line = format!(
        "{} {} {tag} ",
        Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        stream.as_str()
    )
    .into_bytes();
    line.extend_from_slice(text);
    line.push(b'\n');
    out.write_all(&line)
}

/// One log line read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub time: DateTime<Utc>,
    pub stream: String,
    pub partial: bool,
    pub text: String,
}

/// Parse one CRI log line.
pub fn parse_line(line: &str) -> Option<Entry> {
    let mut parts = line.splitn(4, ' ');
    let time = DateTime::parse_from_rfc3339(parts.next()?)
        .ok()?
        .with_timezone(&Utc);
    let stream = parts.next()?.to_string();
    let partial = parts.next()? == "P";
    let text = parts.next().unwrap_or("").to_string();
    Some(Entry {
        time,
        stream,
        partial,
        text,
    })
}

/// The lines of a log file as the container wrote them: partial pieces
/// joined, each with the time of its first piece.
pub fn read_lines(text: &str) -> Vec<(DateTime<Utc>, String)> {
    let mut out = Vec::new();
    let mut current: Option<(DateTime<Utc>, String)> = None;
    for entry in text.lines().filter_map(parse_line) {
        let slot = current.get_or_insert_with(|| (entry.time, String::new()));
        slot.1.push_str(&entry.text);
        if !entry.partial {
            out.push(current.take().expect("just set"));
        }
    }
    out.extend(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_partial_pieces() {
        let mut out = Vec::new();
        let mut buffer = LineBuffer::new(Stream::Stdout);
        buffer.push(b"hello\nwor", &mut out).unwrap();
        buffer.push(b"ld\n", &mut out).unwrap();
        let long = "x".repeat(MAX_LINE * 2 + 10);
        buffer.push(long.as_bytes(), &mut out).unwrap();
        buffer.push(b"\n", &mut out).unwrap();
        buffer.push(b"tail", &mut out).unwrap();
        buffer.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let tags: Vec<&str> = text.lines().map(|l| l.split(' ').nth(2).unwrap()).collect();
        assert_eq!(tags, ["F", "F", "P", "P", "F", "F"]);
        assert!(text.lines().all(|l| l.split(' ').nth(1) == Some("stdout")));
        let lines: Vec<String> = read_lines(&text).into_iter().map(|(_, t)| t).collect();
        assert_eq!(lines, ["hello", "world", long.as_str(), "tail"]);
    }
}
