//! The inference worker: one thread that owns the network, loads models and runs try-ons, so the
//! UI thread never waits on either.
//!
//! Requests go through a two-slot mailbox (one model load, one try-on). A new try-on replaces a
//! pending one that has not started: live mode submits every camera frame and the worker always
//! takes the newest, dropping stale frames instead of queueing them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use image::{GrayImage, RgbImage};

use crate::engine::{select_device_or_cpu, DeviceChoice, Engine, ModelInfo, OpPath, WarpPasses};
use crate::model::{ModelFiles, MODEL_ENV};
use crate::person::{Analysis, Keypoint, PersonModels, Region};
use crate::pipeline::{
    analyse_crop, prepare_person, run_tryon, run_tryon_prepared, track_subject, Background, Crop,
    CropSource, ExposureMode, Framing, Hem, PreparedPerson, Skin, Sleeves, Subject, TryOnImages,
    TryOnPhotos,
};
use crate::wardrobe::GarmentRef;

/// Which model to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The bundled default model (see [`ModelFiles::default_model`]).
    Default,
    /// A model folder chosen by the user: a Fitting Room bundle or the official PF-AFN folder.
    Folder(PathBuf),
}

/// A loaded model, as the UI describes it.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// Counts loads, so results of an older model are never shown as the current one's.
    pub generation: u64,
    pub name: String,
    pub files: ModelFiles,
    pub info: ModelInfo,
    pub device: String,
}

/// Where the model stands.
#[derive(Debug, Clone)]
pub enum ModelStatus {
    Loading(ModelSource),
    Ready(Arc<LoadedModel>),
    /// No model could be found; the text says where to get one.
    Missing(String),
    Failed(String),
}

/// Identifies a try-on's inputs, for the result cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultKey {
    pub person: u64,
    pub crop: Crop,
    pub garment: GarmentRef,
    /// The garment mask's revision (a hand edit changes the result).
    pub mask_revision: u64,
    pub model: u64,
    pub hires: bool,
}

/// One try-on request.
#[derive(Clone)]
pub struct TryOnJob {
    pub key: ResultKey,
    pub photo: Arc<RgbImage>,
    /// The crop, unless `frame_here`.
    pub crop: Crop,
    /// The person's matte over the photo (the network then sees the person on VITON's
    /// background).
    pub matte: Option<Arc<GrayImage>>,
    /// The person's keypoints (photo pixels), with the matte: the composition bares the arms
    /// an old sleeve covered where the new garment leaves them.
    pub keypoints: Option<Arc<Vec<Keypoint>>>,
    /// The pasted result keeps the photo as it is: nobody could be framed (unless
    /// `frame_here`, which decides it on the worker).
    pub keep_photo: bool,
    /// Find the person in this photo first and frame it automatically, replacing the
    /// background (live frames: the whole chain runs on the worker).
    pub frame_here: bool,
    /// The crop was set by hand away from the person found in the photo: the worker finds the
    /// person the crop holds, whose matte replaces `matte`.
    pub find_in_crop: bool,
    pub garment: Arc<RgbImage>,
    pub garment_mask: Arc<GrayImage>,
    /// From live mode: shown when done, not cached.
    pub live: bool,
}

/// What the worker reports back.
pub enum WorkerEvent {
    Model(ModelStatus),
    /// A person photo analysed: its automatic crop, matte and keypoints.
    Analysed {
        person: u64,
        result: Result<Arc<Subject>, String>,
    },
    Started {
        key: ResultKey,
    },
    Finished {
        key: ResultKey,
        live: bool,
        result: Result<Arc<TryOnImages>, String>,
        /// A live frame's framing (crop, keypoints) and the frame's size, for the camera view
        /// to draw.
        framed: Option<(Arc<Subject>, (u32, u32))>,
    },
}

#[derive(Default)]
struct Mailbox {
    model: Option<(ModelSource, DeviceChoice)>,
    analysis: Option<(u64, Arc<RgbImage>)>,
    tryon: Option<TryOnJob>,
    running: bool,
    quit: bool,
}

/// Called after every worker event (the app asks egui to repaint).
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// Handle to the worker thread.
pub struct InferenceWorker {
    mailbox: Arc<(Mutex<Mailbox>, Condvar)>,
    events: Receiver<WorkerEvent>,
    thread: Option<JoinHandle<()>>,
}

