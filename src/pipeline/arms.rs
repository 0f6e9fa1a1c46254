//! Old sleeves become bare arms. Where a new garment's sleeves are shorter than the old ones (a
//! T-shirt over a long-sleeved top), the compact generator repaints the uncovered arm softly:
//! the old sleeve shows through as a ghost, or stays as it was (a black forearm below a new
//! short sleeve). The pose says where the arms are and the face what colour the person's skin
//! is (or the hands'): on each arm, the old sleeve the new garment leaves uncovered is painted
//! as skin as wide as an arm. What a loose sleeve holds beyond that is left to the network.
//!
//! Everything here works at the network's 192x256, on the planes [`super::hires`] composes from.

use image::GrayImage;

use super::hires::Plane;
use crate::person::Keypoint;

/// What becomes of an old sleeve the new garment leaves uncovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Sleeves {
    /// Painted as a bare arm (with the pose and the matte).
    #[default]
    Bare,
    /// Left as the network renders it.
    Keep,
}

option_enum!(
    Sleeves,
    SleevesSyntax,
    "sleeves",
    Bare = "bare",
    Keep = "keep"
);

/// Keypoints (BlazePose): nose, eyes, ears, mouth corners, shoulders, elbows, wrists.
const NOSE: usize = 0;
const EYES: [usize; 2] = [2, 5];
const EARS: [usize; 2] = [7, 8];
const MOUTH: [usize; 2] = [9, 10];
/// Per side (the person's left, then right): shoulder, elbow, wrist.
const ARMS: [[usize; 3]; 2] = [[11, 13, 15], [12, 14, 16]];
/// Per side: wrist, pinky, index finger.
pub(super) const HANDS: [[usize; 3]; 2] = [[15, 17, 19], [16, 18, 20]];

/// A hand's colour counts as skin when within this many levels (RGB, mean absolute) of the
/// face's: not a glove.
const HAND_TOLERANCE: f32 = 45.0;

/// The least visibility of a joint for the arm it ends to be drawn from it.
const MIN_VISIBILITY: f32 = 0.5;

/// An arm's radius as a share of the shoulder width: the upper arm, the forearm. A real upper
/// arm is about a quarter of the shoulder width across, a forearm a fifth; a little more, as
/// the keypoints are a few pixels off the arm's middle.
const UPPER_RADIUS: f32 = 0.14;
const FOREARM_RADIUS: f32 = 0.11;

/// How far from the arm's bone, in arm radii, an old sleeve may reach (a loose sleeve).
const SLEEVE_REACH: f32 = 1.8;

/// Skin, against the face's: its chroma within this many levels (YCbCr, 0-255) of the face's
/// chroma scaled to the pixel's brightness, and its brightness within these shares of the
/// face's (an arm in shade is darker, one in the light a little brighter).
const SKIN_CHROMA: f32 = 11.0;
const SKIN_DARKEST: f32 = 0.4;
const SKIN_BRIGHTEST: f32 = 1.6;

/// Hair falling over a shoulder is not a sleeve: a pixel of the upper arm within this many
/// levels (RGB, mean absolute) of the hair's colour is left as the network renders it.
const HAIR_TOLERANCE: f32 = 35.0;

/// An arm's core: within this many arm radii of its bone.
const CORE: f32 = 0.8;

/// An arm has an old sleeve when at least this share of the first third of its uncovered core
/// (from the shoulder down) is sleeve.
const SLEEVE_START: f32 = 0.5;

/// A sleeve's pixels lie within this many levels (RGB, mean absolute) of the sleeve's colour
/// near the shoulder.
const SLEEVE_TOLERANCE: f32 = 30.0;

/// The same, on the arm's core.
const CORE_TOLERANCE: f32 = 40.0;

/// A cuff is looked for from this share of the forearm's length on, towards the wrist.
const CUFF_FROM: f32 = 0.6;

/// How far (pixels) the sleeve grows into the matte's soft edge.
const EDGE_GROW: usize = 2;

/// Fewer sleeve pixels than this are specks (a bracelet, a shadow), not a sleeve.
const MIN_SLEEVE_PIXELS: usize = 12;

/// The width, in arm radii, of the soft edge of a painted arm.
const ARM_EDGE: f32 = 0.3;

/// How much darker an arm's sides are than its middle (a cylinder in soft light).
const SIDE_SHADE: f32 = 0.22;

/// Bands, top to bottom, of a garment mask's shape ([`long_sleeved`]).
const SHAPE_BANDS: usize = 8;

/// Weights of [`long_sleeved`]'s logistic regression: the mean span of each band, the mean
/// fill of each band (both as shares of the box's width), the box's height over its width, and
/// the bias. Fitted on half of VITON train's garments whose wearers' forearms the parse shows
/// covered or bare (`training/measure_sleeves.py`); on the other half, 3.3% of long-sleeved
/// garments are taken for short ones and 5.9% of short-sleeved or sleeveless ones for long.
const SLEEVE_WEIGHTS: [f32; 2 * SHAPE_BANDS + 2] = [
    -2.24, -2.09, -0.89, 1.61, 3.31, 4.03, 3.15, 1.54, 0.73, -0.46, -0.6, 0.04, 1.01, 1.59, 0.3,
    -4.18, -3.1, -3.0,
];

