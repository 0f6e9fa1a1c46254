//! The old top below a shorter new one. Where the person's own top reaches lower than the new
//! garment's hem (a long T-shirt tried in a cropped one), the compact generator repaints the
//! uncovered band softly: a blur of skin and of the old top's colour between the new hem and the
//! trousers or skirt. What a person would show there is what the old top hid of the garment
//! below it, which goes on up to the waist: the band takes the photo's own lower garment,
//! mirrored upwards at its top edge, at the photo's full resolution ([`super::hires`]).
//!
//! Found at the network's 192x256 from the pose, the matte, the old top's colour at the chest
//! and where the network's composition shows the new garment; wherever a column is not clearly such a band (the old top
//! runs on into a dress, an arm or a hand lies across it, nothing below it to mirror), it is left
//! to the network.

use image::GrayImage;

use super::arms::{face_skin, joint, median_colour, rgb_at, ycbcr, Arms, HANDS};
use super::hires::Plane;
use crate::person::Keypoint;

/// What becomes of an old top the new garment leaves uncovered below its hem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Hem {
    /// It takes the photo's lower garment, mirrored up (with the pose and the matte).
    #[default]
    Mirror,
    /// Left as the network renders it.
    Keep,
}

option_enum!(Hem, HemSyntax, "hem", Mirror = "mirror", Keep = "keep");

/// Keypoints (BlazePose): the shoulders and the hips.
const SHOULDERS: [usize; 2] = [11, 12];
const HIPS: [usize; 2] = [23, 24];

/// A band pixel is the old top's when every channel lies within this many levels of the
/// chest's colour (as [`Arms::beside`] tells an old sleeve).
const TOP_TOLERANCE: f32 = 30.0;

/// And its chroma (YCbCr) within this many levels of the chest's: a warm midriff is not a
/// white top's, though its every channel may lie within [`TOP_TOLERANCE`].
const TOP_CHROMA: f32 = 12.0;

/// The band ends where this many rows in a row are not the old top's (a seam, a shadow line or
/// a stray pixel inside it does not end it).
const END_ROWS: usize = 2;

/// The tallest band, as a share of the torso's height (shoulders to hips): a longer one is a
/// dress or a tunic, whose lower part belongs to the photo.
const MAX_BAND: f32 = 0.35;

/// Of the rows mirrored into the band, at least this share must be the lower garment: on the
/// person, off the arms, not the old top's colour.
const MIN_SOURCE: f32 = 0.8;

/// Of the columns where the old top shows below the hem, at least this share must be a clear
/// band for any of it to be replaced.
const MIN_COVERAGE: f32 = 0.85;

/// See [`same_colour`].
const SAME_COLOUR: f32 = 8.0;

/// Fewer band pixels than this are no band (the hem's own soft edge).
const MIN_PIXELS: usize = 12;

/// The mirror's axis lies this many rows below the first row not like the old top: at 192x256
/// that row still holds some of the old hem (and its shadow) at the photo's resolution, and a
/// row of the lower garment mirrored twice is no flaw.
const AXIS_MARGIN: f32 = 1.0;

/// The band's left and right ends soften over this many columns either side.
const SOFT_END: usize = 2;

/// A column whose band met an arm takes the axis of a band column at most this many columns
/// away, when the old top's colour there ended within [`SIDE_ROWS`] rows of it.
const SIDE_REACH: usize = 12;
const SIDE_ROWS: usize = 3;

/// Rows below the axis that keep the photo's own pixels.
const BELOW_AXIS: usize = 2;

/// Pixels within this many arm radii of an arm's bone are the arm's.
const ARM_REACH: f32 = 1.0;

/// A hand's half-width as a share of the shoulder width, and how far past the knuckles (the
/// pinky's and index finger's points) the fingers reach, as a share of the hand's length to
/// them.
const HAND_RADIUS: f32 = 0.12;
const FINGERS: f32 = 0.6;

