//! The try-on session: who is dressed in what, with which options, the results kept for instant
//! switching back, the try-on running now and the worker's events. No egui here: the app's logic
//! drives the session and the panels draw what it holds.
//!
//! Every try-on, from a photo or from a live camera frame, goes through [`TryOnSession::request`]:
//! the inputs make a [`ResultKey`], a cached result is shown at once, otherwise the job goes to the
//! worker. A new photo is first analysed on the worker (the person models find the person):
//! automatic framing gives its crop and the matte puts the person on VITON's background; the
//! try-on waits for that. A crop the user sets wins. Live frames run the whole chain on the
//! worker.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::{GrayImage, RgbImage};

use super::worker::{
    InferenceWorker, ModelSource, ModelStatus, Notify, ResultKey, TryOnJob, WorkerEvent,
};
use crate::engine::DeviceChoice;
use crate::person::Keypoint;
use crate::pipeline::{self, Crop, CropSource, Subject as Framed, TryOnImages};
use crate::wardrobe::GarmentRef;

/// Results kept for instant switching back (a few MB each).
const CACHE_CAPACITY: usize = 24;
/// Live try-ons counted for the frames-per-second readout.
const LIVE_RATE_FRAMES: usize = 30;
/// Person ids of live frames (never cached, never mixed with photo results).
const LIVE_PERSON: u64 = u64::MAX;

/// Where a person photo came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhotoOrigin {
    File(PathBuf),
    Camera(String),
}

impl PhotoOrigin {
    /// How the result heading names the photo.
    pub fn describe(&self) -> String {
        match self {
            PhotoOrigin::File(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            PhotoOrigin::Camera(name) => format!("snapshot from {name}"),
        }
    }
}

/// How the person photo's crop came about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// The person models are looking at the photo.
    Pending,
    /// Automatic framing (or its centred fallback, with the reason).
    Auto(CropSource),
    /// The user moved the crop.
    Manual,
}

/// The person photo being dressed.
pub struct Person {
    /// Changes with every new photo or snapshot (part of the result cache key).
    pub id: u64,
    pub origin: PhotoOrigin,
    pub photo: Arc<RgbImage>,
    pub crop: Crop,
    pub framing: Framing,
    /// The automatic crop, once the photo is analysed.
    pub auto_crop: Option<Crop>,
    /// The person's matte over the photo (255 = person), when one was found.
    pub matte: Option<Arc<GrayImage>>,
    /// The person's keypoints, photo pixels.
    pub keypoints: Option<Vec<Keypoint>>,
    /// The person a crop set by hand holds, when it is not the person found in the photo
    /// (the crop dresses them), once the worker has found them.
    pub in_crop: Option<InCrop>,
}

/// The person found inside a crop set by hand ([`crate::pipeline::analyse_crop`]).
#[derive(Debug, Clone)]
pub struct InCrop {
    pub crop: Crop,
    pub keypoints: Option<Vec<Keypoint>>,
    pub matte: Option<Arc<GrayImage>>,
}

impl Person {
    /// The person the current crop dresses, to show: the person found in the photo, or the one
    /// a crop set by hand on someone else holds (then `in_crop` is that crop).
    pub fn dressed(&self) -> Dressed<'_> {
        match &self.in_crop {
            Some(c) if self.framing == Framing::Manual && c.crop == self.crop => Dressed {
                keypoints: c.keypoints.as_ref(),
                matte: c.matte.as_ref(),
                in_crop: Some(c.crop),
            },
            _ => Dressed {
                keypoints: self.keypoints.as_ref(),
                matte: self.matte.as_ref(),
                in_crop: None,
            },
        }
    }
}

/// See [`Person::dressed`].
pub struct Dressed<'a> {
    pub keypoints: Option<&'a Vec<Keypoint>>,
    pub matte: Option<&'a Arc<GrayImage>>,
    /// The hand-set crop whose person this is; `None` for the person found in the photo.
    pub in_crop: Option<Crop>,
}

/// A garment ready for the network: the photo and the mask at full resolution.
#[derive(Clone)]
pub struct GarmentData {
    pub garment: GarmentRef,
    pub name: String,
    pub image: Arc<RgbImage>,
    pub mask: Arc<GrayImage>,
    pub mask_revision: u64,
}