/// The score of [`long_sleeved`] (positive: long sleeves); `None` for a mask too small to say.
fn sleeve_score(mask: &GrayImage) -> Option<f32> {
    let w = mask.width() as usize;
    // One pass over the rows (a product photo's mask may be 2048 pixels high): each row's first
    // and last garment pixel and how many there are.
    let rows: Vec<(usize, usize, usize, usize)> = mask
        .as_raw()
        .chunks_exact(w.max(1))
        .enumerate()
        .filter_map(|(y, row)| {
            let mut on = row
                .iter()
                .enumerate()
                .filter(|(_, &v)| v > 127)
                .map(|(x, _)| x);
            let first = on.next()?;
            let (last, count) = on.fold((first, 1), |(_, n), x| (x, n + 1));
            Some((y, first, last, count))
        })
        .collect();
    let (top, bottom) = (rows.first()?.0, rows.last()?.0);
    let left = rows.iter().map(|r| r.1).min()?;
    let right = rows.iter().map(|r| r.2).max()?;
    let (bh, bw) = (bottom - top + 1, right - left + 1);
    if rows.len() < 2 * SHAPE_BANDS || bw < 2 {
        return None;
    }
    // Per row of the box: the width the garment spans (first to last pixel) and fills.
    let (mut span, mut fill) = (vec![0.0f32; bh], vec![0.0f32; bh]);
    for &(y, first, last, count) in &rows {
        span[y - top] = (last - first + 1) as f32 / bw as f32;
        fill[y - top] = count as f32 / bw as f32;
    }
    let band_means = |v: &[f32]| -> Vec<f32> {
        (0..SHAPE_BANDS)
            .map(|i| {
                let (a, b) = (i * bh / SHAPE_BANDS, (i + 1) * bh / SHAPE_BANDS);
                v[a..b].iter().sum::<f32>() / (b - a) as f32
            })
            .collect()
    };
    let features = band_means(&span)
        .into_iter()
        .chain(band_means(&fill))
        .chain([bh as f32 / bw as f32, 1.0]);
    Some(features.zip(SLEEVE_WEIGHTS).map(|(f, w)| f * w).sum())
}

/// Whether a garment (its mask, as framed for the network) has long sleeves. Its warp does not
/// always reach down the arms, and where it stops short the new garment's own sleeve belongs:
/// an old sleeve there is not painted as an arm.
pub(super) fn long_sleeved(mask: &GrayImage) -> bool {
    sleeve_score(mask).is_some_and(|s| s > 0.0)
}

/// A colour in YCbCr (JPEG's), from 0-255 RGB.
pub(super) fn ycbcr([r, g, b]: [f32; 3]) -> [f32; 3] {
    [
        0.299 * r + 0.587 * g + 0.114 * b,
        -0.168_736 * r - 0.331_264 * g + 0.5 * b,
        0.5 * r - 0.418_688 * g - 0.081_312 * b,
    ]
}

/// The person's skin as the face shows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Skin {
    rgb: [f32; 3],
    ycc: [f32; 3],
}

impl Skin {
    fn new(rgb: [f32; 3]) -> Option<Skin> {
        // Every skin tone is redder than it is blue, and its red at least about its green: what
        // the face patch shows otherwise (a phone held before it, a mask) is not skin.
        let [r, g, b] = rgb;
        (r > b + 8.0 && r >= 0.95 * g && r > 30.0).then(|| Skin {
            rgb,
            ycc: ycbcr(rgb),
        })
    }

    /// The skin's colour (0-255).
    pub(super) fn rgb(&self) -> [f32; 3] {
        self.rgb
    }

    pub(super) fn matches(&self, rgb: [f32; 3]) -> bool {
        let [y, cb, cr] = ycbcr(rgb);
        let share = y / self.ycc[0].max(1.0);
        if !(SKIN_DARKEST..=SKIN_BRIGHTEST).contains(&share) {
            return false;
        }
        let (ecb, ecr) = (self.ycc[1] * share, self.ycc[2] * share);
        let (dcb, dcr) = (cb - ecb, cr - ecr);
        dcb * dcb + dcr * dcr <= SKIN_CHROMA * SKIN_CHROMA
    }
}

fn mean_difference(a: [f32; 3], b: [f32; 3]) -> f32 {
    (0..3).map(|c| (a[c] - b[c]).abs()).sum::<f32>() / 3.0
}

/// The three planes' colour at pixel `i`, in 0-255.
pub(super) fn rgb_at(planes: &[Plane], i: usize) -> [f32; 3] {
    [0, 1, 2].map(|c| (planes[c].data[i] + 1.0) * 127.5)
}

/// The per-channel median of the colours of `planes` around `points` (3x3 each) inside the
/// matte; `None` with fewer than 5 samples.
fn median_around(
    planes: &[Plane; 3],
    matte: &GrayImage,
    points: &[(f32, f32)],
    pick: impl Fn([f32; 3]) -> bool,
) -> Option<[f32; 3]> {
    let (w, h) = (planes[0].width as i64, planes[0].height as i64);
    let mut samples = Vec::new();
    for &(px, py) in points {
        let (cx, cy) = (px.round() as i64, py.round() as i64);
        for y in cy - 1..=cy + 1 {
            for x in cx - 1..=cx + 1 {
                if !(0..w).contains(&x) || !(0..h).contains(&y) {
                    continue;
                }
                let i = (y * w + x) as usize;
                if matte.as_raw()[i] < 128 {
                    continue;
                }
                let rgb = rgb_at(planes, i);
                if pick(rgb) {
                    samples.push(rgb);
                }
            }
        }
    }
    if samples.len() < 5 {
        return None;
    }
    median_colour(&samples)
}

/// The per-channel median of `colours`; `None` when there are none.
pub(super) fn median_colour(colours: &[[f32; 3]]) -> Option<[f32; 3]> {
    if colours.is_empty() {
        return None;
    }
    Some([0, 1, 2].map(|c| {
        let mut v: Vec<f32> = colours.iter().map(|rgb| rgb[c]).collect();
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    }))
}

/// Where keypoint `i` is, when it is visible enough to go by.
pub(super) fn joint(keypoints: &[Keypoint], i: usize) -> Option<(f32, f32)> {
    keypoints
        .get(i)
        .filter(|k| k.visibility >= MIN_VISIBILITY && k.x.is_finite() && k.y.is_finite())
        .map(|k| (k.x, k.y))
}