/// Marks the hands of `keypoints` on `on` (a `w` x `h` grid), as wide as [`HAND_RADIUS`] of the
/// shoulder width `shoulders` around the line from the wrist past the knuckles.
fn on_hands(on: &mut [bool], keypoints: &[Keypoint], w: usize, h: usize, shoulders: f32) {
    let r = HAND_RADIUS * shoulders;
    for [wrist, pinky, index] in HANDS {
        let (Some(a), Some(p), Some(i)) = (
            joint(keypoints, wrist),
            joint(keypoints, pinky),
            joint(keypoints, index),
        ) else {
            continue;
        };
        let knuckles = ((p.0 + i.0) / 2.0, (p.1 + i.1) / 2.0);
        let b = (
            knuckles.0 + FINGERS * (knuckles.0 - a.0),
            knuckles.1 + FINGERS * (knuckles.1 - a.1),
        );
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        let x0 = (a.0.min(b.0) - r).floor().clamp(0.0, w as f32) as usize;
        let x1 = (a.0.max(b.0) + r).ceil().clamp(0.0, w as f32) as usize;
        let y0 = (a.1.min(b.1) - r).floor().clamp(0.0, h as f32) as usize;
        let y1 = (a.1.max(b.1) + r).ceil().clamp(0.0, h as f32) as usize;
        for y in y0..y1 {
            for x in x0..x1 {
                let (px, py) = (x as f32 - a.0, y as f32 - a.1);
                let t = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
                if (px - t * dx).hypot(py - t * dy) <= r {
                    on[y * w + x] = true;
                }
            }
        }
    }
}

/// Two colours (0-255) look alike as a garment's: their chroma (YCbCr) within [`SAME_COLOUR`]
/// levels, the brightness counted a third as much (a product shot is lit brighter than the same
/// garment worn; navy beside black is told by its chroma).
fn same_colour(a: [f32; 3], b: [f32; 3]) -> bool {
    let (a, b) = (ycbcr(a), ycbcr(b));
    let d = [(a[0] - b[0]) / 3.0, a[1] - b[1], a[2] - b[2]];
    d.iter().map(|v| v * v).sum::<f32>().sqrt() <= SAME_COLOUR
}

/// Where the old top shows below the new garment, at 192x256: per column the row about which the
/// photo is mirrored upwards, and how much of each pixel takes that mirror.
#[derive(Debug, Clone)]
pub(super) struct Band {
    /// Per column, the mirror's axis in rows (the top of the lower garment, [`AXIS_MARGIN`]
    /// included). A column with no band takes its nearest band column's, so that the soft edge
    /// of `weight` reads a sensible mirror.
    pub(super) axis: Vec<f32>,
    /// How much of each pixel takes the mirrored photo ([0, 1], softened at the band's ends).
    pub(super) weight: Plane,
    /// How many pixels lie in the band.
    pub(super) pixels: usize,
}

impl Band {
    /// The row of the photo (`h` rows at full resolution, `lh` at 192x256) that pixel row `y` of
    /// column `axis` (in 192x256 rows, interpolated for the full-resolution column) takes: its
    /// mirror image above the axis, itself below it.
    #[inline]
    pub(super) fn source_row(axis: f32, y: usize, h: usize, lh: usize) -> usize {
        let axis = axis * h as f32 / lh as f32;
        let yf = y as f32 + 0.5;
        if yf >= axis {
            return y;
        }
        let src = (2.0 * axis - yf).floor();
        (src.max(0.0) as usize).min(h.saturating_sub(1))
    }
}

