//! The person graphs' CPU executor: plain f32 buffers in TFLite's own NHWC layout.
//!
//! Why not candle tensors on the CPU: these are mobile nets of ~130 small ops, and one tensor op
//! per graph op meant a fresh allocation (page faults included), a layout change around every
//! reshape and one memory pass per bias, activation and residual addition. Here the plan is made
//! once at load: a convolution carries its bias, a following residual addition and a following
//! activation (one pass over its output while it is in cache); 1x1 convolutions are one matrix
//! product on NHWC rows (no im2col); depthwise convolutions run over channels, which are
//! contiguous in NHWC; buffers are recycled across ops and runs. The candle graph in `graph.rs`
//! stays the path for other devices and the second reference in the tests.

use std::sync::Mutex;

use rayon::prelude::*;

use super::ops::{resize_axis, Axis};

/// The activation applied as a step's last pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Epi {
    None,
    Relu,
    Relu6,
    HardSwish,
    Logistic,
}

impl Epi {
    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        match self {
            Epi::None => v,
            Epi::Relu => v.max(0.0),
            Epi::Relu6 => v.clamp(0.0, 6.0),
            Epi::HardSwish => v * (v + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0),
            Epi::Logistic => 1.0 / (1.0 + (-v).exp()),
        }
    }
}

/// Spatial geometry of a windowed op over an NHWC map (batch 1).
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub top: usize,
    pub left: usize,
}

impl Window {
    /// Output columns `lo..hi` whose tap `j` lands inside the row, and the input column of `lo`.
    #[inline(always)]
    fn cols(&self, j: usize) -> (usize, usize, usize) {
        let lo = self.left.saturating_sub(j).div_ceil(self.sw);
        let hi = (self.w + self.left)
            .saturating_sub(j)
            .div_ceil(self.sw)
            .min(self.ow);
        let base = (lo * self.sw + j).saturating_sub(self.left);
        (lo, hi.max(lo), base)
    }

    /// The input row of output row `oy`'s tap `i`, if inside the map.
    #[inline(always)]
    fn row(&self, oy: usize, i: usize) -> Option<usize> {
        (oy * self.sh + i)
            .checked_sub(self.top)
            .filter(|&y| y < self.h)
    }
}

/// A constant or a computed value, broadcast in an elementwise op.
#[derive(Debug)]
pub(super) enum Src {
    Slot,
    Const(Vec<f32>),
}

#[derive(Debug)]
pub(super) enum Kind {
    /// 1x1 convolution, stride 1: (m, k) rows times the (k, n) weight; `tail` holds the last
    /// `n % 8` columns of the weight transposed, for the kernels' column tail.
    Pointwise {
        w: Vec<f32>,
        tail: Vec<f32>,
        b: Vec<f32>,
        k: usize,
        n: usize,
    },
    /// Any other convolution: per band of output rows, im2col then one product.
    /// Weight (kh * kw * c, n).
    Conv {
        w: Vec<f32>,
        tail: Vec<f32>,
        b: Vec<f32>,
        g: Window,
        n: usize,
    },
    /// Depthwise, multiplier 1: weight (kh * kw, c).
    Depthwise {
        w: Vec<f32>,
        b: Vec<f32>,
        g: Window,
    },
    /// MediaPipe's Convolution2DTransposeBias: weight OHWI.
    TransposeConv {
        w: Vec<f32>,
        b: Vec<f32>,
        g: Window,
        n: usize,
    },
    /// Elementwise add or multiply with NHWC broadcasting (shapes padded to rank 4).
    Binary {
        a: Src,
        b: Src,
        sa: [usize; 4],
        sb: [usize; 4],
        out: [usize; 4],
        mul: bool,
    },
    Pad {
        shape: [usize; 4],
        before: [usize; 4],
        out: [usize; 4],
    },
    AvgPool(Window),
    MaxPool(Window),
    Resize {
        h: usize,
        w: usize,
        c: usize,
        rows: Axis,
        cols: Axis,
    },
    /// Concatenation: `outer` blocks, each the inputs' `inner` runs in turn.
    Concat {
        outer: usize,
        inner: Vec<usize>,
    },
    /// Same data, new shape (NHWC needs no reordering); `moves` when the input dies here, so its
    /// buffer becomes the output.
    Reshape {
        moves: bool,
    },
    DepthToSpace {
        h: usize,
        w: usize,
        c: usize,
        block: usize,
    },
    Unary,
}

impl Kind {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Kind::Pointwise { .. } => "pointwise",
            Kind::Conv { .. } => "conv",
            Kind::Depthwise { .. } => "depthwise",
            Kind::TransposeConv { .. } => "transpose_conv",
            Kind::Binary { mul: true, .. } => "mul",
            Kind::Binary { .. } => "add",
            Kind::Pad { .. } => "pad",
            Kind::AvgPool(_) => "avg_pool",
            Kind::MaxPool(_) => "max_pool",
            Kind::Resize { .. } => "resize",
            Kind::Concat { .. } => "concat",
            Kind::Reshape { .. } => "reshape",
            Kind::DepthToSpace { .. } => "depth_to_space",
            Kind::Unary => "activation",
        }
    }
}

#[derive(Debug)]
pub(super) struct Step {
    pub kind: Kind,
    /// Slot inputs (for Binary: those of `a`, `b` that are slots).
    pub inputs: Vec<usize>,
    /// Added before the activation (a fused residual addition), same shape as the output.
    pub residual: Option<usize>,
    pub act: Epi,
    pub out: usize,
    /// Slots whose last reader is this step.
    pub frees: Vec<usize>,
}

/// A graph planned for the CPU.
#[derive(Debug)]
pub(super) struct Plan {
    pub steps: Vec<Step>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    /// Element count of every slot.
    pub sizes: Vec<usize>,
    /// Buffers kept between runs.
    pub pool: Mutex<Vec<Vec<f32>>>,
}

/// Takes a buffer of at least `n` values (contents unspecified) from the pool. Buffers keep
/// their length, which only grows: cutting them to each value's size had every reuse fill the
/// rest with zeros again. Readers take the value's size from the plan.
fn take(pool: &mut Vec<Vec<f32>>, n: usize) -> Vec<f32> {
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, b)| b.capacity() >= n)
        .min_by_key(|(_, b)| b.capacity())
        .map(|(i, _)| i);
    let mut buf = match best {
        Some(i) => pool.swap_remove(i),
        None => Vec::with_capacity(n),
    };
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    buf
}

