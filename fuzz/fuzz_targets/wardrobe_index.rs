//! The user folder's `index.json` (hand-edited, half-written or from another version): the
//! wardrobe must open, list only garments whose photo exists, and never panic.
#![no_main]

mod checks;
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::wardrobe_index(data));
