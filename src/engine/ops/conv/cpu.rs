//! The CPU kernels of the convolution layer.
//!
//! im2col in bounded chunks plus one `gemm` per chunk, writing straight into the output: measured
//! 2-4x faster than candle's CPU conv2d on the network's shapes, and the chunking keeps the
//! column buffer small even for the 256-channel 3x3 convs at 128x96. The bias and a residual are
//! folded into the gemm's accumulator, and a pre-activation (eval BatchNorm then ReLU, as in the
//! warp module's encoders) is applied while the columns are gathered.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Error, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{Activation, Conv2d, ConvOptions};
use crate::engine::ops::cpu;

#[cfg(target_arch = "x86_64")]
use super::direct;
use super::winograd::Winograd;

/// Convs with at most this many output channels may run the direct kernel.
const DIRECT_MAX_COUT: usize = 64;

/// Padded inputs up to this many floats (about 1.8 MB) run the direct kernel.
const DIRECT_MAX_INPUT: usize = 450 * 1024;

/// Which convs the direct kernel runs, from per-layer timings of both kernels (`RUST_LOG=trace`):
/// narrow 3x3 stride-1 convs whose padded input stays near the core's cache. The gemm path stays
/// ahead on 1x1 convs (a plain product), on stride 2 (few output pixels per input read) and on
/// large inputs (128x96 with 49-64 channels, 256x192), where its packed panels read memory in
/// order and the direct kernel's row-per-channel reads miss the cache.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn use_direct(g: &Geometry) -> bool {
    let padded_input = g.cin * (g.h + 2 * g.padding) * (g.w + 2 * g.padding);
    g.cout <= DIRECT_MAX_COUT
        && g.k > 1
        && g.stride == 1
        && padded_input <= DIRECT_MAX_INPUT
        && direct_available()
}

/// Which kernels `FITTING_ROOM_CONV` leaves on, to time them against each other: `gemm` keeps
/// only the im2col path, `direct` adds the direct kernel, anything else (or nothing) all.
fn kernel_choice() -> &'static str {
    static CHOICE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CHOICE.get_or_init(|| std::env::var("FITTING_ROOM_CONV").unwrap_or_default())
}

/// Whether the direct kernel runs: where the CPU has it, unless `FITTING_ROOM_CONV=gemm`.
#[cfg(target_arch = "x86_64")]
fn direct_available() -> bool {
    direct::available() && kernel_choice() != "gemm"
}

#[cfg(not(target_arch = "x86_64"))]
fn direct_available() -> bool {
    false
}

/// Winograd F(4x4, 3x3) runs 3x3 stride-1 convs with at least this many input and output
/// channels ...
const WINOGRAD_MIN_CHANNELS: usize = 32;
/// ... on maps of at least this many 4x4 tiles (U, computed per call, costs about as much as
/// the products of a few dozen tiles) ...
const WINOGRAD_MIN_TILES: usize = 48;
/// ... whose transformed weights (36 per kernel) stay below this many floats (a transient
/// buffer; larger ones are the 512-channel layers on small maps, where gemm is fine).
const WINOGRAD_MAX_WEIGHTS: usize = 36 << 17;

/// Which convs the Winograd kernel runs, from per-layer timings (`RUST_LOG=trace`).
fn use_winograd(g: &Geometry) -> bool {
    g.k == 3
        && g.stride == 1
        && g.padding == 1
        && g.cin.min(g.cout) >= WINOGRAD_MIN_CHANNELS
        && g.h.div_ceil(4) * g.w.div_ceil(4) >= WINOGRAD_MIN_TILES
        && 36 * g.cin * g.cout <= WINOGRAD_MAX_WEIGHTS
        && !matches!(kernel_choice(), "gemm" | "direct")
}

/// Column buffer budget per chunk, in floats (16 MB).
const COLUMN_BUDGET: usize = 4 << 20;
/// Convs with at most this many output channels walk the columns in chunks of `NARROW_CHUNK`.
const NARROW_COUT: usize = 16;
const NARROW_CHUNK: usize = 1024;
/// Output size (padded width x height) from which stride-1 convs use shifted products.
const SHIFTED_MIN_COLUMNS: usize = 8192;

