//! High-resolution results. The network runs at 256x192, but its flow is a resolution-free
//! sampling grid: upsampled to the crop's own size, it samples the full-resolution garment photo.
//! The composition mask is upsampled the same way, the generator's rendered person fills what
//! changed, and the original photo's own pixels are kept wherever the rendered person matches the
//! input (face, hair, arms, background), with soft transitions so no seam shows.

use image::{GrayImage, RgbImage};
use rayon::prelude::*;

use super::exposure::Exposure;
use super::framing::Crop;
use super::image_io::PipelineError;
use crate::engine::{TryOn, NATIVE_SIZE};
use crate::person::Keypoint;
use crate::resample::level;

/// Largest output height; bigger crops are downscaled to it first (width follows at 3:4).
pub const MAX_HIRES_HEIGHT: u32 = 2048;

/// Below this mean absolute difference (in [-1, 1] units) the rendered person counts as
/// matching the input, and the photo's pixels are kept; above `KEEP_UNTIL` the rendered pixels
/// are used; in between the two blend.
const KEEP_FROM: f32 = 0.06;
const KEEP_UNTIL: f32 = 0.16;

/// Far from the new garment the same, with these bounds instead. There the network has only the
/// old garment's leftovers to change (a hem become skin or trousers, a jacket's shoulders become
/// background), which differ from the photo clearly, while the compact generator also tints what
/// it merely reproduces by as much as `KEEP_UNTIL` (a yellow skirt under a new red top comes back
/// orange).
const FAR_KEEP_FROM: f32 = 0.16;
const FAR_KEEP_UNTIL: f32 = 0.30;
/// Distances (192x256 pixels) from the warped garment over which the bounds go from near to far:
/// past the generator's bleed ([`BLEED_REACH`]) and the seam's blur.
const FAR_FROM: f32 = 6.0;
const FAR_AT: f32 = 14.0;

/// A single-channel float image, row-major.
#[derive(Debug, Clone)]
pub(super) struct Plane {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) data: Vec<f32>,
}

impl Plane {
    fn new(width: usize, height: usize) -> Self {
        Plane {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    #[inline]
    fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// A plane of `f(x, y)`.
    #[cfg(test)]
    fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> Plane {
        Plane {
            width,
            height,
            data: (0..width * height)
                .map(|i| f(i % width, i / width))
                .collect(),
        }
    }

    /// Bilinear read at pixel coordinates, clamped to the border.
    #[cfg(test)]
    fn sample(&self, x: f32, y: f32) -> f32 {
        let (maxx, maxy) = ((self.width - 1) as f32, (self.height - 1) as f32);
        let (x, y) = (x.clamp(0.0, maxx), y.clamp(0.0, maxy));
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let mut acc = 0.0;
        for (cx, cy, w) in [
            (x0, y0, (1.0 - fx) * (1.0 - fy)),
            (x0 + 1.0, y0, fx * (1.0 - fy)),
            (x0, y0 + 1.0, (1.0 - fx) * fy),
            (x0 + 1.0, y0 + 1.0, fx * fy),
        ] {
            if w > 0.0 && cx <= maxx && cy <= maxy {
                acc += w * self.at(cx as usize, cy as usize);
            }
        }
        acc
    }

    /// Bilinear resize with pixel-centre alignment (align_corners=False): what
    /// [`compose_hires`] reads on the fly from its low-resolution planes, as a whole plane for
    /// the tests.
    #[cfg(test)]
    fn resized(&self, width: usize, height: usize) -> Plane {
        let sx = self.width as f32 / width as f32;
        let sy = self.height as f32 / height as f32;
        let mut out = Plane::new(width, height);
        out.data
            .par_chunks_mut(width)
            .enumerate()
            .for_each(|(y, row)| {
                let src_y = ((y as f32 + 0.5) * sy - 0.5).max(0.0);
                for (x, v) in row.iter_mut().enumerate() {
                    let src_x = ((x as f32 + 0.5) * sx - 0.5).max(0.0);
                    *v = self.sample(src_x, src_y);
                }
            });
        out
    }

    /// Separable box blur of radius `r`, applied twice (close to a Gaussian).
    pub(super) fn blurred(&self, r: usize) -> Plane {
        let mut p = self.clone();
        for _ in 0..2 {
            p = p.box_pass(r, true).box_pass(r, false);
        }
        p
    }

    /// Binary erosion by a square of radius `r` (0 outside the plane).
    fn eroded(&self, r: usize) -> Plane {
        let pass = |p: &Plane, horizontal: bool| {
            let (w, h) = (p.width, p.height);
            let mut out = Plane::new(w, h);
            out.data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
                for (x, v) in row.iter_mut().enumerate() {
                    let mut m = 1.0f32;
                    for o in -(r as isize)..=r as isize {
                        let (xx, yy) = if horizontal {
                            (x as isize + o, y as isize)
                        } else {
                            (x as isize, y as isize + o)
                        };
                        m = if xx < 0 || yy < 0 || xx as usize >= w || yy as usize >= h {
                            0.0
                        } else {
                            m.min(p.at(xx as usize, yy as usize))
                        };
                        if m == 0.0 {
                            break;
                        }
                    }
                    *v = m;
                }
            });
            out
        };
        pass(&pass(self, true), false)
    }

    /// One direction of a box blur of radius `r`: each pixel the mean of the taps inside the
    /// plane. Rows are summed as slices, in the order of their offsets.
    fn box_pass(&self, r: usize, horizontal: bool) -> Plane {
        let (w, h) = (self.width, self.height);
        let mut out = Plane::new(w, h);
        if w == 0 || h == 0 {
            return out;
        }
        let rows = out.data.par_chunks_mut(w).with_min_len(8).enumerate();
        if horizontal {
            rows.for_each(|(y, o)| {
                let row = &self.data[y * w..][..w];
                for (x, v) in o.iter_mut().enumerate() {
                    let (lo, hi) = (x.saturating_sub(r), (x + r).min(w - 1));
                    let mut sum = 0.0;
                    for t in &row[lo..=hi] {
                        sum += t;
                    }
                    *v = sum / (hi - lo + 1) as f32;
                }
            });
        } else {
            rows.for_each(|(y, o)| {
                let (lo, hi) = (y.saturating_sub(r), (y + r).min(h - 1));
                for yy in lo..=hi {
                    for (v, t) in o.iter_mut().zip(&self.data[yy * w..][..w]) {
                        *v += t;
                    }
                }
                let n = (hi - lo + 1) as f32;
                o.iter_mut().for_each(|v| *v /= n);
            });
        }
        out
    }
}

/// The garment premultiplied by its mask, interleaved as (mask, r, g, b) so that one bilinear
/// read finds all four: the composition reads it at every garment pixel of the result.
struct Premultiplied {
    width: usize,
    height: usize,
    data: Vec<[f32; 4]>,
}

impl Premultiplied {
    /// Bilinear read at pixel coordinates, 0 outside the picture.
    #[inline]
    fn sample(&self, x: f32, y: f32) -> [f32; 4] {
        let mut acc = [0.0; 4];
        if !x.is_finite() || !y.is_finite() || self.width == 0 || self.height == 0 {
            return acc;
        }
        let (maxx, maxy) = ((self.width - 1) as f32, (self.height - 1) as f32);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        for (cx, cy, w) in [
            (x0, y0, (1.0 - fx) * (1.0 - fy)),
            (x0 + 1.0, y0, fx * (1.0 - fy)),
            (x0, y0 + 1.0, (1.0 - fx) * fy),
            (x0 + 1.0, y0 + 1.0, fx * fy),
        ] {
            if w > 0.0 && cx >= 0.0 && cy >= 0.0 && cx <= maxx && cy <= maxy {
                let v = &self.data[cy as usize * self.width + cx as usize];
                for (a, v) in acc.iter_mut().zip(v) {
                    *a += w * v;
                }
            }
        }
        acc
    }
}

