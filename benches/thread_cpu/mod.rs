//! The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, in
//! nanoseconds) and minor page faults (`getrusage(RUSAGE_THREAD)`), and a
//! criterion measurement of the former.
//!
//! On a shared machine, wall time also counts the time the benchmark thread
//! waits while another process has its core; CPU time counts only the time
//! it runs, which is what the hot path costs the application. Work that a
//! library moves to a background thread is not in it (the all-in harness
//! counts that).

#![allow(dead_code)]

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};

/// The calling thread's CPU time.
pub struct ThreadCpu;

/// The calling thread's CPU time so far, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    now()
}

/// The calling thread's minor page faults so far (0 where unknown).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn thread_minor_faults() -> u64 {
    // `struct rusage` on 64-bit Linux: two `struct timeval` (four 64-bit
    // fields), then fourteen `long`s, of which `ru_minflt` is the fifth.
    #[repr(C)]
    struct Rusage {
        fields: [i64; 18],
    }
    const RUSAGE_THREAD: i32 = 1;
    unsafe extern "C" {
        fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }
    let mut usage = Rusage { fields: [0; 18] };
    // SAFETY: `usage` is a valid, writable `struct rusage` (18 64-bit
    // fields on 64-bit Linux), and `RUSAGE_THREAD` is a Linux constant.
    let status = unsafe { getrusage(RUSAGE_THREAD, &raw mut usage) };
    if status != 0 {
        return 0;
    }
    u64::try_from(usage.fields[8]).unwrap_or(0)
}

/// Elsewhere: not measured.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn thread_minor_faults() -> u64 {
    0
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn now() -> u64 {
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanos: i64,
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    unsafe extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    let mut time = Timespec { seconds: 0, nanos: 0 };
    // SAFETY: `time` is a valid, writable `struct timespec` (two 64-bit
    // fields on 64-bit Linux), and the clock ID is one Linux defines.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &raw mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    u64::try_from(time.seconds).unwrap_or(0) * 1_000_000_000
        + u64::try_from(time.nanos).unwrap_or(0)
}

/// Elsewhere: wall time, as criterion's default.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn now() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        now()
    }

    fn end(&self, start: u64) -> u64 {
        now().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    #[allow(clippy::cast_precision_loss)]
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Shows nanoseconds as criterion shows durations, and element throughput.
struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|value| *value *= factor);
        unit
    }

    #[allow(clippy::cast_precision_loss)]
    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per_iteration = match *throughput {
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => n,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Bits(n) => n,
        } as f64;
        let (divisor, unit) = match per_iteration * 1e9 / typical {
            rate if rate < 1e3 => (1.0, " elem/s"),
            rate if rate < 1e6 => (1e3, "Kelem/s"),
            rate if rate < 1e9 => (1e6, "Melem/s"),
            _ => (1e9, "Gelem/s"),
        };
        values.iter_mut().for_each(|value| *value = per_iteration * 1e9 / *value / divisor);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
