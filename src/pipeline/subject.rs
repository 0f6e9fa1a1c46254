//! The person of a try-on, prepared from any photo: the person models find the person, automatic
//! framing chooses the crop, and the matte lets the network see the person on VITON's
//! background. One function, [`prepare_subject`], for the command line and the app alike.

use std::time::{Duration, Instant};

use image::{GrayImage, RgbImage};

use super::autoframe::{choose_crop, CropSource, Framing};
use super::framing::Crop;
use crate::engine::{WarpPasses, NATIVE_SIZE};
use crate::person::{Analysis, Keypoint, PersonError, PersonModels, Region};

/// What the network sees around the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Background {
    /// The person on VITON's plain background (the matte cuts the person out); the photo's own
    /// background comes back when the result is pasted into the photo.
    #[default]
    Replace,
    /// The photo as it is.
    Keep,
}

option_enum!(
    Background,
    BackgroundSyntax,
    "background",
    Replace = "replace",
    Keep = "keep"
);

/// A photo the network takes as it is: VITON's own 192x256 framing.
pub fn is_native_photo(photo: &RgbImage) -> bool {
    photo.dimensions() == (NATIVE_SIZE.1 as u32, NATIVE_SIZE.0 as u32)
}

/// Whether the person of `photo` dressed in `crop` is VITON's own input: a 192x256 photo in
/// its whole frame, which the command line by default runs exactly as the official test path
/// does ([`default_background`], [`default_warp`]).
pub fn is_official_input(photo: &RgbImage, crop: Crop) -> bool {
    let (width, height) = photo.dimensions();
    is_native_photo(photo) && crop == Crop::centered(width, height)
}

/// What the network sees around the person of `photo` dressed in `crop` when nothing is asked
/// (the command line's default): VITON's own input ([`is_official_input`]) is seen as it is;
/// any other photo on VITON's background. The app replaces every photo's background, VITON's
/// own included: its network then covers the default sample's shoulder, where with the
/// studio's backdrop it left the old top showing.
pub fn default_background(photo: &RgbImage, crop: Crop) -> Background {
    if is_official_input(photo, crop) {
        Background::Keep
    } else {
        Background::Replace
    }
}

/// How the warp module reads the person of `photo` dressed in `crop` when nothing is asked
/// (the command line's default): VITON's own input ([`is_official_input`]) once; any other
/// photo mirrored too ([`WarpPasses::Mirrored`]), which holds the garment on the body where
/// the compact warp module alone tilts it. The app mirrors every photo and reads live frames
/// once, for their rate.
pub fn default_warp(photo: &RgbImage, crop: Crop) -> WarpPasses {
    if is_official_input(photo, crop) {
        WarpPasses::Once
    } else {
        WarpPasses::Mirrored
    }
}

/// The person of a photo, ready for [`super::TryOnPhotos`].
#[derive(Debug, Clone)]
pub struct Subject {
    pub crop: Crop,
    pub source: CropSource,
    /// The person's matte over the whole photo, when a person was found.
    pub matte: Option<GrayImage>,
    /// The person's keypoints (photo pixels), when a person was found.
    pub keypoints: Option<Vec<Keypoint>>,
    /// Where to look for the person in the next frame of a video, when one was found.
    pub next_region: Option<Region>,
    /// Time in the person models.
    pub analysis_time: Duration,
}

/// Whether the pasted result keeps the photo as it is: automatic framing found no person it
/// can frame (nobody, a pose upside down, without shoulders or without its face, or no person
/// models), so the centred crop the network dressed is not known to frame anyone as VITON
/// frames its persons, and pasting the result would float the garment over whatever the crop
/// holds. The network's own view still shows the try-on of the crop; a crop chosen by hand
/// dresses the photo.
pub fn keep_photo(source: &CropSource) -> bool {
    matches!(source, CropSource::Fallback(_))
}