impl InferenceWorker {
    /// Starts the thread. `notify` is called after every event (the app asks egui to repaint).
    pub fn spawn(notify: Notify) -> Self {
        let mailbox = Arc::new((Mutex::new(Mailbox::default()), Condvar::new()));
        let (sender, events) = channel();
        let thread = {
            let mailbox = mailbox.clone();
            std::thread::Builder::new()
                .name("inference".into())
                .spawn(move || worker_loop(&mailbox, &sender, &notify))
                .ok()
        };
        if thread.is_none() {
            log::error!("cannot start the inference thread");
        }
        Self {
            mailbox,
            events,
            thread,
        }
    }

    /// Loads a model (replacing a load not yet started).
    pub fn load_model(&self, source: ModelSource, device: DeviceChoice) {
        self.post(|m| m.model = Some((source, device)));
    }

    /// Finds the person of a photo (replacing an analysis not yet started).
    pub fn analyse(&self, person: u64, photo: Arc<RgbImage>) {
        self.post(|m| m.analysis = Some((person, photo)));
    }

    /// Runs a try-on; a pending one that has not started is dropped.
    pub fn submit(&self, job: TryOnJob) {
        self.post(|m| m.tryon = Some(job));
    }

    /// Whether a try-on is running or waiting.
    pub fn busy(&self) -> bool {
        let (lock, _) = &*self.mailbox;
        lock.lock()
            .map(|m| m.running || m.tryon.is_some() || m.model.is_some() || m.analysis.is_some())
            .unwrap_or(false)
    }

    /// Events since the last call.
    pub fn poll(&self) -> Vec<WorkerEvent> {
        self.events.try_iter().collect()
    }

    fn post(&self, edit: impl FnOnce(&mut Mailbox)) {
        let (lock, wake) = &*self.mailbox;
        if let Ok(mut m) = lock.lock() {
            edit(&mut m);
            wake.notify_one();
        }
    }
}

impl Drop for InferenceWorker {
    fn drop(&mut self) {
        self.post(|m| m.quit = true);
        // Not joined: a try-on in flight may take a second, and nothing waits on its result.
        drop(self.thread.take());
    }
}

enum Work {
    Model(ModelSource, DeviceChoice),
    Analyse(u64, Arc<RgbImage>),
    TryOn(TryOnJob),
}

fn next_work(mailbox: &(Mutex<Mailbox>, Condvar)) -> Option<Work> {
    let (lock, wake) = mailbox;
    let mut m = lock.lock().ok()?;
    m.running = false;
    loop {
        if m.quit {
            return None;
        }
        // A model load goes first: a try-on waiting behind it should use the new model.
        if let Some((source, device)) = m.model.take() {
            m.running = true;
            return Some(Work::Model(source, device));
        }
        // A new photo's framing goes before a try-on (which may be waiting for it).
        if let Some((person, photo)) = m.analysis.take() {
            m.running = true;
            return Some(Work::Analyse(person, photo));
        }
        if let Some(job) = m.tryon.take() {
            m.running = true;
            return Some(Work::TryOn(job));
        }
        m = wake.wait(m).ok()?;
    }
}

/// The person models, loaded on first use (on the CPU: they are small, and a GPU is the
/// try-on's). A missing folder is remembered: framing then falls back to the centred crop.
struct PersonSlot(Option<Result<PersonModels, String>>);

impl PersonSlot {
    fn get(&mut self) -> Option<&PersonModels> {
        let loaded = self.0.get_or_insert_with(|| {
            PersonModels::find(None)
                .and_then(|dir| PersonModels::load(&dir, &candle_core::Device::Cpu))
                .map_err(|e| {
                    log::warn!("person models unavailable: {e}");
                    e.to_string()
                })
        });
        loaded.as_ref().ok()
    }
}

/// The person a hand-set crop holds (their matte and keypoints), kept for the last photo and
/// crop: trying other garments in the same crop finds the person once. The photo is held, so
/// a later photo cannot take its place in memory and pass for it.
struct CropMatte(Option<(Arc<RgbImage>, Crop, Arc<Subject>)>);

