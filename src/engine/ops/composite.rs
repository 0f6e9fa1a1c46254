//! The try-on's last step: the generator's logits to the rendered person, the composition mask
//! and the result.

use candle_core::{CpuStorage, CustomOp3, Error, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{cpu, OpPath};

/// What [`composite`] returns, each (N, C, H, W).
pub struct Composite {
    /// tanh of the logits' first three channels, [-1, 1].
    pub p_rendered: Tensor,
    /// sigmoid of the fourth channel times the warped mask, [0, 1].
    pub m_composite: Tensor,
    /// warped_cloth * m + p_rendered * (1 - m).
    pub p_tryon: Tensor,
}

/// Composites the generator's output `logits` (N, 4, H, W) with the warped garment (N, 3, H, W)
/// and the warped mask (N, 1, H, W).
pub fn composite(
    logits: &Tensor,
    warped_cloth: &Tensor,
    warped_edge: &Tensor,
    path: OpPath,
) -> Result<Composite> {
    let (n, c, h, w) = logits.dims4()?;
    if c != 4 || warped_cloth.dims() != [n, 3, h, w] || warped_edge.dims() != [n, 1, h, w] {
        return Err(Error::Msg(format!(
            "composite: logits {:?}, garment {:?} and mask {:?} do not fit",
            logits.dims(),
            warped_cloth.dims(),
            warped_edge.dims()
        )));
    }
    if path.use_cpu_kernel(logits.device()) {
        // One pass writes the three results as the channels of one tensor.
        let all = logits.contiguous()?.apply_op3_no_bwd(
            &warped_cloth.contiguous()?,
            &warped_edge.contiguous()?,
            &CompositeKernel,
        )?;
        let part = |start, len| all.narrow(1, start, len)?.contiguous();
        return Ok(Composite {
            p_rendered: part(0, 3)?,
            m_composite: part(3, 1)?,
            p_tryon: part(4, 3)?,
        });
    }
    let p_rendered = logits.narrow(1, 0, 3)?.tanh()?;
    let m_composite = candle_nn::ops::sigmoid(&logits.narrow(1, 3, 1)?)?.mul(warped_edge)?;
    let p_tryon = (warped_cloth.broadcast_mul(&m_composite)?
        + p_rendered.broadcast_mul(&m_composite.affine(-1.0, 1.0)?)?)?;
    Ok(Composite {
        p_rendered,
        m_composite,
        p_tryon,
    })
}

/// Output channels: p_rendered (3), m_composite (1), p_tryon (3).
const OUT_CHANNELS: usize = 7;
/// Pixels per task.
const CHUNK: usize = 4096;

struct CompositeKernel;

impl CustomOp3 for CompositeKernel {
    fn name(&self) -> &'static str {
        "composite"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, _, h, w) = l1.shape().dims4()?;
        let logits = cpu::slice(s1, l1, self.name())?;
        let cloth = cpu::slice(s2, l2, self.name())?;
        let edge = cpu::slice(s3, l3, self.name())?;
        let plane = h * w;
        let mut out = vec![0f32; n * OUT_CHANNELS * plane];
        if plane > 0 {
            for (b, image) in out.chunks_exact_mut(OUT_CHANNELS * plane).enumerate() {
                let logits = &logits[b * 4 * plane..(b + 1) * 4 * plane];
                let cloth = &cloth[b * 3 * plane..(b + 1) * 3 * plane];
                let edge = &edge[b * plane..(b + 1) * plane];
                let (rendered, rest) = image.split_at_mut(3 * plane);
                let (mask, tryon) = rest.split_at_mut(plane);
                // The mask first: every colour channel needs it.
                mask.par_chunks_mut(CHUNK)
                    .zip(logits[3 * plane..].par_chunks(CHUNK))
                    .zip(edge.par_chunks(CHUNK))
                    .for_each(|((m, logit), e)| {
                        for ((m, &l), &e) in m.iter_mut().zip(logit).zip(e) {
                            *m = (1.0 + (-l).exp()).recip() * e;
                        }
                    });
                let mask: &[f32] = mask;
                // Per colour plane, in pixel chunks that line up with the mask's.
                rendered
                    .par_chunks_mut(plane)
                    .zip(tryon.par_chunks_mut(plane))
                    .zip(logits[..3 * plane].par_chunks(plane))
                    .zip(cloth.par_chunks(plane))
                    .for_each(|(((r, t), logit), cloth)| {
                        r.par_chunks_mut(CHUNK)
                            .zip(t.par_chunks_mut(CHUNK))
                            .zip(logit.par_chunks(CHUNK))
                            .zip(cloth.par_chunks(CHUNK))
                            .zip(mask.par_chunks(CHUNK))
                            .for_each(|((((r, t), logit), cloth), mask)| {
                                let pixels = r.iter_mut().zip(t.iter_mut());
                                for ((((r, t), &l), &c), &m) in
                                    pixels.zip(logit).zip(cloth).zip(mask)
                                {
                                    *r = l.tanh();
                                    *t = c * m + *r * (1.0 - m);
                                }
                            });
                    });
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, OUT_CHANNELS, h, w))))
    }
}