/// Runs `layer` on a CPU tensor through the kernels of this module.
pub(super) fn forward(layer: &Conv2d, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
    let op = ConvCpu { layer };
    let x = x.contiguous()?;
    match residual {
        Some(r) => x.apply_op2_no_bwd(&r.contiguous()?, &op),
        None => x.apply_op1_no_bwd(&op),
    }
}

struct ConvCpu<'a> {
    layer: &'a Conv2d,
}

impl ConvCpu<'_> {
    fn run(
        &self,
        x: &[f32],
        x_layout: &Layout,
        residual: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let layer = self.layer;
        let (n, cin, h, w) = x_layout.shape().dims4()?;
        let started = std::time::Instant::now();
        let k = layer.kernel_size();
        let cout = layer.out_channels();
        let ConvOptions { stride, padding } = layer.options;
        if h + 2 * padding < k || w + 2 * padding < k {
            return Err(Error::Msg(format!(
                "conv: input {h}x{w} is smaller than the {k}x{k} kernel"
            )));
        }
        let g = Geometry {
            cin,
            cout,
            h,
            w,
            k,
            stride,
            padding,
            ho: (h + 2 * padding - k) / stride + 1,
            wo: (w + 2 * padding - k) / stride + 1,
        };
        let out_plane = g.ho * g.wo;
        if use_winograd(&g) {
            let out = self.run_winograd(x, residual, g, n)?;
            log_conv(layer, &g, n, started);
            return Ok((CpuStorage::F32(out), Shape::from((n, cout, g.ho, g.wo))));
        }
        #[cfg(target_arch = "x86_64")]
        if use_direct(&g) {
            let out = self.run_direct(x, residual, g, n)?;
            log_conv(layer, &g, n, started);
            return Ok((CpuStorage::F32(out), Shape::from((n, cout, g.ho, g.wo))));
        }
        let mut out = match residual {
            Some(r) => {
                if r.len() != n * cout * out_plane {
                    return Err(Error::Msg(
                        "conv: residual does not match the output".into(),
                    ));
                }
                r.to_vec()
            }
            None => vec![0f32; n * cout * out_plane],
        };
        if let Some(bias) = &layer.bias {
            cpu::with_tensor_slice(bias, "conv", |bias| {
                out.par_chunks_mut(out_plane)
                    .enumerate()
                    .for_each(|(i, plane)| {
                        let b = bias[i % cout];
                        plane.iter_mut().for_each(|v| *v += b);
                    });
                Ok(())
            })?;
        }
        let read_dst = residual.is_some() || layer.bias.is_some();
        cpu::with_tensor_slice(&layer.weight, "conv", |weight| {
            let call = Call {
                weight,
                pre: layer
                    .pre
                    .as_ref()
                    .map(|p| (p.scale.as_slice(), p.shift.as_slice())),
                g,
                read_dst,
            };
            let in_size = cin * h * w;
            for (x_b, out_b) in x
                .chunks_exact(in_size)
                .zip(out.chunks_exact_mut(cout * out_plane))
            {
                call.image(x_b, out_b);
            }
            Ok(())
        })?;
        let act = layer.activation;
        if act != Activation::None {
            out.par_chunks_mut(16 * 1024)
                .for_each(|chunk| chunk.iter_mut().for_each(|v| *v = act.apply(*v)));
        }
        log_conv(layer, &g, n, started);
        Ok((CpuStorage::F32(out), Shape::from((n, cout, g.ho, g.wo))))
    }

    /// Runs `kernel` on each image of the batch with the layer's weights, bias and
    /// pre-activation (`image` gets the weights, the bias, the pre-activation, that image's
    /// residual, its input and its output).
    fn per_image(
        &self,
        x: &[f32],
        residual: Option<&[f32]>,
        g: Geometry,
        n: usize,
        image: impl Fn(ImageRun),
    ) -> Result<Vec<f32>> {
        let layer = self.layer;
        let (in_size, out_size) = (g.cin * g.h * g.w, g.cout * g.ho * g.wo);
        if residual.is_some_and(|r| r.len() != n * out_size) {
            return Err(Error::Msg(
                "conv: residual does not match the output".into(),
            ));
        }
        let mut out = vec![0f32; n * out_size];
        let pre = layer
            .pre
            .as_ref()
            .map(|p| (p.scale.as_slice(), p.shift.as_slice()));
        // A copy of at most a few hundred floats: simpler than nesting two borrowed slices.
        let bias: Option<Vec<f32>> = layer.bias.as_ref().map(|b| b.to_vec1()).transpose()?;
        cpu::with_tensor_slice(&layer.weight, "conv", |weight| {
            for (b, out_b) in out.chunks_exact_mut(out_size).enumerate() {
                image(ImageRun {
                    weight,
                    bias: bias.as_deref(),
                    pre,
                    residual: residual.map(|r| &r[b * out_size..(b + 1) * out_size]),
                    x: &x[b * in_size..(b + 1) * in_size],
                    out: out_b,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn run_winograd(
        &self,
        x: &[f32],
        residual: Option<&[f32]>,
        g: Geometry,
        n: usize,
    ) -> Result<Vec<f32>> {
        let activation = self.layer.activation;
        self.per_image(x, residual, g, n, |r| {
            Winograd {
                weight: r.weight,
                bias: r.bias,
                residual: r.residual,
                pre: r.pre,
                activation,
                cin: g.cin,
                cout: g.cout,
                h: g.h,
                w: g.w,
            }
            .run(r.x, r.out)
        })
    }

    #[cfg(target_arch = "x86_64")]
    fn run_direct(
        &self,
        x: &[f32],
        residual: Option<&[f32]>,
        g: Geometry,
        n: usize,
    ) -> Result<Vec<f32>> {
        let activation = self.layer.activation;
        self.per_image(x, residual, g, n, |r| {
            direct::DirectConv {
                weight: r.weight,
                bias: r.bias,
                residual: r.residual,
                pre: r.pre,
                activation,
                cin: g.cin,
                cout: g.cout,
                h: g.h,
                w: g.w,
                k: g.k,
                stride: g.stride,
                padding: g.padding,
            }
            .run(r.x, r.out)
        })
    }
}

/// One image's operands for [`ConvCpu::per_image`]'s kernel.
struct ImageRun<'a> {
    weight: &'a [f32],
    bias: Option<&'a [f32]>,
    pre: Option<(&'a [f32], &'a [f32])>,
    residual: Option<&'a [f32]>,
    x: &'a [f32],
    out: &'a mut [f32],
}

/// Traces each conv's time, to find the slow layers (`RUST_LOG=trace`).
fn log_conv(layer: &Conv2d, g: &Geometry, n: usize, started: std::time::Instant) {
    if log::log_enabled!(log::Level::Trace) {
        let seconds = started.elapsed().as_secs_f64();
        let flops = 2.0 * (n * g.cout * g.ho * g.wo * g.cin * g.k * g.k) as f64;
        log::trace!(
            "conv {}->{} k{} s{} {}x{} pre={}: {:.3} ms, {:.1} GFLOP/s",
            g.cin,
            g.cout,
            g.k,
            g.stride,
            g.h,
            g.w,
            layer.pre.is_some(),
            seconds * 1e3,
            flops / seconds / 1e9
        );
    }
}

/// Shape facts of one convolution call.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    padding: usize,
    ho: usize,
    wo: usize,
}

/// Everything one call needs besides the input and output of an image.
struct Call<'a> {
    /// (C_out, C_in, k, k).
    weight: &'a [f32],
    /// Pre-activation scale and shift per input channel.
    pre: Option<(&'a [f32], &'a [f32])>,
    g: Geometry,
    /// Whether the output already holds bias and residual to accumulate onto.
    read_dst: bool,
}

/// A window of a row-major matrix: `rows` apart by `stride`, starting at column `col0`.
struct MatMut<'a> {
    data: &'a mut [f32],
    stride: usize,
    col0: usize,
}

impl Call<'_> {
    /// One image: dst (C_out, Ho*Wo) += W (C_out, K) x columns (K, Ho*Wo).
    fn image(&self, x: &[f32], dst: &mut [f32]) {
        let g = &self.g;
        let kk = g.cin * g.k * g.k;
        let out_plane = g.ho * g.wo;
        if g.k == 1 && g.stride == 1 && g.padding == 0 && self.pre.is_none() {
            // A 1x1 convolution is a plain matrix product with the input as it lies.
            let dst = MatMut {
                data: dst,
                stride: out_plane,
                col0: 0,
            };
            gemm_into(dst, self.weight, x, (g.cout, out_plane, kk), self.read_dst);
            return;
        }
        // The shifted products win on large maps; on small ones (few columns) one product with
        // the k*k larger inner dimension of the column matrix keeps the gemm kernel busier.
        if g.stride == 1 && g.ho * (g.w + 2 * g.padding) >= SHIFTED_MIN_COLUMNS {
            self.shifted(x, dst);
            return;
        }
        let rows_per_chunk = (COLUMN_BUDGET / (kk * g.wo).max(1)).clamp(1, g.ho);
        let mut columns = vec![0f32; kk * rows_per_chunk * g.wo];
        let mut row0 = 0;
        while row0 < g.ho {
            let rows = rows_per_chunk.min(g.ho - row0);
            let ncols = rows * g.wo;
            let cols = &mut columns[..kk * ncols];
            self.im2col(x, row0, rows, cols);
            let window = MatMut {
                data: dst,
                stride: out_plane,
                col0: row0 * g.wo,
            };
            gemm_into(
                window,
                self.weight,
                cols,
                (g.cout, ncols, kk),
                self.read_dst,
            );
            row0 += rows;
        }
    }

    /// Stride-1 convolution without a column matrix: over the zero-padded input laid flat, the
    /// tap (ky, kx) of every output pixel is the same flat array shifted by ky * Wp + kx, so the
    /// conv is k*k accumulated products W[:, :, ky, kx] x shifted input. Outputs are computed on
    /// the padded width and the k - 1 extra columns per row are dropped at the end. This reads
    /// the input in place of a k*k times larger column matrix.
    fn shifted(&self, x: &[f32], dst: &mut [f32]) {
        let g = &self.g;
        let (hp, wp) = (g.h + 2 * g.padding, g.w + 2 * g.padding);
        let plane = hp * wp;
        // k - 1 trailing zeros: the last tap of the last channel reads that far past the last
        // plane.
        let mut padded = vec![0f32; g.cin * plane + g.k];
        let pre = self.pre;
        padded[..g.cin * plane]
            .par_chunks_mut(plane)
            .enumerate()
            .for_each(|(ci, dst_plane)| {
                let src = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
                for (y, row) in src.chunks_exact(g.w).enumerate() {
                    let start = (y + g.padding) * wp + g.padding;
                    let line = &mut dst_plane[start..start + g.w];
                    match pre {
                        Some((scale, shift)) => {
                            let (s, t) = (scale[ci], shift[ci]);
                            for (d, v) in line.iter_mut().zip(row) {
                                *d = (v * s + t).max(0.0);
                            }
                        }
                        None => line.copy_from_slice(row),
                    }
                }
            });
        let wide_cols = g.ho * wp;
        let mut wide = vec![0f32; g.cout * wide_cols];
        let taps = g.k * g.k;
        assert!(self.weight.len() >= g.cout * taps * g.cin);
        assert!(wide.len() >= g.cout * wide_cols);
        assert!((g.k - 1) * (wp + 1) + (g.cin - 1) * plane + wide_cols <= padded.len());
        let wide_ptr = cpu::OutPtr(wide.as_mut_ptr());
        // Columns [c0, c0 + nc) of the output, all taps.
        let columns = |c0: usize, nc: usize, parallelism: gemm::Parallelism| {
            for tap in 0..taps {
                let (ky, kx) = (tap / g.k, tap % g.k);
                let offset = ky * wp + kx + c0;
                // SAFETY: the asserts above bound every access: lhs (co, ci) at
                // co * cin * k*k + ci * k*k + tap, rhs (ci, j) at offset + ci * plane + j,
                // dst (co, j) at co * wide_cols + c0 + j, for co < cout, ci < cin,
                // j < nc <= wide_cols - c0. Concurrent calls get disjoint column ranges.
                unsafe {
                    gemm::gemm(
                        g.cout,
                        nc,
                        g.cin,
                        wide_ptr.add(c0),
                        1,
                        wide_cols as isize,
                        tap > 0,
                        self.weight.as_ptr().add(tap),
                        taps as isize,
                        (g.cin * taps) as isize,
                        padded.as_ptr().add(offset),
                        1,
                        plane as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        parallelism,
                    );
                }
            }
        };
        if g.cout <= NARROW_COUT {
            // Few output channels make the products memory-bound and too small for gemm to
            // share among threads: walk the columns in chunks with all taps per chunk (the
            // shifted input rows stay in cache from one tap to the next), the chunks in parallel.
            let chunks = wide_cols.div_ceil(NARROW_CHUNK);
            (0..chunks).into_par_iter().for_each(|i| {
                let c0 = i * NARROW_CHUNK;
                columns(
                    c0,
                    NARROW_CHUNK.min(wide_cols - c0),
                    gemm::Parallelism::None,
                );
            });
        } else {
            columns(0, wide_cols, parallelism());
        }
        let read_dst = self.read_dst;
        dst.par_chunks_mut(g.ho * g.wo)
            .zip(wide.par_chunks(wide_cols))
            .for_each(|(out_plane, wide_plane)| {
                for (out_row, wide_row) in out_plane
                    .chunks_exact_mut(g.wo)
                    .zip(wide_plane.chunks_exact(wp))
                {
                    if read_dst {
                        for (o, w) in out_row.iter_mut().zip(wide_row) {
                            *o += w;
                        }
                    } else {
                        out_row.copy_from_slice(&wide_row[..g.wo]);
                    }
                }
            });
    }

    /// Gathers the (K, rows * Wo) column matrix for output rows [row0, row0 + rows).
    fn im2col(&self, x: &[f32], row0: usize, rows: usize, cols: &mut [f32]) {
        let g = &self.g;
        let pre = self.pre;
        let ncols = rows * g.wo;
        let kk2 = g.k * g.k;
        cols.par_chunks_mut(ncols)
            .enumerate()
            .for_each(|(row_index, dst)| {
                let ci = row_index / kk2;
                let ky = (row_index % kk2) / g.k;
                let kx = row_index % g.k;
                let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
                let (scale, shift) = match pre {
                    Some((s, t)) => (s[ci], t[ci]),
                    None => (1.0, 0.0),
                };
                let apply = |v: f32| -> f32 {
                    if pre.is_some() {
                        (v * scale + shift).max(0.0)
                    } else {
                        v
                    }
                };
                // Output columns whose tap lands inside the input: ix = ox * s + kx - p in [0, w).
                let ox_lo = g.padding.saturating_sub(kx).div_ceil(g.stride);
                let ox_hi = if g.w + g.padding > kx {
                    ((g.w + g.padding - kx - 1) / g.stride + 1).min(g.wo)
                } else {
                    0
                };
                for r in 0..rows {
                    let oy = row0 + r;
                    let line = &mut dst[r * g.wo..(r + 1) * g.wo];
                    let iy = (oy * g.stride + ky) as isize - g.padding as isize;
                    if iy < 0 || iy >= g.h as isize || ox_lo >= ox_hi {
                        line.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    line[..ox_lo].fill(0.0);
                    line[ox_hi..].fill(0.0);
                    let ix0 = ox_lo * g.stride + kx - g.padding;
                    if g.stride == 1 {
                        let n = ox_hi - ox_lo;
                        for (d, s) in line[ox_lo..ox_hi].iter_mut().zip(&src[ix0..ix0 + n]) {
                            *d = apply(*s);
                        }
                    } else {
                        for (j, d) in line[ox_lo..ox_hi].iter_mut().enumerate() {
                            *d = apply(src[ix0 + j * g.stride]);
                        }
                    }
                }
            });
    }
}

fn parallelism() -> gemm::Parallelism {
    let threads = cpu::num_threads();
    if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

/// dst[:, col0 .. col0 + n] (+)= lhs (m, k) x rhs (k, n), all row-major.
fn gemm_into(
    dst: MatMut,
    lhs: &[f32],
    rhs: &[f32],
    (m, n, k): (usize, usize, usize),
    read_dst: bool,
) {
    assert!(lhs.len() >= m * k && rhs.len() >= k * n);
    assert!(m == 0 || dst.data.len() >= (m - 1) * dst.stride + dst.col0 + n);
    // SAFETY: the asserts above bound every index gemm touches: dst rows i < m at
    // i * stride + col0 + j with j < n, lhs (m, k) and rhs (k, n) row-major.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr().add(dst.col0),
            1,
            dst.stride as isize,
            read_dst,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(),
        );
    }
}

impl CustomOp1 for ConvCpu<'_> {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = cpu::slice(storage, layout, "conv2d")?;
        self.run(x, layout, None)
    }
}

impl CustomOp2 for ConvCpu<'_> {
    fn name(&self) -> &'static str {
        "conv2d_residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = cpu::slice(s1, l1, "conv2d")?;
        let residual = cpu::slice(s2, l2, "conv2d")?;
        self.run(x, l1, Some(residual))
    }
}