/// The result on screen.
pub struct Shown {
    pub key: ResultKey,
    pub images: Arc<TryOnImages>,
    /// From live mode (not the result of the current photo).
    pub live: bool,
    /// Changes with every result shown, so views know when to rebuild their textures.
    pub serial: u64,
}

/// What the session tells the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionNote {
    Notice(String),
    Error(String),
}

/// The person of one try-on request.
enum Subject {
    /// The current person photo with its crop.
    Photo,
    /// A camera frame in live mode (shown when done, not cached).
    LiveFrame { photo: Arc<RgbImage>, seq: u64 },
}

pub struct TryOnSession {
    worker: InferenceWorker,
    model: ModelStatus,
    device: DeviceChoice,
    person: Option<Person>,
    next_person_id: u64,
    garment: Option<GarmentData>,
    /// The garment the user picked last, while it loads.
    wanted_garment: Option<GarmentRef>,
    /// Bumped when a garment's mask is edited, so its old results are not reused.
    mask_revisions: HashMap<GarmentRef, u64>,
    hires: bool,
    cache: VecDeque<(ResultKey, Arc<TryOnImages>)>,
    /// The key of the try-on running now, and since when.
    running: Option<(ResultKey, Instant)>,
    shown: Option<Shown>,
    next_serial: u64,
    /// Last try-on time in the network.
    last_time: Option<Duration>,
    live_results: u64,
    live_times: VecDeque<Instant>,
    /// How the last live frame was framed (its crop and keypoints; no matte), and its size.
    live_framing: Option<(Arc<Framed>, (u32, u32))>,
}

impl TryOnSession {
    /// Starts the inference worker and loads the model. `notify` is called after every worker
    /// event (the app asks for a repaint).
    pub fn new(notify: Notify, source: ModelSource, device: DeviceChoice, hires: bool) -> Self {
        let worker = InferenceWorker::spawn(notify);
        worker.load_model(source.clone(), device);
        Self {
            worker,
            model: ModelStatus::Loading(source),
            device,
            person: None,
            next_person_id: 1,
            garment: None,
            wanted_garment: None,
            mask_revisions: HashMap::new(),
            hires,
            cache: VecDeque::new(),
            running: None,
            shown: None,
            next_serial: 0,
            last_time: None,
            live_results: 0,
            live_times: VecDeque::new(),
            live_framing: None,
        }
    }

    // ---- model

    pub fn model(&self) -> &ModelStatus {
        &self.model
    }

    pub fn device(&self) -> DeviceChoice {
        self.device
    }

    /// Loads another model (or the default one) on the worker.
    pub fn load_model(&mut self, source: ModelSource) {
        self.worker.load_model(source.clone(), self.device);
        self.model = ModelStatus::Loading(source);
    }

    /// Changes the device and reloads `source` on it; false when it is the device in use.
    pub fn set_device(&mut self, device: DeviceChoice, source: ModelSource) -> bool {
        if device == self.device {
            return false;
        }
        self.device = device;
        self.load_model(source);
        true
    }

    // ---- inputs

    pub fn person(&self) -> Option<&Person> {
        self.person.as_ref()
    }

    pub fn garment(&self) -> Option<&GarmentData> {
        self.garment.as_ref()
    }

    /// The crop of a photo before (or without) its analysis: the largest centred 3:4 rectangle.
    /// The analysis on the worker ([`crate::pipeline::prepare_subject`]) decides the automatic
    /// crop of every photo and camera frame.
    pub fn frame(&self, photo: &RgbImage) -> Crop {
        Crop::centered(photo.width(), photo.height())
    }

    /// Uses a photo (a file, a camera snapshot) as the person; returns its id. The photo is
    /// analysed on the worker; its try-on starts when the framing is known.
    pub fn set_person(&mut self, origin: PhotoOrigin, photo: RgbImage) -> u64 {
        let id = self.next_person_id;
        self.next_person_id += 1;
        let crop = self.frame(&photo);
        let photo = Arc::new(photo);
        self.worker.analyse(id, photo.clone());
        self.person = Some(Person {
            id,
            origin,
            photo,
            crop,
            framing: Framing::Pending,
            auto_crop: None,
            matte: None,
            keypoints: None,
            in_crop: None,
        });
        self.shown = None;
        id
    }

