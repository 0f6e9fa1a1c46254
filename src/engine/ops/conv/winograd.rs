//! Winograd F(4x4, 3x3) convolution for the wide 3x3 stride-1 layers.
//!
//! Each 4x4 block of output pixels ("tile") comes from a 6x6 window of the padded input. With the
//! input window d, the kernel g and the fixed matrices B, G, A of F(4x4, 3x3) (interpolation
//! points 0, ±1, ±2), the tile is A^T [(G g G^T) ⊙ (B^T d B)] A: the 9 x 16 products per tile
//! and channel pair become 36 element-wise ones. Over all channels, the element-wise products of
//! one of the 36 positions ξ are a matrix product, M[ξ] (C_out x tiles) = U[ξ] (C_out x C_in) x
//! V[ξ] (C_in x tiles), so the bulk of the work runs on the `gemm` crate's kernels with 4x fewer
//! multiplications than the direct convolution.
//!
//! The tiles are processed in blocks of whole tile rows, each block through the input transform
//! (with the pre-activation and the zero padding applied as the rows are read), the 36 products
//! and the output transform (with bias, residual and activation applied as it stores), so the
//! transformed blocks stay small. U is computed from the weights on every call: it is four times
//! the size of the weights, which memory does not allow keeping for every layer, and for the
//! map sizes this path is chosen for it costs a few percent of the call.
//!
//! The transforms are plain loops the compiler vectorises; on x86-64 they are compiled a second
//! time for AVX-512 and chosen at run time.

use rayon::prelude::*;

use super::Activation;
use crate::engine::ops::cpu::OutPtr;

/// Output tile side.
const M: usize = 4;
/// Input tile side (M + 3 - 1).
const A: usize = 6;
/// Positions in a transformed tile.
const XI: usize = A * A;

/// Tiles per block to aim for: enough columns for the gemm kernel's register tiles.
const BLOCK_TILES: usize = 48;

/// B^T d for one column of 6 values (B^T of F(4x4, 3x3)).
#[inline(always)]
fn bt(d: [f32; A]) -> [f32; A] {
    [
        4.0 * d[0] - 5.0 * d[2] + d[4],
        -4.0 * (d[1] + d[2]) + d[3] + d[4],
        4.0 * (d[1] - d[2]) - d[3] + d[4],
        2.0 * (d[3] - d[1]) - d[2] + d[4],
        2.0 * (d[1] - d[3]) - d[2] + d[4],
        4.0 * d[1] - 5.0 * d[3] + d[5],
    ]
}

/// A^T m for one column of 6 values.
#[inline(always)]
fn at(m: [f32; A]) -> [f32; M] {
    let (s12, d12) = (m[1] + m[2], m[1] - m[2]);
    let (s34, d34) = (m[3] + m[4], m[3] - m[4]);
    [
        m[0] + s12 + s34,
        d12 + 2.0 * d34,
        s12 + 4.0 * s34,
        d12 + 8.0 * d34 + m[5],
    ]
}

/// G g for one column of 3 kernel values.
#[inline(always)]
fn g3(g: [f32; 3]) -> [f32; A] {
    const SIXTH: f32 = 1.0 / 6.0;
    const TWELFTH: f32 = 1.0 / 12.0;
    const TWENTY_FOURTH: f32 = 1.0 / 24.0;
    let (s, d) = (g[0] + g[2], g[1]);
    let e = g[0] * TWENTY_FOURTH + g[2] * SIXTH;
    [
        g[0] * 0.25,
        -(s + d) * SIXTH,
        (d - s) * SIXTH,
        e + d * TWELFTH,
        e - d * TWELFTH,
        g[2],
    ]
}

/// Whether the AVX-512 copies of the transforms run.
#[cfg(target_arch = "x86_64")]
fn simd() -> bool {
    crate::simd::avx512()
}

/// Defines `$name(args)` that runs `$body` (an `#[inline(always)]` function), compiled for
/// AVX-512 where the CPU has it.
macro_rules! dispatch {
    ($name:ident, $avx:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        #[allow(clippy::too_many_arguments)]
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if simd() {
                // SAFETY: the CPU has AVX-512F (checked by `simd`).
                unsafe { $avx($($arg),*) };
                return;
            }
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $avx($($arg: $ty),*) {
            $body($($arg),*)
        }
    };
}

