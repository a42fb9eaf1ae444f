#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| legate_fuzz::gossip::member_snapshots(data));
