//! Exposure matching. The network learned VITON's studio light: a photo taken in a dim room
//! shows it a person darker than any it was trained on, and the new garment comes back at its
//! product shot's brightness, glowing in the dim photo. Where a photo is clearly darker than
//! VITON's darkest, the network sees the person brightened (one gain, in linear light) and what
//! it paints, garment and rendered person, is darkened by the same gain before it joins the
//! photo. A photo as bright as VITON's keeps a gain of exactly 1 and is untouched.

use image::{GrayImage, RgbImage};

use super::image_io::to_byte;

/// Whether a dim photo is matched (see the module's description).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ExposureMode {
    /// The network sees a dim photo's person in VITON's light, and what it paints takes the
    /// photo's light.
    #[default]
    Match,
    /// The photo as it is, and the garment at its product shot's brightness.
    Keep,
}

option_enum!(
    ExposureMode,
    ExposureSyntax,
    "exposure",
    Match = "match",
    Keep = "keep"
);

/// The linear-light luminance that the brightest 2% of a person's pixels reach in VITON's
/// darkest photos: the 0.5% quantile over 1706 train photos (person = the parse's labels but
/// background, 2 pixels in from its edge; `training/measure_viton.py`). A person whose
/// brightest pixels stay below it looks underexposed.
pub const PERSON_WHITE: f32 = 0.335;
/// The same for the whole photo's brightest 1% (0.5% quantile over the same photos). A bright
/// backdrop or a lamp in the room says the photo is not dim, whatever the person wears.
pub const SCENE_WHITE: f32 = 0.711;
/// At most two stops: beyond them a photo's noise would be all the network sees.
pub const MAX_GAIN: f32 = 4.0;

/// Share of the network's frame the person must cover for their own pixels to count.
const MIN_PERSON_SHARE: f32 = 0.01;
/// About this many pixels of the photo are read for its brightest percent.
const SCENE_SAMPLES: u64 = 1 << 16;

/// How much brighter the network sees the person than the photo shows them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exposure {
    gain: f32,
}

impl Default for Exposure {
    fn default() -> Self {
        Exposure::NEUTRAL
    }
}