impl Subject {
    /// Whether the pasted result keeps the photo as it is (see [`keep_photo`]).
    pub fn keep_photo(&self) -> bool {
        keep_photo(&self.source)
    }

    /// What to tell the user about the framing, when it is not what they asked for.
    pub fn note(&self) -> Option<String> {
        match &self.source {
            CropSource::Fallback(why) => Some(format!(
                "{why}: using the centred crop, and the photo is left as it is (set the crop by \
                 hand to dress it)"
            )),
            _ => None,
        }
    }
}

/// Frames a photo's person for the network. A 192x256 photo with automatic framing is taken as
/// a VITON input, as it is. Otherwise the person models run when automatic framing or
/// background replacement needs them (`models` is `None` when they are missing: the centred
/// crop and the photo as it is, with a note). No person found: the centred crop, no matte.
pub fn prepare_subject(
    models: Option<&PersonModels>,
    photo: &RgbImage,
    framing: Framing,
    background: Background,
) -> Result<Subject, PersonError> {
    track_subject(models, photo, framing, background, None)
}

/// [`prepare_subject`] for a frame of a video: `prior` is the previous frame's
/// [`Subject::next_region`], where the person models look first
/// ([`PersonModels::track`]).
pub fn track_subject(
    models: Option<&PersonModels>,
    photo: &RgbImage,
    framing: Framing,
    background: Background,
    prior: Option<&Region>,
) -> Result<Subject, PersonError> {
    let (width, height) = photo.dimensions();
    let plain = |crop: Crop, source: CropSource| Subject {
        crop,
        source,
        matte: None,
        keypoints: None,
        next_region: None,
        analysis_time: Duration::ZERO,
    };
    // A VITON input is dressed in its whole frame; its person is still looked for, for the
    // network's background and the composition (the matte and the pose).
    let native = is_native_photo(photo) && framing == Framing::Auto;
    let needs_models = framing == Framing::Auto || background == Background::Replace;
    if !needs_models {
        let (crop, source) = choose_crop(framing, Err(String::new()), width, height);
        return Ok(plain(crop, source));
    }
    let Some(models) = models else {
        if native {
            return Ok(plain(Crop::centered(width, height), CropSource::Centre));
        }
        let (crop, source) = choose_crop(
            framing,
            Err("the person models are missing".into()),
            width,
            height,
        );
        return Ok(plain(crop, source));
    };
    let start = Instant::now();
    let mut analysis = models.track(photo, prior)?;
    // A crop given rather than fitted (by hand, or the centred one) dresses whoever it holds.
    let given = match framing {
        Framing::Manual(crop) => Some(crop),
        Framing::Centre => Some(Crop::centered(width, height)),
        Framing::Auto => None,
    };
    if let Some(crop) = given {
        let held = matches!(&analysis, Analysis::Found(p) if crop_holds(crop, &p.keypoints));
        if !held {
            analysis = analyse_crop(models, photo, crop)?;
        }
    }
    let analysis_time = start.elapsed();
    Ok(match analysis {
        Analysis::Found(person) => {
            let (crop, source) = if native {
                (Crop::centered(width, height), CropSource::Centre)
            } else {
                choose_crop(framing, Ok(&person.keypoints), width, height)
            };
            Subject {
                crop,
                source,
                matte: Some(person.matte.to_luma8()),
                next_region: Some(person.next_region),
                keypoints: Some(person.keypoints),
                analysis_time,
            }
        }
        Analysis::NoPerson(_) if native => Subject {
            analysis_time,
            ..plain(Crop::centered(width, height), CropSource::Centre)
        },
        Analysis::NoPerson(why) => {
            let (crop, source) = choose_crop(framing, Err(why.to_string()), width, height);
            Subject {
                analysis_time,
                ..plain(crop, source)
            }
        }
    })
}

