use std::time::Instant;
fn run(m: usize, n: usize, k: usize, chunk: usize, threads: usize) -> f64 {
    let lhs = vec![0.5f32; m * k];
    let rhs = vec![0.25f32; k * n];
    let mut dst = vec![0f32; m * n];
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut c0 = 0;
        while c0 < n {
            let nc = chunk.min(n - c0);
            unsafe {
                gemm::gemm(
                    m,
                    nc,
                    k,
                    dst.as_mut_ptr().add(c0),
                    1,
                    n as isize,
                    false,
                    lhs.as_ptr(),
                    1,
                    k as isize,
                    rhs.as_ptr().add(c0),
                    1,
                    n as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                );
            }
            c0 += nc;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (m * n * k) as f64 / best / 1e9
}
fn main() {
    let threads = rayon::current_num_threads();
    for (m, k, n) in [
        (256, 2304, 12288),
        (64, 576, 12288),
        (128, 4608, 12288),
        (4, 1152, 49152),
        (512, 4608, 192),
    ] {
        for chunk in [512, 1024, 2048, 4096, 12288, 49152] {
            println!(
                "m={m} k={k} n={n} chunk={chunk}: {:.1} GF/s",
                run(m, n, k, chunk, threads)
            );
        }
    }
}
