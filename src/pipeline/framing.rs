//! Framing any photo or webcam frame for the network: a 3:4 crop, kept as geometry so results map
//! back onto the original photo, downscaled with an antialiasing filter to 192x256.
//!
//! A crop may reach past the photo's edges (automatic framing of a close-up or of a person at
//! the edge): the photo is then extended with [`VITON_BACKGROUND`] instead of the person being
//! shrunk or shifted. [`Crop::validate`] and [`Crop::clamped`] hold the one set of rules.

use std::fmt;
use std::str::FromStr;

use image::{GrayImage, Rgb, RgbImage};
use rayon::prelude::*;

use crate::engine::NATIVE_SIZE;

/// Width:height of the network's input.
const ASPECT_W: u64 = 3;
const ASPECT_H: u64 = 4;

/// A crop is at most this many times the height of the photo's largest centred 3:4 crop (a
/// close-up needs a crop larger than the photo; beyond this the person would be a speck).
pub const MAX_CROP_FACTOR: u32 = 3;

/// VITON's background: the median colour of the pixels its parses mark as background, over
/// every 20th training image (342 photos; p10 225,224,223, p90 241,240,239). Measured by
/// `training/measure_viton.py`.
pub const VITON_BACKGROUND: Rgb<u8> = Rgb([235, 233, 232]);

/// A 3:4 crop rectangle in the pixels of the (orientation-corrected) photo. `x` and `y` may be
/// negative and the rectangle may reach past the photo's right and bottom edges; its centre
/// stays inside the photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Crop {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CropError {
    #[error("crop `{0}` is not `x,y,width,height` (four whole numbers)")]
    Syntax(String),
    #[error("crop {crop} is empty")]
    Empty { crop: Crop },
    #[error("crop {crop} does not have its centre inside the {width}x{height} photo")]
    Outside { crop: Crop, width: u32, height: u32 },
    #[error(
        "crop {crop} is more than {MAX_CROP_FACTOR} times the size of the {width}x{height} photo"
    )]
    TooLarge { crop: Crop, width: u32, height: u32 },
    #[error(
        "crop {crop} is not 3:4 (width:height); for a height of {height} use a width of {expected}"
    )]
    Aspect {
        crop: Crop,
        height: u32,
        expected: u32,
    },
}

impl fmt::Display for Crop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{},{}", self.x, self.y, self.width, self.height)
    }
}

impl FromStr for Crop {
    type Err = CropError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<i64> = s
            .split(',')
            .map(|p| p.trim().parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| CropError::Syntax(s.to_string()))?;
        let syntax = || CropError::Syntax(s.to_string());
        match parts.as_slice() {
            [x, y, width, height] => Ok(Crop {
                x: i32::try_from(*x).map_err(|_| syntax())?,
                y: i32::try_from(*y).map_err(|_| syntax())?,
                width: u32::try_from(*width).map_err(|_| syntax())?,
                height: u32::try_from(*height).map_err(|_| syntax())?,
            }),
            _ => Err(syntax()),
        }
    }
}

/// The width of a 3:4 crop `height` high, rounded.
fn width_for(height: u64) -> u64 {
    (height * ASPECT_W + ASPECT_H / 2) / ASPECT_H
}

impl Crop {
    /// The largest 3:4 rectangle centred on a `width` x `height` frame.
    pub fn centered(width: u32, height: u32) -> Crop {
        let (w, h) = (u64::from(width), u64::from(height));
        let (cw, ch) = if w * ASPECT_H > h * ASPECT_W {
            // Wider than 3:4: full height.
            ((h * ASPECT_W / ASPECT_H).max(1), h)
        } else {
            (w, (w * ASPECT_H / ASPECT_W).max(1))
        };
        let (cw, ch) = (cw.min(w) as u32, ch.min(h) as u32);
        Crop {
            x: ((width - cw) / 2) as i32,
            y: ((height - ch) / 2) as i32,
            width: cw,
            height: ch,
        }
    }

