//! Automatic framing: the crop that puts a person where VITON's persons stand.
//!
//! VITON's photos are framed alike: the person upright, the head near the top, cut at the
//! thighs. [`VITON_POSE`] holds where the nose, the shoulders and the hips of its persons sit, as
//! fractions of the frame, measured with the same keypoint model the app runs
//! (`cargo run --release --example viton_target`, see README). [`fit_crop`] finds the crop whose
//! scale and position put a photo's keypoints closest to those places (weighted least squares
//! over the three unknowns x, y and height), whatever the person's size and place in the photo;
//! the crop may reach past the photo (see [`Crop`]). [`choose_crop`] is the one rule for which
//! crop a photo gets: the manual one, the automatic one, or the centred one when nobody is found.

use std::fmt;
use std::str::FromStr;

use super::framing::Crop;
use crate::person::Keypoint;

/// A keypoint of the target: its BlazePose index, its place in the 192x256 frame as fractions
/// of the frame's width (`u`) and height (`v`), and how much it counts in the fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetPoint {
    pub index: usize,
    pub u: f32,
    pub v: f32,
    pub weight: f32,
}

/// The hips' weight in the fit. Where the model puts the hips depends on what it sees of the
/// legs (a torso cut at the thighs, a seated person, a long top): on the "in the wild" set, the
/// same person framed in photos of other sizes got crops 7% smaller in the median with full
/// weight; at this weight the hips still place the crop when the face is doubtful.
const HIP_WEIGHT: f32 = 0.1;

/// Where VITON's persons have their nose, shoulders and hips: medians over 1341 training photos
/// (every 5th of `train/image`; 24 more had a point not visible) of the keypoints
/// [`crate::person::PersonModels::analyze`] finds. Derived figures: shoulder width 0.403 of the
/// frame's width (p10 0.341, p90 0.467), torso (shoulder middle to hip middle) 0.470 of its
/// height (p10 0.418, p90 0.539). Measured by `examples/viton_target.rs` (see README).
pub const VITON_POSE: [TargetPoint; 5] = [
    // nose (y p10 0.118, p90 0.189)
    TargetPoint {
        index: 0,
        u: 0.494,
        v: 0.146,
        weight: 1.0,
    },
    // left shoulder (the person's left: the picture's right)
    TargetPoint {
        index: 11,
        u: 0.701,
        v: 0.327,
        weight: 1.0,
    },
    // right shoulder
    TargetPoint {
        index: 12,
        u: 0.296,
        v: 0.331,
        weight: 1.0,
    },
    // left hip (y p10 0.735, p90 0.903)
    TargetPoint {
        index: 23,
        u: 0.619,
        v: 0.795,
        weight: HIP_WEIGHT,
    },
    // right hip
    TargetPoint {
        index: 24,
        u: 0.367,
        v: 0.795,
        weight: HIP_WEIGHT,
    },
];

/// Keypoints less visible than this count only a little in the fit (a hip hidden by a desk,
/// or below the photo's edge, is still guessed by the model).
const WEIGHT_FLOOR: f32 = 0.1;

/// The crop that best puts `keypoints` (33 BlazePose points, photo pixels) where [`VITON_POSE`]
/// has them, for a `width` x `height` photo; `None` when the pose cannot be framed
/// ([`crate::person::framable`]). The crop may reach past the photo's edges; its size is
/// kept within [`Crop::validate`]'s limits.
pub fn fit_crop(keypoints: &[Keypoint], width: u32, height: u32) -> Option<Crop> {
    fit_crop_to(&VITON_POSE, keypoints, width, height)
}