impl Plan {
    /// Marks each slot's last reader, so its buffer returns to the pool after it.
    pub fn finish(&mut self) {
        let mut last = vec![usize::MAX; self.sizes.len()];
        for (i, s) in self.steps.iter().enumerate() {
            for &id in s.inputs.iter().chain(&s.residual) {
                last[id] = i;
            }
        }
        for (id, &i) in last.iter().enumerate() {
            if i != usize::MAX && !self.outputs.contains(&id) {
                self.steps[i].frees.push(id);
            }
        }
        // A reshape whose input dies with it takes over the buffer.
        for s in &mut self.steps {
            if let Kind::Reshape { moves } = &mut s.kind {
                *moves = s.frees.contains(&s.inputs[0]);
                if *moves {
                    s.frees.retain(|&id| id != s.inputs[0]);
                }
            }
        }
    }

    /// Runs the plan: NHWC inputs (row-major) in, NHWC outputs out.
    pub fn run(&self, inputs: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, String> {
        let mut pool = std::mem::take(&mut *self.pool.lock().map_err(|_| "pool poisoned")?);
        let mut values: Vec<Option<Vec<f32>>> = vec![None; self.sizes.len()];
        for (&id, x) in self.inputs.iter().zip(inputs) {
            if x.len() != self.sizes[id] {
                return Err(format!(
                    "input has {} values, {} expected",
                    x.len(),
                    self.sizes[id]
                ));
            }
            values[id] = Some(x);
        }
        // FITTING_ROOM_PERSON_PROFILE=1: time per step kind, logged at info level.
        let profile = std::env::var_os("FITTING_ROOM_PERSON_PROFILE").is_some();
        let mut times: Vec<(&'static str, f64, usize)> = Vec::new();
        for step in &self.steps {
            let start = profile.then(std::time::Instant::now);
            let out = if let Kind::Reshape { moves: true } = step.kind {
                let id = step.inputs[0];
                values[id]
                    .take()
                    .ok_or_else(|| format!("value {id} not computed"))?
            } else {
                let size = self.sizes[step.out];
                let mut out = take(&mut pool, size);
                {
                    let get = |id: usize| -> Result<&[f32], String> {
                        values[id]
                            .as_deref()
                            .and_then(|v| v.get(..self.sizes[id]))
                            .ok_or_else(|| format!("value {id} not computed"))
                    };
                    let xs: Vec<&[f32]> = step
                        .inputs
                        .iter()
                        .map(|&id| get(id))
                        .collect::<Result<_, _>>()?;
                    let residual = step.residual.map(get).transpose()?;
                    execute(step, &xs, residual, &mut out[..size]);
                }
                out
            };
            values[step.out] = Some(out);
            for &id in &step.frees {
                if let Some(buf) = values[id].take() {
                    pool.push(buf);
                }
            }
            if let Some(start) = start {
                let name = step.kind.name();
                let ms = start.elapsed().as_secs_f64() * 1e3;
                match times.iter_mut().find(|t| t.0 == name) {
                    Some(t) => (t.1, t.2) = (t.1 + ms, t.2 + 1),
                    None => times.push((name, ms, 1)),
                }
            }
        }
        if profile {
            times.sort_by(|a, b| b.1.total_cmp(&a.1));
            log::info!("step times (kind, ms, count): {times:.2?}");
        }
        let outs = self
            .outputs
            .iter()
            .map(|&id| {
                let mut v = values[id]
                    .take()
                    .ok_or_else(|| format!("output {id} not computed"))?;
                v.truncate(self.sizes[id]);
                Ok(v)
            })
            .collect();
        for buf in values.into_iter().flatten() {
            pool.push(buf);
        }
        *self.pool.lock().map_err(|_| "pool poisoned")? = pool;
        outs
    }
}

/// Rows per parallel task so that each holds about `work` multiply-adds (at least one row).
fn band(rows: usize, per_row: usize, work: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let by_work = work.div_ceil(per_row.max(1)).max(1);
    // Enough bands to balance the threads, none smaller than the work floor.
    rows.div_ceil(threads * 4).max(by_work).min(rows.max(1))
}

fn execute<'a>(step: &'a Step, xs: &[&'a [f32]], residual: Option<&[f32]>, out: &mut [f32]) {
    let act = step.act;
    match &step.kind {
        Kind::Pointwise { w, tail, b, k, n } => {
            product(xs[0], (w, tail), b, residual, out, *k, *n, act)
        }
        Kind::Conv { w, tail, b, g, n } if *n < 8 => {
            // `tail` is the whole weight, transposed (fewer columns than a kernel's width).
            let n = *n;
            let rows = band(g.oh, g.ow * g.kh * g.kw * g.c * n, 1 << 15);
            out.par_chunks_mut(rows * g.ow * n)
                .enumerate()
                .for_each(|(i, dst)| {
                    let off = i * rows * g.ow * n;
                    let res = residual.map(|res| &res[off..off + dst.len()]);
                    conv_narrow(xs[0], tail, b, g, n, i * rows, dst, res, act);
                });
        }
        Kind::Conv { w, tail, b, g, n } => {
            let n = *n;
            let kk = g.kh * g.kw * g.c;
            let rows = band(g.oh, g.ow * kk * n, 1 << 17);
            out.par_chunks_mut(rows * g.ow * n)
                .enumerate()
                .for_each(|(i, dst)| {
                    // One output row's patches at a time, so that they stay in cache: a band's
                    // at once was megabytes written, then read back, for a few products each.
                    let mut cols = vec![0f32; g.ow * kk];
                    for (r, row) in dst.chunks_exact_mut(g.ow * n).enumerate() {
                        let oy = i * rows + r;
                        im2col(xs[0], g, oy, 1, &mut cols);
                        let off = oy * g.ow * n;
                        let res = residual.map(|res| &res[off..off + row.len()]);
                        product_serial(&cols, (w, tail), b, res, row, kk, n, act);
                    }
                });
        }
        Kind::Depthwise { w, b, g } => {
            let rows = band(g.oh, g.ow * g.c * g.kh * g.kw, 1 << 15);
            out.par_chunks_mut(rows * g.ow * g.c)
                .enumerate()
                .for_each(|(i, dst)| {
                    let off = i * rows * g.ow * g.c;
                    let res = residual.map(|res| &res[off..off + dst.len()]);
                    depthwise(xs[0], w, b, g, i * rows, dst, res, act);
                });
        }
        Kind::TransposeConv { w, b, g, n } => {
            transpose_conv(xs[0], w, b, g, *n, residual, act, out);
        }
        Kind::Binary {
            a,
            b,
            sa,
            sb,
            out: so,
            mul,
        } => {
            // The slot operands are the step's inputs, in order.
            let mut slots = xs.iter().copied();
            let mut pick = |s: &'a Src| -> &'a [f32] {
                match s {
                    Src::Slot => slots.next().unwrap_or(&[]),
                    Src::Const(v) => v.as_slice(),
                }
            };
            let (av, bv) = (pick(a), pick(b));
            binary(av, bv, *sa, *sb, *so, *mul, out);
            epilogue(out, &[], residual, act);
        }
        Kind::Pad {
            shape,
            before,
            out: so,
        } => pad(xs[0], *shape, *before, *so, out),
        Kind::AvgPool(g) => pool(xs[0], g, out, false),
        Kind::MaxPool(g) => pool(xs[0], g, out, true),
        Kind::Resize {
            h,
            w,
            c,
            rows,
            cols,
        } => resize(xs[0], *h, *w, *c, rows, cols, out),
        Kind::Concat { outer, inner } => {
            let total: usize = inner.iter().sum();
            for o in 0..*outer {
                let mut at = o * total;
                for (x, &len) in xs.iter().zip(inner) {
                    out[at..at + len].copy_from_slice(&x[o * len..(o + 1) * len]);
                    at += len;
                }
            }
        }
        Kind::Reshape { .. } => out.copy_from_slice(xs[0]),
        Kind::DepthToSpace { h, w, c, block } => {
            let (w, c, b) = (*w, *c, *block);
            let oc = c / (b * b);
            for y in 0..*h {
                for x in 0..w {
                    let src = &xs[0][(y * w + x) * c..(y * w + x + 1) * c];
                    for i in 0..b {
                        for j in 0..b {
                            let at = ((y * b + i) * w * b + x * b + j) * oc;
                            let from = (i * b + j) * oc;
                            out[at..at + oc].copy_from_slice(&src[from..from + oc]);
                        }
                    }
                }
            }
        }
        Kind::Unary => {
            out.copy_from_slice(xs[0]);
            epilogue(out, &[], residual, act);
        }
    }
}

/// dst (m, n) = act(x (m, k) times w (k, n) + bias + residual), all row-major, in parallel
/// tiles: bands of rows, and of columns when the rows are few.
#[allow(clippy::too_many_arguments)]
fn product(
    x: &[f32],
    (w, tail): (&[f32], &[f32]),
    b: &[f32],
    res: Option<&[f32]>,
    dst: &mut [f32],
    k: usize,
    n: usize,
    act: Epi,
) {
    let m = dst.len() / n;
    #[cfg(target_arch = "x86_64")]
    if wide() {
        assert!(x.len() >= m * k && w.len() >= k * n && b.len() >= n);
        assert!(res.is_none_or(|r| r.len() == dst.len()));
        assert!(tail.len() == (n % 8) * k);
        let p = x86::Gemm {
            x: x.as_ptr(),
            w: w.as_ptr(),
            tail: tail.as_ptr(),
            b: b.as_ptr(),
            res: res.map(|r| r.as_ptr()),
            dst: dst.as_mut_ptr(),
            k,
            n,
            act,
        };
        let (rows, cols) = tiling(m, k, n, rayon::current_num_threads().max(1));
        let tiles: Vec<_> = (0..m.div_ceil(rows))
            .flat_map(|a| {
                (0..n.div_ceil(cols)).map(move |c| {
                    (
                        (a * rows, ((a + 1) * rows).min(m)),
                        (c * cols, ((c + 1) * cols).min(n)),
                    )
                })
            })
            .collect();
        // SAFETY: AVX2 and FMA, and AVX-512F where used, are available (checked); the asserts
        // bound the buffers and the tiles are disjoint.
        tiles.par_iter().for_each(|&(r, c)| unsafe {
            if wide512() {
                x86_512::pointwise(&p, r, c)
            } else {
                x86::pointwise(&p, r, c)
            }
        });
        return;
    }
    let rows = band(m, k * n, 1 << 16);
    dst.par_chunks_mut(rows * n).enumerate().for_each(|(i, d)| {
        let r = d.len() / n;
        let off = i * rows * n;
        let res = res.map(|res| &res[off..off + d.len()]);
        product_serial(
            &x[i * rows * k..(i * rows + r) * k],
            (w, tail),
            b,
            res,
            d,
            k,
            n,
            act,
        );
    });
}

/// Rows and columns per task of an (m, k) by (k, n) product on `threads`: the split that reads
/// least, the weights once per band of rows and the input once per band of columns, among those
/// giving enough tasks (four per thread, none under 2^16 multiply-adds). Rows go in multiples of
/// the kernels' 8-row tile: the detector's 7x7 maps had gone in bands of 7 rows, run as tiles of
/// 4, 1, 1 and 1, each a pass over a megabyte of weights.
fn tiling(m: usize, k: usize, n: usize, threads: usize) -> (usize, usize) {
    let tasks = (4 * threads).min((m * k * n) >> 16).max(1);
    let (max_rows, max_cols) = (m.div_ceil(8), (n / 16).max(1));
    let mut best = (usize::MAX, 1, 1);
    for r in 1..=max_rows {
        let c = tasks.div_ceil(r).min(max_cols);
        if r * c < tasks && r < max_rows {
            continue;
        }
        let cost = r * n + c * m;
        if cost < best.0 {
            best = (cost, r, c);
        }
        if r * c >= tasks && c == 1 {
            break;
        }
    }
    let (_, r, c) = best;
    let rows = m.div_ceil(r).div_ceil(8) * 8;
    (rows.min(m).max(1), n.div_ceil(c).div_ceil(16) * 16)
}

/// [`product`] on the calling thread.
#[allow(clippy::too_many_arguments)]
fn product_serial(
    x: &[f32],
    (w, tail): (&[f32], &[f32]),
    b: &[f32],
    res: Option<&[f32]>,
    dst: &mut [f32],
    k: usize,
    n: usize,
    act: Epi,
) {
    let m = dst.len() / n;
    assert!(x.len() >= m * k && w.len() >= k * n && b.len() >= n);
    assert!(res.is_none_or(|r| r.len() == dst.len()));
    #[cfg(target_arch = "x86_64")]
    if wide() {
        assert!(tail.len() == (n % 8) * k);
        let p = x86::Gemm {
            x: x.as_ptr(),
            w: w.as_ptr(),
            tail: tail.as_ptr(),
            b: b.as_ptr(),
            res: res.map(|r| r.as_ptr()),
            dst: dst.as_mut_ptr(),
            k,
            n,
            act,
        };
        // SAFETY: AVX2 and FMA, and AVX-512F where used, are available (checked); the asserts
        // bound the buffers.
        return unsafe {
            if wide512() {
                x86_512::pointwise(&p, (0, m), (0, n))
            } else {
                x86::pointwise(&p, (0, m), (0, n))
            }
        };
    }
    // SAFETY: the assert bounds every access: dst (i, j) at i * n + j, x (i, l) at i * k + l,
    // w (l, j) at l * n + j, for i < m, j < n, l < k.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    epilogue(dst, b, res, act);
}

/// Whether this CPU runs the AVX2 and FMA builds of the kernels below.
fn wide() -> bool {
    crate::simd::avx2_fma()
}

/// Whether this CPU runs the AVX-512 builds of the kernels (on top of [`wide`]).
fn wide512() -> bool {
    crate::simd::avx512()
}

/// Bias (per channel, the last dimension; empty for none), residual, activation: one pass.
fn epilogue(dst: &mut [f32], b: &[f32], res: Option<&[f32]>, act: Epi) {
    if b.is_empty() && res.is_none() && act == Epi::None {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if wide() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        return unsafe { epilogue_avx2(dst, b, res, act) };
    }
    epilogue_body(dst, b, res, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn epilogue_avx2(dst: &mut [f32], b: &[f32], res: Option<&[f32]>, act: Epi) {
    epilogue_body(dst, b, res, act)
}

#[inline(always)]
fn epilogue_body(dst: &mut [f32], b: &[f32], res: Option<&[f32]>, act: Epi) {
    // One monomorphic loop per case, so each vectorises.
    macro_rules! pass {
        ($act:expr) => {{
            let f = $act;
            match (b.is_empty(), res) {
                (true, None) => dst.iter_mut().for_each(|v| *v = f(*v)),
                (true, Some(r)) => dst.iter_mut().zip(r).for_each(|(v, r)| *v = f(*v + r)),
                (false, None) => {
                    for row in dst.chunks_exact_mut(b.len()) {
                        row.iter_mut().zip(b).for_each(|(v, b)| *v = f(*v + b));
                    }
                }
                (false, Some(r)) => {
                    for (row, rr) in dst.chunks_exact_mut(b.len()).zip(r.chunks_exact(b.len())) {
                        for ((v, b), r) in row.iter_mut().zip(b).zip(rr) {
                            *v = f(*v + b + r);
                        }
                    }
                }
            }
        }};
    }
    match act {
        Epi::None => pass!(|v: f32| v),
        Epi::Relu => pass!(|v: f32| v.max(0.0)),
        Epi::Relu6 => pass!(|v: f32| v.clamp(0.0, 6.0)),
        Epi::HardSwish => pass!(|v: f32| v * (v + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)),
        Epi::Logistic => pass!(|v: f32| Epi::Logistic.apply(v)),
    }
}

/// Rows `y0..y0 + r` of the output as patches: (r * ow, kh * kw * c), tap-major then channel,
/// zero outside the map.
fn im2col(x: &[f32], g: &Window, y0: usize, r: usize, cols: &mut [f32]) {
    let c = g.c;
    let kk = g.kh * g.kw * c;
    cols.fill(0.0);
    for oy in y0..y0 + r {
        for i in 0..g.kh {
            let Some(iy) = g.row(oy, i) else { continue };
            for j in 0..g.kw {
                let (lo, hi, base) = g.cols(j);
                for (n, ox) in (lo..hi).enumerate() {
                    let ix = base + n * g.sw;
                    let at = ((oy - y0) * g.ow + ox) * kk + (i * g.kw + j) * c;
                    let from = (iy * g.w + ix) * c;
                    // A plain loop: few channels make a memcpy call per pixel costly.
                    for (d, &v) in cols[at..at + c].iter_mut().zip(&x[from..from + c]) {
                        *d = v;
                    }
                }
            }
        }
    }
}

/// Output rows from `y0` of a convolution with fewer than 8 outputs (the landmark model's
/// segmentation head ends in a 3x3 convolution to one channel): per output pixel and channel,
/// lane-wise partial sums over the taps, reduced once. As a product each pixel's patch fed a
/// kernel built for 8 columns or more with one, a third of the landmark model's time.
/// `wt` is the weight transposed, (n, kh * kw * c).
#[allow(clippy::too_many_arguments)]
fn conv_narrow(
    x: &[f32],
    wt: &[f32],
    b: &[f32],
    g: &Window,
    n: usize,
    y0: usize,
    dst: &mut [f32],
    res: Option<&[f32]>,
    act: Epi,
) {
    #[cfg(target_arch = "x86_64")]
    if wide() {
        // SAFETY: the CPU has AVX2 and FMA (checked); the body is safe code.
        unsafe { conv_narrow_avx2(x, wt, g, n, y0, dst) };
        return epilogue(dst, b, res, act);
    }
    conv_narrow_body(x, wt, g, n, y0, dst);
    epilogue(dst, b, res, act)
}

/// [`conv_narrow_body`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn conv_narrow_avx2(
    x: &[f32],
    wt: &[f32],
    g: &Window,
    n: usize,
    y0: usize,
    dst: &mut [f32],
) {
    conv_narrow_body(x, wt, g, n, y0, dst)
}

/// Per output row: for each tap, a run of output pixels against one weight vector (as the
/// depthwise kernels go), eight channels' partial sums per pixel, reduced at the row's end.
#[inline(always)]
fn conv_narrow_body(x: &[f32], wt: &[f32], g: &Window, n: usize, y0: usize, dst: &mut [f32]) {
    let c = g.c;
    let kk = g.kh * g.kw * c;
    let (full, rest) = (c / 8 * 8, c % 8);
    let mut part = vec![[0f32; 8]; g.ow * n];
    for (r, row) in dst.chunks_exact_mut(g.ow * n).enumerate() {
        let oy = y0 + r;
        part.fill([0.0; 8]);
        for i in 0..g.kh {
            let Some(iy) = g.row(oy, i) else { continue };
            let src = &x[iy * g.w * c..(iy + 1) * g.w * c];
            for j in 0..g.kw {
                let (lo, hi, base) = g.cols(j);
                for o in 0..n {
                    let wk = &wt[o * kk + (i * g.kw + j) * c..][..c];
                    for q in (0..full).step_by(8) {
                        let k: &[f32; 8] = wk[q..q + 8].try_into().expect("eight");
                        for (m, ox) in (lo..hi).enumerate() {
                            let at = (base + m * g.sw) * c + q;
                            let v: &[f32; 8] = src[at..at + 8].try_into().expect("eight");
                            let p = &mut part[ox * n + o];
                            for l in 0..8 {
                                p[l] += v[l] * k[l];
                            }
                        }
                    }
                    for l in 0..rest {
                        let k = wk[full + l];
                        for (m, ox) in (lo..hi).enumerate() {
                            part[ox * n + o][l] += src[(base + m * g.sw) * c + full + l] * k;
                        }
                    }
                }
            }
        }
        for (d, p) in row.iter_mut().zip(&part) {
            *d = p.iter().sum();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn depthwise(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    g: &Window,
    y0: usize,
    dst: &mut [f32],
    res: Option<&[f32]>,
    act: Epi,
) {
    #[cfg(target_arch = "x86_64")]
    if wide512() && g.c.is_multiple_of(16) {
        // SAFETY: the CPU has AVX-512F, AVX2 and FMA (checked); the kernel asserts the sizes.
        return unsafe { x86_512::depthwise(x, w, b, g, y0, dst, res, act) };
    }
    #[cfg(target_arch = "x86_64")]
    if wide() && g.c.is_multiple_of(8) {
        // SAFETY: the CPU has AVX2 and FMA (checked); the kernel asserts the sizes.
        return unsafe { x86::depthwise(x, w, b, g, y0, dst, res, act) };
    }
    depthwise_body(x, w, b, g, y0, dst);
    epilogue(dst, &[], res, act)
}

/// Output rows from `y0` (as many as `dst` holds): bias, then each tap over whole rows of
/// channels (the portable kernel). The activation and residual follow in the epilogue while the
/// rows are in cache.
fn depthwise_body(x: &[f32], w: &[f32], b: &[f32], g: &Window, y0: usize, dst: &mut [f32]) {
    let c = g.c;
    let row_len = g.ow * c;
    for (r, row) in dst.chunks_exact_mut(row_len).enumerate() {
        let oy = y0 + r;
        for px in row.chunks_exact_mut(c) {
            px.copy_from_slice(b);
        }
        for i in 0..g.kh {
            let Some(iy) = g.row(oy, i) else { continue };
            let src_row = &x[iy * g.w * c..(iy + 1) * g.w * c];
            for j in 0..g.kw {
                let k = &w[(i * g.kw + j) * c..(i * g.kw + j + 1) * c];
                let (lo, hi, base) = g.cols(j);
                for (n, ox) in (lo..hi).enumerate() {
                    let ix = base + n * g.sw;
                    let d = &mut row[ox * c..(ox + 1) * c];
                    let s = &src_row[ix * c..(ix + 1) * c];
                    for ((d, &s), &k) in d.iter_mut().zip(s).zip(k) {
                        *d += s * k;
                    }
                }
            }
        }
    }
}

/// Transposed convolution as a gather: each output pixel sums the input pixels whose tap lands
/// on it. `g` holds the input (h, w, c), the output (oh, ow), kernel, stride and the padding
/// cropped from the full result's top left.
#[allow(clippy::too_many_arguments)]
fn transpose_conv(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    g: &Window,
    n: usize,
    res: Option<&[f32]>,
    act: Epi,
    out: &mut [f32],
) {
    let c = g.c;
    // The taps (kernel index, input index) landing on output index `o` along one axis: found
    // once per row and per column rather than tested for every pixel.
    let taps = |o: usize, k: usize, s: usize, pad: usize, len: usize| -> Vec<(usize, usize)> {
        let p = o + pad;
        (0..k)
            .filter(|&t| p >= t && (p - t).is_multiple_of(s) && (p - t) / s < len)
            .map(|t| (t, (p - t) / s))
            .collect()
    };
    let columns: Vec<_> = (0..g.ow)
        .map(|ox| taps(ox, g.kw, g.sw, g.left, g.w))
        .collect();
    out.par_chunks_mut(g.ow * n)
        .enumerate()
        .for_each(|(oy, row)| {
            let rows = taps(oy, g.kh, g.sh, g.top, g.h);
            for (d, cols) in row.chunks_exact_mut(n).zip(&columns) {
                d.copy_from_slice(b);
                for &(i, iy) in &rows {
                    for &(j, ix) in cols {
                        let s = &x[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                        for (o, v) in d.iter_mut().enumerate() {
                            *v += dot(s, &w[((o * g.kh + i) * g.kw + j) * c..][..c]);
                        }
                    }
                }
            }
            let res = res.map(|r| &r[oy * g.ow * n..(oy + 1) * g.ow * n]);
            epilogue(row, &[], res, act);
        });
}

/// The dot product of two equally long slices, in eight partial sums (a single running sum
/// is a chain of dependent additions the compiler may not reorder).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ac, ar) = a.as_chunks::<8>();
    let (bc, br) = b.as_chunks::<8>();
    let mut part = [0f32; 8];
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..8 {
            part[l] += x[l] * y[l];
        }
    }
    let rest: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    part.iter().sum::<f32>() + rest
}

/// Row-major strides of a rank-4 shape, 0 along broadcast dimensions of size 1.
fn bstrides(s: [usize; 4], out: [usize; 4]) -> [usize; 4] {
    let mut st = [0; 4];
    let mut acc = 1;
    for d in (0..4).rev() {
        st[d] = if s[d] == 1 && out[d] != 1 { 0 } else { acc };
        acc *= s[d];
    }
    st
}

fn binary(
    a: &[f32],
    b: &[f32],
    sa: [usize; 4],
    sb: [usize; 4],
    so: [usize; 4],
    mul: bool,
    out: &mut [f32],
) {
    let f = |x: f32, y: f32| if mul { x * y } else { x + y };
    if sa == so && sb == so {
        out.par_chunks_mut(1 << 14)
            .zip(a.par_chunks(1 << 14).zip(b.par_chunks(1 << 14)))
            .for_each(|(d, (a, b))| {
                for ((d, &x), &y) in d.iter_mut().zip(a).zip(b) {
                    *d = f(x, y);
                }
            });
        return;
    }
    let (ta, tb) = (bstrides(sa, so), bstrides(sb, so));
    let inner = so[3];
    out.par_chunks_mut(inner)
        .with_min_len(64)
        .enumerate()
        .for_each(|(row, d)| {
            let (i0, rest) = (row / (so[1] * so[2]), row % (so[1] * so[2]));
            let (i1, i2) = (rest / so[2], rest % so[2]);
            let ao = i0 * ta[0] + i1 * ta[1] + i2 * ta[2];
            let bo = i0 * tb[0] + i1 * tb[1] + i2 * tb[2];
            for (k, d) in d.iter_mut().enumerate() {
                *d = f(a[ao + k * ta[3]], b[bo + k * tb[3]]);
            }
        });
}

fn pad(x: &[f32], s: [usize; 4], before: [usize; 4], so: [usize; 4], out: &mut [f32]) {
    out.fill(0.0);
    // Without channel padding a whole row of pixels is one run.
    let (run, per_row) = if before[3] == 0 && s[3] == so[3] {
        (s[2] * s[3], 1)
    } else {
        (s[3], s[2])
    };
    for i0 in 0..s[0] {
        for i1 in 0..s[1] {
            for i2 in 0..per_row {
                let from = ((i0 * s[1] + i1) * s[2] + i2) * s[3];
                let to = (((i0 + before[0]) * so[1] + i1 + before[1]) * so[2] + i2 + before[2])
                    * so[3]
                    + before[3];
                out[to..to + run].copy_from_slice(&x[from..from + run]);
            }
        }
    }
}

/// Valid (unpadded) average or max pooling.
fn pool(x: &[f32], g: &Window, out: &mut [f32], max: bool) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let d = &mut out[(oy * g.ow + ox) * c..(oy * g.ow + ox + 1) * c];
            d.fill(if max { f32::MIN } else { 0.0 });
            for i in 0..g.kh {
                let iy = oy * g.sh + i;
                for j in 0..g.kw {
                    let ix = ox * g.sw + j;
                    let s = &x[(iy * g.w + ix) * c..(iy * g.w + ix + 1) * c];
                    for (d, &s) in d.iter_mut().zip(s) {
                        *d = if max { d.max(s) } else { *d + s };
                    }
                }
            }
            if !max {
                let inv = 1.0 / (g.kh * g.kw) as f32;
                d.iter_mut().for_each(|v| *v *= inv);
            }
        }
    }
}

fn resize(x: &[f32], _h: usize, w: usize, c: usize, rows: &Axis, cols: &Axis, out: &mut [f32]) {
    let (y0, y1, ty) = rows;
    let (x0, x1, tx) = cols;
    let ow = x0.len();
    out.par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(oy, row)| {
            let top = &x[y0[oy] as usize * w * c..(y0[oy] as usize + 1) * w * c];
            let bottom = &x[y1[oy] as usize * w * c..(y1[oy] as usize + 1) * w * c];
            let t = ty[oy];
            for (ox, d) in row.chunks_exact_mut(c).enumerate() {
                let (a, b, u) = (x0[ox] as usize * c, x1[ox] as usize * c, tx[ox]);
                let (ta, tb) = (&top[a..a + c], &top[b..b + c]);
                let (ba, bb) = (&bottom[a..a + c], &bottom[b..b + c]);
                #[allow(clippy::needless_range_loop)] // five slices, one index
                for k in 0..c {
                    let upper = ta[k] + (tb[k] - ta[k]) * u;
                    let lower = ba[k] + (bb[k] - ba[k]) * u;
                    d[k] = upper + (lower - upper) * t;
                }
            }
        });
}

/// The last `n % 8` columns of a (k, n) weight, transposed (the product kernels' tail).
pub(super) fn tail_columns(w: &[f32], k: usize, n: usize) -> Vec<f32> {
    (n - n % 8..n)
        .flat_map(|j| (0..k).map(move |l| w[l * n + j]))
        .collect()
}

/// A TFLite bilinear resize's axis tables, for a plan.
pub(super) fn axis(input: usize, output: usize, align: bool, half: bool) -> Axis {
    resize_axis(input, output, align, half)
}

/// One SIMD width's kernels, written once for AVX2 (8 lanes) and AVX-512 (16 lanes): `$v` is
/// the vector type, `$lanes` its width, `$rows` the tile height its register file allows, and
/// the rest the intrinsics by role. The two builds run the same operations in the same order.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_kernels {
    (
        features: $feat:literal,
        vector: $v:ty,
        lanes: $lanes:literal,
        rows: $rows:literal,
        zero: $zero:ident,
        splat: $splat:ident,
        load: $load:ident,
        store: $storeu:ident,
        fmadd: $fmadd:ident,
        add: $add:ident,
        mul: $mul:ident,
        max: $max:ident,
        min: $min:ident $(,)?
    ) => {
        /// Stores `a` after the activation.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn store(p: *mut f32, a: $v, act: Epi) {
            let zero = $zero();
            let six = $splat(6.0);
            let v = match act {
                Epi::None => a,
                Epi::Relu => $max(a, zero),
                Epi::Relu6 => $min($max(a, zero), six),
                Epi::HardSwish => {
                    let t = $min($max($add(a, $splat(3.0)), zero), six);
                    $mul($mul(a, t), $splat(1.0 / 6.0))
                }
                Epi::Logistic => {
                    $storeu(p, a);
                    for q in 0..$lanes {
                        *p.add(q) = Epi::Logistic.apply(*p.add(q));
                    }
                    return;
                }
            };
            $storeu(p, v);
        }

