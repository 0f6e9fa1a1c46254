//! Framing any photo or webcam frame for the network: a 3:4 crop, kept as geometry so results map
//! back onto the original photo, downscaled with an antialiasing filter to 192x256.

use std::fmt;
use std::str::FromStr;

use image::{imageops, RgbImage};

use crate::engine::NATIVE_SIZE;

/// Width:height of the network's input.
const ASPECT_W: u64 = 3;
const ASPECT_H: u64 = 4;

/// A crop rectangle in the pixels of the (orientation-corrected) photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Crop {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CropError {
    #[error("crop `{0}` is not `x,y,width,height` (four whole numbers)")]
    Syntax(String),
    #[error("crop {crop} is empty")]
    Empty { crop: Crop },
    #[error("crop {crop} reaches outside the {width}x{height} photo")]
    Outside { crop: Crop, width: u32, height: u32 },
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
        let parts: Vec<u32> = s
            .split(',')
            .map(|p| p.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| CropError::Syntax(s.to_string()))?;
        match parts.as_slice() {
            [x, y, width, height] => Ok(Crop {
                x: *x,
                y: *y,
                width: *width,
                height: *height,
            }),
            _ => Err(CropError::Syntax(s.to_string())),
        }
    }
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
            x: (width - cw) / 2,
            y: (height - ch) / 2,
            width: cw,
            height: ch,
        }
    }

    /// Checks the crop fits a `width` x `height` photo and is 3:4 to within a pixel.
    pub fn validate(&self, width: u32, height: u32) -> Result<(), CropError> {
        if self.width == 0 || self.height == 0 {
            return Err(CropError::Empty { crop: *self });
        }
        let right = u64::from(self.x) + u64::from(self.width);
        let bottom = u64::from(self.y) + u64::from(self.height);
        if right > u64::from(width) || bottom > u64::from(height) {
            return Err(CropError::Outside {
                crop: *self,
                width,
                height,
            });
        }
        let expected = (u64::from(self.height) * ASPECT_W + ASPECT_H / 2) / ASPECT_H;
        if u64::from(self.width).abs_diff(expected) > 1 {
            return Err(CropError::Aspect {
                crop: *self,
                height: self.height,
                expected: expected as u32,
            });
        }
        Ok(())
    }

    /// Moves and scales the crop to stay a valid 3:4 rectangle inside a `width` x `height`
    /// photo (for interactive adjustment: dragging past an edge stops at the edge).
    pub fn clamped(&self, width: u32, height: u32) -> Crop {
        let max = Crop::centered(width, height);
        let mut h = self.height.clamp(4.min(max.height), max.height);
        let mut w = ((u64::from(h) * ASPECT_W + ASPECT_H / 2) / ASPECT_H) as u32;
        if w > max.width {
            w = max.width;
            h = max.height;
        }
        let w = w.max(1);
        let x = self.x.min(width.saturating_sub(w));
        let y = self.y.min(height.saturating_sub(h));
        Crop {
            x,
            y,
            width: w,
            height: h,
        }
    }
}

/// The crop's pixels at full resolution.
pub fn crop_pixels(photo: &RgbImage, crop: Crop) -> RgbImage {
    imageops::crop_imm(photo, crop.x, crop.y, crop.width, crop.height).to_image()
}

/// The network's 192x256 input from a crop of `photo`. A 192x256 crop is used as it is (the
/// official test path does not resample); anything else is resized with Lanczos3, whose support
/// widens when shrinking, so downscaling is antialiased.
pub fn frame(photo: &RgbImage, crop: Crop) -> Result<RgbImage, CropError> {
    crop.validate(photo.width(), photo.height())?;
    let (th, tw) = (NATIVE_SIZE.0 as u32, NATIVE_SIZE.1 as u32);
    let pixels = crop_pixels(photo, crop);
    if pixels.dimensions() == (tw, th) {
        return Ok(pixels);
    }
    Ok(imageops::resize(
        &pixels,
        tw,
        th,
        imageops::FilterType::Lanczos3,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

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
            assert!(c.x + c.width <= w && c.y + c.height <= h, "{w}x{h}: {c}");
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
        assert!(matches!(
            c.validate(300, 420),
            Err(CropError::Outside { .. })
        ));
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