/// Planes of a (1, C, H, W) tensor.
fn planes(t: &candle_core::Tensor) -> Result<Vec<Plane>, PipelineError> {
    let dims = t.dims();
    if dims.len() != 4 || dims[0] != 1 {
        return Err(PipelineError::Shape(dims.to_vec()));
    }
    let (c, h, w) = (dims[1], dims[2], dims[3]);
    let data = t
        .to_device(&candle_core::Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((0..c)
        .map(|i| Plane {
            width: w,
            height: h,
            data: data[i * w * h..(i + 1) * w * h].to_vec(),
        })
        .collect())
}

/// RGB image to three planes in [-1, 1].
fn rgb_planes(img: &RgbImage) -> [Plane; 3] {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = [Plane::new(w, h), Plane::new(w, h), Plane::new(w, h)];
    for (i, p) in img.pixels().enumerate() {
        for (c, plane) in out.iter_mut().enumerate() {
            plane.data[i] = f32::from(p[c]) / 127.5 - 1.0;
        }
    }
    out
}

/// The full-resolution inputs of a try-on, framed as the network's inputs were.
pub struct HiresInputs<'a> {
    /// The person crop at full resolution (3:4): the photo's own pixels, background included.
    pub person: &'a RgbImage,
    /// The 192x256 person image the network saw.
    pub person_native: &'a RgbImage,
    /// How much brighter the network saw the person than the photo shows them: what it painted
    /// (garment and rendered person) is darkened by as much before it joins the photo.
    pub exposure: Exposure,
    /// The person's matte over the crop at 192x256 (255 = person), when the background was
    /// replaced: the rendered person may then change pixels only on and near the person.
    pub person_matte: Option<&'a GrayImage>,
    /// The garment photo at full resolution, framed like the network's garment input (3:4).
    pub garment: &'a RgbImage,
    /// Its mask, same size (white = garment).
    pub garment_mask: &'a GrayImage,
    /// Nothing replaces the photo's pixels (alpha 0 everywhere): where no person could be
    /// framed, the crop is not known to frame one, and the garment and the network's repainting
    /// would float over whatever it holds.
    pub keep_photo: bool,
    /// The part of the crop to compose, as (x, y, width, height) in the crop's pixels (the part
    /// inside the photo, which alone is pasted back); `None`: all of it. Elsewhere the result
    /// is `person`'s pixel, with alpha 0.
    pub inside: Option<(u32, u32, u32, u32)>,
    /// The sides of the crop (left, top, right, bottom) beyond which the photo goes on: there
    /// the pasted result meets the photo's own pixels, so the rendered person fades out towards
    /// them (over [`SEAM_FADE`]) and its repainting leaves no straight seam across a leg or a
    /// skirt. The new garment does not fade.
    pub seams: [bool; 4],
    /// The person's pose in the pixels of `person_native`, when known: where the arms are
    /// ([`super::arms::Arms::beside`]) and, with the matte and `bare_arms`, the old sleeves the
    /// new garment leaves uncovered become bare arms ([`super::arms`]).
    pub keypoints: Option<&'a [Keypoint]>,
    /// Whether an old top the new garment leaves uncovered below its hem takes the photo's
    /// lower garment, mirrored up from its top edge ([`super::hem`]; `Hem::Mirror`), with the
    /// pose and the matte.
    pub mirror_hem: bool,
    /// Whether an old top the new garment leaves uncovered on the torso, where the network
    /// paints skin, takes the person's own skin colour ([`super::skin`]; `Skin::Own`), with the
    /// pose and the matte.
    pub own_skin: bool,
    /// Whether those sleeves are bared (`Sleeves::Bare`, and a garment without long sleeves of
    /// its own).
    pub bare_arms: bool,
}

/// How far (in 192x256 pixels) the rendered person fades out towards a seam.
const SEAM_FADE: f32 = 20.0;

/// `change` faded out towards the crop's sides listed in `seams` (left, top, right, bottom).
fn fade_towards_seams(change: &mut Plane, seams: [bool; 4]) {
    if !seams.contains(&true) {
        return;
    }
    let (w, h) = (change.width, change.height);
    // Zero on the side's own row or column, so the edge itself is the photo's.
    let ramp = |d: usize| (d as f32 / SEAM_FADE).min(1.0);
    for (y, row) in change.data.chunks_exact_mut(w).enumerate() {
        for (x, v) in row.iter_mut().enumerate() {
            let sides = [x, y, w - 1 - x, h - 1 - y];
            let f = sides
                .iter()
                .zip(seams)
                .filter(|&(_, open)| open)
                .map(|(&d, _)| ramp(d))
                .fold(1.0f32, f32::min);
            *v *= f;
        }
    }
}

/// A high-resolution try-on: the picture, and how much of each pixel is new.
#[derive(Debug, Clone)]
pub struct Hires {
    /// The try-on at the crop's resolution (capped at [`MAX_HIRES_HEIGHT`]).
    pub image: RgbImage,
    /// The weight of new pixels (garment, rendered person) against the photo's own, same size:
    /// 0 where the pixel is the photo's.
    pub alpha: GrayImage,
}

/// How far (in 192x256 pixels) around the matte the rendered person may change the photo.
const PERSON_GROW: usize = 2;

/// The person region as a soft plane: the matte grown by [`PERSON_GROW`] and softened, so the
/// seam between rendered pixels and the photo's background has no hard edge.
fn person_region(matte: &GrayImage) -> Plane {
    let (w, h) = (matte.width() as usize, matte.height() as usize);
    let r = PERSON_GROW;
    // A square window's maximum, one direction at a time.
    let mut wide = vec![0u8; w * h];
    for (o, row) in wide.chunks_exact_mut(w).zip(matte.as_raw().chunks_exact(w)) {
        for (x, v) in o.iter_mut().enumerate() {
            *v = row[x.saturating_sub(r)..=(x + r).min(w - 1)]
                .iter()
                .copied()
                .max()
                .unwrap_or(0);
        }
    }
    let mut grown = Plane::new(w, h);
    for (y, o) in grown.data.chunks_exact_mut(w).enumerate() {
        for (x, v) in o.iter_mut().enumerate() {
            let m = (y.saturating_sub(r)..=(y + r).min(h - 1))
                .map(|yy| wide[yy * w + x])
                .max()
                .unwrap_or(0);
            *v = f32::from(m) / 255.0;
        }
    }
    grown.blurred(1)
}

/// How far (mean absolute difference, [-1, 1] units) a rendered pixel may be from VITON's
/// background colour and still count as background.
const BACKGROUND_TOLERANCE: f32 = 0.1;
/// How much closer to VITON's background a rendered pixel must have come than the input was,
/// for the network to have turned person into background there (fully at twice this).
const TURNED_FROM: f32 = 0.3;

/// VITON's background colour in the network's [-1, 1] units.
fn viton_background() -> [f32; 3] {
    super::framing::VITON_BACKGROUND
        .0
        .map(|v| f32::from(v) / 127.5 - 1.0)
}

/// The photo's own background behind the person, at the network's size: `photo` (the crop at
/// 192x256 with its real background) where the matte says background, filled in from around
/// the person elsewhere. `None` when the crop shows no background at all.
fn background_plate(photo: &[Plane; 3], matte: &GrayImage) -> Option<[Plane; 3]> {
    let (w, h) = (photo[0].width, photo[0].height);
    // Clearly background: what the plate is filled from.
    let known = Plane {
        width: w,
        height: h,
        data: matte
            .pixels()
            .map(|p| if p[0] < 64 { 1.0 } else { 0.0 })
            .collect(),
    };
    known
        .data
        .iter()
        .any(|&k| k > 0.0)
        .then(|| fill_from(photo, &known))
}

/// The network saw the person on VITON's plain background; where the new garment is smaller
/// than the old one, it paints that background over what was person (a jacket's shoulders, a
/// long top's hem). There the photo's own background belongs, not VITON's: `rendered` takes the
/// photo's background (`plate`, [`background_plate`]) in proportion to how much a pixel inside
/// the matte looks like VITON's background where what the network saw (`seen`) was clearly
/// something else.
fn restore_background(
    rendered: &mut [Plane],
    seen: &[Plane; 3],
    matte: &GrayImage,
    plate: &[Plane; 3],
) {
    let (w, h) = (seen[0].width, seen[0].height);
    let bg = viton_background();
    for i in 0..w * h {
        let inside = f32::from(matte.as_raw()[i]) / 255.0;
        if inside == 0.0 {
            continue;
        }
        let distance = |planes: &[Plane]| {
            (0..3)
                .map(|c| (planes[c].data[i] - bg[c]).abs())
                .sum::<f32>()
                / 3.0
        };
        let (d_rendered, d_seen) = (distance(rendered), distance(seen));
        // Background now, and clearly not before: a light cap the network kept a little
        // greyer stays the cap.
        let now = (1.0 - d_rendered / BACKGROUND_TOLERANCE).clamp(0.0, 1.0);
        let turned = ((d_seen - d_rendered - TURNED_FROM) / TURNED_FROM).clamp(0.0, 1.0);
        let b = now * turned * inside;
        if b > 0.0 {
            for c in 0..3 {
                let r = &mut rendered[c].data[i];
                *r += b * (plate[c].data[i] - *r);
            }
        }
    }
}

/// The network saw VITON's light background around the person, and its rendering carries that
/// colour into the person's soft edge (hair, the garment's outline): pasted into a darker or
/// coloured photo, the edge would glow as a light halo. Where the rendering is used, it takes
/// the photo's background instead of VITON's in the share of each pixel that was background
/// (1 - `person`, the matte softened by [`RENDERED_BLEND`]). Which pixels are used is decided
/// before, against the network's view as it was: where the network kept the person, the photo's
/// own pixels stay.
fn onto_photo_background(planes: &mut [Plane], person: &Plane, plate: &[Plane; 3]) {
    let bg = viton_background();
    for (i, &m) in person.data.iter().enumerate() {
        if m >= 1.0 {
            continue;
        }
        for c in 0..3 {
            planes[c].data[i] += (1.0 - m) * (plate[c].data[i] - bg[c]);
        }
    }
}

/// How far (in 192x256 pixels) past the warped garment's edge the generator smears the
/// garment's colour into the person it renders (measured on the default model: strongest over
/// the first 2-3 pixels, faint beyond 4).
const BLEED_REACH: usize = 4;

/// Below this squared distance ([-1, 1] units, summed over the channels) between the garment's
/// colour and what the network saw, a mix towards the garment changes nothing to tell apart.
const BLEED_MIN_CONTRAST: f32 = 0.01;

