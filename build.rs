//! Tells the tests whether the CPU building them runs the AVX-512 kernels: a test of a kernel
//! this CPU never runs is then reported as ignored, not as passed.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(host_avx512)");
    println!("cargo::rerun-if-changed=build.rs");
    if host_avx512() {
        println!("cargo::rustc-cfg=host_avx512");
    }
}

/// What `simd::avx512` asks at run time, asked of the building machine (tests run where they
/// are built).
fn host_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}