impl CropMatte {
    fn get(&mut self, models: &mut PersonSlot, photo: &Arc<RgbImage>, crop: Crop) -> Arc<Subject> {
        if let Some((p, c, found)) = &self.0 {
            if Arc::ptr_eq(p, photo) && *c == crop {
                return found.clone();
            }
        }
        let start = std::time::Instant::now();
        let analysis = models.get().and_then(|models| {
            catch_unwind(AssertUnwindSafe(|| analyse_crop(models, photo, crop)))
                .map_err(|_| log::warn!("finding the person in the crop crashed"))
                .ok()?
                .map_err(|e| log::warn!("finding the person in the crop failed: {e}"))
                .ok()
        });
        let (matte, keypoints) = match analysis {
            Some(Analysis::Found(person)) => {
                (Some(person.matte.to_luma8()), Some(person.keypoints))
            }
            Some(Analysis::NoPerson(why)) => {
                log::info!("no person in the hand-set crop ({why}): the network sees it as it is");
                (None, None)
            }
            None => (None, None),
        };
        let found = Arc::new(Subject {
            crop,
            source: CropSource::Manual,
            matte,
            keypoints,
            next_region: None,
            analysis_time: start.elapsed(),
        });
        self.0 = Some((photo.clone(), crop, found.clone()));
        found
    }
}

/// The person's side of the last try-on (what the network sees of the person, the crop at the
/// composition's size), kept for its photo, crop and matte: trying another garment on them skips
/// that work (on a phone photo, most of it). The photo and matte are held, so later ones cannot
/// take their place in memory and pass for them.
#[derive(Default)]
struct PersonSide(Option<KeptSide>);

/// What [`PersonSide`] keeps: the person's side and what it was made from.
struct KeptSide {
    photo: Arc<RgbImage>,
    crop: Crop,
    matte: Option<Arc<GrayImage>>,
    background: Background,
    hires: bool,
    side: Arc<PreparedPerson>,
}

impl KeptSide {
    fn made_from(
        &self,
        photos: &TryOnPhotos,
        photo: &Arc<RgbImage>,
        matte: &Option<Arc<GrayImage>>,
    ) -> bool {
        // A hand-set crop's matte comes as a new copy each time: compared by content.
        let same_matte = match (&self.matte, matte) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a.as_raw() == b.as_raw(),
            _ => false,
        };
        Arc::ptr_eq(&self.photo, photo)
            && self.crop == photos.crop
            && self.hires == photos.hires
            && self.background == photos.background
            && same_matte
    }
}

impl PersonSide {
    fn get(
        &mut self,
        photos: &TryOnPhotos,
        photo: &Arc<RgbImage>,
        matte: &Option<Arc<GrayImage>>,
    ) -> Result<Arc<PreparedPerson>, String> {
        if let Some(kept) = self
            .0
            .as_ref()
            .filter(|k| k.made_from(photos, photo, matte))
        {
            return Ok(kept.side.clone());
        }
        let side = Arc::new(prepare_person(photos).map_err(|e| e.to_string())?);
        self.0 = Some(KeptSide {
            photo: photo.clone(),
            crop: photos.crop,
            matte: matte.clone(),
            background: photos.background,
            hires: photos.hires,
            side: side.clone(),
        });
        Ok(side)
    }
}

/// Automatic framing and background replacement of one photo; `prior`: where the previous
/// live frame's person is expected.
fn analyse(
    models: &mut PersonSlot,
    photo: &RgbImage,
    prior: Option<&Region>,
) -> Result<Subject, String> {
    catch_unwind(AssertUnwindSafe(|| {
        track_subject(
            models.get(),
            photo,
            Framing::Auto,
            Background::Replace,
            prior,
        )
        .map_err(|e| e.to_string())
    }))
    .unwrap_or_else(|_| Err("finding the person crashed".to_string()))
}

