//! Line paging and byte windows over real files, including a 1,000,000-line log.

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use trainyard_exec::logs::{index::sidecar_path, read_bytes, read_page, LogPage, Order};

fn write_lines(path: &Path, prefix: &str, range: std::ops::RangeInclusive<u64>) {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut w = BufWriter::new(f);
    for n in range {
        writeln!(w, "{prefix} {n}").unwrap();
    }
    w.flush().unwrap();
}

fn append(path: &Path, text: &str) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn expect(page: &LogPage, prefix: &str, first: u64, last: u64) {
    let want: Vec<String> = (first..=last).map(|n| format!("{prefix} {n}")).collect();
    assert_eq!(page.start_line, first, "start token");
    assert_eq!(page.end_line, last, "end token");
    assert_eq!(page.lines, want.len());
    assert_eq!(page.content, want.join("\n"));
}

fn assert_empty(page: &LogPage, token: u64) {
    assert_eq!(
        page,
        &LogPage {
            content: String::new(),
            lines: 0,
            start_line: token,
            end_line: token
        }
    );
}

#[test]
fn million_line_log_pages_exactly_at_every_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("worker-0.log");
    write_lines(&path, "line", 1..=1_000_000);

    // No base: the last 50 lines (this first query builds the index).
    expect(
        &read_page(&path, None, 50, Order::Desc).unwrap(),
        "line",
        999_951,
        1_000_000,
    );
    expect(
        &read_page(&path, None, 50, Order::Asc).unwrap(),
        "line",
        999_951,
        1_000_000,
    );
    assert!(sidecar_path(&path).exists(), "index sidecar written");

    // Desc: strictly after the base line.
    expect(
        &read_page(&path, Some(0), 50, Order::Desc).unwrap(),
        "line",
        1,
        50,
    );
    expect(
        &read_page(&path, Some(1), 50, Order::Desc).unwrap(),
        "line",
        2,
        51,
    );
    expect(
        &read_page(&path, Some(1023), 50, Order::Desc).unwrap(),
        "line",
        1024,
        1073,
    );
    expect(
        &read_page(&path, Some(500_000), 50, Order::Desc).unwrap(),
        "line",
        500_001,
        500_050,
    );
    expect(
        &read_page(&path, Some(999_950), 50, Order::Desc).unwrap(),
        "line",
        999_951,
        1_000_000,
    );
    expect(
        &read_page(&path, Some(999_990), 50, Order::Desc).unwrap(),
        "line",
        999_991,
        1_000_000,
    );
    assert_empty(
        &read_page(&path, Some(1_000_000), 50, Order::Desc).unwrap(),
        1_000_000,
    );

    // Asc: strictly before the base line, oldest first.
    expect(
        &read_page(&path, Some(51), 50, Order::Asc).unwrap(),
        "line",
        1,
        50,
    );
    expect(
        &read_page(&path, Some(10), 50, Order::Asc).unwrap(),
        "line",
        1,
        9,
    );
    assert_empty(&read_page(&path, Some(1), 50, Order::Asc).unwrap(), 1);
    expect(
        &read_page(&path, Some(500_001), 50, Order::Asc).unwrap(),
        "line",
        499_951,
        500_000,
    );
    expect(
        &read_page(&path, Some(1_000_001), 50, Order::Asc).unwrap(),
        "line",
        999_951,
        1_000_000,
    );
    expect(
        &read_page(&path, Some(2_000_000), 50, Order::Asc).unwrap(),
        "line",
        999_951,
        1_000_000,
    );

    assert_empty(&read_page(&path, None, 0, Order::Desc).unwrap(), 0);
    assert_empty(&read_page(&path, Some(77), 0, Order::Asc).unwrap(), 77);

    // Once indexed, queries anywhere cost about what they cost on a small file.
    let started = Instant::now();
    for k in 0..40u64 {
        let base = (k * 24_989 + 7) % 999_000;
        expect(
            &read_page(&path, Some(base), 50, Order::Desc).unwrap(),
            "line",
            base + 1,
            base + 50,
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "40 indexed queries took {:?}",
        started.elapsed()
    );
}