/// The generator renders the person with the new garment's colour smeared a few pixels past the
/// garment's edge: a red haze over the skin below a red top's hem, a glow under its sleeves.
/// Pasted, it tints the photo around the garment. Outside the warped garment and within
/// [`BLEED_REACH`] of it, the part of the rendered person's difference from what the network
/// saw that a mix towards the garment's colour nearby explains is taken out of `rendered`, the
/// planes the change is decided on (not those pasted): a pixel that differs only by such a mix
/// keeps the photo's, one that turned into something else (a sleeve become an arm) still
/// changes, and so does one where the same mix goes on past the reach (a region the network
/// repainted, not a smear).
fn discount_garment_bleed(
    rendered: &mut [Plane],
    seen: &[Plane],
    cloth: &[Plane],
    edge: &Plane,
    garment: &WarpedGarment,
) {
    let (w, h) = (edge.width, edge.height);
    let Some((distance, nearest)) = &garment.colour_from else {
        return;
    };
    // How much of a mix from `seen` towards `colour` explains `rendered` at pixel `i`.
    let mix_at = |i: usize, colour: [f32; 3]| {
        let towards = [0, 1, 2].map(|c| colour[c] - seen[c].data[i]);
        let contrast: f32 = towards.iter().map(|v| v * v).sum();
        if contrast < BLEED_MIN_CONTRAST {
            return (0.0, towards);
        }
        let along: f32 = (0..3)
            .map(|c| (rendered[c].data[i] - seen[c].data[i]) * towards[c])
            .sum();
        ((along / contrast).clamp(0.0, 1.0), towards)
    };
    // Seeds lie a pixel inside the edge: full weight up to BLEED_REACH past it, none 2 further.
    let reach = BLEED_REACH as f32 + 1.0;
    let mut discounts = Vec::new();
    for i in 0..w * h {
        let weight = (1.0 - (distance[i] - reach) / 2.0).clamp(0.0, 1.0) * (1.0 - edge.data[i]);
        if weight <= 0.0 {
            continue;
        }
        let from = nearest[i] as usize;
        let colour = [0, 1, 2].map(|c| cloth[c].data[from]);
        let (mix, towards) = mix_at(i, colour);
        if mix <= 0.0 {
            continue;
        }
        // A smear fades within a few pixels (the default model's to a third or less 10 pixels
        // out); where the network repainted a broad region (a band below a new top's hem where
        // the old top went on) the same mix goes on, and there it is meant: checked 10 pixels
        // past the garment's edge, straight out from it.
        let (sx, sy) = ((from % w) as f32, (from / w) as f32);
        let (dx, dy) = ((i % w) as f32 - sx, (i / w) as f32 - sy);
        let length = (dx * dx + dy * dy).sqrt().max(1.0);
        let out = reach + 6.0;
        let (px, py) = (sx + dx / length * out, sy + dy / length * out);
        let beyond = if px >= 0.0 && py >= 0.0 && (px as usize) < w && (py as usize) < h {
            mix_at(py as usize * w + px as usize, colour).0
        } else {
            0.0
        };
        // Meant where the mix out there is as strong as here, not where it fell to half.
        let meant = (2.0 * beyond / mix - 1.0).clamp(0.0, 1.0);
        discounts.push((i, mix * weight * (1.0 - meant), towards));
    }
    for (i, mix, towards) in discounts {
        for c in 0..3 {
            rendered[c].data[i] -= mix * towards[c];
        }
    }
}

/// Where the warped garment (its mask above one half) lies in the network's view, found once
/// per composition for the paste-back's bounds and the garment's smear.
struct WarpedGarment {
    /// Each pixel's distance from it (192x256 pixels; infinite where there is no garment).
    distance: Vec<f32>,
    /// Within [`BLEED_REACH`] + 4 pixels of it, each pixel's distance from the nearest pixel
    /// where the warped garment's colour is its own and that pixel's index: a pixel inside the
    /// edge, as the outermost ones hold the garment photo's backdrop too.
    colour_from: Option<(Vec<f32>, Vec<u32>)>,
}

impl WarpedGarment {
    fn find(edge: &Plane) -> Self {
        let (w, h) = (edge.width, edge.height);
        let on: Vec<bool> = edge.data.iter().map(|&e| e > 0.5).collect();
        let distance = nearest_seed(&on, w, h, w + h)
            .map_or_else(|| vec![f32::INFINITY; w * h], |(distance, _)| distance);
        let inner: Vec<bool> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                on[i]
                    && x > 0
                    && y > 0
                    && x + 1 < w
                    && y + 1 < h
                    && on[i - 1]
                    && on[i + 1]
                    && on[i - w]
                    && on[i + w]
            })
            .collect();
        let seeds = if inner.contains(&true) { &inner } else { &on };
        let colour_from = nearest_seed(seeds, w, h, BLEED_REACH + 4);
        WarpedGarment {
            distance,
            colour_from,
        }
    }
}

/// How much of the rendered person replaces the photo at each pixel (0 keeps the photo), from
/// how far `rendered` lies from what the network saw (`seen`): by [`KEEP_FROM`] and
/// [`KEEP_UNTIL`] beside the warped garment (`distance` from it, [`WarpedGarment`]) and the
/// arms (`arms`, [`super::arms::Arms::beside`]), by [`FAR_KEEP_FROM`] and [`FAR_KEEP_UNTIL`]
/// away from them.
fn change_from_difference(
    rendered: &[Plane],
    seen: &[Plane],
    distance: &[f32],
    arms: Option<&[bool]>,
) -> Plane {
    let (w, h) = (rendered[0].width, rendered[0].height);
    let mut change = Plane::new(w, h);
    for i in 0..w * h {
        let d = (0..3)
            .map(|c| (rendered[c].data[i] - seen[c].data[i]).abs())
            .sum::<f32>()
            / 3.0;
        let far = if arms.is_some_and(|arms| arms[i]) {
            0.0
        } else {
            // Infinite where there is no garment at all: far everywhere.
            ((distance[i] - FAR_FROM) / (FAR_AT - FAR_FROM)).clamp(0.0, 1.0)
        };
        let from = KEEP_FROM + far * (FAR_KEEP_FROM - KEEP_FROM);
        let until = KEEP_UNTIL + far * (FAR_KEEP_UNTIL - KEEP_UNTIL);
        change.data[i] = ((d - from) / (until - from)).clamp(0.0, 1.0);
    }
    change
}

/// For each pixel of a `w` x `h` grid within `margin` of the seeds' bounding box, the distance
/// to the nearest `seed` pixel and that pixel's index: a two-pass chamfer transform (steps of 1
/// along the axes, 1.4 diagonally) over that box only, in linear time. Farther pixels get an
/// infinite distance. `None` when there is no seed.
fn nearest_seed(seed: &[bool], w: usize, h: usize, margin: usize) -> Option<(Vec<f32>, Vec<u32>)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (i, _) in seed.iter().enumerate().filter(|(_, &s)| s) {
        let (x, y) = (i % w, i / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    if x0 == usize::MAX {
        return None;
    }
    let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (x1, y1) = ((x1 + margin).min(w - 1), (y1 + margin).min(h - 1));
    // The box with a border of unreachable pixels, so no step needs a bounds check.
    let (bw, bh) = (x1 - x0 + 3, y1 - y0 + 3);
    let mut distance = vec![f32::INFINITY; bw * bh];
    let mut nearest = vec![0u32; bw * bh];
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (i, b) = (y * w + x, (y - y0 + 1) * bw + (x - x0 + 1));
            nearest[b] = i as u32;
            if seed[i] {
                distance[b] = 0.0;
            }
        }
    }
    let steps = [(1, 1.0), (bw + 1, 1.4), (bw, 1.0), (bw - 1, 1.4)];
    let mut relax = |b: usize, forward: bool| {
        for (offset, step) in steps {
            let n = if forward { b - offset } else { b + offset };
            if distance[n] + step < distance[b] {
                distance[b] = distance[n] + step;
                nearest[b] = nearest[n];
            }
        }
    };
    for y in 1..bh - 1 {
        for b in y * bw + 1..(y + 1) * bw - 1 {
            relax(b, true);
        }
    }
    for y in (1..bh - 1).rev() {
        for b in (y * bw + 1..(y + 1) * bw - 1).rev() {
            relax(b, false);
        }
    }
    let mut full_distance = vec![f32::INFINITY; w * h];
    let mut full_nearest = vec![0u32; w * h];
    for y in y0..=y1 {
        let b = (y - y0 + 1) * bw + 1;
        let row = y * w + x0..=y * w + x1;
        full_distance[row.clone()].copy_from_slice(&distance[b..b + x1 - x0 + 1]);
        full_nearest[row].copy_from_slice(&nearest[b..b + x1 - x0 + 1]);
    }
    Some((full_distance, full_nearest))
}

/// How far (in 192x256 pixels) the network's rendering blends the background it saw into the
/// person's outline: the matte softened by as much says how much of VITON's grey each rendered
/// pixel holds.
const RENDERED_BLEND: usize = 1;