fn worker_loop(mailbox: &(Mutex<Mailbox>, Condvar), events: &Sender<WorkerEvent>, notify: &Notify) {
    let mut engine: Option<(Engine, Arc<LoadedModel>)> = None;
    let mut person_models = PersonSlot(None);
    let mut live_track: Option<Region> = None;
    let mut crop_matte = CropMatte(None);
    let mut person_side = PersonSide::default();
    let mut generation = 0u64;
    let send = |event: WorkerEvent| {
        let _ = events.send(event);
        notify();
    };
    while let Some(work) = next_work(mailbox) {
        match work {
            Work::Model(source, device) => {
                send(WorkerEvent::Model(ModelStatus::Loading(source.clone())));
                generation += 1;
                let loaded =
                    catch_unwind(AssertUnwindSafe(|| load_model(&source, device, generation)))
                        .unwrap_or_else(|_| {
                            Err(ModelStatus::Failed(
                                "loading the model crashed; the file may be damaged".into(),
                            ))
                        });
                match loaded {
                    Ok((new_engine, model)) => {
                        log::info!(
                            "model `{}` loaded on {} ({})",
                            model.name,
                            model.device,
                            model.files.warp.display()
                        );
                        send(WorkerEvent::Model(ModelStatus::Ready(model.clone())));
                        engine = Some((new_engine, model));
                    }
                    Err(status) => {
                        // Keep the previous model: a failed "Open model" loses nothing.
                        if let Some((_, current)) = &engine {
                            send(WorkerEvent::Model(status));
                            send(WorkerEvent::Model(ModelStatus::Ready(current.clone())));
                        } else {
                            send(WorkerEvent::Model(status));
                        }
                    }
                }
            }
            Work::Analyse(person, photo) => {
                let result = analyse(&mut person_models, &photo, None).map(Arc::new);
                send(WorkerEvent::Analysed { person, result });
            }
            Work::TryOn(job) => {
                send(WorkerEvent::Started {
                    key: job.key.clone(),
                });
                let mut subject = None;
                let framed = if job.frame_here {
                    // Live frames follow the person from frame to frame, as a video does: the
                    // detector runs only when the person is lost.
                    let analysed = analyse(&mut person_models, &job.photo, live_track.as_ref());
                    live_track = analysed.as_ref().ok().and_then(|s| s.next_region);
                    analysed.map(|mut s| {
                        let keep_photo = s.keep_photo();
                        let matte = s.matte.take().map(Arc::new);
                        let keypoints = s.keypoints.clone().map(Arc::new);
                        let crop = s.crop;
                        subject = Some((Arc::new(s), job.photo.dimensions()));
                        (crop, matte, keypoints, keep_photo)
                    })
                } else if job.find_in_crop {
                    let found = crop_matte.get(&mut person_models, &job.photo, job.crop);
                    let matte = found.matte.clone().map(Arc::new);
                    let keypoints = found.keypoints.clone().map(Arc::new);
                    subject = Some((found, job.photo.dimensions()));
                    Ok((job.crop, matte, keypoints, job.keep_photo))
                } else {
                    Ok((
                        job.crop,
                        job.matte.clone(),
                        job.keypoints.clone(),
                        job.keep_photo,
                    ))
                };
                let result = match (&engine, framed) {
                    (None, _) => Err("no model is loaded".to_string()),
                    (_, Err(e)) => Err(e),
                    (Some((engine, _)), Ok((crop, matte, keypoints, keep_photo))) => {
                        catch_unwind(AssertUnwindSafe(|| {
                            let photos = TryOnPhotos {
                                photo: &job.photo,
                                crop,
                                matte: matte.as_deref(),
                                background: Background::Replace,
                                garment: &job.garment,
                                garment_mask: &job.garment_mask,
                                hires: job.key.hires,
                                keep_photo,
                                exposure: ExposureMode::Match,
                                keypoints: keypoints.as_deref().map(Vec::as_slice),
                                sleeves: Sleeves::Bare,
                                hem: Hem::Mirror,
                                skin: Skin::Own,
                                // A photo is worth the second look of the mirrored warp; a
                                // live frame keeps its rate.
                                warp: if job.live {
                                    WarpPasses::Once
                                } else {
                                    WarpPasses::Mirrored
                                },
                            };
                            // Live frames are new photos each time: nothing to keep.
                            if job.live {
                                return run_tryon(engine, &photos)
                                    .map(Arc::new)
                                    .map_err(|e| e.to_string());
                            }
                            let side = person_side.get(&photos, &job.photo, &matte)?;
                            run_tryon_prepared(engine, &photos, side)
                                .map(Arc::new)
                                .map_err(|e| e.to_string())
                        }))
                        .unwrap_or_else(|_| Err("the try-on crashed".to_string()))
                    }
                };
                send(WorkerEvent::Finished {
                    key: job.key,
                    live: job.live,
                    result,
                    framed: subject,
                });
            }
        }
    }
}