/// A segment of an arm's bone and the arm's radius along it.
#[derive(Debug, Clone, Copy)]
struct Bone {
    from: (f32, f32),
    to: (f32, f32),
    radius: f32,
    /// The upper arm (where hair may fall), or the forearm.
    upper: bool,
    /// The arm: 0 the person's left, 1 the right.
    side: usize,
}

/// Where a pixel lies against a bone.
#[derive(Debug, Clone, Copy)]
struct Near {
    /// Distance from the bone in arm radii.
    reach: f32,
    /// How far along the arm from the shoulder (pixels).
    along: f32,
    /// Past either end of its bone (a shoulder, an elbow, a wrist and the hand beyond it).
    at_end: bool,
}

impl Bone {
    fn length(&self) -> f32 {
        (self.to.0 - self.from.0).hypot(self.to.1 - self.from.1)
    }

    /// Where a pixel lies against the bone's line, unbounded: how far along it from `from`, and
    /// how far across it (pixels).
    fn line(&self, x: f32, y: f32) -> (f32, f32) {
        let len = self.length().max(1e-3);
        let (dx, dy) = (
            (self.to.0 - self.from.0) / len,
            (self.to.1 - self.from.1) / len,
        );
        let (px, py) = (x - self.from.0, y - self.from.1);
        (px * dx + py * dy, (px * dy - py * dx).abs())
    }

    /// Past the wrist, for an arm's radius, the forearm goes on as wide as it is (where a cuff
    /// ends; the pose's wrist lies above it): the distance across the line in radii there.
    fn past_wrist(&self, x: f32, y: f32) -> Option<f32> {
        let (along, across) = self.line(x, y);
        let len = self.length();
        (!self.upper && (len..=len + self.radius).contains(&along)).then(|| across / self.radius)
    }

    fn near(&self, x: f32, y: f32) -> Near {
        let (dx, dy) = (self.to.0 - self.from.0, self.to.1 - self.from.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            ((x - self.from.0) * dx + (y - self.from.1) * dy) / len2
        } else {
            0.0
        };
        let c = t.clamp(0.0, 1.0);
        let (ex, ey) = (x - self.from.0 - c * dx, y - self.from.1 - c * dy);
        let d = (ex * ex + ey * ey).sqrt();
        let len = len2.sqrt();
        Near {
            reach: d / self.radius,
            along: c * len + if self.upper { 0.0 } else { 1e4 },
            at_end: t != c,
        }
    }
}