    /// The 3:4 crop `height` high centred on (`cx`, `cy`), kept valid for a `width` x
    /// `photo_h` photo (see [`Crop::clamped`]).
    pub fn around(cx: f32, cy: f32, height: f32, width: u32, photo_h: u32) -> Crop {
        let h = height.round().max(4.0);
        let w = width_for(h as u64) as f32;
        Crop {
            x: (cx - w / 2.0).round() as i32,
            y: (cy - h / 2.0).round() as i32,
            width: w as u32,
            height: h as u32,
        }
        .clamped(width, photo_h)
    }

    /// Largest allowed crop height for a `width` x `height` photo.
    fn max_height(width: u32, height: u32) -> u32 {
        Crop::centered(width, height)
            .height
            .saturating_mul(MAX_CROP_FACTOR)
    }

    /// The crop's centre, in photo pixels.
    pub fn centre(&self) -> (f32, f32) {
        (
            self.x as f32 + self.width as f32 / 2.0,
            self.y as f32 + self.height as f32 / 2.0,
        )
    }

    /// Whether the crop lies wholly inside a `width` x `height` photo.
    pub fn is_inside(&self, width: u32, height: u32) -> bool {
        self.x >= 0
            && self.y >= 0
            && i64::from(self.x) + i64::from(self.width) <= i64::from(width)
            && i64::from(self.y) + i64::from(self.height) <= i64::from(height)
    }

    /// The part of the crop inside a `width` x `height` photo, as (x, y, width, height) in photo
    /// pixels; `None` when they do not overlap.
    pub fn overlap(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        let x0 = i64::from(self.x).max(0);
        let y0 = i64::from(self.y).max(0);
        let x1 = (i64::from(self.x) + i64::from(self.width)).min(i64::from(width));
        let y1 = (i64::from(self.y) + i64::from(self.height)).min(i64::from(height));
        (x1 > x0 && y1 > y0).then(|| (x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32))
    }

    /// Which of the crop's sides (left, top, right, bottom) have more of a `width` x `height`
    /// photo beyond them.
    pub fn seams(&self, width: u32, height: u32) -> [bool; 4] {
        [
            self.x > 0,
            self.y > 0,
            i64::from(self.x) + i64::from(self.width) < i64::from(width),
            i64::from(self.y) + i64::from(self.height) < i64::from(height),
        ]
    }

    /// Checks the crop is 3:4 to within a pixel, has its centre inside a `width` x `height`
    /// photo and is at most [`MAX_CROP_FACTOR`] times the photo's largest centred crop.
    pub fn validate(&self, width: u32, height: u32) -> Result<(), CropError> {
        if self.width == 0 || self.height == 0 || width == 0 || height == 0 {
            return Err(CropError::Empty { crop: *self });
        }
        // The centre in whole pixels, as [`Crop::clamped`] places it.
        let cx = i64::from(self.x) + i64::from(self.width / 2);
        let cy = i64::from(self.y) + i64::from(self.height / 2);
        if cx < 0 || cy < 0 || cx > i64::from(width) || cy > i64::from(height) {
            return Err(CropError::Outside {
                crop: *self,
                width,
                height,
            });
        }
        if self.height > Crop::max_height(width, height) {
            return Err(CropError::TooLarge {
                crop: *self,
                width,
                height,
            });
        }
        let expected = width_for(u64::from(self.height));
        if u64::from(self.width).abs_diff(expected) > 1 {
            return Err(CropError::Aspect {
                crop: *self,
                height: self.height,
                expected: expected as u32,
            });
        }
        Ok(())
    }

    /// The nearest valid crop for a `width` x `height` photo, keeping the crop's height within
    /// the allowed range and moving its centre into the photo (for interactive adjustment:
    /// dragging past the limits stops there).
    pub fn clamped(&self, width: u32, height: u32) -> Crop {
        let (width, height) = (width.max(1), height.max(1));
        let max_h = Crop::max_height(width, height).max(1);
        let h = self.height.clamp(4.min(max_h), max_h);
        let w = (width_for(u64::from(h)) as u32).max(1);
        let (cx, cy) = (
            i64::from(self.x) + i64::from(self.width / 2),
            i64::from(self.y) + i64::from(self.height / 2),
        );
        let (cx, cy) = (
            cx.clamp(0, i64::from(width)),
            cy.clamp(0, i64::from(height)),
        );
        Crop {
            x: (cx - i64::from(w / 2)) as i32,
            y: (cy - i64::from(h / 2)) as i32,
            width: w,
            height: h,
        }
    }
}

