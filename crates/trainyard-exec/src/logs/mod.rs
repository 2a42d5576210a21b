//! Paging through log files by line (the `aom-log` endpoint) or by byte window (SDK mode).
//!
//! Line numbers are 1-based and serve as position tokens. A sparse index (see [`index`]) keeps
//! every query bounded: it reads at most [`index::STRIDE`] lines before the first returned one.
//! All functions here block; call them from `spawn_blocking` in async code.

pub mod index;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Direction of a page relative to its base line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Lines strictly before the base line (older), returned oldest first.
    Asc,
    /// Lines strictly after the base line (newer).
    Desc,
}

/// One page of a log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// The lines joined by `\n`, without a trailing newline and without line-ending `\r`.
    pub content: String,
    /// Number of lines in `content`.
    pub lines: usize,
    /// Token (1-based line number) of the first returned line.
    pub start_line: u64,
    /// Token (1-based line number) of the last returned line.
    pub end_line: u64,
}

/// Largest window [`read_bytes`] serves, in either direction.
pub const MAX_BYTE_WINDOW: i64 = 2048;

/// Reads one page of lines from `path`.
///
/// - `base_line` `None`: the last `lines` lines of the file.
/// - `Desc` + `base_line`: up to `lines` lines strictly after line `base_line`.
/// - `Asc` + `base_line`: up to `lines` lines strictly before line `base_line`, oldest first.
///
/// When nothing is returned (`lines == 0`, or no such lines), `content` is empty, `lines` is 0
/// and both tokens equal `base_line` (0 when `None`). A trailing line without `\n` counts as a
/// line. Only `\r` directly before a line end is stripped (progress bars keep theirs).
pub fn read_page(
    path: &Path,
    base_line: Option<u64>,
    lines: usize,
    order: Order,
) -> io::Result<LogPage> {
    let empty = LogPage {
        content: String::new(),
        lines: 0,
        start_line: base_line.unwrap_or(0),
        end_line: base_line.unwrap_or(0),
    };
    if lines == 0 {
        return Ok(empty);
    }
    let file = File::open(path)?;
    // Everything below works on this snapshot length; later appends are for the next query.
    let len = file.metadata()?.len();
    // One lock for refresh and look-up, so the checkpoint matches the file we opened.
    let found = index::with_index(path, |idx| -> io::Result<_> {
        idx.refresh(path, &file, len)?;
        let total = idx.complete_lines() + u64::from(len > idx.complete_bytes());
        Ok(line_range(total, base_line, lines as u64, order)
            .map(|(first, last)| (first, last, idx.checkpoint_before(first - 1))))
    })?;
    let Some((first, last, (cp_line, cp_offset))) = found else {
        return Ok(empty);
    };

    let mut reader = BufReader::with_capacity(64 * 1024, (&file).take(len - cp_offset));
    reader
        .get_mut()
        .get_mut()
        .seek(SeekFrom::Start(cp_offset))?;
    skip_lines(&mut reader, first - 1 - cp_line)?;
    let mut out: Vec<String> = Vec::with_capacity((last - first + 1) as usize);
    let mut buf = Vec::new();
    for _ in first..=last {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break; // the file shrank under us
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.push(String::from_utf8_lossy(line).into_owned());
    }
    if out.is_empty() {
        return Ok(empty);
    }
    Ok(LogPage {
        lines: out.len(),
        start_line: first,
        end_line: first + out.len() as u64 - 1,
        content: out.join("\n"),
    })
}

/// The 1-based inclusive range of lines a query returns, `None` when empty.
fn line_range(total: u64, base_line: Option<u64>, lines: u64, order: Order) -> Option<(u64, u64)> {
    let (first, last) = match (base_line, order) {
        (None, _) => (total.saturating_sub(lines) + 1, total),
        (Some(base), Order::Desc) => (
            base.saturating_add(1),
            base.saturating_add(lines).min(total),
        ),
        (Some(base), Order::Asc) => {
            let last = base.saturating_sub(1).min(total);
            (last.saturating_sub(lines) + 1, last)
        }
    };
    (first >= 1 && first <= last).then_some((first, last))
}

/// Skips `n` lines without keeping them.
fn skip_lines(reader: &mut impl BufRead, mut n: u64) -> io::Result<()> {
    while n > 0 {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                n -= 1;
            }
            None => {
                let all = buf.len();
                reader.consume(all);
            }
        }
    }
    Ok(())
}

/// Reads a byte window of `path` (SDK mode).
///
/// `start_byte` is an offset, or -1 for the end of the file; `offset` in
/// [-[`MAX_BYTE_WINDOW`], [`MAX_BYTE_WINDOW`]] selects the bytes after (positive) or before
/// (negative) it. The window is clipped to the file; invalid UTF-8 is replaced. Out-of-range
/// arguments are `InvalidInput` errors.
pub fn read_bytes(path: &Path, start_byte: i64, offset: i64) -> io::Result<String> {
    if start_byte < -1 || !(-MAX_BYTE_WINDOW..=MAX_BYTE_WINDOW).contains(&offset) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("start_byte must be >= -1 and offset within +-{MAX_BYTE_WINDOW} bytes"),
        ));
    }
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = if start_byte == -1 {
        len
    } else {
        (start_byte as u64).min(len)
    };
    let (from, to) = if offset >= 0 {
        (start, (start + offset as u64).min(len))
    } else {
        (start.saturating_sub(offset.unsigned_abs()), start)
    };
    let mut buf = vec![0u8; (to - from) as usize];
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read_at(&mut buf[filled..], from + filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(line_range(10, None, 3, Order::Asc), Some((8, 10)));
        assert_eq!(line_range(2, None, 3, Order::Desc), Some((1, 2)));
        assert_eq!(line_range(0, None, 3, Order::Desc), None);
        assert_eq!(line_range(10, Some(4), 3, Order::Desc), Some((5, 7)));
        assert_eq!(line_range(10, Some(9), 3, Order::Desc), Some((10, 10)));
        assert_eq!(line_range(10, Some(10), 3, Order::Desc), None);
        assert_eq!(line_range(10, Some(0), 3, Order::Desc), Some((1, 3)));
        assert_eq!(line_range(10, Some(5), 3, Order::Asc), Some((2, 4)));
        assert_eq!(line_range(10, Some(3), 5, Order::Asc), Some((1, 2)));
        assert_eq!(line_range(10, Some(1), 5, Order::Asc), None);
        assert_eq!(line_range(10, Some(50), 3, Order::Asc), Some((8, 10)));
    }
}
