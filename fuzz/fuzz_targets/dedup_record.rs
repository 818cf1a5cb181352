//! The dedup topic's record reader on arbitrary keys and values: a record is
//! skipped when damaged, never misread into a panic. The first byte is the
//! key's length.
#![no_main]

use hookgate::dedup::record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&key_len, rest)) = data.split_first() else {
        return;
    };
    let (key, value) = rest.split_at(usize::from(key_len).min(rest.len()));
    if let Ok(record::Content::Ids(ids)) = record::parse(Some(key), Some(value)) {
        let _ = ids.count();
    }
});