/// The crop's pixels at full resolution; where it reaches past the photo, `fill`.
pub fn crop_pixels(photo: &RgbImage, crop: Crop, fill: Rgb<u8>) -> RgbImage {
    crop_filled(photo, crop, fill)
}

/// A grey plane's crop (a matte), 0 where the crop reaches past the plane.
pub fn crop_plane(plane: &GrayImage, crop: Crop) -> GrayImage {
    crop_filled(plane, crop, image::Luma([0]))
}

/// The one rule for a crop that may reach past the image: `fill` there, the image's pixels
/// where the two overlap, copied a row at a time (a phone photo's crop is tens of megabytes).
fn crop_filled<P: image::Pixel<Subpixel = u8>>(
    img: &image::ImageBuffer<P, Vec<u8>>,
    crop: Crop,
    fill: P,
) -> image::ImageBuffer<P, Vec<u8>> {
    let c = P::CHANNEL_COUNT as usize;
    let overlap = crop.overlap(img.width(), img.height());
    let mut out = match overlap {
        // Wholly inside: every pixel is copied, none needs the fill first.
        Some((_, _, w, h)) if (w, h) == (crop.width, crop.height) => {
            image::ImageBuffer::new(crop.width, crop.height)
        }
        _ => image::ImageBuffer::from_pixel(crop.width, crop.height, fill),
    };
    if let Some((x, y, w, h)) = overlap {
        let (src_row, dst_row) = (img.width() as usize * c, crop.width as usize * c);
        let (dx, dy) = (
            (x as i64 - i64::from(crop.x)) as usize,
            (y as i64 - i64::from(crop.y)) as usize,
        );
        let (src, dst) = (img.as_raw(), &mut *out);
        for row in 0..h as usize {
            let from = (y as usize + row) * src_row + x as usize * c;
            let to = (dy + row) * dst_row + dx * c;
            let len = w as usize * c;
            dst[to..to + len].copy_from_slice(&src[from..from + len]);
        }
    }
    out
}

/// The person of a crop on VITON's background: `matte` (the photo's size, 255 = person) blends
/// the photo over [`VITON_BACKGROUND`], which also fills what the crop takes from past the
/// photo's edges. Without a matte the photo is kept as it is.
pub fn crop_on_background(photo: &RgbImage, matte: Option<&GrayImage>, crop: Crop) -> RgbImage {
    let mut pixels = crop_pixels(photo, crop, VITON_BACKGROUND);
    if let Some(matte) = matte {
        put_on_background(&mut pixels, &crop_plane(matte, crop));
    }
    pixels
}

/// The network's view of a crop already cut from the photo (fill: [`VITON_BACKGROUND`]): with
/// `alpha` (the crop's matte) the person on VITON's background, then at 192x256.
pub(crate) fn native_view(mut cut: RgbImage, alpha: Option<&GrayImage>) -> RgbImage {
    if let Some(alpha) = alpha {
        put_on_background(&mut cut, alpha);
    }
    to_native(cut)
}

/// Blends a crop's pixels over [`VITON_BACKGROUND`] by `alpha` (the crop's matte, 255 =
/// person), rows in parallel.
fn put_on_background(pixels: &mut RgbImage, alpha: &GrayImage) {
    let bg = VITON_BACKGROUND.0;
    let w = pixels.width() as usize;
    if w == 0 {
        return;
    }
    pixels
        .par_chunks_mut(3 * w)
        .zip(alpha.par_chunks(w))
        .for_each(|(row, alpha)| {
            for (p, &a) in row.chunks_exact_mut(3).zip(alpha) {
                let a = u32::from(a);
                if a == 255 {
                    continue;
                }
                for c in 0..3 {
                    p[c] = ((u32::from(p[c]) * a + u32::from(bg[c]) * (255 - a) + 127) / 255) as u8;
                }
            }
        });
}