/// `values` where `known` is 1, and elsewhere filled in from the known values around (pull-push
/// over a pyramid of halvings: coarser levels fill what finer ones lack, smoothly). The three
/// planes share their weights, and each level's rows are filled in parallel.
fn fill_from(values: &[Plane; 3], known: &Plane) -> [Plane; 3] {
    let (w0, h0) = (known.width, known.height);
    // Push: weighted sums down to one pixel.
    let first: Vec<[f32; 3]> = (0..w0 * h0)
        .map(|i| [0, 1, 2].map(|c| values[c].data[i] * known.data[i]))
        .collect();
    let mut levels = vec![(w0, h0, first, known.data.clone())];
    while let Some(&(w, h, ref v, ref k)) = levels.last().filter(|l| l.0 > 1 || l.1 > 1) {
        let (nw, nh) = (w.div_ceil(2), h.div_ceil(2));
        let (mut nv, mut nk) = (vec![[0.0f32; 3]; nw * nh], vec![0.0f32; nw * nh]);
        for y in 0..h {
            for x in 0..w {
                let (i, j) = (y * w + x, (y / 2) * nw + x / 2);
                for c in 0..3 {
                    nv[j][c] += v[i][c];
                }
                nk[j] += k[i];
            }
        }
        levels.push((nw, nh, nv, nk));
    }
    // Pull: each level's own average where it has enough weight, the coarser one's elsewhere
    // (read bilinearly, clamped to the border).
    let mut filled: Option<(usize, usize, Vec<[f32; 3]>)> = None;
    for (w, h, v, k) in levels.into_iter().rev() {
        let mut out = vec![[0.0f32; 3]; w * h];
        out.par_chunks_mut(w)
            .with_min_len(8)
            .enumerate()
            .for_each(|(y, row)| {
                for (x, o) in row.iter_mut().enumerate() {
                    let i = y * w + x;
                    let own = if k[i] > 0.0 {
                        v[i].map(|s| s / k[i])
                    } else {
                        [0.0; 3]
                    };
                    let t = k[i].min(1.0);
                    *o = match &filled {
                        Some((cw, ch, coarse)) => {
                            let at = |px: f32, len: usize| {
                                let p = px.clamp(0.0, (len - 1) as f32);
                                let p0 = p.floor();
                                (p0 as usize, (p0 as usize + 1).min(len - 1), p - p0)
                            };
                            let (x0, x1, fx) = at(x as f32 / 2.0 - 0.25, *cw);
                            let (y0, y1, fy) = at(y as f32 / 2.0 - 0.25, *ch);
                            let px = |xx: usize, yy: usize| coarse[yy * cw + xx];
                            let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
                            [0, 1, 2].map(|ch| {
                                let top = a[ch] + (b[ch] - a[ch]) * fx;
                                let bottom = c[ch] + (d[ch] - c[ch]) * fx;
                                t * own[ch] + (1.0 - t) * (top + (bottom - top) * fy)
                            })
                        }
                        None => own,
                    };
                }
            });
        filled = Some((w, h, out));
    }
    let data = filled.map(|f| f.2).unwrap_or_default();
    [0, 1, 2].map(|c| Plane {
        width: w0,
        height: h0,
        data: data.iter().map(|p| p[c]).collect(),
    })
}

/// How deep (192x256 pixels) inside the network's garment [`beside_under_the_garment_edge`]
/// gives what lies under it what lies beside it: past the full-resolution mask's margin (half a
/// network pixel inside the soft low-resolution edge) and the bilinear read's reach.
const UNDER_REACH: f32 = 2.0;
/// Up to this warped-mask value a pixel lies outside the garment.
const UNCOVERED: f32 = 0.02;
/// A rendered pixel this far ([`shaded_distance`]) from both the garment's colour and what is
/// beside begins to count as a ghost; fully at twice this.
const GHOST_FROM: f32 = 0.1;

/// How far (mean absolute difference, [-1, 1] units) `colour` lies from `other` brightened or
/// darkened as shading does (its brightness scaled by 0.6-1.25, the best fit).
fn shaded_distance(colour: [f32; 3], other: [f32; 3]) -> f32 {
    let unit = |v: f32| (v + 1.0) / 2.0;
    let (dot, norm) = (0..3).fold((0.0, 0.0), |(dot, norm), c| {
        (
            dot + unit(colour[c]) * unit(other[c]),
            norm + unit(other[c]).powi(2),
        )
    });
    let scale = if norm > 1e-6 {
        (dot / norm).clamp(0.6, 1.25)
    } else {
        1.0
    };
    (0..3)
        .map(|c| (unit(colour[c]) - scale * unit(other[c])).abs())
        .sum::<f32>()
        * 2.0
        / 3.0
}

/// The garment as the network shows it, for [`beside_under_the_garment_edge`].
struct ShownGarment<'a> {
    /// The network's composition weight.
    composite: &'a Plane,
    /// The warped garment's mask.
    edge: &'a Plane,
    /// The warped garment.
    cloth: &'a [Plane],
    warped: &'a WarpedGarment,
    exposure: Exposure,
    /// How much of the network's soft edge stays the garment's (1 at the network's own size).
    own_edge: f32,
}

impl ShownGarment<'_> {
    /// The garment's own colour at pixel `i` (its outermost pixels hold the product shot's
    /// backdrop too: the nearest one inside), in the photo's light.
    fn colour(&self, i: usize) -> [f32; 3] {
        let from = self
            .warped
            .colour_from
            .as_ref()
            .filter(|(d, _)| d[i].is_finite())
            .map_or(i, |(_, nearest)| nearest[i] as usize);
        [0, 1, 2].map(|c| self.exposure.value_to_photo(self.cloth[c].data[from]))
    }
}

/// The pixels outside the warped garment's outline: joined to the grid's border through
/// pixels whose mask `edge` is at most `up_to`. Holes in the mask (a lace, a white garment on
/// its white backdrop) are inside.
pub(super) fn outside_the_garment(edge: &Plane, up_to: f32) -> Vec<bool> {
    let (w, h) = (edge.width, edge.height);
    let mut outside = vec![false; w * h];
    let mut stack: Vec<usize> = (0..w * h)
        .filter(|&i| {
            let (x, y) = (i % w, i / w);
            (x == 0 || y == 0 || x + 1 == w || y + 1 == h) && edge.data[i] <= up_to
        })
        .collect();
    while let Some(i) = stack.pop() {
        if outside[i] {
            continue;
        }
        outside[i] = true;
        let (x, y) = (i % w, i / w);
        for (ok, n) in [
            (x > 0, i.wrapping_sub(1)),
            (x + 1 < w, i + 1),
            (y > 0, i.wrapping_sub(w)),
            (y + 1 < h, i + w),
        ] {
            if ok && !outside[n] && edge.data[n] <= up_to {
                stack.push(n);
            }
        }
    }
    outside
}

/// Under its garment the generator renders a ghost (the old garment, or a light wash) that the
/// 192x256 composition never shows. At full resolution the garment's sharp mask ends a little
/// inside the network's soft edge, and the ghost would show in that gap as a line along the
/// garment (light where a dark old top was). Within [`UNDER_REACH`] of the warped garment's
/// outline, where the network shows the garment and its rendering there is unlike both the
/// garment and what lies beside (the generator's soft edge, a blend of the two, stays), what lies
/// under the garment becomes what lies beside it: the composed layer of the nearest pixel
/// outside (the rendered person where it replaces the photo, the photo elsewhere), inside the
/// person `region` (the photo's background past it). The ring of pixels right outside is not
/// taken from: there the rendering still blurs the ghost with what is beside, and the photo may
/// hold an old garment a little wider than the new one. It takes what lies beside it too, and
/// where its rendering replaced the photo in part, it replaces it twice as much.
fn beside_under_the_garment_edge(
    rendered: &mut [Plane],
    change: &mut Plane,
    garment: &ShownGarment,
    photo: &[Plane; 3],
    region: Option<&Plane>,
) {
    let ShownGarment {
        composite,
        edge,
        own_edge,
        ..
    } = *garment;
    let (w, h) = (composite.width, composite.height);
    let margin = UNDER_REACH as usize + 2;
    // Outside the warped garment, not where the network merely shows the person over it (an
    // arm in front): what is beside there belongs to the garment's inside, not its edge.
    // Holes in it (a white garment's mask on its white backdrop) are inside, not beside.
    let uncovered = outside_the_garment(edge, UNCOVERED);
    let covered: Vec<bool> = uncovered.iter().map(|&u| !u).collect();
    let (Some((outside, _)), Some((depth, _))) = (
        nearest_seed(&covered, w, h, margin),
        nearest_seed(&uncovered, w, h, margin),
    ) else {
        return;
    };
    // Beside: a step (diagonal ones included) from a covered pixel.
    let ring = |i: usize| uncovered[i] && outside[i] < 1.5;
    let weight: Vec<f32> = (0..w * h)
        .map(|i| {
            if covered[i] && edge.data[i] > UNCOVERED {
                // Only where the network shows the garment: elsewhere it renders the person.
                let shown = (composite.data[i] / edge.data[i]).clamp(0.0, 1.0);
                (UNDER_REACH + 1.0 - depth[i]).clamp(0.0, 1.0) * shown
            } else {
                0.0
            }
        })
        .collect();
    let known: Vec<bool> = (0..w * h).map(|i| uncovered[i] && !ring(i)).collect();
    // The nearest known pixel's composed layer, smoothed over 3x3: the thin zone takes what is
    // right beside it (an average over a wider reach would bring in what lies beyond, the
    // trousers below a belly).
    let Some((_, nearest)) = nearest_seed(&known, w, h, margin + 1) else {
        return;
    };
    let under = |c: usize, i: usize| {
        let ch = change.data[i];
        ch * rendered[c].data[i] + (1.0 - ch) * photo[c].data[i]
    };
    let copied: [Vec<f32>; 3] =
        [0, 1, 2].map(|c| nearest.iter().map(|&n| under(c, n as usize)).collect());
    let beside = |c: usize, i: usize| {
        let (x, y) = (i % w, i / w);
        let (mut sum, mut n) = (0.0, 0.0);
        for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
            for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                sum += copied[c][yy * w + xx];
                n += 1.0;
            }
        }
        sum / n
    };
    for (i, &weight) in weight.iter().enumerate() {
        let z = if ring(i) { 1.0 } else { weight };
        if z == 0.0 {
            continue;
        }
        // Only a ghost unlike both the garment and what is beside, each as shading may darken
        // or lighten it: the generator's soft edge, a blend of the two or the garment's shaded
        // rim (a person in their own garment), draws the outline the network meant.
        let beside = [0, 1, 2].map(|c| beside(c, i));
        let own = [0, 1, 2].map(|c| rendered[c].data[i]);
        let garment_colour = garment.colour(i);
        let unlike = shaded_distance(own, garment_colour).min(shaded_distance(own, beside));
        let z = z * ((unlike - GHOST_FROM) / GHOST_FROM).clamp(0.0, 1.0);
        if z == 0.0 {
            continue;
        }
        // The network's own composition there, with what is beside in place of its ghost.
        let share = own_edge * composite.data[i];
        for c in 0..3 {
            let b = share * garment_colour[c] + (1.0 - share) * beside[c];
            let r = &mut rendered[c].data[i];
            *r += z * (b - *r);
        }
        let ch = &mut change.data[i];
        if ring(i) {
            // Half a change here is the old garment's edge half kept: a dark line.
            *ch = (2.0 * *ch).min(1.0);
        } else {
            *ch = ch.max(region.map_or(z, |r| z * r.data[i]));
        }
    }
}