        /// Depthwise convolution of output rows `y0..` (as many as `dst` holds), channels a
        /// multiple of the lane count: per output pixel, all taps accumulate in registers, four
        /// vectors of channels at a time.
        ///
        /// # Safety
        /// The CPU has the features this build is for; the slices hold the sizes `g` gives
        /// (asserted).
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn depthwise(
            x: &[f32],
            w: &[f32],
            b: &[f32],
            g: &Window,
            y0: usize,
            dst: &mut [f32],
            res: Option<&[f32]>,
            act: Epi,
        ) {
            let c = g.c;
            let row_len = g.ow * c;
            let rows = dst.len() / row_len;
            assert!(c.is_multiple_of($lanes) && dst.len() == rows * row_len && y0 + rows <= g.oh);
            assert!(x.len() >= g.h * g.w * c && w.len() >= g.kh * g.kw * c && b.len() >= c);
            assert!(res.is_none_or(|r| r.len() == dst.len()));
            let (xp, wp, bp, dp) = (x.as_ptr(), w.as_ptr(), b.as_ptr(), dst.as_mut_ptr());
            let rp = res.map(|r| r.as_ptr());
            for r in 0..rows {
                let oy = y0 + r;
                // Taps i0..i1 land inside the map.
                let top = oy * g.sh;
                let i0 = g.top.saturating_sub(top);
                let i1 = (g.h + g.top).saturating_sub(top).min(g.kh);
                for ox in 0..g.ow {
                    let left = ox * g.sw;
                    let j0 = g.left.saturating_sub(left);
                    let j1 = (g.w + g.left).saturating_sub(left).min(g.kw);
                    let at = r * row_len + ox * c;
                    let mut cb = 0;
                    while cb + 4 * $lanes <= c {
                        let mut acc = [
                            $load(bp.add(cb)),
                            $load(bp.add(cb + $lanes)),
                            $load(bp.add(cb + 2 * $lanes)),
                            $load(bp.add(cb + 3 * $lanes)),
                        ];
                        for i in i0..i1 {
                            let iy = top + i - g.top;
                            for j in j0..j1 {
                                let ix = left + j - g.left;
                                let s = xp.add((iy * g.w + ix) * c + cb);
                                let k = wp.add((i * g.kw + j) * c + cb);
                                for (q, a) in acc.iter_mut().enumerate() {
                                    *a = $fmadd(
                                        $load(s.add($lanes * q)),
                                        $load(k.add($lanes * q)),
                                        *a,
                                    );
                                }
                            }
                        }
                        for (q, a) in acc.iter().enumerate() {
                            let mut v = *a;
                            if let Some(rp) = rp {
                                v = $add(v, $load(rp.add(at + cb + $lanes * q)));
                            }
                            store(dp.add(at + cb + $lanes * q), v, act);
                        }
                        cb += 4 * $lanes;
                    }
                }
                // The channels left over, one vector at a time: four output pixels together
                // where their taps all land inside the row, so that four sums are in flight
                // (one pixel's 9 to 25 dependent multiply-adds had left the units waiting).
                let mut cb = c / (4 * $lanes) * (4 * $lanes);
                while cb < c {
                    let bias = $load(bp.add(cb));
                    let mut ox = 0;
                    while ox < g.ow {
                        let left = ox * g.sw;
                        if ox + 4 <= g.ow
                            && left >= g.left
                            && left + 3 * g.sw + g.kw <= g.w + g.left
                        {
                            let mut acc = [bias; 4];
                            for i in i0..i1 {
                                let iy = top + i - g.top;
                                for j in 0..g.kw {
                                    let k = $load(wp.add((i * g.kw + j) * c + cb));
                                    let ix = left + j - g.left;
                                    for (q, a) in acc.iter_mut().enumerate() {
                                        let s = xp.add((iy * g.w + ix + q * g.sw) * c + cb);
                                        *a = $fmadd($load(s), k, *a);
                                    }
                                }
                            }
                            for (q, a) in acc.iter().enumerate() {
                                let at = r * row_len + (ox + q) * c + cb;
                                let mut v = *a;
                                if let Some(rp) = rp {
                                    v = $add(v, $load(rp.add(at)));
                                }
                                store(dp.add(at), v, act);
                            }
                            ox += 4;
                            continue;
                        }
                        let j0 = g.left.saturating_sub(left);
                        let j1 = (g.w + g.left).saturating_sub(left).min(g.kw);
                        let at = r * row_len + ox * c;
                        let mut a = bias;
                        for i in i0..i1 {
                            let iy = top + i - g.top;
                            for j in j0..j1 {
                                let ix = left + j - g.left;
                                a = $fmadd(
                                    $load(xp.add((iy * g.w + ix) * c + cb)),
                                    $load(wp.add((i * g.kw + j) * c + cb)),
                                    a,
                                );
                            }
                        }
                        if let Some(rp) = rp {
                            a = $add(a, $load(rp.add(at + cb)));
                        }
                        store(dp.add(at + cb), a, act);
                        ox += 1;
                    }
                    cb += $lanes;
                }
            }
        }

