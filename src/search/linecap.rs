//! A reader that keeps at most [`MAX_LINE`] bytes of any line, for the sync-log scan: the
//! searcher holds a whole line in memory, so one line of gigabytes without a newline (a
//! damaged or hostile file, a 9 MB `.gz` holding 2 GB of one line) would be read whole into
//! memory. A longer line is dropped while it streams past and counted; an empty line stands in
//! for it so the line numbers of the lines after it stay right. The relay's own lines are a few
//! hundred bytes, so nothing it wrote is ever dropped.
use std::io::{self, Read};

/// Lines longer than this (without their line end) are skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// How much is read from the inner reader at a time.
const CHUNK: usize = 64 * 1024;

pub struct LineCap<R> {
    inner: R,
    max: usize,
    /// The current line so far, while it is at most `max` bytes.
    line: Vec<u8>,
    /// The current line is too long: its bytes are dropped up to its line end.
    dropping: bool,
    chunk: Vec<u8>,
    /// Bytes ready for the caller, from `out_at` on.
    out: Vec<u8>,
    out_at: usize,
    eof: bool,
    overlong: u64,
}

impl<R: Read> LineCap<R> {
    pub fn new(inner: R) -> LineCap<R> {
        LineCap::with_max(inner, MAX_LINE)
    }

    pub fn with_max(inner: R, max: usize) -> LineCap<R> {
        LineCap {
            inner,
            max,
            line: Vec::new(),
            dropping: false,
            chunk: vec![0; CHUNK],
            // Never more than a carried line and one chunk: reserved once, never grown.
            out: Vec::with_capacity(max + CHUNK + 1),
            out_at: 0,
            eof: false,
            overlong: 0,
        }
    }

    /// Lines skipped so far for being longer than the limit.
    pub fn overlong(&self) -> u64 {
        self.overlong
    }

    /// Reads one chunk and moves its complete lines to `out`.
    fn fill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_at = 0;
        let n = self.inner.read(&mut self.chunk)?;
        if n == 0 {
            self.eof = true;
            if self.dropping {
                self.overlong += 1;
                self.dropping = false;
            } else {
                self.out.append(&mut self.line);
            }
            return Ok(());
        }
        // Lines that fit are moved to `out` in runs, one copy per run rather than per line
        // (a year of logs is tens of millions of lines); only an overlong one breaks a run.
        let data = &self.chunk[..n];
        let mut run = 0;
        let mut line_start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            let carried = if line_start == 0 { self.line.len() } else { 0 };
            let dropping = line_start == 0 && self.dropping;
            if dropping || carried + (nl - line_start) > self.max {
                self.out.extend_from_slice(&data[run..line_start]);
                self.overlong += 1;
                self.dropping = false;
                self.line.clear();
                self.out.push(b'\n');
                run = nl + 1;
            } else if carried > 0 {
                self.out.append(&mut self.line);
            }
            line_start = nl + 1;
        }
        self.out.extend_from_slice(&data[run..line_start]);
        let rest = &data[line_start..];
        if !rest.is_empty() && !self.dropping {
            if self.line.len() + rest.len() > self.max {
                self.dropping = true;
                self.line = Vec::new();
            } else {
                self.line.extend_from_slice(rest);
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_at < self.out.len() {
                let n = (self.out.len() - self.out_at).min(buf.len());
                buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
                self.out_at += n;
                return Ok(n);
            }
            if self.eof {
                return Ok(0);
            }
            self.fill()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(text: &[u8], max: usize) -> (Vec<u8>, u64) {
        // A reader that hands out a few bytes at a time, so lines cross chunk ends.
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(3);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = LineCap::with_max(Dribble(text), max);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (out, r.overlong())
    }

    #[test]
    fn short_lines_pass_unchanged() {
        let text = b"one\r\ntwo\n\nthree";
        assert_eq!(through(text, 5), (text.to_vec(), 0));
        assert_eq!(through(b"", 5), (Vec::new(), 0));
    }

    #[test]
    fn a_long_line_becomes_an_empty_line_and_is_counted() {
        let (out, n) = through(b"ok\n0123456789\nfine\n", 5);
        assert_eq!((out.as_slice(), n), (&b"ok\n\nfine\n"[..], 1));
        // Exactly the limit is kept; one more byte is not.
        assert_eq!(through(b"12345\n", 5), (b"12345\n".to_vec(), 0));
        assert_eq!(through(b"123456\n", 5), (b"\n".to_vec(), 1));
        // Without a line end at the end of the input.
        assert_eq!(through(b"a\n123456789", 5), (b"a\n".to_vec(), 1));
    }

    /// Many lines in one read, overlong ones among them: the lines that fit around them pass
    /// unchanged, whatever the reads' sizes (lines carried from one read to the next included).
    #[test]
    fn lines_in_one_read_pass_around_long_ones() {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(self.1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = b"ab\ncd\n0123456789\nef\r\ngh\n12345\n123456\n\nxyz\n1234567";
        let want = &b"ab\ncd\n\nef\r\ngh\n12345\n\n\nxyz\n"[..];
        for size in 1..=text.len() {
            let mut r = LineCap::with_max(Chunks(text, size), 5);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!((out.as_slice(), r.overlong()), (want, 3), "reads of {size}");
        }
    }

    /// The bound holds however long the line: the kept bytes never grow past the limit.
    #[test]
    fn memory_stays_bounded_for_a_huge_line() {
        let huge = io::repeat(b'a').take(64 * 1024 * 1024);
        let mut r = LineCap::with_max(huge.chain(&b"\nlast\n"[..]), 1024);
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            assert!(r.line.capacity() <= 1024 + CHUNK && r.out.capacity() <= 1024 + CHUNK + 1);
        }
        assert_eq!((out.as_slice(), r.overlong()), (&b"\nlast\n"[..], 1));
    }
}
