//! A model folder's `model.json` (its card): the model's name is the card's non-blank `name`,
//! else the folder's; never empty, never a panic.
#![no_main]

mod checks;
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::model_json(data));