/// The composition weight's sigmoid part, `m_composite / warped_edge`, where the warped mask is
/// solid enough for the ratio to mean something; elsewhere the nearest such value (a few pixels
/// out). The full-resolution garment mask reaches slightly past the low-resolution one, and a
/// ratio of two near-zero numbers there would speckle the garment's edge.
fn composite_sigmoid(composite: &Plane, edge: &Plane) -> Plane {
    const SOLID: f32 = 0.5;
    let (w, h) = (composite.width, composite.height);
    let mut value = Plane::new(w, h);
    let mut known = vec![false; w * h];
    for (i, k) in known.iter_mut().enumerate() {
        if edge.data[i] >= SOLID {
            value.data[i] = (composite.data[i] / edge.data[i]).clamp(0.0, 1.0);
            *k = true;
        }
    }
    for _ in 0..3 {
        let (prev, prev_known) = (value.clone(), known.clone());
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if prev_known[i] {
                    continue;
                }
                let (mut sum, mut n) = (0.0, 0.0);
                for (dx, dy) in [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)] {
                    let (xx, yy) = (x as isize + dx, y as isize + dy);
                    if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
                        let j = yy as usize * w + xx as usize;
                        if prev_known[j] {
                            sum += prev.data[j];
                            n += 1.0;
                        }
                    }
                }
                if n > 0.0 {
                    value.data[i] = sum / n;
                    known[i] = true;
                }
            }
        }
    }
    value
}

/// The two source indices and the weight of the second that a bilinear read, pixel-centre
/// aligned (align_corners=False, as a linear resize), takes for output index `out` when `scale`
/// source pixels make one output pixel along an axis of `len` source pixels.
fn taps(out: usize, scale: f32, len: usize) -> (usize, usize, f32) {
    let s = (((out as f32 + 0.5) * scale - 0.5).max(0.0)).min((len - 1) as f32);
    let i = s.floor() as usize;
    (i, (i + 1).min(len - 1), s - i as f32)
}

/// A crop at the composition's size: as it is up to [`MAX_HIRES_HEIGHT`] pixels high, downscaled
/// to that height (on every core) above it.
pub fn composition_size(crop: RgbImage) -> RgbImage {
    downscaled_to_cap(&crop).unwrap_or(crop)
}

/// `crop` downscaled to [`MAX_HIRES_HEIGHT`] pixels high, when it is higher.
pub(crate) fn downscaled_to_cap(crop: &RgbImage) -> Option<RgbImage> {
    if crop.height() <= MAX_HIRES_HEIGHT {
        return None;
    }
    let w =
        (u64::from(crop.width()) * u64::from(MAX_HIRES_HEIGHT) / u64::from(crop.height())) as u32;
    Some(crate::resample::resize(
        crop,
        w.max(1),
        MAX_HIRES_HEIGHT,
        crate::resample::Filter::Lanczos3,
    ))
}

