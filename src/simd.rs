//! What vector instructions this CPU runs, detected once for every hand-written kernel (the
//! try-on's convolutions and the person models' executor), so all choose alike.

/// The environment variable that caps the instructions used below what the CPU has:
/// `avx2` (no AVX-512) or `baseline` (neither), so that the kernels other CPUs run are tested
/// and timed on this one. Anything else, or unset: all the CPU has.
pub const CAP_VAR: &str = "FITTING_ROOM_SIMD";

/// The cap [`CAP_VAR`] sets: 0 baseline, 1 AVX2, 2 no cap.
fn cap() -> u8 {
    static CAP: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| match std::env::var(CAP_VAR).as_deref() {
        Ok("baseline") => 0,
        Ok("avx2") => 1,
        _ => 2,
    })
}

/// AVX2 with FMA: the person models' 8-lane kernels.
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2_FMA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX2_FMA.get_or_init(|| {
            cap() >= 1
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// AVX-512F (with AVX2 and FMA, which every AVX-512 CPU has): the 16-lane kernels.
pub fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512.get_or_init(|| {
            cap() >= 2 && avx2_fma() && std::arch::is_x86_feature_detected!("avx512f")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The instruction levels [`level`] names, lowest first.
pub const LEVELS: [&str; 3] = ["baseline", "avx2", "avx512"];

/// The instructions the kernels use here, after [`CAP_VAR`]: `avx512`, `avx2` or `baseline`.
pub fn level() -> &'static str {
    if avx512() {
        "avx512"
    } else if avx2_fma() {
        "avx2"
    } else {
        "baseline"
    }
}

/// Support for the tests that check every level's kernels on one machine (the library's unit
/// tests and the integration tests share it); not for the program itself.
#[doc(hidden)]
pub mod testing {
    use super::{level, CAP_VAR, LEVELS};

    /// Runs this test binary's tests `names`, with `check` (a test calling [`check_cap`])
    /// first, in a child process under each cap below this CPU's level: the kernels other CPUs
    /// run, checked here too.
    pub fn under_every_cap(check: &str, names: &[&str]) {
        let exe = std::env::current_exe().expect("the test binary");
        let mine = LEVELS.iter().position(|&l| l == level()).expect("a level");
        for cap in &LEVELS[..mine] {
            let out = std::process::Command::new(&exe)
                .args(["--exact", check])
                .args(names)
                .args(["--include-ignored", "--test-threads=1"])
                .env(CAP_VAR, cap)
                .env("RUST_LOG", "off")
                .output()
                .expect("the child runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let passed = format!("test result: ok. {} passed", names.len() + 1);
            assert!(
                out.status.success() && stdout.contains(&passed),
                "under {CAP_VAR}={cap}:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// In a child of [`under_every_cap`]: the kernels chosen are within its cap.
    pub fn check_cap() {
        let cap = std::env::var(CAP_VAR).expect("started with a cap");
        let at = |l: &str| LEVELS.iter().position(|&x| x == l);
        assert!(at(level()) <= at(&cap), "{} under the cap {cap}", level());
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{check_cap, under_every_cap};

    #[test]
    #[ignore = "run in child processes by `under_every_cap`"]
    fn the_cap_applies() {
        check_cap();
    }

    /// The unit tests of kernels chosen by instruction level (the person models' products,
    /// convolutions and depthwise convolutions; the Winograd transforms), under each cap.
    #[test]
    fn the_kernel_tests_pass_under_every_cap() {
        under_every_cap(
            "simd::tests::the_cap_applies",
            &[
                "person::native::tests::products_of_any_shape_match_a_plain_loop",
                "person::graph::tests::fused_pads_and_narrow_convolutions_match_the_tensor_path",
                "engine::ops::conv::winograd::tests::matches_the_definition",
            ],
        );
    }
}
