//! What vector instructions this CPU runs, detected once for every hand-written kernel (the
//! try-on's convolutions and the person models' executor), so all choose alike.

/// AVX2 with FMA: the person models' 8-lane kernels.
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2_FMA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX2_FMA.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
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
        *AVX512.get_or_init(|| avx2_fma() && std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}