/// One image's convolution (3x3, stride 1, padding 1), all slices row-major.
pub(super) struct Winograd<'a> {
    /// (C_out, C_in, 3, 3).
    pub weight: &'a [f32],
    pub bias: Option<&'a [f32]>,
    /// (C_out, H, W), added before the activation.
    pub residual: Option<&'a [f32]>,
    pub pre: Option<(&'a [f32], &'a [f32])>,
    pub activation: Activation,
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
}

/// Tile counts and the blocking of one call.
#[derive(Clone, Copy)]
struct Tiling {
    tiles_x: usize,
    tiles_y: usize,
    /// Length of a phase row: padded column c of an input row is at (c % M) * q + c / M.
    q: usize,
    /// Tile rows per block.
    block_rows: usize,
}

impl Tiling {
    fn new(h: usize, w: usize) -> Self {
        let (tiles_x, tiles_y) = (w.div_ceil(M), h.div_ceil(M));
        Self {
            tiles_x,
            tiles_y,
            q: tiles_x + 1,
            block_rows: BLOCK_TILES.div_ceil(tiles_x).clamp(1, tiles_y),
        }
    }

    fn blocks(&self) -> usize {
        self.tiles_y.div_ceil(self.block_rows)
    }

    /// Tile rows [first, last) of block `b`.
    fn rows(&self, b: usize) -> (usize, usize) {
        let first = b * self.block_rows;
        (first, (first + self.block_rows).min(self.tiles_y))
    }

    /// Tiles per full block: the stride of the transformed blocks.
    fn block_tiles(&self) -> usize {
        self.block_rows * self.tiles_x
    }
}

