//! A camera read on its own thread, keeping only the newest frame.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::RgbImage;

use super::{panic_message, CameraBackend, CameraInfo, CaptureError, FrameSource};

/// How long `stop` waits for the worker before leaving it to finish on its own: a driver stuck
/// in a read must not freeze the window.
const STOP_WAIT: Duration = Duration::from_millis(750);

/// Bad frames in a row tolerated before the stream gives up.
const MAX_CONSECUTIVE_FRAME_ERRORS: u32 = 10;

/// Pause after a bad frame, so a camera that only fails does not spin a core.
const FRAME_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Frames counted for the rate, and how far back they may lie.
const RATE_FRAMES: usize = 30;
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// Called on the worker thread after each new frame and each status change; the app passes
/// something like `move || ctx.request_repaint()`.
pub type FrameCallback = Box<dyn Fn() + Send>;

/// One captured picture.
#[derive(Debug, Clone)]
pub struct Frame {
    pub image: Arc<RgbImage>,
    /// 1 for the first frame of the stream, then one more for each frame the camera delivered
    /// (frames nobody looked at still count, so gaps show dropped frames).
    pub seq: u64,
    pub captured_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStatus {
    /// The camera is being opened.
    Starting,
    Running,
    /// Stopped by [`CameraStream::stop`] or by dropping the stream.
    Stopped,
    Failed(CaptureError),
}

impl StreamStatus {
    fn is_final(&self) -> bool {
        matches!(self, StreamStatus::Stopped | StreamStatus::Failed(_))
    }
}

struct Shared {
    latest: Mutex<Option<Frame>>,
    status: Mutex<StreamStatus>,
    camera: Mutex<Option<CameraInfo>>,
    frame_times: Mutex<VecDeque<Instant>>,
    captured: AtomicU64,
    stop: AtomicBool,
}

/// Locks, ignoring poisoning: every value behind these locks is valid at all times.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Moves to `status` unless the stream already stopped or failed (those are final).
    fn set_status(&self, status: StreamStatus) {
        let mut current = lock(&self.status);
        if !current.is_final() {
            *current = status;
        }
    }
}

enum Start {
    Source(Box<dyn FrameSource>),
    Open(Arc<dyn CameraBackend>, u32),
}

/// A camera read continuously on a worker thread. Stops (and closes the camera) on drop.
pub struct CameraStream {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    /// Disconnected once the worker has returned (it owns the sender).
    worker_done: Receiver<()>,
}

impl CameraStream {
    /// Streams an already open camera.
    pub fn start(source: Box<dyn FrameSource>, on_frame: Option<FrameCallback>) -> Self {
        Self::spawn(Start::Source(source), on_frame)
    }

    /// Opens camera `index` of `backend` on the worker thread (opening can take a second), then
    /// streams it. The status is [`StreamStatus::Starting`] until the camera is open.
    pub fn open(
        backend: Arc<dyn CameraBackend>,
        index: u32,
        on_frame: Option<FrameCallback>,
    ) -> Self {
        Self::spawn(Start::Open(backend, index), on_frame)
    }

    fn spawn(start: Start, on_frame: Option<FrameCallback>) -> Self {
        let shared = Arc::new(Shared {
            latest: Mutex::new(None),
            status: Mutex::new(StreamStatus::Starting),
            camera: Mutex::new(None),
            frame_times: Mutex::new(VecDeque::with_capacity(RATE_FRAMES)),
            captured: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let (done_tx, worker_done) = mpsc::channel();
        let worker_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("camera-capture".into())
            .spawn(move || run_worker(&worker_shared, start, on_frame, done_tx));
        let worker = match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                *lock(&shared.status) = StreamStatus::Failed(CaptureError::Open(format!(
                    "could not start the capture thread: {e}"
                )));
                None
            }
        };
        Self {
            shared,
            worker,
            worker_done,
        }
    }

    /// The newest frame, if any arrived yet. Older frames are gone: a slow reader skips them.
    pub fn latest(&self) -> Option<Frame> {
        lock(&self.shared.latest).clone()
    }

    /// The newest frame if it is newer than `seq` (pass the last `seq` you used).
    pub fn latest_after(&self, seq: u64) -> Option<Frame> {
        lock(&self.shared.latest)
            .as_ref()
            .filter(|f| f.seq > seq)
            .cloned()
    }