/// Composes the try-on at the person crop's resolution (capped at [`MAX_HIRES_HEIGHT`]).
pub fn compose_hires(out: &TryOn, inputs: &HiresInputs) -> Result<Hires, PipelineError> {
    let person = match downscaled_to_cap(inputs.person) {
        Some(capped) => std::borrow::Cow::Owned(capped),
        None => std::borrow::Cow::Borrowed(inputs.person),
    };
    if inputs.garment.dimensions() != inputs.garment_mask.dimensions() {
        return Err(PipelineError::Shape(vec![
            inputs.garment_mask.height() as usize,
            inputs.garment_mask.width() as usize,
        ]));
    }
    let (w, h) = (person.width() as usize, person.height() as usize);
    if inputs.keep_photo {
        return Ok(Hires {
            image: person.into_owned(),
            alpha: GrayImage::new(w as u32, h as u32),
        });
    }

    let grid = planes(&out.last_flow)?;
    let rendered = planes(&out.p_rendered)?;
    let composite = planes(&out.m_composite)?.remove(0);
    let warped_edge = planes(&out.warped_edge)?.remove(0);
    let cloth = planes(&out.warped_cloth)?;
    if grid.len() != 2 || rendered.len() != 3 {
        return Err(PipelineError::Shape(out.last_flow.dims().to_vec()));
    }
    let (lw, lh) = (composite.width, composite.height);
    let same_size = |p: &Plane| (p.width, p.height) == (lw, lh);
    if cloth.len() != 3
        || !cloth
            .iter()
            .chain(&rendered)
            .chain([&warped_edge])
            .all(same_size)
    {
        return Err(PipelineError::Shape(out.warped_cloth.dims().to_vec()));
    }

    // Where the rendered person matches what the network saw, the photo's own pixels are kept.
    let seen = rgb_planes(inputs.person_native);
    if (seen[0].width, seen[0].height) != (lw, lh) {
        return Err(PipelineError::Shape(vec![seen[0].height, seen[0].width]));
    }
    let mut rendered = rendered;
    let warped = WarpedGarment::find(&warped_edge);
    // The photo at the network's size (a linear filter is enough): the background plate is
    // filled from it, and what lies beside the garment's edge.
    let photo_low = crate::resample::resize(
        inputs.person,
        lw as u32,
        lh as u32,
        crate::resample::Filter::Triangle,
    );
    let mut plate = None;
    if let Some(matte) = inputs
        .person_matte
        .filter(|m| m.dimensions() == (lw as u32, lh as u32))
    {
        // The photo's background, to fill a smooth plate from, in the network's light, as what
        // it replaces.
        let mut photo = photo_low.clone();
        inputs.exposure.to_network(&mut photo, None);
        plate = background_plate(&rgb_planes(&photo), matte).map(|plate| (plate, matte));
        if let Some((plate, matte)) = &plate {
            restore_background(&mut rendered, &seen, matte, plate);
        }
    }
    // Compared after a slight blur: the generator reproduces what it keeps at low frequencies,
    // while fine texture (hair, fabric) differs even where nothing changed.
    let mut rendered_soft: Vec<Plane> = rendered.par_iter().map(|p| p.blurred(1)).collect();
    let seen_soft: Vec<Plane> = seen.par_iter().map(|p| p.blurred(1)).collect();
    discount_garment_bleed(
        &mut rendered_soft,
        &seen_soft,
        &cloth,
        &warped_edge,
        &warped,
    );
    let region = match inputs.person_matte {
        Some(matte) if matte.dimensions() == (lw as u32, lh as u32) => Some(person_region(matte)),
        Some(matte) => {
            return Err(PipelineError::Shape(vec![
                matte.height() as usize,
                matte.width() as usize,
            ]))
        }
        None => None,
    };
    // The arms of the pose, found once for the bounds beside them and for baring them.
    let arms = match (inputs.keypoints, inputs.person_matte) {
        (Some(keypoints), Some(matte)) if matte.dimensions() == (lw as u32, lh as u32) => {
            super::arms::Arms::find(&seen, matte, keypoints).map(|arms| (arms, keypoints, matte))
        }
        _ => None,
    };
    // `change`: how much of the rendered person replaces the photo (0 keeps the photo).
    let beside_arms = arms.as_ref().map(|(arms, ..)| arms.beside(&seen));
    let change = change_from_difference(
        &rendered_soft,
        &seen_soft,
        &warped.distance,
        beside_arms.as_deref(),
    );
    let mut change = change.blurred(1);
    if let Some(region) = &region {
        for (c, r) in change.data.iter_mut().zip(&region.data) {
            *c *= r;
        }
    }
    // The old top become skin, in the person's own colour. Before the arms are bared: the arm
    // rule paints what it finds of a sleeve over it.
    if let (Some((arms, keypoints, matte)), true) = (&arms, inputs.own_skin) {
        // The new garment's colour near each pixel (from inside its edge), in 0-255.
        let garment: Vec<Option<[f32; 3]>> = match &warped.colour_from {
            Some((d, nearest)) => (0..lw * lh)
                .map(|i| {
                    d[i].is_finite().then(|| {
                        [0, 1, 2].map(|c| (cloth[c].data[nearest[i] as usize] + 1.0) * 127.5)
                    })
                })
                .collect(),
            None => vec![None; lw * lh],
        };
        let view = super::skin::TorsoView {
            seen: &seen,
            matte,
            covered: &warped_edge,
            garment: &garment,
            keypoints,
        };
        let n = super::skin::own_skin_where_uncovered(arms, &view, &mut rendered, &mut change);
        log::debug!("old top become skin: {n} pixels");
    }
    if let (Some((arms, keypoints, matte)), true) = (&arms, inputs.bare_arms) {
        super::arms::bare_uncovered_arms(
            arms,
            &mut rendered,
            &mut change,
            &seen,
            matte,
            &warped_edge,
            keypoints,
        );
    }
    // The old top below a shorter new garment: the photo's lower garment, mirrored up. The
    // hem is where the garment shows (the network's composition), not its warped mask.
    let band = arms
        .as_ref()
        .filter(|_| inputs.mirror_hem)
        .and_then(|(arms, keypoints, matte)| {
            super::hem::band_below_hem(&seen, matte, &composite, &cloth, keypoints, arms)
        });
    if let Some(band) = &band {
        log::debug!("old top below the new hem: {} pixels mirrored", band.pixels);
    }
    // Where the rendered person is used, the photo's background in place of VITON's.
    if let Some((plate, matte)) = &plate {
        let person = Plane {
            width: lw,
            height: lh,
            data: matte.pixels().map(|p| f32::from(p[0]) / 255.0).collect(),
        };
        onto_photo_background(&mut rendered, &person.blurred(RENDERED_BLEND), plate);
    }
    // From here on, what the network painted is in the photo's light.
    if !inputs.exposure.is_neutral() {
        for v in rendered.iter_mut().flat_map(|p| p.data.iter_mut()) {
            *v = inputs.exposure.value_to_photo(*v);
        }
    }
    let shown = ShownGarment {
        composite: &composite,
        edge: &warped_edge,
        cloth: &cloth,
        warped: &warped,
        exposure: inputs.exposure,
        // At the network's own size the full-resolution mask, thinner by its margin, has no
        // finer edge to give: there the network's soft edge stays. From twice that size on,
        // the sharp mask is the edge.
        own_edge: (2.0 - w as f32 / lw as f32).clamp(0.0, 1.0),
    };
    beside_under_the_garment_edge(
        &mut rendered,
        &mut change,
        &shown,
        &rgb_planes(&photo_low),
        region.as_ref(),
    );
    fade_towards_seams(&mut change, inputs.seams);

    // The network's mask is sigmoid(logit) * warped_edge: keep the sigmoid part at low
    // resolution and multiply by the sharp full-resolution warped mask.
    let sigmoid = composite_sigmoid(&composite, &warped_edge);

    // The garment as the network saw it, premultiplied by its binary mask: sampled and divided
    // by the sampled mask, the colour at the edge is the garment's own, with no grey or white
    // from outside it.
    let mask_plane = {
        let (gw, gh) = inputs.garment_mask.dimensions();
        let binary = Plane {
            width: gw as usize,
            height: gh as usize,
            data: inputs
                .garment_mask
                .pixels()
                .map(|p| if p[0] > 127 { 1.0 } else { 0.0 })
                .collect(),
        };
        // A product shot's outermost garment pixels are blended with its (white) backdrop; at
        // high resolution they would draw a light outline. The mask loses them: about half a
        // network pixel, at least one garment pixel.
        let r = ((gh as f32 / NATIVE_SIZE.0 as f32) / 2.0).round().max(1.0) as usize;
        binary.eroded(r)
    };
    let garment_pixels = if inputs.exposure.is_neutral() {
        std::borrow::Cow::Borrowed(inputs.garment)
    } else {
        let mut shaded = inputs.garment.clone();
        inputs.exposure.to_photo(&mut shaded);
        std::borrow::Cow::Owned(shaded)
    };
    let garment = Premultiplied {
        width: mask_plane.width,
        height: mask_plane.height,
        data: garment_pixels
            .pixels()
            .zip(&mask_plane.data)
            .map(|(p, &m)| {
                let c = |i: usize| (f32::from(p[i]) / 127.5 - 1.0) * m;
                [m, c(0), c(1), c(2)]
            })
            .collect(),
    };
    let (gw, gh) = (mask_plane.width as f32, mask_plane.height as f32);
    // The low-resolution planes are read bilinearly at each output pixel (pixel-centre
    // aligned, as [`Plane::resized`]), with no full-resolution copies.
    let (sx, sy) = (lw as f32 / w as f32, lh as f32 / h as f32);
    // The part to compose, scaled like the person when it was capped.
    let (rx0, ry0, rx1, ry1) = match inputs.inside {
        Some((x, y, rw, rh)) => {
            let f = w as f64 / f64::from(inputs.person.width().max(1));
            let at = |v: u32, max: usize| ((f64::from(v) * f).round() as usize).min(max);
            (at(x, w), at(y, h), at(x + rw, w), at(y + rh, h))
        }
        None => (0, 0, w, h),
    };

    // Bilinear reads of the low-resolution planes are separable: each output column's two
    // source columns and weight are found once, and each output row first blends its two source
    // rows of every plane (what `Plane::sample` computes, without its per-pixel clamping).
    let columns: Vec<(usize, usize, f32)> = (0..w).map(|x| taps(x, sx, lw)).collect();
    // The band's mirror axis at each output column, in 192x256 rows.
    let no_band = Plane::new(lw, lh);
    let (band_weight, band_axis) = match &band {
        Some(band) => (
            &band.weight,
            columns
                .iter()
                .map(|&(x0, x1, fx)| band.axis[x0] + (band.axis[x1] - band.axis[x0]) * fx)
                .collect(),
        ),
        None => (&no_band, Vec::new()),
    };
    // Planes read per row, in this order: the composition's sigmoid part, the person's change,
    // the flow's x and y, the rendered person's three channels, the band's weight.
    let low_planes: [&Plane; 8] = [
        &sigmoid,
        &change,
        &grid[0],
        &grid[1],
        &rendered[0],
        &rendered[1],
        &rendered[2],
        band_weight,
    ];
    let own_pixels = person.as_raw();

    let mut result = RgbImage::new(w as u32, h as u32);
    let mut alpha = GrayImage::new(w as u32, h as u32);
    result
        .par_chunks_mut(3 * w)
        .zip(alpha.par_chunks_mut(w))
        .enumerate()
        .for_each_init(
            || vec![0f32; 8 * lw],
            |rows, (y, (row, alpha_row))| {
                let own_row = &own_pixels[3 * w * y..3 * w * (y + 1)];
                row.copy_from_slice(own_row);
                if !(ry0..ry1).contains(&y) {
                    return;
                }
                let (y0, y1, fy) = taps(y, sy, lh);
                for (plane, line) in low_planes.iter().zip(rows.chunks_mut(lw)) {
                    let (a, b) = (&plane.data[y0 * lw..][..lw], &plane.data[y1 * lw..][..lw]);
                    for ((v, &a), &b) in line.iter_mut().zip(a).zip(b) {
                        *v = a + (b - a) * fy;
                    }
                }
                let line = |p: usize, x: usize| {
                    let (x0, x1, fx) = columns[x];
                    let l = &rows[p * lw..(p + 1) * lw];
                    l[x0] + (l[x1] - l[x0]) * fx
                };
                for x in rx0..rx1 {
                    let sig = line(0, x);
                    let ch = line(1, x);
                    let mirrored = line(7, x);
                    if sig == 0.0 && ch == 0.0 && mirrored == 0.0 {
                        // Nothing new: the photo's pixel, already copied, alpha 0.
                        continue;
                    }
                    let (m, cloth) = if sig == 0.0 {
                        (0.0, [0.0; 3])
                    } else {
                        // align_corners=True: -1 is the first pixel's centre, +1 the last one's.
                        let gx = (line(2, x) + 1.0) / 2.0 * (gw - 1.0);
                        let gy = (line(3, x) + 1.0) / 2.0 * (gh - 1.0);
                        let [edge, r, g, b] = garment.sample(gx, gy);
                        let cloth = if edge > 1e-4 {
                            [r / edge, g / edge, b / edge]
                        } else {
                            [0.0; 3]
                        };
                        (sig * edge, cloth)
                    };
                    // The photo's share of the pixel.
                    let own = (1.0 - m) * (1.0 - ch) * (1.0 - mirrored);
                    let a = level((1.0 - own) * 255.0);
                    alpha_row[x] = a;
                    if a == 0 {
                        // Where nothing is new: exactly the photo's pixel, no trip through floats.
                        continue;
                    }
                    // The photo's pixel that the band mirrors here (this one below the axis).
                    let mirror_at = if mirrored > 0.0 {
                        let src = super::hem::Band::source_row(band_axis[x], y, h, lh);
                        3 * (w * src + x)
                    } else {
                        3 * (w * y + x)
                    };
                    for c in 0..3 {
                        let photo = f32::from(own_row[3 * x + c]) / 127.5 - 1.0;
                        let mut under = ch * line(4 + c, x) + (1.0 - ch) * photo;
                        if mirrored > 0.0 {
                            let m_px = f32::from(own_pixels[mirror_at + c]) / 127.5 - 1.0;
                            under = mirrored * m_px + (1.0 - mirrored) * under;
                        }
                        let v = m * cloth[c] + (1.0 - m) * under;
                        row[3 * x + c] = level((v + 1.0) * 127.5);
                    }
                }
            },
        );
    Ok(Hires {
        image: result,
        alpha,
    })
}