fn load_model(
    source: &ModelSource,
    device: DeviceChoice,
    generation: u64,
) -> Result<(Engine, Arc<LoadedModel>), ModelStatus> {
    let files = match source {
        ModelSource::Default => ModelFiles::default_model().map_err(|e| {
            // Where it looked goes to the log; the window keeps to what the user can do.
            log::warn!("{e}");
            ModelStatus::Missing(format!(
                "No model found. Use Model > Open model… to pick a Fitting Room model or the \
                 official PF-AFN checkpoints folder, or start the app with --model DIR (or \
                 {MODEL_ENV} set to one)."
            ))
        })?,
        ModelSource::Folder(dir) => {
            ModelFiles::from_dir(dir).map_err(|e| ModelStatus::Failed(e.to_string()))?
        }
    };
    // A GPU that does not start leaves the app on the CPU, saying so (the reason is logged).
    let (device_handle, fallback) = select_device_or_cpu(device);
    let engine = files
        .load(&device_handle, OpPath::Auto)
        .map_err(|e| ModelStatus::Failed(e.to_string()))?;
    let folder = files
        .warp
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let name = crate::model::model_name(&folder);
    let device_name = match &device_handle {
        candle_core::Device::Cpu => "CPU".to_string(),
        candle_core::Device::Cuda(_) => "CUDA GPU".to_string(),
        candle_core::Device::Metal(_) => "Metal GPU".to_string(),
    };
    let device_name = match fallback {
        Some(_) => format!("{device_name} ({device} unavailable)"),
        None => device_name,
    };
    let info = engine.info();
    Ok((
        engine,
        Arc::new(LoadedModel {
            generation,
            name,
            files,
            info,
            device: device_name,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The person's side is made again when the photo, the crop, the matte or the resolution
    /// changes, and kept otherwise (also for a copy of the same matte).
    #[test]
    fn the_person_side_is_kept_only_for_what_it_was_made_from() {
        let photo = Arc::new(RgbImage::from_pixel(300, 400, image::Rgb([120, 90, 80])));
        let matte = Some(Arc::new(GrayImage::from_pixel(
            300,
            400,
            image::Luma([255]),
        )));
        let garment = RgbImage::from_pixel(192, 256, image::Rgb([200, 0, 0]));
        let mask = GrayImage::from_pixel(192, 256, image::Luma([255]));
        let photos = |crop: Crop, matte: &Option<Arc<GrayImage>>, hires: bool| {
            let photos = TryOnPhotos {
                photo: &photo,
                crop,
                matte: None,
                background: Background::Replace,
                garment: &garment,
                garment_mask: &mask,
                hires,
                keep_photo: false,
                exposure: ExposureMode::Match,
                keypoints: None,
                sleeves: Sleeves::Bare,
                hem: Hem::Mirror,
                skin: Skin::Own,
                warp: WarpPasses::Mirrored,
            };
            (photos, matte.clone())
        };
        let crop = Crop::centered(300, 400);
        let mut kept = PersonSide::default();
        let mut get = |(mut p, m): (TryOnPhotos, Option<Arc<GrayImage>>)| {
            let matte = m.clone();
            p.matte = matte.as_deref().map(|m| m as &GrayImage);
            kept.get(&p, &photo, &m).unwrap()
        };
        // Every side made stays alive here, so no new one can take an old one's address.
        let first = get(photos(crop, &matte, true));
        assert!(Arc::ptr_eq(&get(photos(crop, &matte, true)), &first));
        let copy = matte.as_deref().cloned().map(Arc::new);
        assert!(Arc::ptr_eq(&get(photos(crop, &copy, true)), &first));
        let moved = Crop { x: 10, ..crop };
        let second = get(photos(moved, &matte, true));
        assert!(!Arc::ptr_eq(&second, &first));
        let third = get(photos(moved, &None, true));
        assert!(!Arc::ptr_eq(&third, &second));
        let fourth = get(photos(moved, &None, false));
        assert!(!Arc::ptr_eq(&fourth, &third));
        assert!(third.composition.is_some() && fourth.composition.is_none());
    }
}
