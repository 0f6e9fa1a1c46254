//! Direct convolution on AVX-512, for the narrow layers where im2col and a general matrix
//! product waste their time (16-64 channels: the gemm kernel's tiles are mostly empty, and the
//! column matrix costs more memory traffic than the products).
//!
//! The input is laid out once per call as zero-padded planes, split into stride x stride phase
//! planes (for stride 2 the even and odd rows and columns), with the pre-activation applied on
//! the way. In that layout every tap (ci, ky, kx) of every output pixel (y, x) reads the buffer at
//! `offset[ci, ky, kx] + y * row + x`: stride and padding are gone, and 16 neighbouring output
//! pixels read 16 neighbouring floats. A register tile of C output channels x P vectors of 16
//! pixels accumulates all taps, then bias, residual and activation are applied as it is stored.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::Activation;
use crate::engine::ops::cpu::OutPtr;

const LANES: usize = 16;

/// Whether this CPU runs the kernel.
pub(super) fn available() -> bool {
    crate::simd::avx512()
}

/// The convolution the kernel runs.
pub(super) use super::ConvSlices as DirectConv;

/// The phase-split padded input and how taps index it.
struct Prepared {
    data: Vec<f32>,
    /// Buffer offset of each tap, in weight order (ci, ky, kx).
    offsets: Vec<usize>,
    /// Distance between two output rows in the buffer.
    row: usize,
}