/// The uncropped photo with a try-on pasted over its crop: each pixel of the crop that lies in
/// the photo takes the try-on's pixel where it is new (`alpha` > 0) and keeps the photo's own
/// otherwise, bit for bit. A try-on computed at another size (capped at [`MAX_HIRES_HEIGHT`]) is
/// read bilinearly at each pixel where its alpha is not zero and blended by that alpha, rows in
/// parallel: a phone photo's crop is never resized whole. The part of the crop past the photo's
/// edges is dropped.
pub fn paste_back(photo: &RgbImage, crop: Crop, hires: &Hires) -> RgbImage {
    let mut out = photo.clone();
    let Some((ox, oy, ow, oh)) = crop.overlap(photo.width(), photo.height()) else {
        return out;
    };
    let (hw, hh) = hires.image.dimensions();
    if hires.alpha.dimensions() != (hw, hh) || hw == 0 || hh == 0 {
        return out;
    }
    let same = (hw, hh) == (crop.width, crop.height);
    let width = photo.width() as usize;
    let x_in_crop = (i64::from(ox) - i64::from(crop.x)) as usize;
    let (ox, ow, hw) = (ox as usize, ow as usize, hw as usize);
    let (sx, sy) = (
        hw as f32 / crop.width as f32,
        hh as f32 / crop.height as f32,
    );
    let columns: Vec<(usize, usize, f32)> = (0..ow).map(|x| taps(x_in_crop + x, sx, hw)).collect();
    let (image, alpha) = (hires.image.as_raw(), hires.alpha.as_raw());
    out.par_chunks_mut(3 * width)
        .enumerate()
        .skip(oy as usize)
        .take(oh as usize)
        .for_each(|(y, row)| {
            let cy = (y as i64 - i64::from(crop.y)) as usize;
            let out_row = &mut row[3 * ox..3 * (ox + ow)];
            if same {
                let new_row = &image[3 * (cy * hw + x_in_crop)..][..3 * ow];
                let alpha_row = &alpha[cy * hw + x_in_crop..][..ow];
                for ((p, new), &a) in out_row
                    .chunks_exact_mut(3)
                    .zip(new_row.chunks_exact(3))
                    .zip(alpha_row)
                {
                    // The composition already blended the photo's pixel where alpha < 255.
                    if a != 0 {
                        p.copy_from_slice(new);
                    }
                }
                return;
            }
            let (y0, y1, fy) = taps(cy, sy, hh as usize);
            let (a0, a1) = (&alpha[y0 * hw..][..hw], &alpha[y1 * hw..][..hw]);
            for (p, &(x0, x1, fx)) in out_row.chunks_exact_mut(3).zip(&columns) {
                let corners = [a0[x0], a0[x1], a1[x0], a1[x1]];
                if corners == [0; 4] {
                    continue;
                }
                let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
                let at = |values: [u8; 4]| {
                    let [tl, tr, bl, br] = values.map(f32::from);
                    lerp(lerp(tl, tr, fx), lerp(bl, br, fx), fy)
                };
                let a = at(corners) / 255.0;
                for (c, v) in p.iter_mut().enumerate() {
                    let px = |yy: usize, xx: usize| image[3 * (yy * hw + xx) + c];
                    let new = at([px(y0, x0), px(y0, x1), px(y1, x0), px(y1, x1)]);
                    *v = level(new * a + f32::from(*v) * (1.0 - a));
                }
            }
        });
    out
}