/// [`fit_crop`] with another target.
pub fn fit_crop_to(
    target: &[TargetPoint],
    keypoints: &[Keypoint],
    width: u32,
    height: u32,
) -> Option<Crop> {
    if !crate::person::framable(keypoints, width as f32, height as f32) {
        return None;
    }
    // The crop is (x, y, h) with width 0.75 h: a target point (u, v) lands on
    // (x + 0.75 u h, y + v h). Linear in (x, y, h): weighted least squares, closed form.
    let aspect = 0.75f32;
    // The target's persons face the camera, their left shoulder on the picture's right. A pose
    // with the left shoulder on the left is read from behind, or with its sides swapped (a face
    // hidden by a phone in a mirror selfie does that): fitted as labelled, the target's left
    // pulls against the body's real left and the crop shrinks to a fraction of the person.
    // Framing is about where the body is, so the sides are matched by place.
    let mirrored = matches!(
        (keypoints.get(11), keypoints.get(12)),
        (Some(l), Some(r)) if l.x < r.x
    );
    let mut points = Vec::with_capacity(target.len());
    for t in target {
        let index = if mirrored {
            mirror_side(t.index)
        } else {
            t.index
        };
        let k = keypoints.get(index)?;
        if !(k.x.is_finite() && k.y.is_finite()) {
            continue;
        }
        let w = k.visibility.clamp(WEIGHT_FLOOR, 1.0) * t.weight;
        points.push((w, aspect * t.u, t.v, k.x, k.y));
    }
    let total: f32 = points.iter().map(|p| p.0).sum();
    if total <= 0.0 {
        return None;
    }
    let mean = |f: fn(&(f32, f32, f32, f32, f32)) -> f32| {
        points.iter().map(|p| p.0 * f(p)).sum::<f32>() / total
    };
    let (ma, mv, mx, my) = (mean(|p| p.1), mean(|p| p.2), mean(|p| p.3), mean(|p| p.4));
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for &(w, a, v, x, y) in &points {
        num += w * ((a - ma) * (x - mx) + (v - mv) * (y - my));
        den += w * ((a - ma).powi(2) + (v - mv).powi(2));
    }
    if den <= f32::EPSILON {
        return None;
    }
    let h = num / den;
    if !h.is_finite() || h < 4.0 {
        return None;
    }
    let (x, y) = (mx - ma * h, my - mv * h);
    Some(Crop::around(
        x + aspect * h / 2.0,
        y + h / 2.0,
        h,
        width,
        height,
    ))
}

/// The BlazePose keypoint of the other side: the eyes' three points each (1-3, 4-6), the ears
/// (7, 8), the mouth's corners (9, 10), and the body's pairs from the shoulders down (odd left,
/// even right); the nose is its own.
fn mirror_side(index: usize) -> usize {
    match index {
        0 => 0,
        1..=3 => index + 3,
        4..=6 => index - 3,
        7..=10 if index % 2 == 1 => index + 1,
        7..=10 => index - 1,
        i if i % 2 == 1 => i + 1,
        i => i - 1,
    }
}

/// How the person photo is framed for the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// From the person's keypoints ([`fit_crop`]); the centred crop when no person is found.
    #[default]
    Auto,
    /// The largest centred 3:4 crop.
    Centre,
    /// This crop.
    Manual(Crop),
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Framing::Auto => f.write_str("auto"),
            Framing::Centre => f.write_str("centre"),
            Framing::Manual(c) => write!(f, "{c}"),
        }
    }
}

impl FromStr for Framing {
    type Err = super::framing::CropError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(Framing::Auto),
            "centre" | "center" => Ok(Framing::Centre),
            other => other.parse().map(Framing::Manual),
        }
    }
}

/// Why the crop is what it is, for telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CropSource {
    /// Placed from the person's keypoints.
    Auto,
    /// The centred crop, asked for.
    Centre,
    /// The crop the user gave.
    Manual,
    /// Automatic framing found no usable person; the centred crop, with the reason.
    Fallback(String),
}

/// The one rule for a photo's crop: a manual crop wins; automatic framing fits the keypoints
/// (`keypoints` is `Err(reason)` when no person was found); otherwise the centred crop.
pub fn choose_crop(
    framing: Framing,
    keypoints: Result<&[Keypoint], String>,
    width: u32,
    height: u32,
) -> (Crop, CropSource) {
    match framing {
        Framing::Manual(crop) => (crop, CropSource::Manual),
        Framing::Centre => (Crop::centered(width, height), CropSource::Centre),
        Framing::Auto => match keypoints {
            Ok(points) => match fit_crop(points, width, height) {
                Some(crop) => (crop, CropSource::Auto),
                None => (
                    Crop::centered(width, height),
                    CropSource::Fallback(
                        "no person can be framed (shoulders hidden, not upright, or no face \
                         where the pose puts one)"
                            .into(),
                    ),
                ),
            },
            Err(reason) => (Crop::centered(width, height), CropSource::Fallback(reason)),
        },
    }
}

