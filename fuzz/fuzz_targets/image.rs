//! Photos: the loading path of every person and garment picture (format sniffing, the
//! 100-megapixel limit checked on the header, capped decoder allocations, EXIF orientation).
#![no_main]

mod checks;
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::image(data));