        /// MR rows by `$lanes` * NV columns from (i, j): the k products accumulate in
        /// registers.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn tile<const MR: usize, const NV: usize>(p: &Gemm, i: usize, j: usize) {
            let mut acc = [[$zero(); NV]; MR];
            for l in 0..p.k {
                let wr = p.w.add(l * p.n + j);
                let mut wv = [$zero(); NV];
                for (v, w) in wv.iter_mut().enumerate() {
                    *w = $load(wr.add($lanes * v));
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let xv = $splat(*p.x.add((i + r) * p.k + l));
                    for (a, w) in row.iter_mut().zip(&wv) {
                        *a = $fmadd(xv, *w, *a);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (v, a) in row.iter().enumerate() {
                    let at = (i + r) * p.n + j + $lanes * v;
                    let mut s = $add(*a, $load(p.b.add(j + $lanes * v)));
                    if let Some(res) = p.res {
                        s = $add(s, $load(res.add(at)));
                    }
                    store(p.dst.add(at), s, p.act);
                }
            }
        }

        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn columns<const NV: usize>(p: &Gemm, rows: (usize, usize), j: usize) {
            let mut i = rows.0;
            while i + $rows <= rows.1 {
                tile::<$rows, NV>(p, i, j);
                i += $rows;
            }
            while i + 4 <= rows.1 {
                tile::<4, NV>(p, i, j);
                i += 4;
            }
            while i < rows.1 {
                tile::<1, NV>(p, i, j);
                i += 1;
            }
        }

        /// The product's columns `cols` that fill whole vectors; returns the first column left.
        #[target_feature(enable = $feat)]
        unsafe fn full_columns(p: &Gemm, rows: (usize, usize), cols: (usize, usize)) -> usize {
            let mut j = cols.0;
            while j + 2 * $lanes <= cols.1 {
                columns::<2>(p, rows, j);
                j += 2 * $lanes;
            }
            while j + $lanes <= cols.1 {
                columns::<1>(p, rows, j);
                j += $lanes;
            }
            j
        }
    };
}

