//! Checkpoints: format detection, then safetensors, the zip `.pth` or the legacy `.pth` (its
//! pickle VM), whichever the bytes look like. Any input must give a state dict or an error:
//! no panic, no allocation beyond what the file's own bytes justify.
#![no_main]

mod checks;
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::checkpoint(data));
