//! A relay reads one phone number per member, and a chain has hundreds of thousands of them.
//! phonenumber 0.3's regexes once kept a lazy DFA per regex and thread that grew with every new
//! number read, towards 2 MiB each: about 7 MiB of a draining relay's heap (decision 0057,
//! `vendor/regex-cache`). What reading numbers keeps must stay small however many numbers are
//! read.
//!
//! Its own test binary: the allocator below counts every live byte of the process, so no other
//! test may allocate beside it.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use digis_relay::payload::phone::parse_mobile;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Mobile numbers as staff type them, the `i`th of a run through the same Swedish and Norwegian
/// prefixes (so the regexes of their formats are built by the first few numbers) with a
/// different subscriber number each time.
fn number(i: u32) -> (String, &'static str) {
    const SWEDISH: [&str; 5] = ["070", "072", "073", "076", "079"];
    let (prefix, n) = ((i % 6) as usize, i / 6);
    match SWEDISH.get(prefix) {
        Some(p) => (
            format!(
                "{p}-{:03} {:02} {:02}",
                n / 10_000 % 1000,
                n / 100 % 100,
                n % 100
            ),
            "46",
        ),
        None => (
            format!(
                "9{:02} {:02} {:03}",
                n / 100_000 % 100,
                n / 1000 % 100,
                n % 1000
            ),
            "47",
        ),
    }
}

/// Numbers `from..to`, read on two threads as a relay's two workers read them.
fn read_numbers(from: u32, to: u32) {
    let threads: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                for i in (from + t..to).step_by(2) {
                    let (number, code) = number(i);
                    let mobile = parse_mobile(&number, Some(code), None, "SE")
                        .unwrap_or_else(|e| panic!("number {i} ({code}): {e}"));
                    assert_eq!(mobile.country_code, code);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a reading thread panicked");
    }
}

#[test]
fn reading_many_numbers_keeps_a_bounded_heap() {
    read_numbers(0, 3_000);
    let warm = LIVE.load(Ordering::Relaxed);
    read_numbers(3_000, 60_000);
    let after = LIVE.load(Ordering::Relaxed);
    // Measured: 4.3 MiB live after 60,000 numbers, 1.1 MiB of it added after the first 3,000
    // (phonenumber's own lazy statics, built with the regex crate's defaults, fill their lazy
    // DFAs up to a plateau that 240,000 numbers do not pass). With regex-cache's 2 MiB default:
    // 11.0 MiB, 6.0 MiB of it added.
    assert!(
        after < 6 * 1024 * 1024 && after - warm < 2 * 1024 * 1024,
        "reading 60,000 numbers keeps {} KiB ({} KiB after the first 3,000): the phone \
         regexes' caches grow with the numbers read",
        after / 1024,
        warm / 1024
    );
}