/// The arms' bones from the keypoints.
fn bones(keypoints: &[Keypoint]) -> Option<Vec<Bone>> {
    let at = |i: usize| joint(keypoints, i);
    let (l, r) = (at(ARMS[0][0])?, at(ARMS[1][0])?);
    let width = (l.0 - r.0).hypot(l.1 - r.1);
    if width < 8.0 {
        return None;
    }
    let mut out = Vec::new();
    for (side, [s, e, w]) in ARMS.into_iter().enumerate() {
        let (Some(s), Some(e)) = (at(s), at(e)) else {
            continue;
        };
        out.push(Bone {
            from: s,
            to: e,
            radius: UPPER_RADIUS * width,
            upper: true,
            side,
        });
        if let Some(w) = at(w) {
            out.push(Bone {
                from: e,
                to: w,
                radius: FOREARM_RADIUS * width,
                upper: false,
                side,
            });
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The pixels near the arms of a `w` x `h` grid: those of the bones' box, grown by the farthest
/// a sleeve's outline can reach, within that reach of a bone; each with where it lies against
/// its nearest bone, and that bone's index.
fn arm_area(bones: &[Bone], w: usize, h: usize) -> Vec<(usize, Near, usize)> {
    let nearest = |x: f32, y: f32| {
        bones
            .iter()
            .enumerate()
            .map(|(k, b)| (b.near(x, y), k))
            .min_by(|a, b| a.0.reach.total_cmp(&b.0.reach))
    };
    let outline = SLEEVE_REACH + 0.5;
    let (x0, y0, x1, y1) = bones.iter().fold(
        (
            f32::INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ),
        |(x0, y0, x1, y1), b| {
            let r = outline * b.radius + 1.0;
            (
                x0.min(b.from.0.min(b.to.0) - r),
                y0.min(b.from.1.min(b.to.1) - r),
                x1.max(b.from.0.max(b.to.0) + r),
                y1.max(b.from.1.max(b.to.1) + r),
            )
        },
    );
    let span = |lo: f32, hi: f32, len: usize| {
        let lo = lo.floor().clamp(0.0, len as f32) as usize;
        lo..(hi.ceil().clamp(0.0, len as f32) as usize).max(lo)
    };
    let mut area = Vec::new();
    for y in span(y0, y1, h) {
        for x in span(x0, x1, w) {
            let Some((n, bone)) = nearest(x as f32, y as f32) else {
                continue;
            };
            if n.reach <= outline {
                area.push((y * w + x, n, bone));
            }
        }
    }
    area
}

/// Past the shoulder's point, beyond the upper arm's start: the neck, a collar, the hair.
fn above_shoulder(n: &Near, bone: &Bone) -> bool {
    bone.upper && n.at_end && n.along == 0.0
}

/// The old top's colour (0-255), at the chest: below the middle of the shoulders `l` and `r`,
/// either side of it; `None` where the chest shows no clear colour.
fn old_top(seen: &[Plane; 3], matte: &GrayImage, l: (f32, f32), r: (f32, f32)) -> Option<[f32; 3]> {
    let span = (l.0 - r.0).hypot(l.1 - r.1);
    let mid = ((l.0 + r.0) / 2.0, (l.1 + r.1) / 2.0);
    let points: Vec<(f32, f32)> = [(-0.2, 0.5), (0.2, 0.5), (-0.2, 0.8), (0.2, 0.8)]
        .iter()
        .map(|&(dx, dy)| (mid.0 + dx * span, mid.1 + dy * span))
        .collect();
    median_around(seen, matte, &points, |_| true)
}

/// The arms of a pose in the network's 192x256 view, found once per composition for
/// [`Arms::beside`] and [`bare_uncovered_arms`]: their bones, the pixels around them and the
/// old top's colour at the chest.
pub(super) struct Arms {
    bones: Vec<Bone>,
    /// [`arm_area`]: each pixel near the arms, where it lies against its nearest bone and
    /// that bone's index.
    area: Vec<(usize, Near, usize)>,
    /// The old top's colour (0-255); `None` where the chest shows no clear colour.
    top: Option<[f32; 3]>,
}

impl Arms {
    /// The arms of `keypoints` over what the network saw (`seen`) and the person's `matte`;
    /// `None` without both shoulders and an elbow.
    pub(super) fn find(
        seen: &[Plane; 3],
        matte: &GrayImage,
        keypoints: &[Keypoint],
    ) -> Option<Self> {
        let bones = bones(keypoints)?;
        let (l, r) = (joint(keypoints, ARMS[0][0])?, joint(keypoints, ARMS[1][0])?);
        let (w, h) = (seen[0].width, seen[0].height);
        Some(Arms {
            area: arm_area(&bones, w, h),
            top: old_top(seen, matte, l, r),
            bones,
        })
    }

    /// The old top's colour at the chest (0-255); `None` where the chest shows no clear colour.
    pub(super) fn top(&self) -> Option<[f32; 3]> {
        self.top
    }

    /// The pixels of a `w` x `h` grid on the arms: within `reach` arm radii of a bone.
    pub(super) fn on_arms(&self, w: usize, h: usize, reach: f32) -> Vec<bool> {
        let mut on = vec![false; w * h];
        for &(i, n, _) in &self.area {
            on[i] = n.reach <= reach;
        }
        on
    }

    /// Where an old sleeve may lie around the arms, in what the network saw (`seen`): within a
    /// sleeve's outline of a bone, not past the shoulders, in the old top's colour. There the
    /// network rightly repaints what the photo shows (a sleeve it uncovers, bared or left to
    /// it); all `false` where the chest shows no clear colour.
    pub(super) fn beside(&self, seen: &[Plane; 3]) -> Vec<bool> {
        let (w, h) = (seen[0].width, seen[0].height);
        let mut beside = vec![false; w * h];
        let Some(top) = self.top else {
            return beside;
        };
        // In every channel: a pale yellow skirt is near a white top on average.
        let like_top = |c: [f32; 3]| (0..3).all(|k| (c[k] - top[k]).abs() <= SLEEVE_TOLERANCE);
        for &(i, n, bone) in &self.area {
            beside[i] = !above_shoulder(&n, &self.bones[bone]) && like_top(rgb_at(seen, i));
        }
        beside
    }
}

/// The person's skin as the face shows it: the nose, and between it and the eyes and mouth
/// corners (cheeks); `None` without a nose or where that is not skin (a phone held before it).
pub(super) fn face_skin(
    seen: &[Plane; 3],
    matte: &GrayImage,
    keypoints: &[Keypoint],
) -> Option<Skin> {
    let nose = joint(keypoints, NOSE)?;
    let mut face = vec![nose];
    for i in EYES.into_iter().chain(MOUTH) {
        if let Some(p) = joint(keypoints, i) {
            face.push(((p.0 + nose.0) / 2.0, (p.1 + nose.1) / 2.0));
        }
    }
    median_around(seen, matte, &face, |_| true).and_then(Skin::new)
}

/// Paints the old sleeves the new garment leaves uncovered as bare arms. `rendered` (the
/// network's rendered person, [-1, 1]) takes skin as wide as an arm, and `change` (how much of
/// `rendered` replaces the photo) becomes 1 there, softly. `seen` is what the network saw, `matte` the person's matte, `covered` the warped
/// garment's mask ([0, 1]) and `keypoints` the pose, all at the same 192x256, and `arms` the
/// pose's arms there ([`Arms::find`]). Returns how many pixels were sleeve.
pub(super) fn bare_uncovered_arms(
    arms: &Arms,
    rendered: &mut [Plane],
    change: &mut Plane,
    seen: &[Plane; 3],
    matte: &GrayImage,
    covered: &Plane,
    keypoints: &[Keypoint],
) -> usize {
    let (w, h) = (seen[0].width, seen[0].height);
    if matte.dimensions() != (w as u32, h as u32) || (covered.width, covered.height) != (w, h) {
        return 0;
    }
    let (bones, top) = (&arms.bones, arms.top);
    let visible = |i: usize| joint(keypoints, i);
    let Some(skin) = face_skin(seen, matte, keypoints) else {
        return 0;
    };
    let Some(nose) = visible(NOSE) else {
        return 0;
    };
    // The hands, where they show: arms are often lit and tanned more like the hands than the
    // face. A pixel like either is skin.
    let hands: Vec<(f32, f32)> = HANDS
        .iter()
        .filter_map(|&[wrist, pinky, index]| {
            let (w, p, i) = (visible(wrist)?, visible(pinky)?, visible(index)?);
            let tip = ((p.0 + i.0) / 2.0, (p.1 + i.1) / 2.0);
            Some([0.35, 0.65].map(|f| (w.0 + f * (tip.0 - w.0), w.1 + f * (tip.1 - w.1))))
        })
        .flatten()
        .collect();
    let hand_skin = median_around(seen, matte, &hands, |_| true)
        .and_then(Skin::new)
        .filter(|h| mean_difference(h.rgb, skin.rgb) <= HAND_TOLERANCE);
    let is_skin = |rgb: [f32; 3]| skin.matches(rgb) || hand_skin.is_some_and(|h| h.matches(rgb));
    // The hair: beside the ears, away from the face, what is not skin.
    let hair = {
        let eyes: Vec<_> = EYES.iter().filter_map(|&i| visible(i)).collect();
        let span = match eyes[..] {
            [a, b] => (a.0 - b.0).hypot(a.1 - b.1),
            _ => 0.0,
        };
        let beside: Vec<_> = EARS
            .iter()
            .filter_map(|&i| keypoints.get(i))
            .map(|k| {
                let out = (k.x - nose.0).signum() * 0.5 * span;
                (k.x + out, k.y + 0.5 * span)
            })
            .collect();
        median_around(seen, matte, &beside, |c| !is_skin(c))
    };

    // The sleeve: near a bone, on the person, not under the new garment, not skin, not hair.
    let mut sleeve = vec![false; w * h];
    // Hair over the upper arm: neither sleeve nor arm, whatever lies under it.
    let mut hairy = vec![false; w * h];
    let mut near: Vec<Option<(Near, usize)>> = vec![None; w * h];
    let mut area = Vec::new();
    for &(i, n, bone) in &arms.area {
        let bone = &bones[bone];
        area.push(i);
        near[i] = Some((n, bone.side));
        // Firmly on the person: the matte's soft edge holds the background too.
        if n.reach > SLEEVE_REACH || matte.as_raw()[i] < 192 || covered.data[i] > 0.3 {
            continue;
        }
        // Above the shoulder's point lie the neck, the collar and the hair, not a sleeve.
        if above_shoulder(&n, bone) {
            continue;
        }
        let rgb = rgb_at(seen, i);
        if is_skin(rgb) {
            continue;
        }
        let like_hair = hair.is_some_and(|hc| mean_difference(rgb, hc) <= HAIR_TOLERANCE);
        if bone.upper && like_hair {
            hairy[i] = true;
            continue;
        }
        sleeve[i] = true;
    }
    // A sleeve is one garment from the shoulder down: an arm has one where the part of its core
    // (the arm itself) that the new garment leaves uncovered begins as sleeve, below the new
    // garment's edge, and the sleeve's colour is that beginning's. A bare arm begins as skin:
    // what lies beside it (trousers by a hand, a skirt, a bag) is left; so is what lies near a
    // sleeve in another colour.
    for side in 0..2 {
        let mut core: Vec<(f32, usize)> = area
            .iter()
            .copied()
            .filter(|&i| matte.as_raw()[i] >= 128 && covered.data[i] <= 0.3 && !hairy[i])
            .filter_map(|i| {
                near[i]
                    .filter(|&(n, s)| s == side && n.reach <= CORE && !n.at_end)
                    .map(|(n, _)| (n.along, i))
            })
            .collect();
        core.sort_by(|a, b| a.0.total_cmp(&b.0));
        let start: Vec<usize> = core[..core.len().div_ceil(3)]
            .iter()
            .map(|p| p.1)
            .filter(|&i| sleeve[i])
            .collect();
        let sleeved = core.len() >= MIN_SLEEVE_PIXELS
            && start.len() as f32 >= SLEEVE_START * core.len().div_ceil(3) as f32;
        let start_colours: Vec<[f32; 3]> = start.iter().map(|&i| rgb_at(seen, i)).collect();
        let colour = sleeved
            .then(|| median_colour(&start_colours))
            .flatten()
            // The old top's own sleeve, in the top's colour: not trousers the forearm lies on.
            .filter(|&c| top.is_some_and(|t| mean_difference(c, t) <= SLEEVE_TOLERANCE));
        for &i in &area {
            let Some((n, s)) = near[i] else { continue };
            if sleeve[i] && s == side {
                // On the arm itself a sleeve may change more (a cuff, a mesh over skin): what
                // lies there is the sleeve or the arm, not something beside it.
                let tolerance = if n.reach <= CORE {
                    CORE_TOLERANCE
                } else {
                    SLEEVE_TOLERANCE
                };
                sleeve[i] =
                    colour.is_some_and(|c| mean_difference(rgb_at(seen, i), c) <= tolerance);
            }
        }
        // And one piece: what is not joined to the sleeve's beginning (a stripe of a skirt
        // beside the hand in the sleeve's colour) is not the sleeve.
        let mut joined = vec![false; w * h];
        let mut stack: Vec<usize> = start.iter().copied().filter(|&i| sleeve[i]).collect();
        for &i in &stack {
            joined[i] = true;
        }
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = yy * w + xx;
                    if sleeve[j] && !joined[j] && near[j].is_some_and(|(_, s)| s == side) {
                        joined[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        for &i in &area {
            if near[i].is_some_and(|(_, s)| s == side) {
                sleeve[i] &= joined[i];
            }
        }
        // A cuff in another colour ends many sleeves at the wrist (a ribbed band, a mesh's
        // solid hem): on the forearm's core towards the wrist, what the sleeve reaches and is
        // neither skin nor hair is the sleeve's too.
        let Some(forearm) = bones.iter().find(|b| b.side == side && !b.upper) else {
            continue;
        };
        let length = forearm.length();
        // Along the forearm's line from CUFF_FROM of its length to an arm's radius past the
        // wrist ([`Bone::past_wrist`]), within the core's width.
        let cuff = |i: usize| {
            let (along, across) = forearm.line((i % w) as f32, (i / w) as f32);
            near[i].is_some_and(|(_, s)| s == side)
                && (CUFF_FROM * length..=length + forearm.radius).contains(&along)
                && across <= CORE * forearm.radius
                && !hairy[i]
                && matte.as_raw()[i] >= 192
                && covered.data[i] <= 0.3
                && !is_skin(rgb_at(seen, i))
        };
        let mut stack: Vec<usize> = area
            .iter()
            .copied()
            .filter(|&i| sleeve[i] && near[i].is_some_and(|(_, s)| s == side))
            .collect();
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = yy * w + xx;
                    if !sleeve[j] && cuff(j) {
                        sleeve[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
    }
    // Specks out: a sleeve pixel needs a sleeve pixel beside it on both axes.
    let mut kept = vec![false; w * h];
    for &i in &area {
        kept[i] = {
            let (x, y) = (i % w, i / w);
            let on = |xx: usize, yy: usize| sleeve[yy * w + xx];
            sleeve[i]
                && ((x > 0 && on(x - 1, y)) || (x + 1 < w && on(x + 1, y)))
                && ((y > 0 && on(x, y - 1)) || (y + 1 < h && on(x, y + 1)))
        };
    }
    let mut count = kept.iter().filter(|&&k| k).count();
    if count < MIN_SLEEVE_PIXELS {
        return 0;
    }
    // The sleeve's own soft outline, which the firm matte left out: a dark line along the arm.
    for _ in 0..EDGE_GROW {
        let grown: Vec<usize> = area
            .iter()
            .copied()
            .filter(|&i| {
                let (x, y) = (i % w, i / w);
                !kept[i]
                    && matte.as_raw()[i] >= 32
                    && covered.data[i] <= 0.3
                    && !is_skin(rgb_at(seen, i))
                    && (y.saturating_sub(1)..=(y + 1).min(h - 1)).any(|yy| {
                        (x.saturating_sub(1)..=(x + 1).min(w - 1)).any(|xx| kept[yy * w + xx])
                    })
            })
            .collect();
        count += grown.len();
        for i in grown {
            kept[i] = true;
        }
    }

    // Painted softly: the sleeve's share of each pixel, blurred by a pixel, from the sleeve
    // grown by a pixel over the person, so that the soft edge lies on the hand's skin and not on
    // the sleeve's end (a cuff showed there as a dark band).
    let grown: Vec<bool> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            kept[i]
                || (matte.as_raw()[i] >= 128
                    && near[i].is_some_and(|(n, _)| n.reach <= 1.0)
                    && (y.saturating_sub(1)..=(y + 1).min(h - 1)).any(|yy| {
                        (x.saturating_sub(1)..=(x + 1).min(w - 1)).any(|xx| kept[yy * w + xx])
                    }))
        })
        .collect();
    let share = Plane {
        width: w,
        height: h,
        data: grown.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect(),
    }
    .blurred(1);
    let skin_value = skin.rgb.map(|v| v / 127.5 - 1.0);
    for &i in &area {
        let (a, Some((n, side))) = (share.data[i], near[i]) else {
            continue;
        };
        if a <= 0.0 {
            continue;
        }
        // Skin within an arm's radius of the bone, fading out over a soft edge beyond it; past
        // a bone's end the arm goes on (into the hand, the shoulder). Farther out, what a loose
        // sleeve held is left as the network renders it: where the real arm is wider than the
        // pose says, the background painted there would cut into it.
        let (x, y) = ((i % w) as f32, (i / w) as f32);
        let past_wrist = bones
            .iter()
            .filter(|b| b.side == side)
            .find_map(|b| b.past_wrist(x, y));
        let t = match past_wrist {
            Some(across) => across,
            None if n.at_end => n.reach.min(1.0),
            None => n.reach,
        };
        let a = a * (1.0 - ((t - 1.0) / ARM_EDGE + 0.5).clamp(0.0, 1.0));
        if a <= 0.0 {
            continue;
        }
        let shade = 1.0 - SIDE_SHADE * t.min(1.0).powi(2);
        for c in 0..3 {
            let r = &mut rendered[c].data[i];
            *r += a * ((skin_value[c] + 1.0) * shade - 1.0 - *r);
        }
        change.data[i] = change.data[i].max(a);
    }
    count
}

/// A keypoint the pose shows clearly, for the tests.
#[cfg(test)]
pub(super) fn visible_point(x: f32, y: f32) -> Keypoint {
    Keypoint {
        x,
        y,
        z: 0.0,
        visibility: 0.99,
        presence: 0.99,
    }
}

/// A pose with none of its 33 keypoints seen, for the tests to place some.
#[cfg(test)]
pub(super) fn absent_pose() -> Vec<Keypoint> {
    vec![
        Keypoint {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            visibility: 0.0,
            presence: 0.0,
        };
        33
    ]
}

/// Uniform numbers in [0, 1) from `seed` (xorshift): the same sequence on every run, for the
/// tests that try the steps on random poses.
#[cfg(test)]
pub(super) fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 192;
    const H: usize = 256;
    const SKIN: [u8; 3] = [222, 176, 150];
    const BLACK: [u8; 3] = [22, 22, 24];
    const BACKDROP: [u8; 3] = [235, 233, 232];

    /// A person at 192x256: a face, a torso in `top`, arms hanging straight down from the
    /// shoulders (x 60 and 132, y 80) past the elbows (y 140) to the wrists (y 196) in `arm`
    /// (hands of skin below), and beside the left forearm a patch of `beside`.
    struct Scene {
        seen: [Plane; 3],
        matte: GrayImage,
        covered: Plane,
        keypoints: Vec<Keypoint>,
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

    fn scene(top: [u8; 3], arm: [u8; 3], beside: Option<[u8; 3]>) -> Scene {
        let face = |x: usize, y: usize| (x as f32 - 96.0).hypot(y as f32 - 40.0) < 16.0;
        let torso = |x: usize, y: usize| (70..123).contains(&x) && (70..240).contains(&y);
        let arm_at = |x: usize, y: usize| {
            (70..200).contains(&y) && (x.abs_diff(60) <= 8 || x.abs_diff(132) <= 8)
        };
        let hand = |x: usize, y: usize| {
            (200..220).contains(&y) && (x.abs_diff(60) <= 6 || x.abs_diff(132) <= 6)
        };
        let next_to_arm = |x: usize, y: usize| {
            beside.is_some() && (69..76).contains(&x) && (150..200).contains(&y)
        };
        let seen = planes_from(|x, y| {
            if face(x, y) || hand(x, y) {
                SKIN
            } else if next_to_arm(x, y) {
                beside.unwrap()
            } else if arm_at(x, y) {
                arm
            } else if torso(x, y) {
                top
            } else {
                BACKDROP
            }
        });
        let matte = GrayImage::from_fn(W as u32, H as u32, |x, y| {
            let (x, y) = (x as usize, y as usize);
            let on = face(x, y) || torso(x, y) || arm_at(x, y) || hand(x, y) || next_to_arm(x, y);
            image::Luma([if on { 255 } else { 0 }])
        });
        // The new garment: the torso and short sleeves to y 110.
        let covered = Plane {
            width: W,
            height: H,
            data: (0..W * H)
                .map(|i| {
                    let (x, y) = (i % W, i / W);
                    let sleeve = (70..110).contains(&y) && (50..143).contains(&x);
                    if torso(x, y) || sleeve {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect(),
        };
        let mut keypoints = absent_pose();
        let mut put = |i: usize, x: f32, y: f32| keypoints[i] = visible_point(x, y);
        put(NOSE, 96.0, 40.0);
        put(2, 102.0, 35.0);
        put(5, 90.0, 35.0);
        put(9, 100.0, 47.0);
        put(10, 92.0, 47.0);
        put(7, 109.0, 38.0);
        put(8, 83.0, 38.0);
        // The person's left is the picture's right.
        for (side, x) in [(0, 132.0), (1, 60.0)] {
            put(ARMS[side][0], x, 80.0);
            put(ARMS[side][1], x, 140.0);
            put(ARMS[side][2], x, 196.0);
        }
        Scene {
            seen,
            matte,
            covered,
            keypoints,
        }
    }

    /// Runs the step on a rendering that kept what the network saw; returns the rendering, the
    /// change and the sleeve pixels counted.
    fn bare(s: &Scene) -> ([Plane; 3], Plane, usize) {
        let mut rendered = s.seen.clone();
        let mut change = Plane {
            width: W,
            height: H,
            data: vec![0.0; W * H],
        };
        let n = match Arms::find(&s.seen, &s.matte, &s.keypoints) {
            Some(arms) => bare_uncovered_arms(
                &arms,
                &mut rendered,
                &mut change,
                &s.seen,
                &s.matte,
                &s.covered,
                &s.keypoints,
            ),
            None => 0,
        };
        (rendered, change, n)
    }

    fn at(planes: &[Plane; 3], x: usize, y: usize) -> [f32; 3] {
        rgb_at(planes, y * W + x)
    }

    #[test]
    fn long_sleeves_are_told_as_the_measuring_script_tells_them() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let fixture = std::fs::read_to_string(root.join("tests/fixtures/long_sleeves.json"))
            .expect("fixture from training/measure_sleeves.py");
        let scores: std::collections::BTreeMap<String, f32> =
            serde_json::from_str(&fixture).unwrap();
        assert_eq!(scores.len(), 12);
        for (name, expected) in &scores {
            let mask = image::open(root.join("assets/wardrobe").join(name))
                .unwrap()
                .to_luma8();
            let score = sleeve_score(&mask).unwrap();
            assert!(
                (score - expected).abs() < 1e-3,
                "{name}: {score} against {expected}"
            );
            assert_eq!(long_sleeved(&mask), *expected > 0.0, "{name}");
        }
        let long: Vec<&str> = scores
            .iter()
            .filter(|(_, &s)| s > 0.0)
            .map(|(n, _)| n.as_str())
            .collect();
        // The two long-sleeved blouses, and the bell sleeves that reach the forearm.
        assert_eq!(
            long,
            [
                "black-polka-dot-blouse.mask.png",
                "blue-striped-lace-up-top.mask.png",
                "teal-bell-sleeve-top.mask.png"
            ]
        );
        // Too small to tell: not long.
        assert_eq!(
            sleeve_score(&GrayImage::from_pixel(4, 4, image::Luma([255]))),
            None
        );
        assert!(!long_sleeved(&GrayImage::new(192, 256)));
    }

    #[test]
    fn sleeves_parse_and_print() {
        for s in [Sleeves::Bare, Sleeves::Keep] {
            assert_eq!(s.to_string().parse::<Sleeves>(), Ok(s));
        }
        assert!(" keep ".parse::<Sleeves>() == Ok(Sleeves::Keep));
        assert_eq!(
            "short".parse::<Sleeves>(),
            Err(SleevesSyntax("short".to_string()))
        );
    }

    #[test]
    fn a_long_black_sleeve_below_a_short_new_one_becomes_a_bare_arm() {
        let s = scene(BLACK, BLACK, None);
        let (rendered, change, n) = bare(&s);
        assert!(n > 500, "{n} sleeve pixels");
        for (x, y) in [(60, 125), (60, 160), (132, 185), (62, 150)] {
            let c = at(&rendered, x, y);
            for k in 0..3 {
                // Skin, shaded a little towards the arm's sides.
                assert!(
                    c[k] <= f32::from(SKIN[k]) + 1.0 && c[k] >= 0.75 * f32::from(SKIN[k]),
                    "({x}, {y}): {c:?}"
                );
            }
            assert!(change.data[y * W + x] > 0.99, "({x}, {y})");
        }
        // Under the new garment, the face, the hands and the backdrop: untouched.
        for (x, y) in [(60, 100), (96, 40), (60, 210), (20, 150), (96, 150)] {
            assert_eq!(change.data[y * W + x], 0.0, "({x}, {y})");
            assert_eq!(at(&rendered, x, y), at(&s.seen, x, y), "({x}, {y})");
        }
    }

    #[test]
    fn a_cuff_in_another_colour_at_the_wrist_goes_with_the_sleeve() {
        // A red band ends the black sleeve, straddling the pose's wrist (y 196) and as wide as
        // the arm: its corners lie outside the round end of the forearm's capsule.
        let red: [u8; 3] = [200, 30, 30];
        let mut s = scene(BLACK, BLACK, None);
        for y in 186..200 {
            for x in 52..=68 {
                for (plane, v) in s.seen.iter_mut().zip(red) {
                    plane.data[y * W + x] = f32::from(v) / 127.5 - 1.0;
                }
            }
        }
        let (rendered, change, _) = bare(&s);
        for (x, y) in [(60, 190), (60, 198), (55, 198), (65, 199)] {
            let c = at(&rendered, x, y);
            assert!(
                mean_difference(c, SKIN.map(f32::from)) < 40.0 && change.data[y * W + x] > 0.5,
                "({x}, {y}): {c:?}, change {}",
                change.data[y * W + x]
            );
        }
        // The hand below it stays the photo's.
        assert_eq!(change.data[215 * W + 60], 0.0);
    }

    #[test]
    fn bare_arms_and_what_lies_beside_them_are_left_as_they_are() {
        // Bare arms, trousers of the top's colour beside a forearm.
        let s = scene(BLACK, SKIN, Some(BLACK));
        let (rendered, change, n) = bare(&s);
        assert_eq!(n, 0);
        assert!(change.data.iter().all(|&c| c == 0.0));
        assert_eq!(rendered[0].data, s.seen[0].data);
    }

    #[test]
    fn a_sleeve_not_in_the_tops_colour_is_not_taken_for_one() {
        // A black top, the forearms over something red (a bag, a cardigan held): not the old
        // top's sleeve.
        let s = scene(BLACK, [200, 30, 40], None);
        let (_, change, n) = bare(&s);
        assert_eq!(n, 0);
        assert!(change.data.iter().all(|&c| c == 0.0));
    }

    #[test]
    fn no_face_to_tell_the_skin_by_changes_nothing() {
        let mut s = scene(BLACK, BLACK, None);
        // A phone held before the face: what the face patch shows is not skin.
        let old = s.seen.clone();
        s.seen = planes_from(|x, y| {
            if (x as f32 - 96.0).hypot(y as f32 - 40.0) < 16.0 {
                [40, 40, 48]
            } else {
                at(&old, x, y).map(|v| v.round() as u8)
            }
        });
        let (_, _, n) = bare(&s);
        assert_eq!(n, 0);
    }

    #[test]
    fn any_pose_at_all_leaves_a_valid_picture() {
        // Poses as a model can give them: joints anywhere in and far outside the frame, on top
        // of each other, not numbers at all. The step never panics, paints only numbers, and
        // keeps the change a share.
        let mut next = uniform(0x2545_f491_4f6c_dd1d);
        let base = scene(BLACK, BLACK, None);
        let mut painted = 0;
        for round in 0..200 {
            let mut s = Scene {
                seen: base.seen.clone(),
                matte: base.matte.clone(),
                covered: base.covered.clone(),
                keypoints: base.keypoints.clone(),
            };
            for (i, k) in s.keypoints.iter_mut().enumerate() {
                let (a, b) = (next(), next());
                let arm = (11..=20).contains(&i);
                (k.x, k.y) = match round % 5 {
                    0 => (a * W as f32, b * H as f32),
                    1 => ((a - 0.5) * 1e4, (b - 0.5) * 1e4),
                    2 => (96.0, 140.0),
                    3 if a < 0.3 => (f32::NAN, f32::INFINITY),
                    // The face kept, the arms anywhere near where they were (painted).
                    _ if arm => (k.x + (a - 0.5) * 60.0, k.y + (b - 0.5) * 60.0),
                    _ => (k.x, k.y),
                };
                if round % 5 != 4 {
                    k.visibility = next();
                }
            }
            let (rendered, change, n) = bare(&s);
            painted += usize::from(n > 0);
            assert!(
                rendered
                    .iter()
                    .all(|p| p.data.iter().all(|v| v.is_finite())),
                "round {round}"
            );
            assert!(
                change.data.iter().all(|v| (0.0..=1.0).contains(v)),
                "round {round}"
            );
        }
        assert!(painted >= 20, "only {painted} poses painted anything");
    }

    #[test]
    fn a_loose_sleeve_is_painted_only_as_wide_as_an_arm() {
        // A sleeve wider than the arm: its outer part is left as the network renders it (where
        // a real arm is wider than the pose says, anything else would cut into it).
        let mut s = scene(BLACK, BLACK, None);
        let loose = |x: usize, y: usize| (150..200).contains(&y) && (46..52).contains(&x);
        let old = s.seen.clone();
        s.seen = planes_from(|x, y| {
            if loose(x, y) {
                BLACK
            } else {
                at(&old, x, y).map(|v| v.round() as u8)
            }
        });
        for y in 150..200 {
            for x in 46..52 {
                s.matte.put_pixel(x, y, image::Luma([255]));
            }
        }
        let (rendered, change, _) = bare(&s);
        // The arm (radius 0.11 of the 72-pixel shoulder width, about 8 pixels) is skin ...
        assert!(at(&rendered, 56, 175)[0] > 150.0);
        // ... the sleeve's outer part, 11 pixels out, is left.
        assert_eq!(at(&rendered, 49, 175), at(&s.seen, 49, 175));
        assert_eq!(change.data[175 * W + 49], 0.0);
    }
}
