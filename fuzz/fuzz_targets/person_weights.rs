//! A person model's constants file (`models/person/*.safetensors`), loaded as the app loads it
//! and then with the selfie segmentation model's graph: any bytes give the model or an error.
#![no_main]

mod checks;
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::person_weights(data));
