//! The old top becomes the person's own skin. Where the new garment leaves the old top
//! uncovered on the torso (above a camisole's neckline, beside its straps, below a crop top's
//! hem), the compact generator paints skin, but not the person's: a pale, blotchy pink that
//! keeps a ghost of the old top's print, the same for every person, as pale on a dark-skinned
//! person as on a fair one. There the rendering keeps its shading and takes the colour of the
//! person's skin beside it (the neck above a neckline, the arms) or, failing that, the face's.
//!
//! Found at the network's 192x256 from the old top's colour at the chest, the matte, the pose's
//! face and where the new garment lies, before [`super::arms`] paints the old sleeves it finds
//! as bare arms. A region the network does not paint as skin (an old collar it keeps, a white
//! tee left under a camisole) is left to it.

use image::GrayImage;

use super::arms::{face_skin, joint, median_colour, rgb_at, ycbcr, Arms};
use super::hires::{outside_the_garment, Plane};
use crate::person::Keypoint;

/// What becomes of an old top the new garment leaves uncovered on the torso, where the network
/// paints skin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Skin {
    /// It takes the person's own skin colour (with the pose and the matte).
    #[default]
    Own,
    /// Left as the network renders it.
    Keep,
}

option_enum!(Skin, SkinSyntax, "skin", Own = "own", Keep = "keep");

/// A pixel of what the network saw is the old top's when every channel lies within this many
/// levels of the chest's colour (folds and shade included).
const TOP_TOLERANCE: f32 = 30.0;

/// The old top lit or shaded (a chroma within this many levels of its own scaled by the
/// brightness, within [`SHADE_RANGE`] of it), for a top at least [`SHADED_FROM`] bright.
const TOP_CHROMA: f32 = 10.0;
const SHADED_FROM: f32 = 60.0;

/// Above the armpits (the lower shoulder, and this share of the shoulder width below it) the
/// old top's brightness may range this far from its chest's.
const ARMPITS: f32 = 0.5;
const SHOULDER_SHADE_RANGE: (f32, f32) = (0.5, 2.0);

/// Up to this warped-mask value a pixel is not under the new garment.
const COVERED: f32 = 0.3;

/// Of an uncovered part of the old top, at least this share must be painted as skin.
const SKIN_SHARE: f32 = 0.6;

/// The largest print (pixels) within the old top that counts as the top.
const MAX_HOLE: usize = 400;

/// Parts of the old top thinner than twice this (pixels) are left to the network.
const THIN: usize = 2;

/// An uncovered part of the old top lies within this many pixels of the new garment.
const NEAR_GARMENT: usize = 2;

/// A rendered pixel painted as skin has at least this much red chroma (YCbCr).
const WARM: f32 = 3.0;

/// A warm old top darker than this (luma) is taken for skin under a mesh or a sheer fabric.
const SHEER_BELOW: f32 = 90.0;

/// A rendered pixel within this many levels (RGB, mean absolute) of the nearest new garment's
/// colour is its smear, not skin.
const GARMENT_TOLERANCE: f32 = 30.0;

/// The skin beside a region is looked for within this many pixels of it.
const BESIDE: usize = 4;

/// The least samples of lit skin beside a region for its colour to be used (else the face's).
const MIN_BESIDE: usize = 8;

/// Fewer pixels than this are specks, not an uncovered part of the old top.
const MIN_PIXELS: usize = 12;

/// The rendering's shading, relative to its median over the region, is kept within these
/// bounds: beyond them it is a ghost of the old top, not light on skin.
const SHADE_RANGE: (f32, f32) = (0.75, 1.15);

/// A rendered pixel whose brightness lies further than this share from the region's median is
/// left out of the shading.
const SHADE_OUTLIER: f32 = 0.1;

/// Blur radius (pixels) of the rendering's brightness that shades the skin: its speckle and
/// the old print's ghost are finer than the torso's light.
const SHADE_BLUR: usize = 2;

