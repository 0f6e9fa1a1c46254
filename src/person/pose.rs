//! BlazePose's geometry: the detector's SSD anchors, box decoding and weighted non-maximum
//! suppression, the rotated region the landmark model looks at, and the landmark decoding.
//!
//! The constants are those of MediaPipe's pose graphs (pose_detection_cpu, pose_detection_to_roi,
//! pose_landmark_by_roi) for the models converted here.

use std::f32::consts::PI;

/// Detector input size.
pub const DETECTOR_SIZE: usize = 224;
/// Landmark model input size.
pub const LANDMARK_SIZE: usize = 256;
/// Body keypoints (BlazePose topology); the model's extra 6 points serve its own tracking.
pub const KEYPOINTS: usize = 33;
const LANDMARK_VALUES: usize = 5;
const ANCHOR_STRIDES: [usize; 5] = [8, 16, 32, 32, 32];
const MIN_SCORE: f32 = 0.5;
const NMS_IOU: f32 = 0.3;
/// The region is the body circle scaled by this.
pub const ROI_SCALE: f32 = 1.25;

/// The least visibility of each shoulder for a pose to say where the person's torso is: the
/// framing fits the shoulders, and without them a pose is too unsure to frame.
pub const MIN_SHOULDER_VISIBILITY: f32 = 0.5;

/// Whether both shoulders (keypoints 11 and 12) are visible enough to frame the person.
pub fn shoulders_visible(keypoints: &[Keypoint]) -> bool {
    [11usize, 12].iter().all(|&i| {
        keypoints
            .get(i)
            .is_some_and(|k| k.visibility >= MIN_SHOULDER_VISIBILITY && k.x.is_finite())
    })
}

/// Whether the pose stands upright in the picture: the nose above the shoulders' midpoint, and
/// that above the hips' (in a person cut off at the chin the model can read the body upside
/// down, hips above the shoulders).
pub fn upright(keypoints: &[Keypoint]) -> bool {
    let y = |i: usize| keypoints.get(i).map_or(f32::NAN, |k| k.y);
    let (nose, shoulders, hips) = (y(0), (y(11) + y(12)) / 2.0, (y(23) + y(24)) / 2.0);
    nose < shoulders && shoulders < hips
}

/// The least presence (the landmark model's "this point is in the picture") of the face's most
/// present point when the pose puts the nose well inside the picture. On persons (VITON train
/// persons laid over photos: the "in the wild" sets built from train, 500 photos; the real
/// photos) it was 0.899 or more; on poses read into a coffee cup, a cat, a star field or a bare
/// arm, 0.18-0.71 (two cups 0.63 and 0.71): the threshold lies between.
pub const MIN_FACE_PRESENCE: f32 = 0.8;

/// How far inside the picture, in shoulder widths, the nose must be for the face to be asked
/// for: a head cut off at the chin can have its nose placed just inside the edge.
const FACE_MARGIN: f32 = 0.25;

/// Whether the face is there when the pose puts it inside the `width` x `height` picture: the
/// landmark model can read a pose into things (a cup, a cat) and place a face on them that it
/// says is not in the picture. A head cut off by the edge has its face outside, where no
/// presence is asked; an occluded face (a phone in a mirror selfie) is still present.
pub fn face_present(keypoints: &[Keypoint], width: f32, height: f32) -> bool {
    let (Some(nose), Some(l), Some(r)) = (keypoints.first(), keypoints.get(11), keypoints.get(12))
    else {
        return false;
    };
    let margin = FACE_MARGIN * (l.x - r.x).hypot(l.y - r.y);
    let inside =
        (margin..width - margin).contains(&nose.x) && (margin..height - margin).contains(&nose.y);
    !inside
        || keypoints
            .iter()
            .take(FACE_POINTS)
            .any(|k| k.presence >= MIN_FACE_PRESENCE)
}

/// The face's keypoints: nose, eyes, ears, mouth (0-10).
const FACE_POINTS: usize = 11;

/// Whether a pose in a `width` x `height` picture can be framed as VITON frames its persons:
/// shoulders visible, upright, and a face where the pose puts one.
pub fn framable(keypoints: &[Keypoint], width: f32, height: f32) -> bool {
    shoulders_visible(keypoints) && upright(keypoints) && face_present(keypoints, width, height)
}

/// An axis-aligned box in pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BoxPx {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BoxPx {
    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }
    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    pub fn center(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }
    fn iou(&self, other: &BoxPx) -> f32 {
        let ix = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let iy = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// One detection: the face box and the four alignment keypoints (hip centre, a point on the
/// full-body circle, shoulder centre, a point on the upper-body circle), in the coordinates the
/// decoding was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub score: f32,
    pub face: BoxPx,
    pub keypoints: [(f32, f32); 4],
}