    /// Moves the crop of the person photo (kept valid for the photo); it wins over the
    /// automatic one.
    pub fn set_crop(&mut self, crop: Crop) {
        if let Some(person) = &mut self.person {
            let crop = crop.clamped(person.photo.width(), person.photo.height());
            person.framing = Framing::Manual;
            if crop != person.crop {
                person.crop = crop;
                self.request_tryon();
            }
        }
    }

    /// Back to the automatic crop (the centred one when no person was found).
    pub fn reset_crop(&mut self) {
        if let Some(person) = &mut self.person {
            if person.framing == Framing::Pending {
                return;
            }
            let (w, h) = person.photo.dimensions();
            person.crop = person.auto_crop.unwrap_or_else(|| Crop::centered(w, h));
            person.framing = Framing::Auto(if person.auto_crop.is_some() {
                CropSource::Auto
            } else {
                CropSource::Centre
            });
            self.request_tryon();
        }
    }

    /// The analysis of a person photo arrived.
    fn analysed(&mut self, id: u64, result: Result<Arc<Framed>, String>) -> Option<SessionNote> {
        let person = self.person.as_mut().filter(|p| p.id == id)?;
        let note = match result {
            Ok(subject) => {
                person.matte = subject.matte.clone().map(Arc::new);
                person.keypoints = subject.keypoints.clone();
                if subject.source == CropSource::Auto {
                    person.auto_crop = Some(subject.crop);
                }
                let note = subject.note().map(SessionNote::Notice);
                if person.framing == Framing::Pending {
                    person.crop = subject.crop;
                    person.framing = Framing::Auto(subject.source.clone());
                }
                note
            }
            Err(e) => {
                if person.framing == Framing::Pending {
                    person.framing = Framing::Auto(CropSource::Fallback(e.clone()));
                }
                Some(SessionNote::Error(format!(
                    "Finding the person failed ({e}); using the centred crop, and the photo \
                     is left as it is (drag the frame to dress it)"
                )))
            }
        };
        self.request_tryon();
        note
    }

    /// Records the garment the user picked; returns the mask revision to load it with.
    pub fn want_garment(&mut self, garment: GarmentRef) -> u64 {
        let revision = self.mask_revision(&garment);
        self.wanted_garment = Some(garment);
        revision
    }

    pub fn is_wanted(&self, garment: &GarmentRef) -> bool {
        self.wanted_garment.as_ref() == Some(garment)
    }

    pub fn mask_revision(&self, garment: &GarmentRef) -> u64 {
        self.mask_revisions.get(garment).copied().unwrap_or(0)
    }

    /// A garment's mask changed: its old results are not reused. Returns the new revision.
    pub fn bump_mask_revision(&mut self, garment: &GarmentRef) -> u64 {
        let revision = self.mask_revisions.entry(garment.clone()).or_insert(0);
        *revision += 1;
        *revision
    }

    /// A garment finished loading: used when it is still the one wanted.
    pub fn garment_loaded(&mut self, garment: GarmentData) {
        if self.is_wanted(&garment.garment) {
            self.garment = Some(garment);
            self.request_tryon();
        }
    }

    pub fn hires(&self) -> bool {
        self.hires
    }

    pub fn set_hires(&mut self, hires: bool) {
        self.hires = hires;
        self.request_tryon();
    }

    // ---- try-on

