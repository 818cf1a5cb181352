//! Event id and event type look-ups (`header:NAME`, `json:/pointer`,
//! `body-sha256`) on arbitrary bodies: the first line is the look-up.
#![no_main]

use hookgate::pipeline::locate::Locator;
use http::HeaderMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (spec, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(spec) = std::str::from_utf8(spec) else {
        return;
    };
    if let Ok(source) = Locator::parse(spec) {
        let _ = source.extract(&HeaderMap::new(), body);
    }
    for fixed in [
        "json:/id",
        "json:/event-data/id",
        "json:/event/type",
        "body-sha256",
    ] {
        if let Ok(source) = Locator::parse(fixed) {
            let _ = source.extract(&HeaderMap::new(), body);
        }
    }
});