/// The anchors' centres, normalized, in the detector's output order.
pub fn anchors() -> Vec<(f32, f32)> {
    let mut out = Vec::new();
    let mut layer = 0;
    while layer < ANCHOR_STRIDES.len() {
        // Layers that share a stride share one grid: two anchors each (aspect ratio 1 and the
        // interpolated scale), all of fixed size.
        let mut last = layer;
        while last < ANCHOR_STRIDES.len() && ANCHOR_STRIDES[last] == ANCHOR_STRIDES[layer] {
            last += 1;
        }
        let per_cell = 2 * (last - layer);
        let grid = DETECTOR_SIZE.div_ceil(ANCHOR_STRIDES[layer]);
        for y in 0..grid {
            for x in 0..grid {
                for _ in 0..per_cell {
                    out.push((
                        (x as f32 + 0.5) / grid as f32,
                        (y as f32 + 0.5) / grid as f32,
                    ));
                }
            }
        }
        layer = last;
    }
    out
}

/// Decodes the detector's raw boxes (N x 12) and scores (N) into detections above the score
/// threshold, in normalized coordinates of the detector's input, after weighted non-maximum
/// suppression.
pub fn decode_detections(boxes: &[f32], scores: &[f32], anchors: &[(f32, f32)]) -> Vec<Detection> {
    let size = DETECTOR_SIZE as f32;
    let mut found = Vec::new();
    for (i, &(ax, ay)) in anchors.iter().enumerate() {
        let Some(&raw_score) = scores.get(i) else {
            break;
        };
        let score = 1.0 / (1.0 + (-raw_score.clamp(-100.0, 100.0)).exp());
        if score < MIN_SCORE {
            continue;
        }
        let r = &boxes[i * 12..(i + 1) * 12];
        let (cx, cy) = (r[0] / size + ax, r[1] / size + ay);
        let (w, h) = (r[2] / size, r[3] / size);
        let mut keypoints = [(0.0, 0.0); 4];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = (r[4 + 2 * k] / size + ax, r[5 + 2 * k] / size + ay);
        }
        found.push(Detection {
            score,
            face: BoxPx {
                x0: cx - w / 2.0,
                y0: cy - h / 2.0,
                x1: cx + w / 2.0,
                y1: cy + h / 2.0,
            },
            keypoints,
        });
    }
    weighted_nms(found)
}

/// MediaPipe's weighted non-maximum suppression: each cluster of overlapping detections becomes
/// their score-weighted mean, with the best one's score.
pub fn weighted_nms(mut detections: Vec<Detection>) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !detections.is_empty() {
        let top = detections[0].clone();
        let (cluster, rest): (Vec<_>, Vec<_>) = detections
            .into_iter()
            .partition(|d| d.face.iou(&top.face) > NMS_IOU);
        detections = rest;
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut merged = top.clone();
        if cluster.len() > 1 && total > 0.0 {
            let mean = |f: &dyn Fn(&Detection) -> f32| {
                cluster.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            };
            merged.face = BoxPx {
                x0: mean(&|d| d.face.x0),
                y0: mean(&|d| d.face.y0),
                x1: mean(&|d| d.face.x1),
                y1: mean(&|d| d.face.y1),
            };
            for (k, kp) in merged.keypoints.iter_mut().enumerate() {
                *kp = (mean(&|d| d.keypoints[k].0), mean(&|d| d.keypoints[k].1));
            }
        }
        out.push(merged);
    }
    out
}

/// A rotated rectangle in pixels: what a model looks at.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Region {
    pub cx: f32,
    pub cy: f32,
    pub width: f32,
    pub height: f32,
    /// Clockwise on screen (y down), radians.
    pub angle: f32,
}

impl Region {
    /// The whole image, letterboxed into a square (as the detector and the matte model see it).
    pub fn letterbox(width: usize, height: usize) -> Self {
        let side = width.max(height) as f32;
        Region {
            cx: width as f32 / 2.0,
            cy: height as f32 / 2.0,
            width: side,
            height: side,
            angle: 0.0,
        }
    }

    /// A point given in the region's normalized coordinates ([0, 1] across) to pixels.
    pub fn to_image(&self, u: f32, v: f32) -> (f32, f32) {
        self.to_image_map()(u, v)
    }