    fn key(&self, subject: &Subject) -> Option<(ResultKey, TryOnJob)> {
        let garment = self.garment.as_ref()?;
        let ModelStatus::Ready(model) = &self.model else {
            return None;
        };
        let (person, photo, crop, matte, keypoints, keep_photo, live, find_in_crop) = match subject
        {
            Subject::Photo => {
                let p = self.person.as_ref()?;
                if p.framing == Framing::Pending {
                    return None;
                }
                // The centred crop of a photo where nobody could be framed: the photo as it is.
                let keep_photo = match &p.framing {
                    Framing::Auto(source) => pipeline::keep_photo(source),
                    _ => false,
                };
                // A crop moved by hand off the person found dresses the person it holds.
                let find_in_crop = p.framing == Framing::Manual
                    && !p
                        .keypoints
                        .as_ref()
                        .is_some_and(|k| pipeline::crop_holds(p.crop, k));
                // The person a hand-set crop holds is found on the worker, pose and matte alike.
                let (matte, keypoints) = if find_in_crop {
                    (None, None)
                } else {
                    (p.matte.clone(), p.keypoints.clone().map(Arc::new))
                };
                (
                    p.id,
                    p.photo.clone(),
                    p.crop,
                    matte,
                    keypoints,
                    keep_photo,
                    false,
                    find_in_crop,
                )
            }
            Subject::LiveFrame { photo, seq } => {
                // Two ids taking turns: consecutive frames never share a key. The worker frames
                // the frame itself; this crop only fills the key.
                let crop = self.frame(photo);
                (
                    LIVE_PERSON - seq % 2,
                    photo.clone(),
                    crop,
                    None,
                    None,
                    false,
                    true,
                    false,
                )
            }
        };
        let hires = self.hires;
        let key = ResultKey {
            person,
            crop,
            garment: garment.garment.clone(),
            mask_revision: garment.mask_revision,
            model: model.generation,
            hires,
        };
        let job = TryOnJob {
            key: key.clone(),
            photo,
            crop,
            matte,
            keypoints,
            keep_photo,
            frame_here: live,
            find_in_crop,
            garment: garment.image.clone(),
            garment_mask: garment.mask.clone(),
            live,
        };
        Some((key, job))
    }

    /// The key of the current photo's try-on, when everything it needs is there.
    pub fn current_key(&self) -> Option<ResultKey> {
        self.key(&Subject::Photo).map(|(key, _)| key)
    }

    /// The one way a try-on starts: shows a cached result, or hands the job to the worker (a
    /// live frame replaces a waiting one there).
    fn request(&mut self, subject: Subject) {
        let Some((key, job)) = self.key(&subject) else {
            return;
        };
        if !job.live {
            if self.shown_key() == Some(&key) {
                return;
            }
            if let Some((_, images)) = self.cache.iter().find(|(k, _)| *k == key) {
                let images = images.clone();
                self.show(key, images, false);
                return;
            }
            if self.running.as_ref().map(|(k, _)| k) == Some(&key) {
                return;
            }
            self.running = Some((key, Instant::now()));
        }
        self.worker.submit(job);
    }

    /// Shows the cached result for the current inputs, or starts the try-on.
    pub fn request_tryon(&mut self) {
        self.request(Subject::Photo);
    }

    /// Live mode: dresses a camera frame (the worker keeps only the newest waiting one).
    pub fn request_live(&mut self, photo: Arc<RgbImage>, seq: u64) {
        self.request(Subject::LiveFrame { photo, seq });
    }

    /// Whether a live try-on can run (a garment and a model).
    pub fn live_ready(&self) -> bool {
        self.garment.is_some() && matches!(self.model, ModelStatus::Ready(_))
    }

    /// Shows try-on pictures computed elsewhere (a saved result, or a test's known flow) as the
    /// result of the current inputs.
    pub fn show_images(&mut self, images: TryOnImages) {
        if let Some(key) = self.current_key() {
            self.show(key, Arc::new(images), false);
        }
    }

    fn show(&mut self, key: ResultKey, images: Arc<TryOnImages>, live: bool) {
        if !live && self.shown.as_ref().map(|s| &s.key) != Some(&key) {
            log::info!(
                "try-on shown: person {} in `{}` ({:.0} ms in the network)",
                key.person,
                key.garment,
                images.network_time.as_secs_f64() * 1e3
            );
        }
        if live {
            self.live_times.push_back(Instant::now());
            while self.live_times.len() > LIVE_RATE_FRAMES {
                self.live_times.pop_front();
            }
        }
        self.next_serial += 1;
        self.shown = Some(Shown {
            key,
            images,
            live,
            serial: self.next_serial,
        });
    }

    pub fn shown(&self) -> Option<&Shown> {
        self.shown.as_ref()
    }

    /// The key of the photo result on screen (not a live one).
    fn shown_key(&self) -> Option<&ResultKey> {
        self.shown.as_ref().filter(|s| !s.live).map(|s| &s.key)
    }

    pub fn shown_images(&self) -> Option<&Arc<TryOnImages>> {
        self.shown.as_ref().map(|s| &s.images)
    }

