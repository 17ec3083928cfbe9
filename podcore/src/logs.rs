//! Container logs in the kubelet's CRI format: one line per write line,
//! `<RFC 3339 nano timestamp> <stdout|stderr> <F|P> <text>`, where `P` marks
//! a piece of a line longer than [`MAX_LINE`] (or cut at the stream's end is `F`).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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

/// A container run's log file (`<restart>.log`), rotated as the kubelet
/// rotates it: past `max_size` bytes the file is renamed to
/// `<restart>.log.<time>` and a new one is begun; of the rotated files the
/// newest `max_files - 1` are kept. (The kubelet also gzips older rotated
/// files; these stay plain text.)
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_size: u64,
    max_files: u32,
}

impl LogFile {
    /// Open (appending) the log at `path`.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> std::io::Result<Self> {
        let file = File::options().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            written,
            max_size,
            max_files: max_files.max(1),
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let stamp = Utc::now().format("%Y%m%d-%H%M%S%.9f");
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let rotated = self.path.with_file_name(format!("{name}.{stamp}"));
        std::fs::rename(&self.path, &rotated)?;
        self.file = File::options().create(true).append(true).open(&self.path)?;
        self.written = 0;
        let mut old = rotated_files(&self.path);
        let keep = self.max_files as usize - 1;
        if old.len() > keep {
            for file in old.drain(..old.len() - keep) {
                let _ = std::fs::remove_file(file);
            }
        }
        Ok(())
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written >= self.max_size {
            self.rotate()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The rotated files of the log at `path`, oldest first.
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let prefix = format!(
        "{}.",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    // The time stamps are fixed width: by name is by age.
    files.sort();
    files
}

/// Where a [`Follower`] starts reading.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    Beginning,
    /// The last N lines.
    Tail(usize),
}

/// Reads a container's CRI log as it grows, in constant memory: whole lines
/// only, partial pieces joined, and on to the new file when the log is rotated.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<BufReader<File>>,
    inode: u64,
    offset: u64,
    start: Start,
    partial: Option<(DateTime<Utc>, String)>,
    line: Vec<u8>,
}

impl Follower {
    pub fn new(path: &Path, start: Start) -> Self {
        Self {
            path: path.to_path_buf(),
            file: None,
            inode: 0,
            offset: 0,
            start,
            partial: None,
            line: Vec::new(),
        }
    }

    fn open(&mut self) -> std::io::Result<bool> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        self.inode = file.metadata()?.ino();
        self.offset = match std::mem::replace(&mut self.start, Start::Beginning) {
            Start::Beginning => 0,
            Start::Tail(n) => tail_offset(&mut file, n)?,
        };
        file.seek(SeekFrom::Start(self.offset))?;
        self.file = Some(BufReader::new(file));
        Ok(true)
    }

    /// Hand every whole line written since the last call to `emit`, with
    /// the time of its first piece.
    pub fn poll(
        &mut self,
        mut emit: impl FnMut(DateTime<Utc>, &str) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        loop {
            if self.file.is_none() && !self.open()? {
                return Ok(());
            }
            let reader = self.file.as_mut().expect("opened above");
            loop {
                self.line.clear();
                let n = reader.read_until(b'\n', &mut self.line)?;
                if n == 0 || self.line.last() != Some(&b'\n') {
                    // End of what is written; a line still being written is read again.
                    reader.seek(SeekFrom::Start(self.offset))?;
                    break;
                }
                self.offset += n as u64;
                let text = String::from_utf8_lossy(&self.line[..n - 1]);
                let Some(entry) = parse_line(&text) else {
                    continue;
                };
                let slot = self
                    .partial
                    .get_or_insert_with(|| (entry.time, String::new()));
                slot.1.push_str(&entry.text);
                if !entry.partial {
                    let (time, line) = self.partial.take().expect("just set");
                    emit(time, &line)?;
                }
            }
            // Rotated: the name now holds a new file; this one is read to its end.
            let renamed = std::fs::metadata(&self.path).is_ok_and(|m| m.ino() != self.inode);
            if !renamed {
                return Ok(());
            }
            self.file = None;
        }
    }
}

/// Follows a container's logs across its runs: run N's file (`<N>.log`, and
/// its rotations) to its end, then on to `<N+1>.log` once the container has
/// been started again. `podctl logs -f` and foreground `podctl run` read
/// with it, by offset, never the whole file again.
#[derive(Debug)]
pub struct RunsFollower {
    dir: PathBuf,
    run: u32,
    current: Follower,
}

impl RunsFollower {
    /// Follow the logs in `dir` from run `run` on, starting in that run's
    /// file at `start`.
    pub fn new(dir: &Path, run: u32, start: Start) -> Self {
        Self {
            dir: dir.to_path_buf(),
            run,
            current: Follower::new(&run_file(dir, run), start),
        }
    }

    /// The run whose file is being read.
    pub fn run(&self) -> u32 {
        self.run
    }

    /// Hand every whole line written since the last call to `emit`, the
    /// end of a run's file before the next run's first line.
    pub fn poll(
        &mut self,
        mut emit: impl FnMut(DateTime<Utc>, &str) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        loop {
            self.current.poll(&mut emit)?;
            let next = run_file(&self.dir, self.run + 1);
            if !next.exists() {
                return Ok(());
            }
            // The run has ended (its successor's file exists): what it wrote last, then on.
            self.current.poll(&mut emit)?;
            self.run += 1;
            self.current = Follower::new(&next, Start::Beginning);
        }
    }
}