/// A pixel of a plane set, for tests.
#[cfg(test)]
fn pixel(planes: &[Plane; 3], x: usize, y: usize) -> image::Rgb<u8> {
    image::Rgb([0, 1, 2].map(|c| ((planes[c].at(x, y) + 1.0) * 127.5).round() as u8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn plane_resize_preserves_constants_and_ramps() {
        let p = Plane {
            width: 4,
            height: 4,
            data: (0..16).map(|i| (i % 4) as f32).collect(),
        };
        let up = p.resized(8, 8);
        // Pixel-centre aligned: output x maps to (x + 0.5) / 2 - 0.5.
        assert!((up.at(1, 0) - 0.25).abs() < 1e-6);
        assert!((up.at(7, 3) - 3.0).abs() < 1e-6);
        let c = Plane {
            width: 3,
            height: 5,
            data: vec![0.5; 15],
        }
        .resized(11, 13);
        assert!(c.data.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }

    #[test]
    fn planes_round_trip_pixels() {
        let img = RgbImage::from_fn(5, 4, |x, y| Rgb([x as u8 * 40, y as u8 * 60, 200]));
        let p = rgb_planes(&img);
        assert_eq!(pixel(&p, 3, 2), *img.get_pixel(3, 2));
    }

    /// Far from the warped garment a tint the generator adds keeps the photo; beside the
    /// garment or the arms, or where the change is clear, the rendering replaces it.
    #[test]
    fn a_shaded_colour_is_near_and_another_hue_far() {
        let purple = [-0.33, -0.72, -0.05];
        // The same purple a fifth darker, as a fold shades it: near.
        let darker = purple.map(|v: f32| (v + 1.0) * 0.8 - 1.0);
        assert!(shaded_distance(darker, purple) < 1e-5);
        // Darker than shading goes: the rest counts.
        let black = purple.map(|v: f32| (v + 1.0) * 0.3 - 1.0);
        assert!(shaded_distance(black, purple) > 0.1);
        // The light green-grey a generator leaves under a purple garment: far from it.
        let ghost = [0.10, 0.29, 0.18];
        assert!(shaded_distance(ghost, purple) > 0.4);
        // Nothing to scale (black): the plain distance.
        assert!((shaded_distance([0.0; 3], [-1.0; 3]) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn away_from_the_garment_only_a_clear_change_replaces_the_photo() {
        let (w, h) = (40usize, 64usize);
        let plane = |f: &dyn Fn(usize, usize) -> f32| Plane::from_fn(w, h, f);
        // The new garment over rows 8-23; below it the network changed the photo by 0.2 (a
        // tint, between the near and the far bounds), and by 0.5 in a patch far below.
        let edge = plane(&|_, y| if (8..24).contains(&y) { 1.0 } else { 0.0 });
        let seen: Vec<Plane> = (0..3).map(|_| plane(&|_, _| 0.0)).collect();
        let rendered: Vec<Plane> = (0..3)
            .map(|_| plane(&|x, y| if y >= 56 && x < 10 { 0.5 } else { 0.2 }))
            .collect();
        let distance = WarpedGarment::find(&edge).distance;
        let change = change_from_difference(&rendered, &seen, &distance, None);
        let at = |p: &Plane, y: usize| p.data[y * w + 20];
        // Beside the garment the tint replaces the photo; far from it, it mostly keeps it.
        assert_eq!(at(&change, 26), 1.0);
        let far = (0.2 - FAR_KEEP_FROM) / (FAR_KEEP_UNTIL - FAR_KEEP_FROM);
        assert!((at(&change, 50) - far).abs() < 1e-5, "{}", at(&change, 50));
        assert!(far < 0.3);
        // In between, the bounds move with the distance.
        assert!(at(&change, 34) < 1.0 && at(&change, 34) > at(&change, 50));
        // A clear change replaces it anywhere.
        assert_eq!(change.data[60 * w + 5], 1.0);
        // Beside the arms (an old sleeve there) the tint counts as near the garment.
        let arms: Vec<bool> = (0..w * h).map(|i| i % w >= 16).collect();
        let change = change_from_difference(&rendered, &seen, &distance, Some(&arms));
        assert!((0..h).all(|y| at(&change, y) == 1.0));
        assert!((change.data[50 * w + 5] - far).abs() < 1e-5);
        // Without a garment, every pixel is far from it.
        let none = WarpedGarment::find(&plane(&|_, _| 0.0)).distance;
        let change = change_from_difference(&rendered, &seen, &none, None);
        assert!((at(&change, 26) - far).abs() < 1e-5);
    }

    /// Where the network turned the old garment into VITON's background, the photo's own
    /// background (filled in from around the person) comes back; what the network kept light,
    /// and everything outside the matte, stays as rendered.
    #[test]
    fn background_the_network_paints_becomes_the_photos() {
        let (w, h) = (24usize, 32usize);
        let plane = |f: &dyn Fn(usize, usize) -> f32| Plane::from_fn(w, h, f);
        let person = |x: usize, y: usize| (6..18).contains(&x) && (4..30).contains(&y);
        let matte = GrayImage::from_fn(w as u32, h as u32, |x, y| {
            image::Luma([if person(x as usize, y as usize) {
                255
            } else {
                0
            }])
        });
        // The photo: a blue wall around a dark jacket; the network saw the jacket.
        let blue = [-0.6f32, -0.2, 0.7];
        let photo: [Plane; 3] =
            [0, 1, 2].map(|c| plane(&|x, y| if person(x, y) { -0.9 } else { blue[c] }));
        let seen = photo.clone();
        // Rendered: VITON's background where the jacket's sleeves were (x < 9), a light cap the
        // network kept (y < 8, seen light too), the new garment elsewhere.
        let bg = crate::pipeline::VITON_BACKGROUND
            .0
            .map(|v| f32::from(v) / 127.5 - 1.0);
        let mut seen = seen;
        for plane in seen.iter_mut() {
            for y in 4..8 {
                for x in 6..18 {
                    plane.data[y * w + x] = 0.95;
                }
            }
        }
        let mut rendered: Vec<Plane> = (0..3)
            .map(|c| {
                plane(&|x, y| {
                    if !person(x, y) || x < 9 || y < 8 {
                        bg[c]
                    } else {
                        0.3
                    }
                })
            })
            .collect();
        let plate = background_plate(&photo, &matte).unwrap();
        restore_background(&mut rendered, &seen, &matte, &plate);
        let at = |x: usize, y: usize| [0, 1, 2].map(|c| rendered[c].data[y * w + x]);
        // The sleeve's place shows the wall.
        for (c, v) in at(7, 20).iter().enumerate() {
            assert!((v - blue[c]).abs() < 0.05, "{:?}", at(7, 20));
        }
        // The cap, the new garment and the outside are as rendered.
        assert_eq!(at(12, 5), bg);
        assert_eq!(at(12, 20), [0.3; 3]);
        assert_eq!(at(2, 20), bg);
    }

    /// Around the person the network saw VITON's light background; its rendering there, and
    /// in the soft edge where person and background blend, takes the photo's background instead
    /// in the share the matte leaves to background, so no light halo is pasted into a dark
    /// photo. Inside the person nothing changes.
    #[test]
    fn the_background_the_network_saw_gives_way_to_the_photos() {
        let (w, h) = (16usize, 8usize);
        let share = |x: usize| match x {
            0..=5 => 0u8,
            6 => 128,
            _ => 255,
        };
        let matte = GrayImage::from_fn(w as u32, h as u32, |x, _| image::Luma([share(x as usize)]));
        let (dark, person) = ([-0.8f32, -0.7, -0.4], [0.2f32, -0.1, -0.3]);
        let bg = viton_background();
        let planes = |f: &dyn Fn(usize, usize) -> f32| Plane {
            width: w,
            height: h,
            data: (0..w * h).map(|i| f(i % w, i)).collect(),
        };
        let photo: [Plane; 3] =
            [0, 1, 2].map(|c| planes(&|x, _| if x < 7 { dark[c] } else { person[c] }));
        let plate = background_plate(&photo, &matte).unwrap();
        let mut rendered: Vec<Plane> = (0..3)
            .map(|c| {
                planes(&|x, _| match x {
                    0..=5 => bg[c],
                    6 => (bg[c] + person[c]) / 2.0,
                    _ => person[c],
                })
            })
            .collect();
        let matte_share = Plane {
            width: w,
            height: h,
            data: matte.pixels().map(|p| f32::from(p[0]) / 255.0).collect(),
        };
        onto_photo_background(&mut rendered, &matte_share, &plate);
        let at = |x: usize| [0, 1, 2].map(|c| rendered[c].data[3 * w + x]);
        for c in 0..3 {
            assert!((at(2)[c] - dark[c]).abs() < 1e-5, "{:?}", at(2));
            let edge = (dark[c] + person[c]) / 2.0;
            assert!((at(6)[c] - edge).abs() < 0.01, "{:?}", at(6));
            assert_eq!(at(10)[c], person[c]);
        }
    }

    /// The chamfer transform finds each pixel's nearest seed and its distance (1 per step along
    /// an axis, 1.4 diagonally), and nothing where there is no seed.
    #[test]
    fn each_pixel_finds_its_nearest_seed() {
        let (w, h) = (9usize, 7usize);
        let mut seed = vec![false; w * h];
        seed[w + 1] = true;
        seed[5 * w + 7] = true;
        let (distance, nearest) = nearest_seed(&seed, w, h, 9).unwrap();
        let at = |x: usize, y: usize| (distance[y * w + x], nearest[y * w + x] as usize);
        assert_eq!(at(1, 1), (0.0, w + 1));
        assert_eq!(at(4, 1), (3.0, w + 1));
        assert!((at(3, 3).0 - 2.8).abs() < 1e-5 && at(3, 3).1 == w + 1);
        assert_eq!(at(7, 2), (3.0, 5 * w + 7));
        assert!((at(8, 6).0 - 1.4).abs() < 1e-5 && at(8, 6).1 == 5 * w + 7);
        assert!(nearest_seed(&vec![false; w * h], w, h, 9).is_none());
        // Only so far around the seeds' box.
        let (distance, _) = nearest_seed(&seed, w, h, 0).unwrap();
        assert!((distance[3 * w + 4] - 3.8).abs() < 1e-5);
        assert_eq!(distance[5 * w + 8], f32::INFINITY);
    }

    #[test]
    fn paste_back_replaces_only_the_crop() {
        let photo = RgbImage::from_pixel(100, 80, Rgb([10, 10, 10]));
        let crop = Crop {
            x: 20,
            y: 10,
            width: 30,
            height: 40,
        };
        let hires = Hires {
            image: RgbImage::from_pixel(60, 80, Rgb([200, 0, 0])),
            alpha: GrayImage::from_pixel(60, 80, image::Luma([255])),
        };
        let out = paste_back(&photo, crop, &hires);
        assert_eq!(out.get_pixel(35, 30).0, [200, 0, 0]);
        assert_eq!(out.get_pixel(5, 5).0, [10, 10, 10]);
        assert_eq!(out.get_pixel(60, 30).0, [10, 10, 10]);
    }

    /// A try-on composed at half the crop's size (as a phone photo's is, capped at
    /// [`MAX_HIRES_HEIGHT`]) is read where its alpha is not zero, bilinearly, and blended by it:
    /// within a level of resizing it whole to the crop (a linear filter) and blending; where all
    /// its alpha around is zero the photo's pixel stays, bit for bit, also for a crop reaching
    /// past the photo's edges.
    #[test]
    fn a_smaller_try_on_is_read_where_it_is_new() {
        let noise = |x: u32, y: u32, k: u32| ((x * 7919 + y * 104_729 + k * 31) % 251) as u8;
        let photo = RgbImage::from_fn(150, 170, |x, y| Rgb([noise(x, y, 0), noise(x, y, 1), 90]));
        let crop = Crop {
            x: -10,
            y: 20,
            width: 120,
            height: 160,
        };
        let inside = |x: u32, y: u32| (x as i32 - 30).pow(2) + (y as i32 - 40).pow(2) < 400;
        let hires = Hires {
            image: RgbImage::from_fn(60, 80, |x, y| Rgb([noise(x, y, 2), 40, noise(y, x, 3)])),
            alpha: GrayImage::from_fn(60, 80, |x, y| {
                image::Luma([if inside(x, y) { (100 + x + y) as u8 } else { 0 }])
            }),
        };
        let out = paste_back(&photo, crop, &hires);
        let filter = image::imageops::FilterType::Triangle;
        let image = image::imageops::resize(&hires.image, 120, 160, filter);
        let alpha = image::imageops::resize(&hires.alpha, 120, 160, filter);
        let mut blended = 0;
        for (x, y, p) in out.enumerate_pixels() {
            let (cx, cy) = (x as i32 - crop.x, y as i32 - crop.y);
            let in_crop = (0..120).contains(&cx) && (0..160).contains(&cy);
            let a = if in_crop {
                alpha.get_pixel(cx as u32, cy as u32)[0]
            } else {
                0
            };
            let own = photo.get_pixel(x, y);
            if a == 0 {
                assert_eq!(p, own, "({x}, {y})");
                continue;
            }
            blended += 1;
            let new = image.get_pixel(cx as u32, cy as u32);
            for c in 0..3 {
                let a = f32::from(a) / 255.0;
                let expected = f32::from(new[c]) * a + f32::from(own[c]) * (1.0 - a);
                assert!(
                    (f32::from(p[c]) - expected).abs() <= 2.0,
                    "({x}, {y}) {c}: {} vs {expected}",
                    p[c]
                );
            }
        }
        assert!(blended > 1000, "{blended}");
    }

    /// A photo of noise, a try-on whose alpha is zero outside a disc: every pixel outside the
    /// disc, and outside the crop, is the photo's bit for bit, also for a crop that reaches past
    /// the photo's edges.
    #[test]
    fn paste_back_keeps_every_pixel_outside_the_mask() {
        let noise = |x: u32, y: u32| ((x * 7919 + y * 104_729) % 251) as u8;
        let photo = RgbImage::from_fn(64, 48, |x, y| Rgb([noise(x, y), noise(y, x), 77]));
        let crop = Crop {
            x: -6,
            y: -10,
            width: 45,
            height: 60,
        };
        let inside = |x: u32, y: u32| (x as i32 - 22).pow(2) + (y as i32 - 30).pow(2) < 100;
        let hires = Hires {
            image: RgbImage::from_pixel(45, 60, Rgb([1, 2, 3])),
            alpha: GrayImage::from_fn(45, 60, |x, y| {
                image::Luma([if inside(x, y) { 128 } else { 0 }])
            }),
        };
        let out = paste_back(&photo, crop, &hires);
        let mut changed = 0;
        for (x, y, p) in out.enumerate_pixels() {
            let (cx, cy) = (x as i32 - crop.x, y as i32 - crop.y);
            let in_disc = cx >= 0 && cy >= 0 && cx < 45 && cy < 60 && inside(cx as u32, cy as u32);
            if in_disc {
                changed += usize::from(p != photo.get_pixel(x, y));
            } else {
                assert_eq!(p, photo.get_pixel(x, y), "({x}, {y})");
            }
        }
        assert!(changed > 200, "{changed}");
    }
}