/// Intersection over union of two crops (as rectangles).
pub fn crop_iou(a: Crop, b: Crop) -> f32 {
    let x0 = i64::from(a.x).max(i64::from(b.x));
    let y0 = i64::from(a.y).max(i64::from(b.y));
    let x1 = (i64::from(a.x) + i64::from(a.width)).min(i64::from(b.x) + i64::from(b.width));
    let y1 = (i64::from(a.y) + i64::from(a.height)).min(i64::from(b.y) + i64::from(b.height));
    let inter = ((x1 - x0).max(0) * (y1 - y0).max(0)) as f64;
    let area = |c: Crop| f64::from(c.width) * f64::from(c.height);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        (inter / union) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::KEYPOINTS;

    /// Keypoints of a VITON-framed person in a crop `c`, scaled to photo pixels.
    fn person_in(c: Crop, visibility: f32) -> Vec<Keypoint> {
        let mut points = vec![
            Keypoint {
                x: f32::NAN,
                y: f32::NAN,
                z: 0.0,
                visibility: 0.0,
                presence: 0.0,
            };
            KEYPOINTS
        ];
        for t in VITON_POSE {
            points[t.index] = Keypoint {
                x: c.x as f32 + t.u * c.width as f32,
                y: c.y as f32 + t.v * c.height as f32,
                z: 0.0,
                visibility,
                presence: 1.0,
            };
        }
        points
    }

    /// The same person read with its sides swapped (from behind, or a face hidden by a phone):
    /// the same crop, not one shrunk by the target's left pulling against the body's left.
    #[test]
    fn a_pose_read_with_its_sides_swapped_gets_the_same_frame() {
        let crop = Crop {
            x: 300,
            y: 100,
            width: 450,
            height: 600,
        };
        let mut points = person_in(crop, 0.9);
        // Distinct visibilities, so that the weights must follow the points too.
        points[11].visibility = 0.6;
        points[23].visibility = 0.3;
        let mut swapped = points.clone();
        for (l, r) in [(11, 12), (23, 24)] {
            swapped.swap(l, r);
        }
        let a = fit_crop(&points, 1200, 900).unwrap();
        let b = fit_crop(&swapped, 1200, 900).unwrap();
        assert_eq!(a, b);
        assert!(crop_iou(a, crop) > 0.95, "{a} {crop}");
        for i in 0..33 {
            assert_eq!(mirror_side(mirror_side(i)), i);
        }
        assert_eq!(
            [1, 4, 7, 8, 9, 10, 11, 12, 23, 24, 31, 32].map(mirror_side),
            [4, 1, 8, 7, 10, 9, 12, 11, 24, 23, 32, 31]
        );
    }

    #[test]
    fn a_viton_framed_person_gets_back_its_frame() {
        for (crop, w, h) in [
            // Full body, small in a tall photo.
            (
                Crop {
                    x: 700,
                    y: 150,
                    width: 450,
                    height: 600,
                },
                1536,
                2048,
            ),
            // Off-centre in a landscape webcam frame.
            (
                Crop {
                    x: 40,
                    y: 60,
                    width: 240,
                    height: 320,
                },
                640,
                480,
            ),
            // A close-up: the frame reaches past the photo on every side.
            (
                Crop {
                    x: -100,
                    y: -80,
                    width: 900,
                    height: 1200,
                },
                768,
                1024,
            ),
        ] {
            let fitted = fit_crop(&person_in(crop, 0.9), w, h).unwrap();
            assert!(crop_iou(fitted, crop) > 0.98, "{fitted} vs {crop}");
            fitted.validate(w, h).unwrap();
        }
    }

    #[test]
    fn no_visible_upper_body_means_no_fit() {
        let c = Crop {
            x: 0,
            y: 0,
            width: 300,
            height: 400,
        };
        assert_eq!(fit_crop(&person_in(c, 0.2), 640, 480), None);
        assert_eq!(fit_crop(&[], 640, 480), None);
    }

    #[test]
    fn the_choice_falls_back_to_the_centre_and_manual_wins() {
        let manual = Crop {
            x: 5,
            y: 6,
            width: 30,
            height: 40,
        };
        assert_eq!(
            choose_crop(Framing::Manual(manual), Err("x".into()), 640, 480),
            (manual, CropSource::Manual)
        );
        let (crop, why) = choose_crop(Framing::Auto, Err("nobody".into()), 640, 480);
        assert_eq!(crop, Crop::centered(640, 480));
        assert_eq!(why, CropSource::Fallback("nobody".into()));
        assert_eq!("auto".parse::<Framing>().unwrap(), Framing::Auto);
        assert_eq!("centre".parse::<Framing>().unwrap(), Framing::Centre);
        assert_eq!(
            "-5,6,30,40".parse::<Framing>().unwrap(),
            Framing::Manual(Crop { x: -5, ..manual })
        );
    }

    #[test]
    fn iou_of_crops() {
        let a = Crop {
            x: 0,
            y: 0,
            width: 30,
            height: 40,
        };
        assert_eq!(crop_iou(a, a), 1.0);
        let b = Crop { x: 30, ..a };
        assert_eq!(crop_iou(a, b), 0.0);
        let c = Crop { x: 15, ..a };
        assert!((crop_iou(a, c) - 1.0 / 3.0).abs() < 1e-6);
    }
}