/// Whether a colour (0-255) is hued like skin: its chroma (YCbCr) in the range that holds
/// every skin tone, lit or shaded (a grey wash, a red or an orange are not).
fn skin_hued(rgb: [f32; 3]) -> bool {
    let [_, cb, cr] = ycbcr(rgb);
    (77.0 - 128.0..=127.0 - 128.0).contains(&cb) && (133.0 - 128.0..=173.0 - 128.0).contains(&cr)
}

fn luma(rgb: [f32; 3]) -> f32 {
    ycbcr(rgb)[0]
}

/// The person as the network saw them and where the new garment lies, all at the same 192x256.
#[derive(Clone, Copy)]
pub(super) struct TorsoView<'a> {
    /// What the network saw ([-1, 1]).
    pub(super) seen: &'a [Plane; 3],
    /// The person's matte.
    pub(super) matte: &'a GrayImage,
    /// The warped garment's mask ([0, 1]).
    pub(super) covered: &'a Plane,
    /// The new garment's colour near each pixel (from inside its edge, 0-255), where known.
    pub(super) garment: &'a [Option<[f32; 3]>],
    /// The pose.
    pub(super) keypoints: &'a [Keypoint],
}

/// Gives the old top that the new garment leaves uncovered on the torso, where the network
/// paints it as skin, the person's own skin colour. `rendered` (the network's rendered person,
/// [-1, 1]) takes it, shaded as the network shaded it, and `change` becomes 1 there, softly.
/// `arms` are the pose's arms in `view` ([`Arms::find`]). Returns how many pixels took the
/// skin's colour.
pub(super) fn own_skin_where_uncovered(
    arms: &Arms,
    view: &TorsoView,
    rendered: &mut [Plane],
    change: &mut Plane,
) -> usize {
    let TorsoView {
        seen,
        matte,
        covered,
        garment,
        keypoints,
    } = *view;
    let (w, h) = (seen[0].width, seen[0].height);
    if matte.dimensions() != (w as u32, h as u32)
        || (covered.width, covered.height) != (w, h)
        || rendered.len() != 3
    {
        return 0;
    }
    let Some(skin) = face_skin(seen, matte, keypoints) else {
        return 0;
    };
    let Some(top) = arms.top() else {
        return 0;
    };
    // An old top of the skin's colour cannot be told from the skin, nor a dark one that is
    // warm: skin showing through a mesh or a sheer top.
    let warm = |c: [f32; 3]| {
        let [_, cb, cr] = ycbcr(c);
        cb < 0.0 && cr > WARM
    };
    if skin.matches(top) || skin_hued(top) || (warm(top) && luma(top) < SHEER_BELOW) {
        return 0;
    }
    let like_top = |c: [f32; 3]| (0..3).all(|k| (c[k] - top[k]).abs() <= TOP_TOLERANCE);
    // The shoulders' height (the lower one) and the armpits' below it.
    let shoulders: Vec<(f32, f32)> = [11, 12]
        .iter()
        .filter_map(|&i| joint(keypoints, i))
        .collect();
    let lower_shoulder = shoulders
        .iter()
        .map(|p| p.1)
        .fold(f32::NEG_INFINITY, f32::max);
    let armpits = match shoulders[..] {
        [l, r] => lower_shoulder + ARMPITS * (l.0 - r.0).hypot(l.1 - r.1),
        _ => f32::NEG_INFINITY,
    };
    // In the photo, the old top lit or shaded too: its chroma scaled by the brightness (a grey
    // top's lit shoulder); a dark top has too little light to scale. Above the armpits a top
    // catches the most light and shade, and nothing of the person but the skin and the hair
    // lies beside it: a wider range there.
    let top_ycc = ycbcr(top);
    let shaded_top = |c: [f32; 3], y: f32| {
        let ycc = ycbcr(c);
        let share = ycc[0] / top_ycc[0].max(1.0);
        let (low, high) = if y < armpits {
            SHOULDER_SHADE_RANGE
        } else {
            (SHADE_RANGE.0, 1.0 / SHADE_RANGE.0)
        };
        like_top(c)
            || (top_ycc[0] >= SHADED_FROM
                && (low..=high).contains(&share)
                && (ycc[1] - top_ycc[1] * share).hypot(ycc[2] - top_ycc[2] * share) <= TOP_CHROMA)
    };
    // Where the old top may show: on the person, outside the new garment (the holes of a lace
    // or a mesh in its mask are the garment's, with the skin the photo shows through them),
    // not skin in the photo (like the face, or hued like any skin: a pale neck beside a white
    // top may be less rosy than a face).
    let outside = outside_the_garment(covered, COVERED);
    let open: Vec<bool> = (0..w * h)
        .map(|i| {
            matte.as_raw()[i] >= 128
                && outside[i]
                && !skin.matches(rgb_at(seen, i))
                && !skin_hued(rgb_at(seen, i))
        })
        .collect();
    // The old top: its colour at the chest, lit or shaded.
    let top_pixels: Vec<bool> = (0..w * h)
        .map(|i| open[i] && shaded_top(rgb_at(seen, i), (i / w) as f32))
        .collect();
    // A print on the old top (a logo) is the old top too: what lies wholly within it, or
    // between it and the new garment. What reaches the background or the skin is not (a
    // skirt with spots of the top's colour).
    let mut old = top_pixels.clone();
    for hole in components(
        &(0..w * h)
            .map(|i| open[i] && !top_pixels[i])
            .collect::<Vec<_>>(),
        w,
        h,
    ) {
        let enclosed = hole.len() <= MAX_HOLE
            && hole
                .iter()
                .all(|&i| neighbours(i, w, h).all(|j| open[j] || covered.data[j] > COVERED));
        if enclosed {
            for i in hole {
                old[i] = true;
            }
        }
    }
    // A crack the warp leaves inside the new garment, a sliver between a strap and a sleeve,
    // is not a part of the torso bared: what an opening of radius [`THIN`] takes away is left.
    let core: Vec<bool> = dilated(&eroded(&old, w, h, THIN), w, h, THIN);
    let old: Vec<bool> = old.iter().zip(&core).map(|(&o, &c)| o && c).collect();
    let near_garment = dilated(
        &covered.data.iter().map(|&c| c > 0.5).collect::<Vec<_>>(),
        w,
        h,
        NEAR_GARMENT,
    );

    // Painted as skin: not the old top, not a skin-coloured new garment's smear.
    let smear = |i: usize, c: [f32; 3]| {
        garment[i].is_some_and(|g| {
            skin_hued(g)
                && (0..3).map(|k| (c[k] - g[k]).abs()).sum::<f32>() <= 3.0 * GARMENT_TOLERANCE
        })
    };
    // Per pixel, warm (a pale ghost of a print is, a grey or a bluish wash, the lower garment
    // carried up, is not).
    let painted_skin = |i: usize| {
        let c = rgb_at(rendered, i);
        warm(c) && !like_top(c) && !smear(i, c)
    };
    // Where the network kept the old top (a collar), it stays; a pale ghost of a print within
    // what it paints as skin does not.
    let mut painted: Vec<bool> = (0..w * h).map(|i| old[i] && painted_skin(i)).collect();
    let unpainted: Vec<bool> = (0..w * h).map(|i| old[i] && !painted[i]).collect();
    for hole in components(&unpainted, w, h) {
        if hole
            .iter()
            .all(|&i| neighbours(i, w, h).all(|j| old[j] || covered.data[j] > COVERED))
        {
            for i in hole {
                painted[i] = true;
            }
        }
    }
    let mut region = vec![false; w * h];
    for component in components(&old, w, h) {
        // An uncovered part of the old top lies against the new garment, and the network
        // paints it as skin as a whole.
        if component.len() < MIN_PIXELS || !component.iter().any(|&i| near_garment[i]) {
            continue;
        }
        let mut mean = [0.0f32; 3];
        for &i in &component {
            let c = rgb_at(rendered, i);
            for k in 0..3 {
                mean[k] += c[k] / component.len() as f32;
            }
        }
        // Skin in patches is not what the network meant (a mesh top, skin showing through
        // it): all of it or nothing.
        let share = component.iter().filter(|&&i| painted[i]).count() as f32;
        if skin_hued(mean) && share >= SKIN_SHARE * component.len() as f32 {
            for &i in &component {
                region[i] = painted[i];
            }
        }
    }
    let count = region.iter().filter(|&&r| r).count();
    if count < MIN_PIXELS {
        return 0;
    }

    // The skin beside the region in the photo, where it is lit: the brighter half of it, as
    // the chin shades the neck. Else the face's. Only the neck (above the lower shoulder) and
    // the arms: below, beige trousers are hued like skin.
    let near = dilated(&region, w, h, BESIDE);
    let on_arms = arms.on_arms(w, h, 1.0);
    let face_luma = luma(skin.rgb());
    let mut beside: Vec<[f32; 3]> = (0..w * h)
        .filter(|&i| {
            near[i]
                && !region[i]
                && matte.as_raw()[i] >= 128
                && covered.data[i] <= COVERED
                && (on_arms[i] || ((i / w) as f32) < lower_shoulder)
        })
        .map(|i| rgb_at(seen, i))
        .filter(|&c| skin_hued(c) && luma(c) >= 0.5 * face_luma)
        .collect();
    beside.sort_by(|a, b| luma(*a).total_cmp(&luma(*b)));
    let lit = &beside[beside.len() / 2..];
    let colour = match lit.len() >= MIN_BESIDE {
        true => median_colour(lit).unwrap_or(skin.rgb()),
        false => skin.rgb(),
    };
    log::debug!(
        "skin: face {:?} beside {:?} ({})",
        skin.rgb(),
        colour,
        lit.len()
    );

    // The network's shading, relative to its median over the region.
    // The network's shading: its brightness over the region, relative to its median, blurred
    // over the region alone (a normalised blur: the neck's shade beside it is not the region's
    // light), leaving out what stands out of it (a print's pale ghost is not light on skin).
    // Worked out in the region's box only, with a margin past the blurs' reach: the same
    // values at a fraction of the cost.
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for i in (0..w * h).filter(|&i| region[i]) {
        let (x, y) = (i % w, i / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let margin = 2 * SHADE_BLUR + 3;
    let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (x1, y1) = ((x1 + margin).min(w - 1), (y1 + margin).min(h - 1));
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let index = |k: usize| (y0 + k / bw) * w + x0 + k % bw;
    let lumas: Vec<f32> = (0..bw * bh)
        .map(|k| luma(rgb_at(rendered, index(k))))
        .collect();
    let mut inside: Vec<f32> = (0..bw * bh)
        .filter(|&k| region[index(k)])
        .map(|k| lumas[k])
        .collect();
    inside.sort_by(f32::total_cmp);
    let median = inside[inside.len() / 2].max(1.0);
    let lit = |k: usize| region[index(k)] && (lumas[k] / median - 1.0).abs() <= SHADE_OUTLIER;
    let plane = |f: &dyn Fn(usize) -> f32| Plane {
        width: bw,
        height: bh,
        data: (0..bw * bh)
            .map(|k| if lit(k) { f(k) } else { 0.0 })
            .collect(),
    };
    let weight = plane(&|_| 1.0).blurred(SHADE_BLUR);
    let mut brightness = plane(&|k| lumas[k]).blurred(SHADE_BLUR);
    for (b, &wt) in brightness.data.iter_mut().zip(&weight.data) {
        *b = if wt > 1e-3 { *b / wt } else { median };
    }

    let share = Plane {
        width: bw,
        height: bh,
        data: (0..bw * bh)
            .map(|k| if region[index(k)] { 1.0 } else { 0.0 })
            .collect(),
    }
    .blurred(1);
    for k in 0..bw * bh {
        let i = index(k);
        // Softly, but only on the person: the blur's spill beyond the matte is background.
        let a = share.data[k] * if open[i] { 1.0 } else { 0.0 };
        if a <= 0.0 {
            continue;
        }
        let shade = (brightness.data[k] / median).clamp(SHADE_RANGE.0, SHADE_RANGE.1);
        for c in 0..3 {
            let target = (colour[c] * shade).min(255.0) / 127.5 - 1.0;
            let r = &mut rendered[c].data[i];
            *r += a * (target - *r);
        }
        change.data[i] = change.data[i].max(a);
    }
    count
}

/// `mask` grown by a square of radius `r` (two passes of a sliding count).
fn dilated(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    // One pass: along lines of `n` pixels, `step` apart, starting at `starts`.
    let pass = |src: &[bool], lines: usize, n: usize, line_step: usize, step: usize| {
        let mut out = vec![false; w * h];
        for line in 0..lines {
            let at = |k: usize| line * line_step + k * step;
            // Set pixels within [k - r, k + r].
            let mut count = (0..r.min(n)).filter(|&k| src[at(k)]).count();
            for k in 0..n {
                if k + r < n && src[at(k + r)] {
                    count += 1;
                }
                if k > r && src[at(k - r - 1)] {
                    count -= 1;
                }
                out[at(k)] = count > 0;
            }
        }
        out
    };
    let rows = pass(mask, h, w, w, 1);
    pass(&rows, w, h, 1, w)
}

/// `mask` shrunk by a square of radius `r` (what lies past the grid's edge counts as set).
fn eroded(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let inverse: Vec<bool> = mask.iter().map(|&m| !m).collect();
    dilated(&inverse, w, h, r).into_iter().map(|m| !m).collect()
}

/// The 4-neighbours of pixel `i` inside the grid.
fn neighbours(i: usize, w: usize, h: usize) -> impl Iterator<Item = usize> {
    let (x, y) = (i % w, i / w);
    [
        (x > 0).then(|| i - 1),
        (x + 1 < w).then(|| i + 1),
        (y > 0).then(|| i - w),
        (y + 1 < h).then(|| i + w),
    ]
    .into_iter()
    .flatten()
}

/// The 8-connected components of `mask`, each as its pixels' indices.
fn components(mask: &[bool], w: usize, h: usize) -> Vec<Vec<usize>> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let mut component = Vec::new();
        while let Some(i) = stack.pop() {
            component.push(i);
            let (x, y) = (i % w, i / w);
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = yy * w + xx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(component);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::arms::{absent_pose, visible_point};

    const W: usize = 192;
    const H: usize = 256;
    const FACE: [u8; 3] = [150, 100, 75];
    const NECK: [u8; 3] = [138, 90, 66];
    const BLACK: [u8; 3] = [22, 22, 24];
    const LOGO: [u8; 3] = [250, 250, 250];
    const BEIGE: [u8; 3] = [200, 170, 120];
    const BACKDROP: [u8; 3] = [235, 233, 232];
    /// What the generator paints where the old top was: the same pale pink for everyone, and a
    /// ghost of the logo.
    const PINK: [u8; 3] = [238, 205, 192];
    const GHOST: [u8; 3] = [250, 240, 236];
    const YELLOW: [u8; 3] = [240, 200, 60];

    /// A person at 192x256 in an old top (black, a white logo on the chest) over a beige skirt
    /// with black spots, bare arms, dressed in a cropped camisole (rows 100-170, a lace hole in
    /// it): the chest above it and the midriff below it are the old top uncovered.
    struct Scene {
        seen: [Plane; 3],
        rendered: [Plane; 3],
        matte: GrayImage,
        covered: Plane,
        garment: Vec<Option<[f32; 3]>>,
        keypoints: Vec<Keypoint>,
    }

    fn face(x: usize, y: usize) -> bool {
        (x as f32 - 96.0).hypot(y as f32 - 40.0) < 16.0
    }
    fn neck(x: usize, y: usize) -> bool {
        (88..104).contains(&x) && (55..72).contains(&y)
    }
    fn torso(x: usize, y: usize) -> bool {
        (60..132).contains(&x) && (72..200).contains(&y)
    }
    fn skirt(x: usize, y: usize) -> bool {
        (60..132).contains(&x) && (200..240).contains(&y)
    }
    fn arm(x: usize, y: usize) -> bool {
        (72..200).contains(&y) && ((46..60).contains(&x) || (132..146).contains(&x))
    }
    fn logo(x: usize, y: usize) -> bool {
        (100..112).contains(&x) && (82..94).contains(&y)
    }
    fn lace(x: usize, y: usize) -> bool {
        (90..100).contains(&x) && (130..140).contains(&y)
    }
    fn camisole(x: usize, y: usize) -> bool {
        torso(x, y) && (100..170).contains(&y) && !lace(x, y)
    }
    fn uncovered_top(x: usize, y: usize) -> bool {
        torso(x, y) && !(100..170).contains(&y)
    }

    fn planes_from(colour: impl Fn(usize, usize) -> [u8; 3]) -> [Plane; 3] {
        [0, 1, 2].map(|c| Plane {
            width: W,
            height: H,
            data: (0..W * H)
                .map(|i| f32::from(colour(i % W, i / W)[c]) / 127.5 - 1.0)
                .collect(),
        })
    }

    /// `top` is the old top's colour, `chest` what the network paints where it is uncovered.
    fn scene(top: [u8; 3], chest: [u8; 3]) -> Scene {
        let photo = move |x: usize, y: usize| {
            if face(x, y) || arm(x, y) {
                FACE
            } else if neck(x, y) {
                NECK
            } else if torso(x, y) && logo(x, y) {
                LOGO
            } else if torso(x, y) {
                top
            } else if skirt(x, y) {
                if (x % 8 < 3) && (y % 8 < 3) {
                    BLACK
                } else {
                    BEIGE
                }
            } else {
                BACKDROP
            }
        };
        let seen = planes_from(photo);
        let rendered = planes_from(|x, y| {
            if uncovered_top(x, y) || lace(x, y) {
                if logo(x, y) {
                    GHOST
                } else {
                    chest
                }
            } else if camisole(x, y) {
                YELLOW
            } else {
                photo(x, y)
            }
        });
        let matte = GrayImage::from_fn(W as u32, H as u32, |x, y| {
            let (x, y) = (x as usize, y as usize);
            let on = face(x, y) || neck(x, y) || torso(x, y) || skirt(x, y) || arm(x, y);
            image::Luma([if on { 255 } else { 0 }])
        });
        let covered = Plane {
            width: W,
            height: H,
            data: (0..W * H)
                .map(|i| f32::from(u8::from(camisole(i % W, i / W))))
                .collect(),
        };
        let garment = (0..W * H)
            .map(|i| {
                let (x, y) = (i % W, i / W);
                ((56..136).contains(&x) && (90..180).contains(&y)).then_some(YELLOW.map(f32::from))
            })
            .collect();
        let mut keypoints = absent_pose();
        let mut put = |i: usize, x: f32, y: f32| keypoints[i] = visible_point(x, y);
        put(0, 96.0, 40.0);
        put(2, 102.0, 35.0);
        put(5, 90.0, 35.0);
        put(9, 100.0, 47.0);
        put(10, 92.0, 47.0);
        // Shoulders, elbows, wrists; the person's left is the picture's right.
        for (i, x) in [(11, 126.0), (12, 66.0)] {
            put(i, x, 80.0);
        }
        for (i, x) in [(13, 139.0), (14, 53.0)] {
            put(i, x, 140.0);
        }
        for (i, x) in [(15, 139.0), (16, 53.0)] {
            put(i, x, 196.0);
        }
        Scene {
            seen,
            rendered,
            matte,
            covered,
            garment,
            keypoints,
        }
    }

    /// Runs the step; returns the rendering, the change and the pixels counted.
    fn run(s: &Scene) -> ([Plane; 3], Plane, usize) {
        let mut rendered = s.rendered.clone();
        let mut change = Plane {
            width: W,
            height: H,
            data: vec![0.0; W * H],
        };
        let arms = Arms::find(&s.seen, &s.matte, &s.keypoints).expect("the pose has arms");
        let view = TorsoView {
            seen: &s.seen,
            matte: &s.matte,
            covered: &s.covered,
            garment: &s.garment,
            keypoints: &s.keypoints,
        };
        let n = own_skin_where_uncovered(&arms, &view, &mut rendered, &mut change);
        (rendered, change, n)
    }

    fn at(planes: &[Plane], x: usize, y: usize) -> [f32; 3] {
        rgb_at(planes, y * W + x)
    }

    fn near(a: [f32; 3], b: [u8; 3], tolerance: f32) -> bool {
        (0..3).all(|c| (a[c] - f32::from(b[c])).abs() <= tolerance)
    }

    #[test]
    fn the_uncovered_old_top_takes_the_persons_skin_not_the_generators_pink() {
        let s = scene(BLACK, PINK);
        let (rendered, change, n) = run(&s);
        assert!(n > 1000, "{n} pixels");
        // The chest and the midriff, away from their soft edge: the person's skin (the lit
        // skin beside, here the arms'), the logo's ghost gone, all of it replacing the photo.
        for y in (74..98).chain(172..198) {
            for x in 62..130 {
                let c = at(&rendered, x, y);
                assert!(near(c, FACE, 6.0), "({x}, {y}): {c:?}");
                assert!(change.data[y * W + x] > 0.99);
            }
        }
        // Elsewhere nothing changes: under the camisole and in its lace hole (the photo's own
        // there), the skirt and its spots, the arms, the face, the backdrop.
        for y in 0..H {
            for x in 0..W {
                let i = y * W + x;
                let soft_edge =
                    (58..134).contains(&x) && ((70..101).contains(&y) || (169..202).contains(&y));
                if uncovered_top(x, y) || soft_edge {
                    continue;
                }
                assert_eq!(at(&rendered, x, y), at(&s.rendered, x, y), "({x}, {y})");
                assert_eq!(change.data[i], 0.0, "({x}, {y})");
            }
        }
    }

    #[test]
    fn a_collar_the_network_keeps_stays() {
        let mut s = scene(BLACK, PINK);
        // The old top's collar, kept: rows 72-77 of the chest as the photo has them.
        for y in 72..78 {
            for x in 60..132 {
                for c in 0..3 {
                    s.rendered[c].data[y * W + x] = s.seen[c].data[y * W + x];
                }
            }
        }
        let (rendered, _, n) = run(&s);
        assert!(n > 1000);
        for y in 72..76 {
            for x in 60..132 {
                assert!(near(at(&rendered, x, y), BLACK, 1.0), "({x}, {y})");
            }
        }
        assert!(near(at(&rendered, 80, 90), FACE, 6.0));
    }

    #[test]
    fn a_grey_top_lit_at_the_shoulder_is_the_top_there() {
        // A grey top, its right shoulder lit nearly twice as bright (above the armpits).
        let mut s = scene([100, 100, 102], PINK);
        let lit = |x: usize, y: usize| (110..132).contains(&x) && (72..82).contains(&y);
        let bright = [190u8, 190, 194].map(|v| f32::from(v) / 127.5 - 1.0);
        for i in 0..W * H {
            if lit(i % W, i / W) {
                for (plane, v) in s.seen.iter_mut().zip(bright) {
                    plane.data[i] = v;
                }
            }
        }
        let (rendered, _, n) = run(&s);
        assert!(n > 1000, "{n}");
        for y in 74..80 {
            for x in 112..128 {
                let c = at(&rendered, x, y);
                assert!(near(c, FACE, 6.0), "({x}, {y}): {c:?}");
            }
        }
    }

    #[test]
    fn a_crack_the_warp_leaves_in_the_garment_is_left_to_the_network() {
        let mut s = scene(BLACK, PINK);
        // Two rows open from the camisole's side into it, painted pale pink by the network.
        let crack = |x: usize, y: usize| (60..100).contains(&x) && (150..152).contains(&y);
        let pink = PINK.map(|v| f32::from(v) / 127.5 - 1.0);
        for i in 0..W * H {
            if crack(i % W, i / W) {
                s.covered.data[i] = 0.0;
                for (plane, v) in s.rendered.iter_mut().zip(pink) {
                    plane.data[i] = v;
                }
            }
        }
        let (rendered, _, n) = run(&s);
        assert!(n > 1000, "the chest and the midriff are still painted: {n}");
        for y in 150..152 {
            for x in 60..100 {
                assert_eq!(at(&rendered, x, y), at(&s.rendered, x, y), "({x}, {y})");
            }
        }
    }

    #[test]
    fn what_the_network_paints_otherwise_is_left_to_it() {
        // A grey-blue wash (the lower garment carried up, a backdrop): not skin.
        let s = scene(BLACK, [120, 130, 150]);
        let (rendered, change, n) = run(&s);
        assert_eq!(n, 0);
        assert!(rendered
            .iter()
            .zip(&s.rendered)
            .all(|(a, b)| a.data == b.data));
        assert!(change.data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn an_old_top_of_a_skin_colour_or_dark_and_warm_is_left_to_the_network() {
        // Tan, and a black mesh with skin showing through it.
        for top in [[190, 140, 110], [59, 51, 48]] {
            let s = scene(top, PINK);
            let (rendered, _, n) = run(&s);
            assert_eq!(n, 0, "{top:?}");
            assert!(rendered
                .iter()
                .zip(&s.rendered)
                .all(|(a, b)| a.data == b.data));
        }
    }

    #[test]
    fn a_pale_neck_beside_a_white_top_is_not_taken_for_the_top() {
        // A rosy face, a paler neck nearly the white top's colour, rendered a little warmer.
        let mut s = scene([227, 222, 217], [236, 196, 178]);
        let pale_neck = [240, 220, 210];
        let rosy = [241, 182, 161];
        let set = |planes: &mut [Plane; 3], i: usize, rgb: [u8; 3]| {
            for c in 0..3 {
                planes[c].data[i] = f32::from(rgb[c]) / 127.5 - 1.0;
            }
        };
        for i in 0..W * H {
            let (x, y) = (i % W, i / W);
            if neck(x, y) {
                set(&mut s.seen, i, pale_neck);
                set(&mut s.rendered, i, [235, 200, 185]);
            } else if face(x, y) || arm(x, y) {
                set(&mut s.seen, i, rosy);
                set(&mut s.rendered, i, rosy);
            }
        }
        let (rendered, _, n) = run(&s);
        assert!(n > 1000, "the chest is still painted: {n}");
        for y in 56..70 {
            for x in 89..103 {
                assert_eq!(at(&rendered, x, y), at(&s.rendered, x, y), "({x}, {y})");
            }
        }
    }

    #[test]
    fn the_sliding_dilation_is_the_square_one() {
        let (w, h) = (37, 23);
        let mut next = crate::pipeline::arms::uniform(7);
        let mask: Vec<bool> = (0..w * h).map(|_| next() < 0.05).collect();
        for r in [0, 1, 2, 4, 40] {
            let grown = dilated(&mask, w, h, r);
            for (i, &g) in grown.iter().enumerate() {
                let (x, y) = ((i % w) as i64, (i / w) as i64);
                let near = (0..w * h).any(|j| {
                    let (xx, yy) = ((j % w) as i64, (j / w) as i64);
                    mask[j] && (xx - x).abs() <= r as i64 && (yy - y).abs() <= r as i64
                });
                assert_eq!(g, near, "r {r}, ({x}, {y})");
            }
        }
    }

    #[test]
    fn skin_option_parses() {
        assert_eq!("own".parse::<Skin>(), Ok(Skin::Own));
        assert_eq!("keep".parse::<Skin>(), Ok(Skin::Keep));
        assert!("pink".parse::<Skin>().is_err());
        assert_eq!(Skin::default(), Skin::Own);
    }
}