impl DirectConv<'_> {
    pub fn output_size(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.padding - self.k) / self.stride + 1,
            (self.w + 2 * self.padding - self.k) / self.stride + 1,
        )
    }

    /// Writes the output (C_out, Ho, Wo) to `out`. Only call when [`available`] said yes.
    pub fn run(&self, x: &[f32], out: &mut [f32]) {
        let (ho, wo) = self.output_size();
        assert!(available());
        assert_eq!(x.len(), self.cin * self.h * self.w);
        assert_eq!(out.len(), self.cout * ho * wo);
        assert_eq!(self.weight.len(), self.cout * self.cin * self.k * self.k);
        assert!(self.bias.is_none_or(|b| b.len() == self.cout));
        assert!(self.residual.is_none_or(|r| r.len() == out.len()));
        let prepared = self.prepare(x, ho, wo);
        let vectors_per_row = wo.div_ceil(LANES);
        let vectors = ho * vectors_per_row;
        // Enough tasks to balance the threads, few enough that each reuses its weights a while.
        let per_task = (vectors / (8 * rayon::current_num_threads().max(1))).clamp(4, 64);
        let tasks = vectors.div_ceil(per_task);
        let out_ptr = OutPtr(out.as_mut_ptr());
        (0..tasks).into_par_iter().for_each(|t| {
            let first = t * per_task;
            let last = (first + per_task).min(vectors);
            // SAFETY: `available` was checked; task t writes only the output pixels of vectors
            // [first, last), which no other task writes; `tile` bounds its reads (see there).
            unsafe { self.task(&prepared, first, last, (ho, wo), out_ptr) };
        });
    }

    /// Pads, phase-splits and pre-activates the input; see the module documentation. The buffer
    /// holds padded row r of every phase and channel together ([r][phase][ci][column]), so the
    /// taps of one output row read a few contiguous pages rather than one page per channel.
    fn prepare(&self, x: &[f32], ho: usize, wo: usize) -> Prepared {
        let s = self.stride;
        let (hp, wp) = (self.h + 2 * self.padding, self.w + 2 * self.padding);
        let (hq, wq) = (hp.div_ceil(s), wp.div_ceil(s));
        let (cin, k) = (self.cin, self.k);
        let row = s * s * cin * wq;
        let mut offsets = Vec::with_capacity(cin * k * k);
        for ci in 0..cin {
            for ky in 0..k {
                for kx in 0..k {
                    let phase = (ky % s) * s + kx % s;
                    offsets.push((ky / s) * row + (phase * cin + ci) * wq + kx / s);
                }
            }
        }
        // The last vector of a row reads up to LANES - 1 floats past the row's end.
        let max_read = offsets.iter().max().copied().unwrap_or(0)
            + (ho - 1) * row
            + wo.div_ceil(LANES) * LANES;
        let mut data = vec![0f32; (hq * row).max(max_read)];
        let (h, w, p) = (self.h, self.w, self.padding);
        let pre = self.pre;
        data[..hq * row]
            .par_chunks_mut(row)
            .enumerate()
            .for_each(|(r, dst)| {
                for py in 0..s {
                    // Padded row s * r + py is input row s * r + py - p, if that exists.
                    let Some(iy) = (s * r + py).checked_sub(p).filter(|&iy| iy < h) else {
                        continue;
                    };
                    for ci in 0..cin {
                        let line = &x[(ci * h + iy) * w..(ci * h + iy + 1) * w];
                        if s == 1 {
                            // The common case, as a straight copy the compiler vectorises.
                            let start = ci * wq + p;
                            let dst = &mut dst[start..start + w];
                            match pre {
                                Some((scale, shift)) => {
                                    let (a, b) = (scale[ci], shift[ci]);
                                    for (d, v) in dst.iter_mut().zip(line) {
                                        *d = (v * a + b).max(0.0);
                                    }
                                }
                                None => dst.copy_from_slice(line),
                            }
                            continue;
                        }
                        let (scale, shift) = pre.map_or((1.0, 0.0), |(s, t)| (s[ci], t[ci]));
                        let apply = |v: f32| {
                            if pre.is_some() {
                                (v * scale + shift).max(0.0)
                            } else {
                                v
                            }
                        };
                        for px in 0..s {
                            // Padded column s * c + px is input column s * c + px - p.
                            let start = ((py * s + px) * cin + ci) * wq;
                            let dst = &mut dst[start..start + wq];
                            let first_c = p.saturating_sub(px).div_ceil(s);
                            for (c, d) in dst.iter_mut().enumerate().skip(first_c) {
                                let ix = s * c + px - p;
                                if ix >= w {
                                    break;
                                }
                                *d = apply(line[ix]);
                            }
                        }
                    }
                }
            });
        Prepared { data, offsets, row }
    }

    /// All output channels of the vectors [first, last) (row-major over (y, x / 16)).
    #[target_feature(enable = "avx512f")]
    unsafe fn task(
        &self,
        prepared: &Prepared,
        first: usize,
        last: usize,
        size: (usize, usize),
        out: OutPtr,
    ) {
        let mut co = 0;
        while co < self.cout {
            let left = self.cout - co;
            // Register tiles of C channels x P vectors: at most 16 accumulators.
            let c = if left >= 16 {
                16
            } else if left >= 8 {
                8
            } else if left >= 4 {
                4
            } else if left >= 2 {
                2
            } else {
                1
            };
            let mut v = first;
            while v < last {
                let n = match c {
                    16 => self.tile::<16, 1>(prepared, co, v, last, size, out),
                    8 => self.tile::<8, 2>(prepared, co, v, last, size, out),
                    4 => self.tile::<4, 4>(prepared, co, v, last, size, out),
                    2 => self.tile::<2, 4>(prepared, co, v, last, size, out),
                    _ => self.tile::<1, 4>(prepared, co, v, last, size, out),
                };
                v += n;
            }
            co += c;
        }
    }

    /// Channels [co, co + C) of up to P vectors from `v` (not past `last`); returns how many.
    #[inline(always)]
    unsafe fn tile<const C: usize, const P: usize>(
        &self,
        prepared: &Prepared,
        co: usize,
        v: usize,
        last: usize,
        (ho, wo): (usize, usize),
        out: OutPtr,
    ) -> usize {
        let count = P.min(last - v);
        let per_row = wo.div_ceil(LANES);
        // Output position and buffer offset of each vector; missing ones repeat the last.
        let mut pos = [(0usize, 0usize); P];
        let mut base = [0usize; P];
        for p in 0..P {
            let index = v + p.min(count - 1);
            let (y, x) = (index / per_row, (index % per_row) * LANES);
            pos[p] = (y, x);
            base[p] = y * prepared.row + x;
        }
        let kk = prepared.offsets.len();
        let data = prepared.data.as_ptr();
        let mut weights = [std::ptr::null::<f32>(); C];
        for (c, w) in weights.iter_mut().enumerate() {
            *w = self.weight.as_ptr().add((co + c) * kk);
        }
        let mut acc = [[_mm512_setzero_ps(); P]; C];
        for (t, &offset) in prepared.offsets.iter().enumerate() {
            let mut xs = [_mm512_setzero_ps(); P];
            for p in 0..P {
                // In bounds: `prepare` sized the buffer for the largest offset plus the last
                // vector of the last row.
                xs[p] = _mm512_loadu_ps(data.add(offset + base[p]));
            }
            for c in 0..C {
                let w = _mm512_set1_ps(*weights[c].add(t));
                for p in 0..P {
                    acc[c][p] = _mm512_fmadd_ps(w, xs[p], acc[c][p]);
                }
            }
        }
        let plane = ho * wo;
        for (c, sums) in acc.iter().enumerate() {
            let channel = co + c;
            let bias = _mm512_set1_ps(self.bias.map_or(0.0, |b| b[channel]));
            for (&sum, &(y, x)) in sums.iter().zip(&pos).take(count) {
                let lanes = (wo - x).min(LANES);
                let mask: __mmask16 = if lanes == LANES {
                    0xffff
                } else {
                    (1u16 << lanes) - 1
                };
                let at = channel * plane + y * wo + x;
                let mut value = _mm512_add_ps(sum, bias);
                if let Some(r) = self.residual {
                    value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, r.as_ptr().add(at)));
                }
                value = match self.activation {
                    Activation::None => value,
                    Activation::Relu => _mm512_max_ps(value, _mm512_setzero_ps()),
                    // max(v, slope * v) is leaky ReLU for 0 <= slope <= 1.
                    Activation::LeakyRelu(slope) if (0.0..=1.0).contains(&slope) => {
                        _mm512_max_ps(value, _mm512_mul_ps(value, _mm512_set1_ps(slope)))
                    }
                    Activation::LeakyRelu(slope) => {
                        let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(value, _mm512_setzero_ps());
                        _mm512_mask_mul_ps(value, negative, value, _mm512_set1_ps(slope))
                    }
                };
                _mm512_mask_storeu_ps(out.0.add(at), mask, value);
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_values as values;
    use super::*;

    #[test]
    #[cfg_attr(
        not(host_avx512),
        ignore = "this CPU has no AVX-512: the direct kernel never runs here"
    )]
    fn matches_the_definition() {
        assert!(
            available(),
            "built on a CPU with AVX-512, run on one without (`cargo clean -p fitting-room`), or \
             with FITTING_ROOM_SIMD capping it"
        );
        // Every register tile (16, 8, 4, 2, 1 channels), partial vectors, strides 1 and 2,
        // 1x1 and 3x3, with and without pre-activation, bias, residual and activation.
        let cases = [
            (3, 29, 13, 21, 3, 1, 1, Activation::LeakyRelu(0.1)),
            (5, 16, 17, 33, 3, 2, 1, Activation::Relu),
            (8, 7, 9, 16, 1, 1, 0, Activation::None),
            (6, 40, 6, 8, 3, 1, 1, Activation::Relu),
            (4, 2, 20, 40, 3, 2, 1, Activation::None),
        ];
        for (i, &(cin, cout, h, w, k, stride, padding, activation)) in cases.iter().enumerate() {
            let seed = i as u32 * 10;
            let x = values(cin * h * w, seed);
            let weight = values(cout * cin * k * k, seed + 1);
            let bias = values(cout, seed + 2);
            let scale = values(cin, seed + 3);
            let shift = values(cin, seed + 4);
            let extras = i % 2 == 0;
            let mut conv = DirectConv {
                weight: &weight,
                bias: extras.then_some(bias.as_slice()),
                residual: None,
                pre: extras.then_some((scale.as_slice(), shift.as_slice())),
                activation,
                cin,
                cout,
                h,
                w,
                k,
                stride,
                padding,
            };
            let (ho, wo) = conv.output_size();
            let residual = values(cout * ho * wo, seed + 5);
            if extras {
                conv.residual = Some(&residual);
            }
            let mut out = vec![f32::NAN; cout * ho * wo];
            conv.run(&x, &mut out);
            let expected = conv.definition(&x);
            for (j, (a, b)) in out.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "case {i}, element {j}: {a} vs {b}"
                );
            }
        }
    }
}