/// The band of the old top below the new garment's hem, or `None` where there is none (or none
/// clear enough to replace). `seen` is what the network saw, `matte` the person's matte,
/// `covered` where the new garment shows ([0, 1]), `garment` its warped colours ([-1, 1]),
/// `keypoints` the pose and `arms` its arms, all at the same 192x256.
pub(super) fn band_below_hem(
    seen: &[Plane; 3],
    matte: &GrayImage,
    covered: &Plane,
    garment: &[Plane],
    keypoints: &[Keypoint],
    arms: &Arms,
) -> Option<Band> {
    let (w, h) = (seen[0].width, seen[0].height);
    if matte.dimensions() != (w as u32, h as u32) || (covered.width, covered.height) != (w, h) {
        return None;
    }
    let top = arms.top()?;
    let at = |i: usize| joint(keypoints, i);
    let (ls, rs) = (at(SHOULDERS[0])?, at(SHOULDERS[1])?);
    let (lh, rh) = (at(HIPS[0])?, at(HIPS[1])?);
    let shoulders = ((ls.0 + rs.0) / 2.0, (ls.1 + rs.1) / 2.0);
    let hips = ((lh.0 + rh.0) / 2.0, (lh.1 + rh.1) / 2.0);
    let torso = (hips.0 - shoulders.0).hypot(hips.1 - shoulders.1);
    // Upright enough to go down a column from the hem.
    if torso < 16.0 || hips.1 - shoulders.1 < 0.7 * torso {
        return None;
    }
    let max_band = ((MAX_BAND * torso).round() as usize).min(h);
    let mut on_arm = arms.on_arms(w, h, ARM_REACH);
    on_hands(
        &mut on_arm,
        keypoints,
        w,
        h,
        (ls.0 - rs.0).hypot(ls.1 - rs.1),
    );
    let person = |i: usize| matte.as_raw()[i] >= 128 && !on_arm[i];
    // A white top's colour is near pale skin's: skin like the face's is never the old top
    // (a bare midriff below a cropped one), and a top like the face is not told from it.
    let skin = face_skin(seen, matte, keypoints);
    if skin.is_some_and(|s| s.matches(top)) {
        return None;
    }
    let top_chroma = ycbcr(top);
    let like_top = |i: usize| {
        let c = rgb_at(seen, i);
        let chroma = ycbcr(c);
        (0..3).all(|k| (c[k] - top[k]).abs() <= TOP_TOLERANCE)
            && (chroma[1] - top_chroma[1]).hypot(chroma[2] - top_chroma[2]) <= TOP_CHROMA
            && !skin.is_some_and(|s| s.matches(c))
    };
    // What is mirrored is the lower garment: bare skin below the old top (a midriff above a
    // skirt) is too short a region to mirror, and the mirror would reach past it.
    let lower_garment =
        |i: usize| !like_top(i) && !skin.is_some_and(|s| s.matches(rgb_at(seen, i)));
    // The torso's columns, with room for a top wider than the shoulders.
    let span = (ls.0 - rs.0).abs().max((lh.0 - rh.0).abs());
    let x0 = (ls.0.min(rs.0).min(lh.0).min(rh.0) - 0.5 * span)
        .floor()
        .max(0.0) as usize;
    let x1 = ((ls.0.max(rs.0).max(lh.0).max(rh.0) + 0.5 * span)
        .ceil()
        .max(0.0) as usize)
        .min(w);
    // The hem is looked for between the chest and a little below the hips.
    let hem_from = (shoulders.1 + 0.3 * torso).max(0.0) as usize;
    let hem_to = ((hips.1 + 0.5 * torso).max(0.0) as usize).min(h);

    // Per column: (hem row, axis row), where there is a band; and where the old top ran into an
    // arm, (hem row, the band's last row so far).
    let mut found: Vec<Option<(usize, usize)>> = vec![None; w];
    let mut at_arm: Vec<Option<(usize, usize)>> = vec![None; w];
    // The columns where the old top shows right below the hem, band or not.
    let mut showing = 0usize;
    for x in x0..x1 {
        let Some(hem) = (hem_from..hem_to)
            .rev()
            .find(|&y| covered.data[y * w + x] > 0.5)
        else {
            continue;
        };
        if (hem + 1..(hem + 3).min(h)).any(|y| person(y * w + x) && like_top(y * w + x)) {
            showing += 1;
        }
        // Down from the hem while the old top goes on; it must end in something else on the
        // person (a colour change), not at the person's outline, an arm or the photo's edge.
        let mut end = hem + 1;
        let mut misses = 0;
        let mut closed = false;
        for y in hem + 1..h {
            let i = y * w + x;
            if on_arm[i] && matte.as_raw()[i] >= 128 && y - hem <= max_band {
                at_arm[x] = Some((hem, end));
            }
            if !person(i) || y - hem > max_band + END_ROWS {
                break;
            }
            if like_top(i) {
                end = y + 1;
                misses = 0;
            } else {
                misses += 1;
                if misses == END_ROWS {
                    closed = true;
                    break;
                }
            }
        }
        let len = end - hem - 1;
        if !closed || len == 0 || len > max_band || end + len > h {
            continue;
        }
        // What is mirrored into the band: the lower garment, on the person.
        let source = (end..end + len)
            .filter(|&y| person(y * w + x) && lower_garment(y * w + x))
            .count();
        if (source as f32) < MIN_SOURCE * len as f32 {
            continue;
        }
        found[x] = Some((hem, end));
    }
    // The old top's sides often run down beside the arms hanging at them: where a column's band
    // met an arm where a band column's next to it ends, it ends there too, and what is
    // mirrored there is the person below (the arm's side, the lower garment).
    let closed: Vec<(usize, usize)> = (0..w)
        .filter_map(|x| found[x].map(|(_, end)| (x, end)))
        .collect();
    for x in x0..x1 {
        let Some((hem, end)) = at_arm[x].filter(|_| found[x].is_none()) else {
            continue;
        };
        let Some(&(_, axis)) = closed
            .iter()
            .filter(|&&(c, _)| c.abs_diff(x) <= SIDE_REACH)
            .min_by_key(|&&(c, _)| c.abs_diff(x))
        else {
            continue;
        };
        let len = axis.saturating_sub(hem + 1);
        if end + SIDE_ROWS < axis || end > axis + SIDE_ROWS || len == 0 || axis + len > h {
            continue;
        }
        let source = (axis..axis + len)
            .filter(|&y| matte.as_raw()[y * w + x] >= 128 && lower_garment(y * w + x))
            .count();
        if (source as f32) >= MIN_SOURCE * len as f32 {
            found[x] = Some((hem, axis));
        }
    }
    // A band replaced in some columns and left in others would be patchy: where the old top
    // shows, nearly all of it must be a clear band.
    let columns = found.iter().flatten().count();
    if (columns as f32) < MIN_COVERAGE * showing as f32 {
        return None;
    }
    // A new garment in the old top's colour hides the band as well as a longer hem would: it
    // reads as the garment going on (a top tried in its own colour, or in its own photo).
    let hem_colours: Vec<[f32; 3]> = found
        .iter()
        .enumerate()
        .filter_map(|(x, f)| f.map(|(hem, _)| (x, hem)))
        .flat_map(|(x, hem)| (hem.saturating_sub(2)..=hem).map(move |y| y * w + x))
        .filter(|&i| covered.data[i] > 0.5)
        .map(|i| rgb_at(garment, i))
        .collect();
    if median_colour(&hem_colours).is_none_or(|c| same_colour(c, top)) {
        return None;
    }
    let pixels: usize = found
        .iter()
        .flatten()
        .map(|&(hem, end)| end - hem - 1)
        .sum();
    if pixels < MIN_PIXELS {
        return None;
    }

    let mut axis = vec![0.0f32; w];
    let mut weight = Plane {
        width: w,
        height: h,
        data: vec![0.0; w * h],
    };
    for (x, f) in found.iter().enumerate() {
        if let Some((hem, end)) = *f {
            axis[x] = end as f32 + AXIS_MARGIN;
            // From the hem's own row (its soft edge blends the new garment into the mirror) to
            // a little below the axis, where the photo's own pixels take the place of the
            // network's smear reaching past the old top.
            let bottom = ((end as f32 + AXIS_MARGIN) as usize + BELOW_AXIS).min(h);
            for y in hem..bottom {
                weight.data[y * w + x] = 1.0;
            }
        }
    }
    // Columns without a band read their nearest band column's axis.
    let band_columns: Vec<usize> = (0..w).filter(|&x| found[x].is_some()).collect();
    for x in 0..w {
        if found[x].is_none() {
            let nearest = band_columns
                .iter()
                .min_by_key(|&&c| c.abs_diff(x))
                .copied()
                .unwrap_or(x);
            axis[x] = axis[nearest];
        }
    }
    // Soft ends, not a step where a band column meets one left to the network; across the rows
    // the band's edges are the new garment's (above) and the mirror's own axis (below).
    let weight = {
        let mut soft = weight.clone();
        for (row, out) in weight
            .data
            .chunks_exact(w)
            .zip(soft.data.chunks_exact_mut(w))
        {
            for (x, v) in out.iter_mut().enumerate() {
                let (a, b) = (x.saturating_sub(SOFT_END), (x + SOFT_END + 1).min(w));
                *v = row[a..b].iter().sum::<f32>() / (2 * SOFT_END + 1) as f32;
            }
        }
        soft
    };
    Some(Band {
        axis,
        weight,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::arms::{absent_pose, visible_point};

    const W: usize = 192;
    const H: usize = 256;

    /// A person standing with their arms away from the torso: shoulders at row 60, hips at 170.
    fn pose() -> Vec<Keypoint> {
        let mut k = absent_pose();
        k[11] = visible_point(126.0, 60.0);
        k[12] = visible_point(66.0, 60.0);
        k[13] = visible_point(150.0, 110.0);
        k[14] = visible_point(42.0, 110.0);
        k[15] = visible_point(160.0, 150.0);
        k[16] = visible_point(32.0, 150.0);
        k[23] = visible_point(114.0, 170.0);
        k[24] = visible_point(78.0, 170.0);
        k
    }

    struct Scene {
        seen: [Plane; 3],
        matte: GrayImage,
        covered: Plane,
        /// The new garment's colours: red.
        garment: [Plane; 3],
        keypoints: Vec<Keypoint>,
    }

    /// A torso (columns 60-131) in a black top down to row `top_end`, in blue trousers below
    /// (down to the frame's bottom, or to `legs_end` where bare legs follow), on a grey
    /// background; the new garment covers rows 55 to `hem` of it.
    fn scene(top_end: usize, hem: usize, legs_end: usize) -> Scene {
        let torso = |x: usize| (60..132).contains(&x);
        let colour = |x: usize, y: usize| -> [f32; 3] {
            if !torso(x) || y < 50 {
                [235.0, 235.0, 235.0]
            } else if y < top_end {
                [20.0, 20.0, 25.0]
            } else if y < legs_end {
                [60.0, 80.0, 150.0]
            } else {
                [200.0, 150.0, 120.0]
            }
        };
        let seen = [0, 1, 2].map(|c| Plane {
            width: W,
            height: H,
            data: (0..W * H)
                .map(|i| colour(i % W, i / W)[c] / 127.5 - 1.0)
                .collect(),
        });
        let matte = GrayImage::from_fn(W as u32, H as u32, |x, y| {
            image::Luma([if torso(x as usize) && y >= 50 { 255 } else { 0 }])
        });
        let covered = Plane {
            width: W,
            height: H,
            data: (0..W * H)
                .map(|i| {
                    let (x, y) = (i % W, i / W);
                    if torso(x) && (55..=hem).contains(&y) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect(),
        };
        let garment = [200.0, 30.0, 40.0].map(|v| Plane {
            width: W,
            height: H,
            data: vec![v / 127.5 - 1.0; W * H],
        });
        Scene {
            seen,
            matte,
            covered,
            garment,
            keypoints: pose(),
        }
    }

    /// Paints rows x columns of the scene's view in colour `c` (0-255), on the person.
    fn paint(
        s: &mut Scene,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
        c: [f32; 3],
    ) {
        for y in rows {
            for x in cols.clone() {
                for (plane, v) in s.seen.iter_mut().zip(c) {
                    plane.data[y * W + x] = v / 127.5 - 1.0;
                }
                s.matte.put_pixel(x as u32, y as u32, image::Luma([255]));
            }
        }
    }

    fn band(s: &Scene) -> Option<Band> {
        let arms = Arms::find(&s.seen, &s.matte, &s.keypoints)?;
        band_below_hem(
            &s.seen,
            &s.matte,
            &s.covered,
            &s.garment,
            &s.keypoints,
            &arms,
        )
    }

    /// A black top down to row 180 under a new one ending at row 160: rows 161-179 of the
    /// torso are the band, mirrored about the trousers' top (row 180, one row lower for the
    /// margin), and nothing else is touched.
    #[test]
    fn the_old_top_below_a_shorter_new_one_takes_the_trousers() {
        let s = scene(180, 160, H);
        let b = band(&s).expect("a band below the hem");
        assert_eq!(b.pixels, 72 * 19);
        let x = 96;
        assert_eq!(b.axis[x], 181.0);
        for y in 160..183 {
            assert_eq!(b.weight.data[y * W + x], 1.0, "row {y}");
        }
        assert_eq!(b.weight.data[150 * W + x], 0.0);
        assert_eq!(b.weight.data[190 * W + x], 0.0);
        assert!((0..H).all(|y| b.weight.data[y * W + 30] == 0.0));
        // Every band row mirrors a trouser row (at 192x256 and at 4x), and the rows below the
        // axis are their own (the rows above the band take no mirror: their weight is 0).
        for (h, lh) in [(H, H), (4 * H, H)] {
            let k = h / lh;
            for y in 161 * k..181 * k {
                let src = Band::source_row(b.axis[x], y, h, lh);
                assert!(src >= 180 * k && src < 202 * k, "{y} -> {src}");
            }
            assert_eq!(Band::source_row(b.axis[x], 181 * k, h, lh), 181 * k);
        }
    }

    #[test]
    fn hem_parses_and_prints() {
        for v in [Hem::Mirror, Hem::Keep] {
            assert_eq!(v.to_string().parse::<Hem>(), Ok(v));
        }
        assert_eq!("skirt".parse::<Hem>(), Err(HemSyntax("skirt".to_string())));
    }

    /// A new garment as long as the old one, or longer, uncovers nothing; one in the old top's
    /// colour hides the band (it reads as the garment going on).
    #[test]
    fn a_new_garment_as_long_as_the_old_one_or_in_its_colour_leaves_no_band() {
        assert!(band(&scene(180, 179, H)).is_none());
        assert!(band(&scene(180, 195, H)).is_none());
        let mut s = scene(180, 160, H);
        for (plane, v) in s.garment.iter_mut().zip([35.0, 30.0, 45.0]) {
            plane.data.fill(v / 127.5 - 1.0);
        }
        assert!(band(&s).is_none());
    }

    /// The old top running on into a dress (to the photo's bottom, or farther than a band
    /// goes) is the photo's; so is a band with too little lower garment to mirror.
    #[test]
    fn a_dress_or_nothing_to_mirror_is_left_to_the_network() {
        assert!(band(&scene(H, 160, H)).is_none());
        assert!(band(&scene(230, 160, H)).is_none());
        // Trousers for 5 rows, then bare legs unlike the top: still a lower garment to mirror
        // from (only its colour is asked: not the old top's).
        assert!(band(&scene(180, 160, 185)).is_some());
        // A band at the photo's bottom edge: nothing below it.
        assert!(band(&scene(250, 235, H)).is_none());
    }

    /// A pale top over a bare midriff of nearly its colour: with the face to tell skin by, the
    /// top is as like the skin as the midriff is like the top, so no band is told from it (its
    /// last rows would mirror the trousers into the midriff); without the face, it would be.
    #[test]
    fn a_top_like_the_faces_skin_leaves_no_band() {
        let mut s = scene(180, 160, H);
        let (top, skin) = ([235.0, 225.0, 215.0], [215.0, 200.0, 190.0]);
        paint(&mut s, 50..165, 60..132, top);
        paint(&mut s, 165..180, 60..132, skin);
        paint(&mut s, 20..48, 84..108, skin);
        s.keypoints[0] = visible_point(96.0, 34.0);
        assert!(band(&s).is_none());
        s.keypoints[0].visibility = 0.0;
        assert_eq!(band(&s).expect("a band").axis[96], 181.0);
    }

    /// A white top over a bare midriff above a skirt: the skin below the band is no lower
    /// garment to mirror (the mirror would reach past it into the skirt), so with the face to
    /// tell skin by the band is left to the network.
    #[test]
    fn bare_skin_below_the_band_is_not_mirrored() {
        let mut s = scene(180, 160, H);
        let skin = [200.0, 150.0, 120.0];
        paint(&mut s, 50..170, 60..132, [240.0, 240.0, 240.0]);
        paint(&mut s, 170..185, 60..132, skin);
        paint(&mut s, 20..48, 84..108, skin);
        s.keypoints[0] = visible_point(96.0, 34.0);
        assert!(band(&s).is_none());
        s.keypoints[0].visibility = 0.0;
        assert_eq!(band(&s).expect("a band").axis[96], 171.0);
    }

    /// Poses as a model can give them (joints anywhere in and far outside the frame, on top of
    /// each other, not numbers at all): the step never panics, and what it finds is a band of
    /// weights in [0, 1] with finite axes inside the frame.
    #[test]
    fn any_pose_at_all_gives_a_valid_band_or_none() {
        let mut next = crate::pipeline::arms::uniform(0x9e37_79b9_7f4a_7c15);
        let mut found = 0;
        for round in 0..300 {
            let mut s = scene(180, 160, H);
            for k in s.keypoints.iter_mut() {
                let (a, b) = (next(), next());
                (k.x, k.y) = match round % 4 {
                    0 => (a * W as f32, b * H as f32),
                    1 => ((a - 0.5) * 1e6, (b - 0.5) * 1e6),
                    2 if a < 0.3 => (f32::NAN, f32::NEG_INFINITY),
                    _ => (k.x + (a - 0.5) * 40.0, k.y + (b - 0.5) * 40.0),
                };
                k.visibility = if next() < 0.1 { 0.0 } else { 0.99 };
            }
            let Some(b) = band(&s) else {
                continue;
            };
            found += 1;
            assert!(b.weight.data.iter().all(|v| (0.0..=1.0).contains(v)));
            assert!(b
                .axis
                .iter()
                .all(|a| a.is_finite() && (0.0..=H as f32 + 1.0).contains(a)));
            for y in [0, 100, H - 1] {
                assert!(Band::source_row(b.axis[96], y, 4 * H, H) < 4 * H);
            }
        }
        // Poses near the scene's own still find its band.
        assert!(found > 10, "{found}");
    }

    /// Without the hips, or without a clear colour at the chest, nothing is found.
    #[test]
    fn without_hips_or_an_old_top_there_is_no_band() {
        let mut s = scene(180, 160, H);
        s.keypoints[23].visibility = 0.1;
        assert!(band(&s).is_none());
        let s = scene(40, 160, H);
        // The chest is trousers' blue, the rows below the hem too: no old top to find.
        assert!(band(&s).is_none());
    }
}