/// Resizes a crop-sized picture to the network's 192x256 (as it is when already that size;
/// Lanczos3 otherwise, whose support widens when shrinking, so downscaling is antialiased).
pub fn to_native(pixels: RgbImage) -> RgbImage {
    let (th, tw) = (NATIVE_SIZE.0 as u32, NATIVE_SIZE.1 as u32);
    if pixels.dimensions() == (tw, th) {
        return pixels;
    }
    crate::resample::resize(&pixels, tw, th, crate::resample::Filter::Lanczos3)
}

/// The network's 192x256 input from a crop of `photo`. A 192x256 crop is used as it is (the
/// official test path does not resample). With a matte, the person is put on VITON's
/// background first (see [`crop_on_background`]).
pub fn frame_person(
    photo: &RgbImage,
    matte: Option<&GrayImage>,
    crop: Crop,
) -> Result<RgbImage, CropError> {
    crop.validate(photo.width(), photo.height())?;
    Ok(to_native(crop_on_background(photo, matte, crop)))
}

/// [`frame_person`] without a matte: the photo as it is.
pub fn frame(photo: &RgbImage, crop: Crop) -> Result<RgbImage, CropError> {
    frame_person(photo, None, crop)
}
#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A side is a seam where the photo goes on beyond it: not where the crop reaches past the
    /// photo's edge or ends exactly on it.
    #[test]
    fn seams_are_the_sides_with_photo_beyond_them() {
        let crop = |x, y, width, height| Crop {
            x,
            y,
            width,
            height,
        };
        assert_eq!(crop(10, 20, 30, 40).seams(100, 100), [true; 4]);
        assert_eq!(
            crop(-5, 20, 30, 40).seams(100, 100),
            [false, true, true, true]
        );
        assert_eq!(
            crop(70, 0, 30, 40).seams(100, 100),
            [true, false, false, true]
        );
        assert_eq!(
            crop(10, 70, 30, 40).seams(100, 100),
            [true, true, true, false]
        );
        assert_eq!(crop(0, 0, 100, 100).seams(100, 100), [false; 4]);
    }

    #[test]
    fn centred_crops_are_three_by_four_and_inside() {
        for (w, h) in [
            (192, 256),
            (1920, 1080),
            (1080, 1920),
            (640, 480),
            (3, 4),
            (1, 1),
            (7, 1000),
        ] {
            let c = Crop::centered(w, h);
            assert!(c.is_inside(w, h), "{w}x{h}: {c}");
            if w >= 3 && h >= 4 {
                c.validate(w, h).unwrap();
            }
        }
        assert_eq!(
            Crop::centered(192, 256),
            Crop {
                x: 0,
                y: 0,
                width: 192,
                height: 256
            }
        );
        assert_eq!(
            Crop::centered(1920, 1080),
            Crop {
                x: 555,
                y: 0,
                width: 810,
                height: 1080
            }
        );
        assert_eq!(
            Crop::centered(600, 1000),
            Crop {
                x: 0,
                y: 100,
                width: 600,
                height: 800
            }
        );
    }

    #[test]
    fn crops_parse_and_validate() {
        let c: Crop = "10, 20,300,400".parse().unwrap();
        assert_eq!(
            c,
            Crop {
                x: 10,
                y: 20,
                width: 300,
                height: 400
            }
        );
        assert!(c.validate(310, 420).is_ok());
        // Reaching past the edges is allowed while the centre stays inside.
        assert!(c.validate(200, 300).is_ok());
        assert!(matches!(
            c.validate(150, 420),
            Err(CropError::Outside { .. })
        ));
        assert!(matches!(
            "-1300,-1800,3000,4000"
                .parse::<Crop>()
                .unwrap()
                .validate(300, 400),
            Err(CropError::TooLarge { .. })
        ));
        assert_eq!(
            "-4,-5,30,40".parse::<Crop>().unwrap(),
            Crop {
                x: -4,
                y: -5,
                width: 30,
                height: 40
            }
        );
        assert!(matches!("1,2,3".parse::<Crop>(), Err(CropError::Syntax(_))));
        assert!(matches!(
            "a,b,c,d".parse::<Crop>(),
            Err(CropError::Syntax(_))
        ));
        let wide: Crop = "0,0,400,400".parse().unwrap();
        let err = wide.validate(1000, 1000).unwrap_err();
        assert!(err.to_string().contains("width of 300"), "{err}");
        assert!(matches!(
            "0,0,0,0".parse::<Crop>().unwrap().validate(10, 10),
            Err(CropError::Empty { .. })
        ));
    }

    #[test]
    fn clamping_keeps_a_valid_crop() {
        let c = Crop {
            x: 900,
            y: 900,
            width: 300,
            height: 400,
        }
        .clamped(1000, 1000);
        c.validate(1000, 1000).unwrap();
        assert_eq!((c.width, c.height), (300, 400));
        let big = Crop {
            x: 0,
            y: 0,
            width: 3000,
            height: 4000,
        }
        .clamped(1000, 1000);
        big.validate(1000, 1000).unwrap();
    }

    #[test]
    fn crops_past_the_edges_are_filled_with_background() {
        let photo = RgbImage::from_fn(40, 30, |x, y| Rgb([x as u8, y as u8, 9]));
        let crop = Crop {
            x: -6,
            y: 20,
            width: 15,
            height: 20,
        };
        crop.validate(40, 30).unwrap();
        assert!(!crop.is_inside(40, 30));
        assert_eq!(crop.overlap(40, 30), Some((0, 20, 9, 10)));
        let px = crop_pixels(&photo, crop, VITON_BACKGROUND);
        assert_eq!(px.dimensions(), (15, 20));
        assert_eq!(*px.get_pixel(0, 0), VITON_BACKGROUND);
        assert_eq!(*px.get_pixel(14, 19), VITON_BACKGROUND);
        assert_eq!(px.get_pixel(6, 0).0, [0, 20, 9]);
        assert_eq!(px.get_pixel(14, 9).0, [8, 29, 9]);
        // With a matte, the person stays and the rest becomes VITON's background.
        let matte = GrayImage::from_fn(40, 30, |x, _| image::Luma([if x < 4 { 255 } else { 0 }]));
        let on_bg = crop_on_background(&photo, Some(&matte), crop);
        assert_eq!(on_bg.get_pixel(6, 0).0, [0, 20, 9]);
        assert_eq!(*on_bg.get_pixel(12, 0), VITON_BACKGROUND);
        let native = frame_person(&photo, Some(&matte), crop).unwrap();
        assert_eq!(native.dimensions(), (192, 256));
    }

    #[test]
    fn clamping_moves_the_centre_inside_and_limits_the_size() {
        let c = Crop {
            x: -500,
            y: -900,
            width: 300,
            height: 400,
        }
        .clamped(640, 480);
        c.validate(640, 480).unwrap();
        assert_eq!(c.centre(), (0.0, 0.0));
        let huge = Crop {
            x: 0,
            y: 0,
            width: 30000,
            height: 40000,
        }
        .clamped(640, 480);
        huge.validate(640, 480).unwrap();
        assert_eq!(huge.height, 480 * MAX_CROP_FACTOR);
    }

    #[test]
    fn native_input_passes_untouched_and_others_are_resized() {
        let img = RgbImage::from_fn(192, 256, |x, y| Rgb([x as u8, y as u8, 7]));
        assert_eq!(frame(&img, Crop::centered(192, 256)).unwrap(), img);
        // A fine checkerboard averages to grey when shrunk (antialiasing), instead of aliasing.
        let fine = RgbImage::from_fn(768, 1024, |x, y| {
            if (x + y) % 2 == 0 {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 0])
            }
        });
        let small = frame(&fine, Crop::centered(768, 1024)).unwrap();
        assert_eq!(small.dimensions(), (192, 256));
        let p = small.get_pixel(96, 128)[0];
        assert!((100..=155).contains(&p), "centre pixel {p}");
    }
}