/// Hand-written AVX2 and FMA kernels (8 lanes): the depthwise and pointwise convolutions with
/// their bias, residual and activation applied in registers before the one store.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Epi, Window};

    simd_kernels! {
        features: "avx2,fma",
        vector: __m256,
        lanes: 8,
        rows: 4,
        zero: _mm256_setzero_ps,
        splat: _mm256_set1_ps,
        load: _mm256_loadu_ps,
        store: _mm256_storeu_ps,
        fmadd: _mm256_fmadd_ps,
        add: _mm256_add_ps,
        mul: _mm256_mul_ps,
        max: _mm256_max_ps,
        min: _mm256_min_ps,
    }

    /// Raw operands of a pointwise product: x (m, k), w (k, n), bias (n), residual and dst
    /// (m, n), all row-major.
    #[derive(Clone, Copy)]
    pub struct Gemm {
        pub x: *const f32,
        pub w: *const f32,
        /// The last n % 8 columns of w, transposed: (n % 8, k).
        pub tail: *const f32,
        pub b: *const f32,
        pub res: Option<*const f32>,
        pub dst: *mut f32,
        pub k: usize,
        pub n: usize,
        pub act: Epi,
    }

    // SAFETY: the pointers are only dereferenced inside disjoint (row, column) tiles of dst, and
    // the inputs are read-only for the product's duration.
    unsafe impl Send for Gemm {}
    unsafe impl Sync for Gemm {}

    /// The dot product of two runs of `k` values.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn dot(a: *const f32, b: *const f32, k: usize) -> f32 {
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut l = 0;
        while l + 16 <= k {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(l)), _mm256_loadu_ps(b.add(l)), s0);
            s1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(l + 8)),
                _mm256_loadu_ps(b.add(l + 8)),
                s1,
            );
            l += 16;
        }
        while l + 8 <= k {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(l)), _mm256_loadu_ps(b.add(l)), s0);
            l += 8;
        }
        let v = _mm256_add_ps(s0, s1);
        let q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let mut s = _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
        while l < k {
            s = (*a.add(l)).mul_add(*b.add(l), s);
            l += 1;
        }
        s
    }

    /// dst[rows][cols] of the product, with bias, residual and activation.
    ///
    /// # Safety
    /// AVX2 and FMA are available; `p` points at buffers of the sizes it states, `rows` and
    /// `cols` lie inside them, and no other thread writes this tile.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn pointwise(p: &Gemm, rows: (usize, usize), cols: (usize, usize)) {
        let j = full_columns(p, rows, cols);
        // The last columns one at a time (heads with a few outputs), as dot products.
        let first_tail = p.n - p.n % 8;
        for jj in j..cols.1 {
            let wt = p.tail.add((jj - first_tail) * p.k);
            for i in rows.0..rows.1 {
                let mut s = dot(p.x.add(i * p.k), wt, p.k);
                let at = i * p.n + jj;
                s += *p.b.add(jj);
                if let Some(res) = p.res {
                    s += *res.add(at);
                }
                *p.dst.add(at) = p.act.apply(s);
            }
        }
    }
}