    pub fn status(&self) -> StreamStatus {
        lock(&self.shared.status).clone()
    }

    /// The camera being streamed, once it is open.
    pub fn camera(&self) -> Option<CameraInfo> {
        lock(&self.shared.camera).clone()
    }

    /// Frames delivered by the camera since the start.
    pub fn frames_captured(&self) -> u64 {
        self.shared.captured.load(Ordering::Relaxed)
    }

    /// Frames per second over the last couple of seconds; 0 when the camera has gone quiet.
    pub fn fps(&self) -> f32 {
        let times = lock(&self.shared.frame_times);
        let (Some(first), Some(last)) = (times.front(), times.back()) else {
            return 0.0;
        };
        if times.len() < 2 || last.elapsed() > RATE_WINDOW {
            return 0.0;
        }
        let span = last.duration_since(*first).as_secs_f32();
        if span <= 0.0 {
            0.0
        } else {
            (times.len() - 1) as f32 / span
        }
    }

    /// Stops reading and closes the camera. Waits briefly for the worker; a driver stuck in a
    /// read is left to finish on its own rather than freezing the caller.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.set_status(StreamStatus::Stopped);
        let Some(worker) = self.worker.take() else {
            return;
        };
        match self.worker_done.recv_timeout(STOP_WAIT) {
            Err(RecvTimeoutError::Timeout) => {
                log::warn!(
                    "the camera did not stop within {STOP_WAIT:?}; closing it in the background"
                );
            }
            // The worker never sends; the channel disconnects when it returns.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if worker.join().is_err() {
                    log::warn!("the camera thread panicked while stopping");
                }
            }
        }
    }
}

impl Drop for CameraStream {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_worker(shared: &Shared, start: Start, on_frame: Option<FrameCallback>, _done: Sender<()>) {
    // A panicking callback must not take the camera down with it.
    let notify = || {
        if let Some(callback) = &on_frame {
            if catch_unwind(AssertUnwindSafe(callback)).is_err() {
                log::warn!("the camera frame callback panicked");
            }
        }
    };
    let fail = |error: CaptureError| {
        log::warn!("camera stream failed: {error}");
        shared.set_status(StreamStatus::Failed(error));
        notify();
    };

    let mut source = match start {
        Start::Source(source) => source,
        Start::Open(backend, index) => match catch_unwind(AssertUnwindSafe(|| backend.open(index)))
        {
            Ok(Ok(source)) => source,
            Ok(Err(error)) => return fail(error),
            Err(panic) => {
                return fail(CaptureError::Open(format!(
                    "the camera driver crashed: {}",
                    panic_message(panic.as_ref())
                )))
            }
        },
    };
    *lock(&shared.camera) = Some(source.info().clone());
    if !shared.stop.load(Ordering::Relaxed) {
        shared.set_status(StreamStatus::Running);
        notify();
    }

    let mut seq = 0u64;
    let mut bad_frames = 0u32;
    while !shared.stop.load(Ordering::Relaxed) {
        match catch_unwind(AssertUnwindSafe(|| source.next_frame())) {
            Ok(Ok(image)) => {
                let captured_at = Instant::now();
                bad_frames = 0;
                seq += 1;
                *lock(&shared.latest) = Some(Frame {
                    image: Arc::new(image),
                    seq,
                    captured_at,
                });
                shared.captured.store(seq, Ordering::Relaxed);
                {
                    let mut times = lock(&shared.frame_times);
                    if times.len() == RATE_FRAMES {
                        times.pop_front();
                    }
                    times.push_back(captured_at);
                }
                notify();
            }
            Ok(Err(error)) if error.is_transient() && bad_frames < MAX_CONSECUTIVE_FRAME_ERRORS => {
                bad_frames += 1;
                log::debug!("skipping a bad camera frame: {error}");
                std::thread::sleep(FRAME_ERROR_BACKOFF);
            }
            Ok(Err(error)) => {
                fail(error);
                break;
            }
            Err(panic) => {
                fail(CaptureError::Frame(format!(
                    "the camera driver crashed: {}",
                    panic_message(panic.as_ref())
                )));
                break;
            }
        }
    }
    shared.set_status(StreamStatus::Stopped);
    // Closing runs driver code too; keep its panics on this thread.
    if catch_unwind(AssertUnwindSafe(move || drop(source))).is_err() {
        log::warn!("the camera driver panicked while closing");
    }
}