/// sRGB in [0, 1] to linear light.
fn decode(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// sRGB byte to linear light.
fn linear(v: u8) -> f32 {
    decode(f32::from(v) / 255.0)
}

/// Linear light in [0, 1] to sRGB in [0, 1].
fn srgb(l: f32) -> f32 {
    let l = l.clamp(0.0, 1.0);
    if l <= 0.003_130_8 {
        l * 12.92
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

/// The value below which `share` of the luminances lie (a histogram of 1024 levels).
fn quantile(luminances: impl Iterator<Item = f32>, share: f32) -> Option<f32> {
    const LEVELS: usize = 1024;
    let mut histogram = [0u32; LEVELS];
    let mut n = 0u64;
    for l in luminances {
        histogram[((l * LEVELS as f32) as usize).min(LEVELS - 1)] += 1;
        n += 1;
    }
    if n == 0 {
        return None;
    }
    let rank = (share as f64 * n as f64).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (i, &count) in histogram.iter().enumerate() {
        seen += u64::from(count);
        if seen >= rank {
            return Some((i as f32 + 0.5) / LEVELS as f32);
        }
    }
    Some(1.0)
}

/// Linear-light luminance (Rec. 709) of every byte triple, from a table.
struct Luminance([f32; 256]);

impl Luminance {
    fn new() -> Self {
        Luminance(std::array::from_fn(|v| linear(v as u8)))
    }

    fn of(&self, p: &[u8]) -> f32 {
        0.2126 * self.0[usize::from(p[0])]
            + 0.7152 * self.0[usize::from(p[1])]
            + 0.0722 * self.0[usize::from(p[2])]
    }
}

impl Exposure {
    pub const NEUTRAL: Exposure = Exposure { gain: 1.0 };

    /// A given gain, held to [1, [`MAX_GAIN`]].
    pub fn with_gain(gain: f32) -> Self {
        let gain = if gain.is_finite() { gain } else { 1.0 };
        Exposure {
            gain: gain.clamp(1.0, MAX_GAIN),
        }
    }

    /// Measures a photo: `person` is the network's view of it and `matte` the person's share of
    /// each of its pixels (both 192x256; no matte: the person's pixels are not known, and the
    /// photo alone is measured). The brighter of the person's brightest 2% against
    /// [`PERSON_WHITE`] and the photo's brightest 1% against [`SCENE_WHITE`] is how exposed the
    /// photo is; below 1, the gain brings it up to that level, no further.
    pub fn measure(photo: &RgbImage, person: &RgbImage, matte: Option<&GrayImage>) -> Self {
        let lum = Luminance::new();
        let (w, h) = photo.dimensions();
        let step = ((u64::from(w) * u64::from(h) / SCENE_SAMPLES) as f64)
            .sqrt()
            .max(1.0) as usize;
        let scene = quantile(
            photo
                .as_raw()
                .chunks_exact(3 * w.max(1) as usize)
                .step_by(step)
                .flat_map(|row| row.chunks_exact(3).step_by(step))
                .map(|p| lum.of(p)),
            0.99,
        )
        .unwrap_or(0.0);
        let person_white = matte
            .filter(|m| m.dimensions() == person.dimensions())
            .and_then(|matte| {
                let inside = || {
                    person
                        .as_raw()
                        .chunks_exact(3)
                        .zip(matte.as_raw())
                        // Wholly person: VITON's background blended into the edge would
                        // read as a highlight.
                        .filter(|&(_, &m)| m >= 250)
                };
                let share = inside().count() as f32 / matte.as_raw().len().max(1) as f32;
                (share >= MIN_PERSON_SHARE)
                    .then(|| quantile(inside().map(|(p, _)| lum.of(p)), 0.98))
                    .flatten()
            })
            .unwrap_or(0.0);
        let exposed = (person_white / PERSON_WHITE).max(scene / SCENE_WHITE);
        if exposed >= 1.0 {
            return Exposure::NEUTRAL;
        }
        Exposure::with_gain(if exposed > 0.0 {
            1.0 / exposed
        } else {
            MAX_GAIN
        })
    }

    pub fn gain(self) -> f32 {
        self.gain
    }

    /// Whether nothing changes: the photo is as bright as VITON's.
    pub fn is_neutral(self) -> bool {
        self.gain == 1.0
    }

    /// The network's view of a photo byte, and the photo's view of a network byte.
    fn tables(self) -> ([u8; 256], [u8; 256]) {
        let up = std::array::from_fn(|v| to_byte(srgb(linear(v as u8) * self.gain)));
        let down = std::array::from_fn(|v| to_byte(srgb(linear(v as u8) / self.gain)));
        (up, down)
    }

    /// The network's view of `image` (a picture in the photo's light): each pixel brightened in
    /// proportion to the person's share of it (`matte`; all of it without one), so VITON's
    /// background around the person stays as it is.
    pub fn to_network(self, image: &mut RgbImage, matte: Option<&GrayImage>) {
        if self.is_neutral() {
            return;
        }
        let (up, _) = self.tables();
        let matte = matte.filter(|m| m.dimensions() == image.dimensions());
        for (i, p) in image.as_mut().chunks_exact_mut(3).enumerate() {
            let share = matte.map_or(255, |m| u32::from(m.as_raw()[i]));
            for v in p {
                let new = u32::from(up[usize::from(*v)]);
                *v = ((u32::from(*v) * (255 - share) + new * share + 127) / 255) as u8;
            }
        }
    }

    /// The photo's view of `image` (a picture in the network's light, such as a garment photo
    /// about to be pasted): every pixel darkened by the gain.
    pub fn to_photo(self, image: &mut RgbImage) {
        if self.is_neutral() {
            return;
        }
        let (_, down) = self.tables();
        for v in image.as_mut() {
            *v = down[usize::from(*v)];
        }
    }

    /// [`Exposure::to_photo`] of one value in the network's [-1, 1] units.
    pub fn value_to_photo(self, v: f32) -> f32 {
        if self.is_neutral() {
            return v;
        }
        srgb(decode(((v + 1.0) / 2.0).clamp(0.0, 1.0)) / self.gain) * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};

    /// A photo of a person lit as VITON's are: a light backdrop and a mid-grey figure.
    fn studio() -> (RgbImage, RgbImage, GrayImage) {
        let mut photo = RgbImage::from_pixel(400, 300, Rgb([236, 233, 232]));
        let mut person = RgbImage::from_pixel(192, 256, Rgb([235, 233, 232]));
        let mut matte = GrayImage::new(192, 256);
        for y in 40..240 {
            for x in 50..140 {
                // A shirt with highlights: the brightest 2% at about 0.5 linear.
                let v = if (x + y) % 20 == 0 { 190 } else { 120 };
                person.put_pixel(x, y, Rgb([v, v, v]));
                matte.put_pixel(x, y, Luma([255]));
            }
        }
        for y in 100..250 {
            for x in 150..250 {
                photo.put_pixel(x, y, Rgb([120, 120, 120]));
            }
        }
        (photo, person, matte)
    }

    /// The same, with a quarter of the light (in linear terms).
    fn dimmed(image: &RgbImage, light: f32) -> RgbImage {
        let mut out = image.clone();
        for v in out.as_mut() {
            *v = to_byte(srgb(linear(*v) * light));
        }
        out
    }

    #[test]
    fn a_photo_lit_like_vitons_is_left_alone() {
        let (photo, person, matte) = studio();
        let e = Exposure::measure(&photo, &person, Some(&matte));
        assert!(e.is_neutral(), "{e:?}");
        let mut seen = person.clone();
        e.to_network(&mut seen, Some(&matte));
        assert_eq!(seen, person);
        assert_eq!(e.value_to_photo(0.3), 0.3);
        // A dark person on a light backdrop: the backdrop says the light is fine.
        let dark_person = dimmed(&person, 0.1);
        assert!(Exposure::measure(&photo, &dark_person, Some(&matte)).is_neutral());
    }

    #[test]
    fn a_dim_photo_is_brought_up_to_vitons_darkest_and_no_further() {
        let (photo, person, matte) = studio();
        let (photo, person) = (dimmed(&photo, 0.25), dimmed(&person, 0.25));
        let e = Exposure::measure(&photo, &person, Some(&matte));
        // The person's highlights (byte 190) decide: brought up to the bar, no further.
        let expected = PERSON_WHITE / (0.25 * linear(190));
        assert!(
            (e.gain() / expected - 1.0).abs() < 0.05,
            "{e:?}, {expected}"
        );
        let mut seen = person.clone();
        e.to_network(&mut seen, Some(&matte));
        // The background around the person is VITON's, as it was.
        assert_eq!(seen.get_pixel(5, 5), person.get_pixel(5, 5));
        // The person is brighter, and the photo's view of it is the dim person again.
        let (dim, bright) = (person.get_pixel(61, 60)[0], seen.get_pixel(61, 60)[0]);
        assert!(bright > dim + 30, "{dim} -> {bright}");
        let unit = |v: u8| f32::from(v) / 127.5 - 1.0;
        assert!((e.value_to_photo(unit(bright)) - unit(dim)).abs() < 0.02);
        let mut back = seen.clone();
        e.to_photo(&mut back);
        assert!(back.get_pixel(61, 60)[0].abs_diff(dim) <= 2);
        // A darker photo needs more gain, up to the cap.
        let darker = Exposure::measure(&dimmed(&photo, 0.5), &dimmed(&person, 0.5), Some(&matte));
        assert_eq!(darker.gain(), MAX_GAIN);
        let black = RgbImage::new(192, 256);
        assert_eq!(Exposure::measure(&black, &black, None).gain(), MAX_GAIN);
        let empty = RgbImage::new(0, 0);
        assert_eq!(Exposure::measure(&empty, &black, None).gain(), MAX_GAIN);
    }

    #[test]
    fn without_a_matte_the_photo_alone_is_measured_and_all_of_the_view_changes() {
        let (photo, person, _) = studio();
        let dim = dimmed(&photo, 0.25);
        let e = Exposure::measure(&dim, &dimmed(&person, 0.25), None);
        assert!(e.gain() > 2.0, "{e:?}");
        let mut seen = dimmed(&person, 0.25);
        let before = *seen.get_pixel(5, 5);
        e.to_network(&mut seen, None);
        assert!(seen.get_pixel(5, 5)[0] > before[0] + 40);
    }

    #[test]
    fn modes_parse() {
        assert_eq!("keep".parse::<ExposureMode>().unwrap(), ExposureMode::Keep);
        assert_eq!(
            " match".parse::<ExposureMode>().unwrap(),
            ExposureMode::Match
        );
        assert!("auto".parse::<ExposureMode>().is_err());
        assert_eq!(ExposureMode::default().to_string(), "match");
    }

    #[test]
    fn quantiles_rank_the_values() {
        let values = (0..1000).map(|i| i as f32 / 1000.0);
        let q = quantile(values, 0.98).unwrap();
        assert!((q - 0.98).abs() < 0.002, "{q}");
        assert_eq!(quantile(std::iter::empty(), 0.5), None);
        assert_eq!(Exposure::with_gain(f32::NAN), Exposure::NEUTRAL);
        assert_eq!(Exposure::with_gain(0.5), Exposure::NEUTRAL);
        assert_eq!(Exposure::with_gain(9.0).gain(), MAX_GAIN);
    }
}