#[test]
fn index_grows_with_the_log_and_is_reloaded_from_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grow.log");
    write_lines(&path, "l", 1..=3000);
    expect(
        &read_page(&path, Some(2000), 10, Order::Desc).unwrap(),
        "l",
        2001,
        2010,
    );

    write_lines(&path, "l", 3001..=10_000);
    expect(
        &read_page(&path, None, 5, Order::Desc).unwrap(),
        "l",
        9996,
        10_000,
    );
    expect(
        &read_page(&path, Some(8192), 3, Order::Desc).unwrap(),
        "l",
        8193,
        8195,
    );
    expect(
        &read_page(&path, Some(4097), 3, Order::Asc).unwrap(),
        "l",
        4094,
        4096,
    );

    // Same content under another path name: a cold cache that loads the copied sidecar.
    let alias = dir.path().join("alias.log");
    fs::hard_link(&path, &alias).unwrap();
    fs::copy(sidecar_path(&path), sidecar_path(&alias)).unwrap();
    expect(
        &read_page(&alias, Some(7000), 4, Order::Desc).unwrap(),
        "l",
        7001,
        7004,
    );
}

#[test]
fn replaced_or_truncated_log_is_reindexed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.log");
    write_lines(&path, "old", 1..=5000);
    expect(
        &read_page(&path, Some(4000), 2, Order::Desc).unwrap(),
        "old",
        4001,
        4002,
    );

    // Truncated in place, then refilled with fewer lines.
    fs::write(&path, "").unwrap();
    write_lines(&path, "new", 1..=2500);
    expect(
        &read_page(&path, Some(2000), 2, Order::Desc).unwrap(),
        "new",
        2001,
        2002,
    );
    expect(
        &read_page(&path, None, 2, Order::Desc).unwrap(),
        "new",
        2499,
        2500,
    );

    // Replaced by another file (new inode) with more lines.
    let tmp = dir.path().join("r.log.new");
    write_lines(&tmp, "third", 1..=6000);
    fs::rename(&tmp, &path).unwrap();
    expect(
        &read_page(&path, Some(5000), 3, Order::Desc).unwrap(),
        "third",
        5001,
        5003,
    );
}

#[test]
fn partial_last_line_counts_and_growth_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.log");
    fs::write(&path, "a\r\nb").unwrap();
    let page = read_page(&path, None, 10, Order::Desc).unwrap();
    assert_eq!(
        page,
        LogPage {
            content: "a\nb".into(),
            lines: 2,
            start_line: 1,
            end_line: 2
        }
    );

    append(&path, "c\nd\n");
    let page = read_page(&path, None, 10, Order::Desc).unwrap();
    assert_eq!(
        page,
        LogPage {
            content: "a\nbc\nd".into(),
            lines: 3,
            start_line: 1,
            end_line: 3
        }
    );
    let page = read_page(&path, Some(1), 10, Order::Desc).unwrap();
    assert_eq!(
        page,
        LogPage {
            content: "bc\nd".into(),
            lines: 2,
            start_line: 2,
            end_line: 3
        }
    );

    append(&path, "tail without newline");
    let page = read_page(&path, Some(3), 10, Order::Desc).unwrap();
    assert_eq!(
        page,
        LogPage {
            content: "tail without newline".into(),
            lines: 1,
            start_line: 4,
            end_line: 4
        }
    );
}

#[test]
fn empty_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.log");
    fs::write(&path, "").unwrap();
    assert_empty(&read_page(&path, None, 50, Order::Desc).unwrap(), 0);
    assert_empty(&read_page(&path, Some(3), 50, Order::Asc).unwrap(), 3);
    let err = read_page(&dir.path().join("missing.log"), None, 5, Order::Desc).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn byte_windows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.log");
    fs::write(&path, "0123456789").unwrap();
    assert_eq!(read_bytes(&path, 0, 4).unwrap(), "0123");
    assert_eq!(read_bytes(&path, 8, 2048).unwrap(), "89");
    assert_eq!(read_bytes(&path, -1, -3).unwrap(), "789");
    assert_eq!(read_bytes(&path, -1, 5).unwrap(), "");
    assert_eq!(read_bytes(&path, 4, -10).unwrap(), "0123");
    assert_eq!(read_bytes(&path, 100, -2).unwrap(), "89");
    assert_eq!(read_bytes(&path, 3, 0).unwrap(), "");
    for (start, offset) in [(-2, 1), (0, 2049), (0, -2049)] {
        let err = read_bytes(&path, start, offset).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
