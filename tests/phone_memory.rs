//! A relay reads one phone number per member, and a chain has hundreds of thousands of them.
//! phonenumber 0.3's metadata regexes kept a lazy DFA per regex and thread that grew with the
//! numbers read, towards 2 MiB each: about 7 MiB of a draining relay's heap (decision 0057,
//! `vendor/regex-cache`). What reading numbers keeps must stay small however many numbers are
//! read.
//!
//! Its own test binary without libtest (`harness = false` in Cargo.toml): the allocator below
//! counts every live byte of the process, so nothing else may allocate beside it.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Barrier};

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

/// The `i`th of a run of mobile numbers as staff type them: the same Swedish and Norwegian
/// prefixes over and over (the regexes of their formats are built by the first few), each with
/// a subscriber number spread over all its digits.
fn number(i: u32) -> (String, &'static str) {
    const SWEDISH: [&str; 5] = ["070", "072", "073", "076", "079"];
    let prefix = (i % 6) as usize;
    let n = (u64::from(i / 6) * 2_654_435_761 % 10_000_000) as u32;
    match SWEDISH.get(prefix) {
        Some(p) => (
            format!("{p}-{:03} {:02} {:02}", n / 10_000, n / 100 % 100, n % 100),
            "46",
        ),
        None => (
            format!("9{:02} {:02} {:03}", n / 100_000, n / 1000 % 100, n % 1000),
            "47",
        ),
    }
}

fn read(i: u32) {
    let (number, code) = number(i);
    let mobile = parse_mobile(&number, Some(code), None, "SE")
        .unwrap_or_else(|e| panic!("number {i} ({code}): {e}"));
    assert_eq!(mobile.country_code, code);
}

/// Not libtest: its threads and output allocate beside the count, and a second test in this
/// file would run beside this one. Two threads read, as a relay's runtime on two cores, and
/// stay the same two throughout (the regex crate keeps a search cache per thread).
fn main() {
    const WARM: u32 = 3_000;
    const ALL: u32 = 60_000;
    let phase = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let phase = Arc::clone(&phase);
            std::thread::spawn(move || {
                (t..WARM).step_by(2).for_each(read);
                phase.wait();
                phase.wait();
                (WARM + t..ALL).step_by(2).for_each(read);
            })
        })
        .collect();
    phase.wait();
    let warm = LIVE.load(Ordering::Relaxed);
    phase.wait();
    for t in threads {
        t.join().expect("a reading thread panicked");
    }
    let after = LIVE.load(Ordering::Relaxed);
    let kib = |b: isize| b / 1024;
    println!(
        "phone_memory: {} KiB live after {WARM} numbers, {} KiB after {ALL}",
        kib(warm),
        kib(after)
    );
    // Measured: 3.2 MiB live after 3,000 numbers and not a byte more after 60,000. With
    // regex-cache's 2 MiB default: 14.7 MiB after 3,000 (the lazy DFAs fill on the first
    // numbers when their digits vary), 15.2 MiB after 60,000.
    assert!(
        after < 6 * 1024 * 1024 && after - warm < 256 * 1024,
        "reading {ALL} numbers keeps {} KiB ({} KiB after the first {WARM}): the phone regexes' \
         caches grow with the numbers read",
        kib(after),
        kib(warm)
    );
}