/// The same kernels for AVX-512 (16 lanes, 32 registers: 8-row tiles): used where the CPU has
/// it; column and channel remainders of 8 go to the AVX2 kernels.
#[cfg(target_arch = "x86_64")]
mod x86_512 {
    use std::arch::x86_64::*;

    use super::x86::Gemm;
    use super::{Epi, Window};

    simd_kernels! {
        features: "avx512f,avx2,fma",
        vector: __m512,
        lanes: 16,
        rows: 8,
        zero: _mm512_setzero_ps,
        splat: _mm512_set1_ps,
        load: _mm512_loadu_ps,
        store: _mm512_storeu_ps,
        fmadd: _mm512_fmadd_ps,
        add: _mm512_add_ps,
        mul: _mm512_mul_ps,
        max: _mm512_max_ps,
        min: _mm512_min_ps,
    }

    /// As [`super::x86::pointwise`].
    ///
    /// # Safety
    /// AVX-512F, AVX2 and FMA are available; as [`super::x86::pointwise`].
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn pointwise(p: &Gemm, rows: (usize, usize), cols: (usize, usize)) {
        let j = full_columns(p, rows, cols);
        super::x86::pointwise(p, rows, (j, cols.1));
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Values in [-1, 1) from a fixed sequence.
    pub(in crate::person) fn noise(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104729) % 2003) as f32 / 1001.5 - 1.0)
            .collect()
    }

    /// Every tiling of the product (few rows and many columns as in the detector's 7x7 maps,
    /// many rows and few columns, column tails) writes every output once, as a plain loop
    /// computes it, on any thread count.
    #[test]
    fn products_of_any_shape_match_a_plain_loop() {
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for (m, k, n) in [
                (49, 192, 1152),
                (49, 1152, 192),
                (196, 112, 672),
                (1000, 16, 64),
                (7, 5, 3),
                (1, 8, 40),
                (33, 24, 17),
            ] {
                let (x, w, b, res) = (
                    noise(m * k, 1),
                    noise(k * n, 2),
                    noise(n, 3),
                    noise(m * n, 4),
                );
                let tail = tail_columns(&w, k, n);
                let mut dst = vec![f32::NAN; m * n];
                pool.install(|| {
                    product(&x, (&w, &tail), &b, Some(&res), &mut dst, k, n, Epi::Relu6)
                });
                for i in 0..m {
                    for j in 0..n {
                        let s: f32 = (0..k).map(|l| x[i * k + l] * w[l * n + j]).sum();
                        let want = (s + b[j] + res[i * n + j]).clamp(0.0, 6.0);
                        let got = dst[i * n + j];
                        assert!(
                            (got - want).abs() <= 1e-4 * k as f32,
                            "{m}x{k}x{n} on {threads} threads at ({i}, {j}): {got} != {want}"
                        );
                    }
                }
                let (rows, cols) = tiling(m, k, n, threads);
                assert!(
                    rows == m || rows.is_multiple_of(8),
                    "{m}x{k}x{n}: {rows} rows"
                );
                assert!(cols.is_multiple_of(16), "{m}x{k}x{n}: {cols} columns");
            }
        }
        // The detector's 7x7 maps: whole bands of rows, its megabyte of weights read once.
        assert_eq!(tiling(49, 192, 1152, 2), (49, 144));
    }
}