    /// [`Self::to_image`] for many points: the rotation's sine and cosine taken once.
    pub fn to_image_map(&self) -> impl Fn(f32, f32) -> (f32, f32) + Sync + '_ {
        let (s, c) = self.angle.sin_cos();
        move |u, v| {
            let (lx, ly) = ((u - 0.5) * self.width, (v - 0.5) * self.height);
            (self.cx + c * lx - s * ly, self.cy + s * lx + c * ly)
        }
    }

    /// The same region in an image scaled by `s`.
    pub fn scaled(&self, s: f32) -> Region {
        Region {
            cx: self.cx * s,
            cy: self.cy * s,
            width: self.width * s,
            height: self.height * s,
            angle: self.angle,
        }
    }

    /// A pixel to the region's normalized coordinates.
    pub fn from_image(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let (s, c) = self.angle.sin_cos();
        (
            (c * dx + s * dy) / self.width + 0.5,
            (-s * dx + c * dy) / self.height + 0.5,
        )
    }
}

/// The landmark model's region for a detection whose keypoints are in pixels: centred on the hips,
/// rotated so that hips -> body-circle point points up, 1.25 times the body circle's diameter.
pub fn landmark_region(keypoints: &[(f32, f32); 4]) -> Region {
    let (x0, y0) = keypoints[0];
    let (x1, y1) = keypoints[1];
    let side = 2.0 * ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt() * ROI_SCALE;
    let angle = normalize_radians(PI / 2.0 - (-(y1 - y0)).atan2(x1 - x0));
    Region {
        cx: x0,
        cy: y0,
        width: side,
        height: side,
        angle,
    }
}

fn normalize_radians(a: f32) -> f32 {
    a - 2.0 * PI * ((a + PI) / (2.0 * PI)).floor()
}

/// A body keypoint in photo pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    /// Depth relative to the hips, in pixels at the photo's scale (smaller is nearer).
    pub z: f32,
    /// Probability that the point is visible (not occluded).
    pub visibility: f32,
    /// Probability that the point is inside the picture.
    pub presence: f32,
}

/// Side of the landmark model's heatmaps.
pub const HEATMAP_SIZE: usize = 64;
/// Channels of the heatmap output (one per landmark, auxiliary ones included).
pub const HEATMAP_CHANNELS: usize = 39;
const REFINE_KERNEL: usize = 7;
const REFINE_MIN_CONFIDENCE: f32 = 0.5;

/// Decodes the landmark model's 39 x 5 values into the 33 body keypoints in pixels. With the
/// heatmaps (64 x 64 x 39, NHWC), each point moves to the confidence-weighted centre of its
/// 7x7 neighbourhood where the heatmap is confident, as MediaPipe's pose graph does.
pub fn decode_landmarks(raw: &[f32], heatmap: Option<&[f32]>, region: &Region) -> Vec<Keypoint> {
    let size = LANDMARK_SIZE as f32;
    let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
    (0..KEYPOINTS)
        .map(|k| {
            let r = &raw[k * LANDMARK_VALUES..(k + 1) * LANDMARK_VALUES];
            let (mut u, mut v) = (r[0] / size, r[1] / size);
            if let Some(hm) = heatmap {
                (u, v) = refine(hm, k, u, v);
            }
            let (x, y) = region.to_image(u, v);
            Keypoint {
                x,
                y,
                z: r[2] / size * region.width,
                visibility: sigmoid(r[3]),
                presence: sigmoid(r[4]),
            }
        })
        .collect()
}

/// The region for the next look at the same person, from the landmark model's two auxiliary
/// alignment points (indices 33 and 34: hip centre and body-circle point, heatmap-refined like
/// the body points), as MediaPipe's pose graph derives it between video frames.
pub fn next_region(raw: &[f32], heatmap: Option<&[f32]>, region: &Region) -> Region {
    let size = LANDMARK_SIZE as f32;
    let point = |k: usize| {
        let r = &raw[k * LANDMARK_VALUES..];
        let (mut u, mut v) = (r[0] / size, r[1] / size);
        if let Some(hm) = heatmap {
            (u, v) = refine(hm, k, u, v);
        }
        region.to_image(u, v)
    };
    landmark_region(&[
        point(KEYPOINTS),
        point(KEYPOINTS + 1),
        (0.0, 0.0),
        (0.0, 0.0),
    ])
}

/// One landmark's position refined on its heatmap channel (normalized coordinates in and out).
fn refine(hm: &[f32], k: usize, u: f32, v: f32) -> (f32, f32) {
    let n = HEATMAP_SIZE as isize;
    let (col, row) = ((u * n as f32) as isize, (v * n as f32) as isize);
    if u < 0.0 || v < 0.0 || col >= n || row >= n {
        return (u, v);
    }
    let half = (REFINE_KERNEL / 2) as isize;
    let (mut sum, mut wc, mut wr, mut max) = (0f32, 0f32, 0f32, 0f32);
    for r in (row - half).max(0)..(row + half + 1).min(n) {
        for c in (col - half).max(0)..(col + half + 1).min(n) {
            let logit = hm[((r * n + c) as usize) * HEATMAP_CHANNELS + k];
            let confidence = 1.0 / (1.0 + (-logit).exp());
            sum += confidence;
            max = max.max(confidence);
            wc += c as f32 * confidence;
            wr += r as f32 * confidence;
        }
    }
    if max >= REFINE_MIN_CONFIDENCE && sum > 0.0 {
        (wc / n as f32 / sum, wr / n as f32 / sum)
    } else {
        (u, v)
    }
}