    /// Whether a result for the current person and garment is on screen.
    pub fn has_result(&self) -> bool {
        let current = self.current_key();
        current.is_some() && self.shown_key() == current.as_ref()
    }

    /// When the try-on running now started.
    pub fn running_since(&self) -> Option<Instant> {
        self.running.as_ref().map(|(_, at)| *at)
    }

    /// The network time of the last try-on.
    pub fn last_time(&self) -> Option<Duration> {
        self.last_time
    }

    /// Live try-ons shown so far.
    pub fn live_results(&self) -> u64 {
        self.live_results
    }

    /// How the last live frame was framed, and the frame's size.
    pub fn live_framing(&self) -> Option<(&Framed, (u32, u32))> {
        self.live_framing
            .as_ref()
            .map(|(f, size)| (f.as_ref(), *size))
    }

    /// Live try-ons completed per second over the last few.
    pub fn live_fps(&self) -> Option<f32> {
        let (first, last) = (self.live_times.front()?, self.live_times.back()?);
        let span = last.duration_since(*first).as_secs_f32();
        (self.live_times.len() >= 2 && span > 0.0)
            .then(|| (self.live_times.len() - 1) as f32 / span)
    }

    /// What to do next, for the status line.
    pub fn hint(&self) -> &'static str {
        match (&self.person, &self.garment) {
            (None, None) => "Open a photo or use the camera, then pick a garment.",
            (None, Some(_)) => {
                "Open a photo (File > Open photo, drop one here, or use the camera)."
            }
            (Some(_), None) => "Pick a garment from the wardrobe.",
            (Some(p), Some(_)) if p.framing == Framing::Pending => "Finding the person…",
            (Some(_), Some(_)) => "Drag the crop frame on the photo to adjust the framing.",
        }
    }

    // ---- worker events

    /// Takes the worker's events: model changes, finished try-ons. Returns what to tell the user.
    pub fn poll(&mut self) -> Vec<SessionNote> {
        let mut notes = Vec::new();
        for event in self.worker.poll() {
            match event {
                WorkerEvent::Model(status) => {
                    match &status {
                        ModelStatus::Failed(e) => {
                            notes.push(SessionNote::Error(format!("Model: {e}")))
                        }
                        ModelStatus::Ready(m) => {
                            self.cache.clear();
                            notes.push(SessionNote::Notice(format!(
                                "Model “{}” ready on {}",
                                m.name, m.device
                            )));
                        }
                        _ => {}
                    }
                    let ready = matches!(status, ModelStatus::Ready(_));
                    self.model = status;
                    if ready {
                        self.shown = None;
                        self.request_tryon();
                    }
                }
                WorkerEvent::Analysed { person, result } => {
                    notes.extend(self.analysed(person, result));
                }
                WorkerEvent::Started { .. } => {}
                WorkerEvent::Finished {
                    key,
                    live,
                    result,
                    framed,
                } => {
                    if live {
                        self.live_framing = framed;
                    } else if let (Some((found, _)), Some(person)) = (framed, self.person.as_mut())
                    {
                        if person.id == key.person && found.source == CropSource::Manual {
                            person.in_crop = Some(InCrop {
                                crop: found.crop,
                                keypoints: found.keypoints.clone(),
                                matte: found.matte.clone().map(Arc::new),
                            });
                        }
                    }
                    if self.running.as_ref().map(|(k, _)| k) == Some(&key) {
                        self.running = None;
                    }
                    match result {
                        Ok(images) => {
                            self.last_time = Some(images.network_time);
                            if live {
                                self.live_results += 1;
                                self.show(key, images, true);
                            } else {
                                self.cache.retain(|(k, _)| *k != key);
                                self.cache.push_back((key.clone(), images.clone()));
                                while self.cache.len() > CACHE_CAPACITY {
                                    self.cache.pop_front();
                                }
                                if Some(&key) == self.current_key().as_ref() {
                                    self.show(key, images, false);
                                }
                            }
                        }
                        Err(e) => notes.push(SessionNote::Error(format!("Try-on failed: {e}"))),
                    }
                    // The inputs may have changed while this one ran.
                    if !live {
                        self.request_tryon();
                    }
                }
            }
        }
        notes
    }
}