/// Whether a crop holds the person of these keypoints: the midpoint of their shoulders lies
/// inside it. A crop moved by hand to another person of the photo does not.
pub fn crop_holds(crop: Crop, keypoints: &[Keypoint]) -> bool {
    let (Some(l), Some(r)) = (keypoints.get(11), keypoints.get(12)) else {
        return false;
    };
    let (x, y) = ((l.x + r.x) / 2.0, (l.y + r.y) / 2.0);
    let (x0, y0) = (crop.x as f32, crop.y as f32);
    (x0..x0 + crop.width as f32).contains(&x) && (y0..y0 + crop.height as f32).contains(&y)
}

/// The person the crop holds, found in the crop's part of the photo
/// ([`PersonModels::analyze_within`]), in the photo's pixels.
pub fn analyse_crop(
    models: &PersonModels,
    photo: &RgbImage,
    crop: Crop,
) -> Result<Analysis, PersonError> {
    models.analyze_within(photo, crop.x.into(), crop.y.into(), crop.width, crop.height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_holds_the_person_whose_shoulders_are_inside() {
        let mut k = vec![
            Keypoint {
                x: 0.0,
                y: 0.0,
                z: 0.0,
                visibility: 1.0,
                presence: 1.0,
            };
            33
        ];
        (k[11].x, k[11].y, k[12].x, k[12].y) = (140.0, 100.0, 60.0, 104.0);
        let crop = |x, y| Crop {
            x,
            y,
            width: 120,
            height: 160,
        };
        assert!(crop_holds(crop(0, 0), &k));
        assert!(crop_holds(crop(-10, 90), &k));
        assert!(!crop_holds(crop(101, 0), &k));
        assert!(!crop_holds(crop(0, 103), &k));
        assert!(!crop_holds(crop(0, 0), &k[..12]));
    }

    #[test]
    fn backgrounds_parse() {
        assert_eq!("keep".parse::<Background>().unwrap(), Background::Keep);
        assert_eq!(
            "replace".parse::<Background>().unwrap(),
            Background::Replace
        );
        assert!("blue".parse::<Background>().is_err());
    }

    #[test]
    fn by_default_only_a_viton_photo_in_its_whole_frame_is_seen_as_it_is_and_read_once() {
        let native = RgbImage::new(192, 256);
        let whole = Crop::centered(192, 256);
        assert_eq!(default_background(&native, whole), Background::Keep);
        assert_eq!(default_warp(&native, whole), WarpPasses::Once);
        // Framed otherwise by hand, it is a photo like any other.
        let part = Crop {
            x: 20,
            y: 0,
            width: 150,
            height: 200,
        };
        assert_eq!(default_background(&native, part), Background::Replace);
        assert_eq!(default_warp(&native, part), WarpPasses::Mirrored);
        let photo = RgbImage::new(640, 480);
        let centre = Crop::centered(640, 480);
        assert_eq!(default_background(&photo, centre), Background::Replace);
        assert_eq!(default_warp(&photo, centre), WarpPasses::Mirrored);
    }

    #[test]
    fn without_models_the_centred_crop_is_used_and_said() {
        let photo = RgbImage::new(640, 480);
        let s = prepare_subject(None, &photo, Framing::Auto, Background::Replace).unwrap();
        assert_eq!(s.crop, Crop::centered(640, 480));
        assert!(s.matte.is_none());
        assert!(s.note().unwrap().contains("missing"), "{:?}", s.note());
        // A VITON input is dressed in its whole frame, models or not.
        let native = RgbImage::new(192, 256);
        let s = prepare_subject(None, &native, Framing::Auto, Background::Replace).unwrap();
        assert_eq!(s.crop, Crop::centered(192, 256));
        assert_eq!(s.note(), None);
        // A manual crop with the photo kept needs nothing.
        let manual = Crop {
            x: -10,
            y: 0,
            width: 300,
            height: 400,
        };
        let s = prepare_subject(None, &photo, Framing::Manual(manual), Background::Keep).unwrap();
        assert_eq!((s.crop, s.source), (manual, CropSource::Manual));
    }
}