impl Winograd<'_> {
    /// Writes the output (C_out, H, W) to `out`.
    pub fn run(&self, x: &[f32], out: &mut [f32]) {
        let (cin, cout) = (self.cin, self.cout);
        assert_eq!(x.len(), cin * self.h * self.w);
        assert_eq!(out.len(), cout * self.h * self.w);
        assert_eq!(self.weight.len(), cout * cin * 9);
        assert!(self.bias.is_none_or(|b| b.len() == cout));
        assert!(self.residual.is_none_or(|r| r.len() == out.len()));
        if let Some((scale, shift)) = self.pre {
            assert!(scale.len() == cin && shift.len() == cin);
        }
        let u = self.transform_weights();
        let tiling = Tiling::new(self.h, self.w);
        let nt = tiling.block_tiles();
        let scratch = || (vec![0f32; XI * cin * nt], vec![0f32; XI * cout * nt]);
        let out = OutPtr(out.as_mut_ptr());
        let blocks = tiling.blocks();
        if blocks >= 4 * rayon::current_num_threads() {
            // Many blocks: one per task, each on one thread start to end.
            (0..blocks)
                .into_par_iter()
                .for_each_init(scratch, |(v, m), b| {
                    self.block(x, &u, tiling, b, v, m, out, false);
                });
        } else {
            // Few blocks: the steps inside a block share the threads.
            let (mut v, mut m) = scratch();
            for b in 0..blocks {
                self.block(x, &u, tiling, b, &mut v, &mut m, out, true);
            }
        }
    }

    /// U[ξ] (C_out x C_in) for every ξ: G g G^T of every kernel.
    fn transform_weights(&self) -> Vec<f32> {
        let (cin, cout) = (self.cin, self.cout);
        let mut u = vec![0f32; XI * cout * cin];
        let u_ptr = OutPtr(u.as_mut_ptr());
        let weight = self.weight;
        (0..cout).into_par_iter().for_each(|co| {
            // SAFETY: task co writes the elements (ξ, co, ci) for all ξ and ci only; `u` holds
            // XI * cout * cin floats.
            let rows: [&mut [f32]; XI] = std::array::from_fn(|xi| unsafe {
                std::slice::from_raw_parts_mut(u_ptr.add((xi * cout + co) * cin), cin)
            });
            weights_row(&weight[co * cin * 9..(co + 1) * cin * 9], rows);
        });
        u
    }

    /// One block of tile rows: input transform, the 36 products, output transform.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        x: &[f32],
        u: &[f32],
        tiling: Tiling,
        b: usize,
        v: &mut [f32],
        m: &mut [f32],
        out: OutPtr,
        parallel: bool,
    ) {
        let (cin, cout, plane) = (self.cin, self.cout, self.h * self.w);
        let nt = tiling.block_tiles();
        let (first, last) = tiling.rows(b);
        let tiles = (last - first) * tiling.tiles_x;
        let v_ptr = OutPtr(v.as_mut_ptr());
        let m_ptr = OutPtr(m.as_mut_ptr());
        let input = |ci: usize| {
            // SAFETY: channel ci writes only the elements (ξ, ci, t) of V.
            let rows: [&mut [f32]; XI] = std::array::from_fn(|xi| unsafe {
                std::slice::from_raw_parts_mut(v_ptr.add((xi * cin + ci) * nt), tiles)
            });
            let pre = self.pre.map(|(s, t)| (s[ci], t[ci]));
            let channel = &x[ci * plane..(ci + 1) * plane];
            input_channel(channel, pre, self.h, self.w, tiling, first, last, rows);
        };
        for_each(cin, parallel, input);

        let product = |xi: usize| {
            // SAFETY: all three matrices lie inside their buffers (sizes above); position xi
            // writes only its own M[ξ].
            unsafe {
                gemm::gemm(
                    cout,
                    tiles,
                    cin,
                    m_ptr.add(xi * cout * nt),
                    1,
                    nt as isize,
                    false,
                    u.as_ptr().add(xi * cout * cin),
                    1,
                    cin as isize,
                    v.as_ptr().add(xi * cin * nt),
                    1,
                    nt as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        };
        for_each(XI, parallel, product);

        let output = |co: usize| {
            let rows: [&[f32]; XI] =
                std::array::from_fn(|xi| &m[(xi * cout + co) * nt..(xi * cout + co) * nt + tiles]);
            let residual = self.residual.map(|r| &r[co * plane..(co + 1) * plane]);
            let epilogue = Epilogue {
                bias: self.bias.map_or(0.0, |b| b[co]),
                residual,
                activation: self.activation,
            };
            // SAFETY: channel co writes only its own output plane, whose tile rows
            // [first, last) no other block writes.
            let dst = unsafe { std::slice::from_raw_parts_mut(out.add(co * plane), plane) };
            output_channel(rows, &epilogue, dst, self.h, self.w, tiling, first, last);
        };
        for_each(cout, parallel, output);
    }
}

/// Runs `f(i)` for i in 0..n, on all threads or this one.
fn for_each(n: usize, parallel: bool, f: impl Fn(usize) + Sync + Send) {
    if parallel {
        (0..n).into_par_iter().for_each(f);
    } else {
        (0..n).for_each(f);
    }
}

dispatch!(weights_row, weights_row_avx512, weights_row_impl, (w: &[f32], u: [&mut [f32]; XI]));

/// G g G^T for the kernels (ci, 3, 3) of one output channel, into u[ξ][ci], 16 kernels at a
/// time so that the transform vectorises across them.
#[inline(always)]
fn weights_row_impl(w: &[f32], mut u: [&mut [f32]; XI]) {
    const L: usize = 16;
    let cin = w.len() / 9;
    let mut ci = 0;
    while ci < cin {
        let n = L.min(cin - ci);
        let mut g = [[0f32; L]; 9];
        for (l, kernel) in w[ci * 9..(ci + n) * 9].chunks_exact(9).enumerate() {
            for (j, &value) in kernel.iter().enumerate() {
                g[j][l] = value;
            }
        }
        let mut t = [[0f32; L]; XI];
        for l in 0..L {
            // Columns first: (G g)[a][kx], then G applied along each row a.
            let cols: [[f32; A]; 3] =
                std::array::from_fn(|kx| g3([g[kx][l], g[3 + kx][l], g[6 + kx][l]]));
            for a in 0..A {
                let row = g3([cols[0][a], cols[1][a], cols[2][a]]);
                for (b, value) in row.into_iter().enumerate() {
                    t[a * A + b][l] = value;
                }
            }
        }
        for (dst, src) in u.iter_mut().zip(&t) {
            dst[ci..ci + n].copy_from_slice(&src[..n]);
        }
        ci += n;
    }
}

dispatch!(
    input_channel,
    input_channel_avx512,
    input_channel_impl,
    (
        x: &[f32],
        pre: Option<(f32, f32)>,
        h: usize,
        w: usize,
        tiling: Tiling,
        first: usize,
        last: usize,
        v: [&mut [f32]; XI]
    )
);

/// B^T d B of the tiles in tile rows [first, last) of one input channel, into v[ξ][tile].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn input_channel_impl(
    x: &[f32],
    pre: Option<(f32, f32)>,
    h: usize,
    w: usize,
    tiling: Tiling,
    first: usize,
    last: usize,
    mut v: [&mut [f32]; XI],
) {
    let (q, tx) = (tiling.q, tiling.tiles_x);
    let width = M * q;
    // One padded input row, then the A rows of a tile row split into M phases each.
    let mut line = vec![0f32; width];
    let mut rows = vec![0f32; A * width];
    let mut columns = vec![0f32; A * width];
    for ty in first..last {
        // The last A - M rows of a tile row are the first of the next.
        let fresh = if ty > first {
            rows.copy_within(M * width.., 0);
            A - M
        } else {
            0
        };
        for j in fresh..A {
            // Padded row M * ty + j is input row M * ty + j - 1.
            let iy = (M * ty + j).checked_sub(1).filter(|&iy| iy < h);
            let dst = &mut rows[j * width..(j + 1) * width];
            let Some(iy) = iy else {
                dst.fill(0.0);
                continue;
            };
            let src = &x[iy * w..(iy + 1) * w];
            let padded = &mut line[1..1 + w];
            match pre {
                Some((s, t)) => {
                    for (d, &v) in padded.iter_mut().zip(src) {
                        *d = (v * s + t).max(0.0);
                    }
                }
                None => padded.copy_from_slice(src),
            }
            let (p0, rest) = dst.split_at_mut(q);
            let (p1, rest) = rest.split_at_mut(q);
            let (p2, p3) = rest.split_at_mut(q);
            for (c, quad) in line.chunks_exact(M).enumerate().take(q) {
                p0[c] = quad[0];
                p1[c] = quad[1];
                p2[c] = quad[2];
                p3[c] = quad[3];
            }
        }
        // Down the columns: B^T applied to the A rows.
        {
            let r: [&[f32]; A] = std::array::from_fn(|j| &rows[j * width..(j + 1) * width]);
            let (c0, rest) = columns.split_at_mut(width);
            let (c1, rest) = rest.split_at_mut(width);
            let (c2, rest) = rest.split_at_mut(width);
            let (c3, rest) = rest.split_at_mut(width);
            let (c4, c5) = rest.split_at_mut(width);
            for i in 0..width {
                let o = bt(std::array::from_fn(|j| r[j][i]));
                c0[i] = o[0];
                c1[i] = o[1];
                c2[i] = o[2];
                c3[i] = o[3];
                c4[i] = o[4];
                c5[i] = o[5];
            }
        }
        // Along the rows: tile t reads padded columns M * t + j, at phase j % M, index t + j / M.
        let t0 = (ty - first) * tx;
        for (i, column) in columns.chunks_exact(width).enumerate() {
            let d: [&[f32]; A] = std::array::from_fn(|j| {
                let start = (j % M) * q + j / M;
                &column[start..start + tx]
            });
            let [o0, o1, o2, o3, o4, o5] = &mut v[i * A..(i + 1) * A] else {
                unreachable!("A = 6 rows per i");
            };
            let (o0, o1, o2) = (
                &mut o0[t0..t0 + tx],
                &mut o1[t0..t0 + tx],
                &mut o2[t0..t0 + tx],
            );
            let (o3, o4, o5) = (
                &mut o3[t0..t0 + tx],
                &mut o4[t0..t0 + tx],
                &mut o5[t0..t0 + tx],
            );
            for t in 0..tx {
                let o = bt(std::array::from_fn(|j| d[j][t]));
                o0[t] = o[0];
                o1[t] = o[1];
                o2[t] = o[2];
                o3[t] = o[3];
                o4[t] = o[4];
                o5[t] = o[5];
            }
        }
    }
}

