#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trace_integration::fuzz_entry::jsonl(data));
