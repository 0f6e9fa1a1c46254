//! The bundled folder's `wardrobe.json`: entries that point outside the folder, at missing
//! files, with bad ids or names are dropped; the rest is listed; nothing panics.
#![no_main]

mod checks;
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::wardrobe_manifest(data));
