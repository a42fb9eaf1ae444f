#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| legate_fuzz::config::files(data));