/// What the output transform applies as it stores.
struct Epilogue<'a> {
    bias: f32,
    /// The channel's residual plane.
    residual: Option<&'a [f32]>,
    activation: Activation,
}

dispatch!(
    output_channel,
    output_channel_avx512,
    output_channel_impl,
    (
        m: [&[f32]; XI],
        epilogue: &Epilogue,
        out: &mut [f32],
        h: usize,
        w: usize,
        tiling: Tiling,
        first: usize,
        last: usize
    )
);

/// A^T m A of the tiles in tile rows [first, last) of one output channel, plus the epilogue,
/// into the channel's output plane.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn output_channel_impl(
    m: [&[f32]; XI],
    epilogue: &Epilogue,
    out: &mut [f32],
    h: usize,
    w: usize,
    tiling: Tiling,
    first: usize,
    last: usize,
) {
    let tx = tiling.tiles_x;
    // Per tile: s[r][k] = (A^T m)[r][k], then row r of the tile is A^T applied to s[r][..].
    let mut s = vec![0f32; M * A * tx];
    let mut line = vec![0f32; M * tx];
    for ty in first..last {
        let t0 = (ty - first) * tx;
        for k in 0..A {
            let col: [&[f32]; A] = std::array::from_fn(|i| &m[i * A + k][t0..t0 + tx]);
            let (s0, rest) = s[k * M * tx..(k + 1) * M * tx].split_at_mut(tx);
            let (s1, rest) = rest.split_at_mut(tx);
            let (s2, s3) = rest.split_at_mut(tx);
            for t in 0..tx {
                let o = at(std::array::from_fn(|i| col[i][t]));
                s0[t] = o[0];
                s1[t] = o[1];
                s2[t] = o[2];
                s3[t] = o[3];
            }
        }
        for r in 0..M {
            let y = M * ty + r;
            if y >= h {
                break;
            }
            let sr: [&[f32]; A] =
                std::array::from_fn(|k| &s[(k * M + r) * tx..(k * M + r + 1) * tx]);
            for (t, px) in line.chunks_exact_mut(M).enumerate() {
                let o = at(std::array::from_fn(|k| sr[k][t]));
                px.copy_from_slice(&o);
            }
            let dst = &mut out[y * w..(y + 1) * w];
            let act = epilogue.activation;
            let b = epilogue.bias;
            match epilogue.residual {
                Some(res) => {
                    let res = &res[y * w..(y + 1) * w];
                    for ((d, &v), &r) in dst.iter_mut().zip(&line[..w]).zip(res) {
                        *d = act.apply(v + b + r);
                    }
                }
                None => {
                    for (d, &v) in dst.iter_mut().zip(&line[..w]) {
                        *d = act.apply(v + b);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_values as values;
    use super::*;

    /// The definition in f64.
    fn reference(conv: &Winograd, x: &[f32]) -> Vec<f32> {
        super::super::ConvSlices {
            weight: conv.weight,
            bias: conv.bias,
            residual: conv.residual,
            pre: conv.pre,
            activation: conv.activation,
            cin: conv.cin,
            cout: conv.cout,
            h: conv.h,
            w: conv.w,
            k: 3,
            stride: 1,
            padding: 1,
        }
        .definition(x)
    }

    #[test]
    fn matches_the_definition() {
        // Sizes that are and are not multiples of the tile, one block and many, with and without
        // pre-activation, bias, residual and activation.
        let cases = [
            (8, 16, 8, 8, Activation::None),
            (5, 7, 13, 11, Activation::Relu),
            (16, 3, 30, 50, Activation::LeakyRelu(0.2)),
            (32, 24, 9, 6, Activation::None),
            (3, 4, 70, 5, Activation::LeakyRelu(0.1)),
        ];
        for (i, &(cin, cout, h, w, activation)) in cases.iter().enumerate() {
            let seed = i as u32 * 10;
            let x = values(cin * h * w, seed);
            let weight = values(cout * cin * 9, seed + 1);
            let bias = values(cout, seed + 2);
            let scale = values(cin, seed + 3);
            let shift = values(cin, seed + 4);
            let residual = values(cout * h * w, seed + 5);
            let extras = i % 2 == 1;
            let conv = Winograd {
                weight: &weight,
                bias: extras.then_some(bias.as_slice()),
                residual: extras.then_some(residual.as_slice()),
                pre: extras.then_some((scale.as_slice(), shift.as_slice())),
                activation,
                cin,
                cout,
                h,
                w,
            };
            let mut out = vec![f32::NAN; cout * h * w];
            conv.run(&x, &mut out);
            let expected = reference(&conv, &x);
            let scale = (cin * 9) as f32;
            for (j, (a, b)) in out.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-6 * scale * (1.0 + b.abs()),
                    "case {i}, element {j}: {a} vs {b}"
                );
            }
        }
    }
}
