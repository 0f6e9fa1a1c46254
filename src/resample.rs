//! Resizing 8-bit pictures on every core: the same separable filters and pixel-centre
//! conventions as `image::imageops::resize` (a vertical pass into floats, then a horizontal one,
//! rounded), with weights computed once per output row and column, and each output row made
//! whole (both passes) on one thread.
//! The network's inputs are cut from photos of any size each frame; this keeps that cheap.

use image::{ImageBuffer, Pixel};
use rayon::prelude::*;

/// The resampling filters in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Linear: for masks and mattes.
    Triangle,
    /// Lanczos with 3 lobes: for pictures; its support widens when shrinking, so downscaling
    /// is antialiased.
    Lanczos3,
}

impl Filter {
    fn support(self) -> f32 {
        match self {
            Filter::Triangle => 1.0,
            Filter::Lanczos3 => 3.0,
        }
    }

    fn kernel(self, x: f32) -> f32 {
        let sinc = |t: f32| {
            if t == 0.0 {
                1.0
            } else {
                let a = t * std::f32::consts::PI;
                a.sin() / a
            }
        };
        match self {
            Filter::Triangle => (1.0 - x.abs()).max(0.0),
            Filter::Lanczos3 if x.abs() < 3.0 => sinc(x) * sinc(x / 3.0),
            Filter::Lanczos3 => 0.0,
        }
    }
}

/// `v` rounded to the nearest level (halves away from zero) and clamped to 0-255: the same as
/// `v.round().clamp(0.0, 255.0) as u8`, without `round`, a library call per pixel on
/// baseline x86-64. Where adding a half rounds the sum up onto the next integer, comparing with
/// that integer less a half (exact in floats) tells, and the level is one less.
#[inline]
pub fn level(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    let t = (v + 0.5) as u8;
    if v < f32::from(t) - 0.5 {
        t - 1
    } else {
        t
    }
}

/// For each output index along one axis: the first input index and the normalised weights.
fn taps(input: u32, output: u32, filter: Filter) -> Vec<(usize, Vec<f32>)> {
    let ratio = input as f32 / output as f32;
    let sratio = ratio.max(1.0);
    let support = filter.support() * sratio;
    (0..output)
        .map(|out| {
            let centre = (out as f32 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, i64::from(input) - 1);
            let right = ((centre + support).ceil() as i64).clamp(left + 1, i64::from(input));
            let mut weights: Vec<f32> = (left..right)
                .map(|i| filter.kernel((i as f32 - (centre - 0.5)) / sratio))
                .collect();
            let sum: f32 = weights.iter().sum();
            if sum != 0.0 {
                weights.iter_mut().for_each(|w| *w /= sum);
            }
            (left as usize, weights)
        })
        .collect()
}

/// `img` resized to `width` x `height` with `filter`.
pub fn resize<P>(
    img: &ImageBuffer<P, Vec<u8>>,
    width: u32,
    height: u32,
    filter: Filter,
) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + Send + Sync,
{
    let (w, h) = img.dimensions();
    let c = P::CHANNEL_COUNT as usize;
    // 8-bit pixels have at most four channels (RGBA): the horizontal pass sums in an array of
    // four.
    assert!(c <= 4, "{c} channels");
    if w == 0 || h == 0 || width == 0 || height == 0 {
        return ImageBuffer::new(width, height);
    }
    let src = img.as_raw();
    let row_len = w as usize * c;
    let rows = taps(h, height, filter);
    let columns = taps(w, width, filter);
    let out_len = width as usize * c;
    let mut data = vec![0u8; height as usize * out_len];
    // Each output row on its own: its vertical pass into a row of floats at the input's width
    // (one per thread, reused), then its horizontal pass, rounded to the nearest level. No
    // picture-sized buffer of floats: a phone photo's would be tens of megabytes of fresh pages.
    data.par_chunks_mut(out_len)
        .zip(rows.par_iter())
        .for_each_init(
            || vec![0f32; row_len],
            |line, (out, (first, weights))| {
                for (k, &wt) in weights.iter().enumerate() {
                    let input = &src[(first + k) * row_len..][..row_len];
                    if k == 0 {
                        for (o, &v) in line.iter_mut().zip(input) {
                            *o = wt * f32::from(v);
                        }
                    } else {
                        for (o, &v) in line.iter_mut().zip(input) {
                            *o += wt * f32::from(v);
                        }
                    }
                }
                for (px, (first, weights)) in out.chunks_exact_mut(c).zip(&columns) {
                    // All channels of a pixel at once: one pass over its taps, with as many
                    // independent sums (each in the same order as one channel alone).
                    let mut acc = [0f32; 4];
                    let taps = &line[first * c..(first + weights.len()) * c];
                    for (tap, &wt) in taps.chunks_exact(c).zip(weights) {
                        for (a, &v) in acc.iter_mut().zip(tap) {
                            *a += wt * v;
                        }
                    }
                    for (o, a) in px.iter_mut().zip(acc) {
                        *o = level(a);
                    }
                }
            },
        );
    ImageBuffer::from_raw(width, height, data).expect("buffer of the output's size")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{imageops, GrayImage, RgbImage};

    /// `level` is `round`, clamped, for every value that matters: a fine sweep, each integer's
    /// half and its neighbouring floats, the ends and beyond, NaN.
    #[test]
    fn level_rounds_as_round_does() {
        let reference = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        let mut values: Vec<f32> = (0..3_000_000)
            .map(|i| -2.0 + i as f32 * 0.0000867)
            .collect();
        for n in 0..=256 {
            let half = n as f32 - 0.5;
            let (mut below, mut above) = (half, half);
            for _ in 0..4 {
                below = f32::from_bits(below.to_bits() - 1);
                above = f32::from_bits(above.to_bits() + 1);
                values.extend([below, above]);
            }
            values.extend([half, n as f32]);
        }
        values.extend([
            0.49999997,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            1e9,
        ]);
        for v in values {
            assert_eq!(level(v), reference(v), "{v:e}");
        }
    }

    /// Within one level of `image`'s own resize, shrinking and enlarging, for both filters.
    #[test]
    fn matches_the_image_crates_resize() {
        let noise = |x: u32, y: u32, k: u32| ((x * 7919 + y * 104_729 + k * 31) % 251) as u8;
        let rgb = RgbImage::from_fn(157, 211, |x, y| {
            image::Rgb([noise(x, y, 0), noise(x, y, 1), (x + y) as u8])
        });
        let gray = GrayImage::from_fn(157, 211, |x, y| image::Luma([noise(x, y, 2)]));
        for (w, h) in [(48, 64), (192, 256), (400, 300), (157, 211)] {
            for (ours, theirs) in [
                (Filter::Lanczos3, imageops::FilterType::Lanczos3),
                (Filter::Triangle, imageops::FilterType::Triangle),
            ] {
                let a = resize(&rgb, w, h, ours);
                let b = imageops::resize(&rgb, w, h, theirs);
                let diff = a.iter().zip(b.iter()).map(|(p, q)| p.abs_diff(*q)).max();
                assert!(diff <= Some(1), "{ours:?} {w}x{h}: {diff:?}");
                let a = resize(&gray, w, h, ours);
                let b = imageops::resize(&gray, w, h, theirs);
                let diff = a.iter().zip(b.iter()).map(|(p, q)| p.abs_diff(*q)).max();
                assert!(diff <= Some(1), "{ours:?} {w}x{h} grey: {diff:?}");
            }
        }
    }
}