/// BlazePose's keypoint names, in order.
pub const KEYPOINT_NAMES: [&str; KEYPOINTS] = [
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
];

/// The skeleton's bones, as keypoint index pairs.
pub const BONES: [(usize, usize); 35] = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 7),
    (0, 4),
    (4, 5),
    (5, 6),
    (6, 8),
    (9, 10),
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A pose with the nose at (`nx`, `ny`), shoulders 100 px apart below it, and every face
    /// point at `presence`.
    fn face_at(nx: f32, ny: f32, presence: f32) -> Vec<Keypoint> {
        let mut k = vec![
            Keypoint {
                x: nx,
                y: ny,
                z: 0.0,
                visibility: 0.9,
                presence,
            };
            KEYPOINTS
        ];
        (k[11].x, k[11].y, k[12].x, k[12].y) = (nx + 50.0, ny + 40.0, nx - 50.0, ny + 40.0);
        k
    }

    #[test]
    fn a_face_inside_the_picture_must_be_present() {
        // Well inside (the margin is a quarter of the 100 px shoulders): asked for.
        assert!(!face_present(&face_at(200.0, 100.0, 0.3), 400.0, 400.0));
        // a face read into a coffee cup
        assert!(!face_present(&face_at(200.0, 100.0, 0.63), 400.0, 400.0));
        assert!(face_present(&face_at(200.0, 100.0, 0.9), 400.0, 400.0));
        // One present point is enough (the rest occluded or out of the picture).
        let mut k = face_at(200.0, 100.0, 0.3);
        k[8].presence = 0.9;
        assert!(face_present(&k, 400.0, 400.0));
        // Within the margin of an edge, or outside: a head cut off by the edge.
        assert!(face_present(&face_at(200.0, 20.0, 0.1), 400.0, 400.0));
        assert!(face_present(&face_at(390.0, 200.0, 0.1), 400.0, 400.0));
        assert!(face_present(&face_at(200.0, -30.0, 0.1), 400.0, 400.0));
        assert!(!framable(&face_at(200.0, 100.0, 0.3), 400.0, 400.0));
    }

    #[test]
    fn anchors_match_the_detector_output() {
        let a = anchors();
        assert_eq!(a.len(), 2254);
        // First grid 28x28, 2 per cell; the 7x7 grid carries 6 per cell.
        assert_eq!(a[0], (0.5 / 28.0, 0.5 / 28.0));
        assert_eq!(a[2], (1.5 / 28.0, 0.5 / 28.0));
        assert_eq!(a[1568], (0.5 / 14.0, 0.5 / 14.0));
        assert_eq!(a[2253], (6.5 / 7.0, 6.5 / 7.0));
    }

    #[test]
    fn region_round_trips_and_points_up() {
        // Hips at (100, 200), body-circle point straight above: no rotation.
        let r = landmark_region(&[(100.0, 200.0), (100.0, 120.0), (0.0, 0.0), (0.0, 0.0)]);
        assert!(r.angle.abs() < 1e-6, "{}", r.angle);
        assert!((r.width - 200.0).abs() < 1e-3);
        // Body lying with the head to the right: the region turns a quarter clockwise.
        let r = landmark_region(&[(100.0, 200.0), (180.0, 200.0), (0.0, 0.0), (0.0, 0.0)]);
        assert!((r.angle - PI / 2.0).abs() < 1e-5, "{}", r.angle);
        // The top-centre of the region is the head's side.
        let (x, y) = r.to_image(0.5, 0.0);
        assert!(
            (x - 200.0).abs() < 1e-3 && (y - 200.0).abs() < 1e-3,
            "{x} {y}"
        );
        let (u, v) = r.from_image(x, y);
        assert!((u - 0.5).abs() < 1e-5 && v.abs() < 1e-5);
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_apart_ones() {
        let d = |score: f32, x: f32| Detection {
            score,
            face: BoxPx {
                x0: x,
                y0: 0.0,
                x1: x + 1.0,
                y1: 1.0,
            },
            keypoints: [(x, 0.0); 4],
        };
        let out = weighted_nms(vec![d(0.6, 0.1), d(0.9, 0.0), d(0.8, 5.0)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let expected = 0.1 * 0.6 / 1.5;
        assert!((out[0].face.x0 - expected).abs() < 1e-6);
        assert_eq!(out[1].face.x0, 5.0);
    }
}
