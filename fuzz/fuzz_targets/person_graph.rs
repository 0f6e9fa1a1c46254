//! A person model's graph description (`models/person/*.json`: op list, tensor shapes), with
//! the shipped constants of each of the three models: any text gives a graph or an error.
#![no_main]

mod checks;
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::person_graph(data));