/// The log file of a container's run `run` in its log folder.
pub fn run_file(dir: &Path, run: u32) -> PathBuf {
    dir.join(format!("{run}.log"))
}

/// The offset at which the last `lines` whole lines of a CRI log begin,
/// found by reading backwards from the end a piece at a time (a bytes after
/// the last newline are a line still being written, not counted).
fn tail_offset(file: &mut File, lines: usize) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 64 * 1024;
    let mut buffer = vec![0u8; CHUNK as usize];
    let mut found = 0usize;
    // The end (past its newline) of the complete line above the newline being looked at.
    let mut line_end: Option<u64> = None;
    let mut pos = file.metadata()?.len();
    // Whether the line [start, end) ends a written line (tag `F`): if so,
    // count it, and say where the window begins once enough are counted.
    let mut look = |start: u64, end: u64| -> std::io::Result<Option<u64>> {
        let mut head = [0u8; 64];
        let n = (end - start).min(head.len() as u64) as usize;
        file.read_exact_at(&mut head[..n], start)?;
        if head[..n].split(|&b| b == b' ').nth(2) == Some(b"F") {
            found += 1;
            if found > lines {
                return Ok(Some(end));
            }
        }
        Ok(None)
    };
    while pos > 0 {
        let start = pos.saturating_sub(CHUNK);
        let chunk = &mut buffer[..(pos - start) as usize];
        file.read_exact_at(chunk, start)?;
        for i in (0..chunk.len()).rev().filter(|&i| chunk[i] == b'\n') {
            let newline = start + i as u64;
            if let Some(end) = line_end
                && let Some(offset) = look(newline + 1, end)?
            {
                return Ok(offset);
            }
            line_end = Some(newline + 1);
        }
        pos = start;
    }
    match line_end {
        Some(end) => Ok(look(0, end)?.unwrap_or(0)),
        None => Ok(0),
    }
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

    fn log_with(lines: &[&str]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut buffer = LineBuffer::new(Stream::Stdout);
        for line in lines {
            buffer.push(line.as_bytes(), &mut file).unwrap();
        }
        file
    }

    /// An `emit` for `poll` that keeps the lines in `seen`.
    fn collect(
        seen: &mut Vec<String>,
    ) -> impl FnMut(DateTime<Utc>, &str) -> std::io::Result<()> + '_ {
        |_, line| {
            seen.push(line.to_string());
            Ok(())
        }
    }

    fn follow(path: &Path, start: Start) -> (Follower, Vec<String>) {
        let mut follower = Follower::new(path, start);
        let mut seen = Vec::new();
        follower.poll(collect(&mut seen)).unwrap();
        (follower, seen)
    }

    #[test]
    fn tail_counts_whole_lines_from_the_end() {
        let long = "y".repeat(MAX_LINE + 5);
        let file = log_with(&["a\n", "b\n", &long, "\n", "c\n", "unfinished"]);
        let (_, all) = follow(file.path(), Start::Beginning);
        assert_eq!(all, ["a", "b", long.as_str(), "c"]);
        let (_, two) = follow(file.path(), Start::Tail(2));
        assert_eq!(two, [long.as_str(), "c"]);
        let (_, many) = follow(file.path(), Start::Tail(99));
        assert_eq!(many.len(), 4);
        let (_, none) = follow(file.path(), Start::Tail(0));
        assert!(none.is_empty());
    }

    #[test]
    fn a_follower_reads_on_into_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut log = LogFile::open(&path, 200, 3).unwrap();
        let mut buffer = LineBuffer::new(Stream::Stdout);
        let mut follower = Follower::new(&path, Start::Beginning);
        let mut seen = Vec::new();
        for i in 0..40 {
            buffer
                .push(format!("line {i}\n").as_bytes(), &mut log)
                .unwrap();
            if i % 3 == 0 {
                follower.poll(collect(&mut seen)).unwrap();
            }
        }
        follower.poll(collect(&mut seen)).unwrap();
        // Lines written while two rotations happened between polls are lost,
        // as with the kubelet; the rest come in order without repeats.
        let numbers: Vec<u32> = seen
            .iter()
            .map(|l| l.trim_start_matches("line ").parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        assert_eq!(numbers.last(), Some(&39));
        assert_eq!(
            rotated_files(&path).len(),
            2,
            "max 3 files: the current and 2 rotated"
        );
        assert!(std::fs::metadata(&path).unwrap().len() < 200);
    }

    #[test]
    fn a_runs_follower_goes_on_to_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let write = |run: u32, lines: &[&str]| {
            let mut log = LogFile::open(&run_file(dir.path(), run), 1 << 20, 2).unwrap();
            let mut buffer = LineBuffer::new(Stream::Stdout);
            for line in lines {
                buffer.push(line.as_bytes(), &mut log).unwrap();
            }
        };
        let mut follower = RunsFollower::new(dir.path(), 0, Start::Beginning);
        let mut seen = Vec::new();
        follower.poll(collect(&mut seen)).unwrap();
        write(0, &["first run\n"]);
        follower.poll(collect(&mut seen)).unwrap();
        assert_eq!(follower.run(), 0);
        write(0, &["its last line\n"]);
        write(1, &["second run\n"]);
        write(2, &["third run\n"]);
        follower.poll(collect(&mut seen)).unwrap();
        assert_eq!(follower.run(), 2);
        assert_eq!(
            seen,
            ["first run", "its last line", "second run", "third run"]
        );
    }

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
