//! Camera capture: the streaming worker against the synthetic camera, and the real backend on
//! whatever this machine has (usually no camera at all).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fitting_room::capture::{
    CameraBackend, CameraInfo, CameraStream, CaptureError, FrameSource, NokhwaBackend, RgbImage,
    StreamStatus, SyntheticBackend,
};

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    condition()
}

fn backend(b: SyntheticBackend) -> Arc<dyn CameraBackend> {
    Arc::new(b)
}

#[test]
fn synthetic_stream_delivers_increasing_frames() {
    let callbacks = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&callbacks);
    let stream = CameraStream::open(
        backend(SyntheticBackend::new().frame_size(64, 48).frame_rate(200.0)),
        0,
        Some(Box::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        })),
    );
    let mut seen = Vec::new();
    assert!(
        wait_for(Duration::from_secs(5), || {
            if let Some(frame) = stream.latest() {
                if seen.last() != Some(&frame.seq) {
                    seen.push(frame.seq);
                }
            }
            seen.len() >= 5
        }),
        "only saw frames {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(stream.status(), StreamStatus::Running);
    assert_eq!(stream.camera().map(|c| c.index), Some(0));

    // The frame counter drawn into the picture agrees with the stream's numbering.
    let frame = stream.latest().expect("a frame");
    assert_eq!((frame.image.width(), frame.image.height()), (64, 48));
    assert_eq!(
        SyntheticBackend::frame_number(&frame.image),
        Some(frame.seq - 1)
    );
    assert!(callbacks.load(Ordering::Relaxed) >= 5);
    assert!(stream.fps() > 20.0, "fps {}", stream.fps());
}

#[test]
fn synthetic_content_moves() {
    let first = SyntheticBackend::render_frame(96, 72, 0);
    let later = SyntheticBackend::render_frame(96, 72, 15);
    let differing = first
        .pixels()
        .zip(later.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(differing > 200, "only {differing} pixels changed");
    assert_eq!(SyntheticBackend::frame_number(&later), Some(15));
    assert_eq!(SyntheticBackend::frame_number(&RgbImage::new(8, 8)), None);
}

#[test]
fn slow_reader_gets_the_newest_frame_not_a_backlog() {
    let stream = CameraStream::open(
        backend(SyntheticBackend::new().frame_size(32, 24).frame_rate(500.0)),
        0,
        None,
    );
    assert!(wait_for(Duration::from_secs(5), || stream
        .latest()
        .is_some()));
    let first = stream.latest().unwrap();
    // A consumer busy for a while, as when the network is running.
    std::thread::sleep(Duration::from_millis(150));
    let next = stream.latest().unwrap();
    assert!(
        next.seq > first.seq + 5,
        "expected to skip ahead: {} then {}",
        first.seq,
        next.seq
    );
    // The slot holds the camera's newest frame: nothing older is queued behind it.
    assert!(stream.frames_captured() >= next.seq);
    assert!(stream.frames_captured() - next.seq <= 2);
    assert_eq!(
        stream.latest_after(next.seq + 1_000_000).map(|f| f.seq),
        None
    );
    assert!(next.captured_at >= first.captured_at);
}

#[test]
fn disconnect_mid_stream_fails_with_a_clear_message() {
    let mut stream = CameraStream::open(
        backend(
            SyntheticBackend::new()
                .frame_size(32, 24)
                .frame_rate(300.0)
                .disconnect_after(10),
        ),
        0,
        None,
    );
    assert!(wait_for(Duration::from_secs(5), || matches!(
        stream.status(),
        StreamStatus::Failed(_)
    )));
    assert_eq!(
        stream.status(),
        StreamStatus::Failed(CaptureError::Disconnected)
    );
    assert_eq!(
        CaptureError::Disconnected.to_string(),
        "The camera was disconnected. Plug it back in and choose it again."
    );
    // The last good frame stays available.
    assert_eq!(stream.latest().map(|f| f.seq), Some(10));
    assert_eq!(stream.frames_captured(), 10);
    let started = Instant::now();
    stream.stop();
    assert!(started.elapsed() < Duration::from_millis(200));
    // Stopping does not hide why the camera went away.
    assert_eq!(
        stream.status(),
        StreamStatus::Failed(CaptureError::Disconnected)
    );
}

#[test]
fn no_cameras_says_so() {
    let none = SyntheticBackend::new().no_cameras();
    assert_eq!(none.cameras(), Ok(Vec::new()));
    let error = none.open_default().err().expect("no camera to open");
    assert_eq!(error, CaptureError::NoCamera);
    assert_eq!(
        error.to_string(),
        "No camera found. You can still open a photo."
    );

    let stream = CameraStream::open(backend(none), 0, None);
    assert!(wait_for(Duration::from_secs(5), || stream.status()
        != StreamStatus::Starting));
    assert_eq!(
        stream.status(),
        StreamStatus::Failed(CaptureError::NoCamera)
    );
    assert!(stream.latest().is_none());
}

#[test]
fn busy_camera_is_in_use() {
    let busy = SyntheticBackend::new().busy_on_open();
    assert_eq!(busy.open(0).err(), Some(CaptureError::InUse));
    assert!(CaptureError::InUse
        .to_string()
        .contains("in use by another application"));

    let stream = CameraStream::open(backend(busy), 0, None);
    assert!(wait_for(Duration::from_secs(5), || stream.status()
        != StreamStatus::Starting));
    assert_eq!(stream.status(), StreamStatus::Failed(CaptureError::InUse));
}

#[test]
fn stop_joins_quickly_and_drop_stops() {
    let mut stream = CameraStream::open(backend(SyntheticBackend::new().frame_rate(30.0)), 0, None);
    assert!(wait_for(Duration::from_secs(5), || stream
        .latest()
        .is_some()));
    let started = Instant::now();
    stream.stop();
    // At most one frame interval (33 ms) for the read in progress to return.
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "stop took {:?}",
        started.elapsed()
    );
    assert_eq!(stream.status(), StreamStatus::Stopped);
    let frames = stream.frames_captured();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(stream.frames_captured(), frames, "frames after stop");
    stream.stop(); // a second stop is harmless

    let dropped = CameraStream::open(backend(SyntheticBackend::new()), 0, None);
    assert!(wait_for(Duration::from_secs(5), || dropped
        .latest()
        .is_some()));
    let started = Instant::now();
    drop(dropped);
    assert!(started.elapsed() < Duration::from_millis(200));
}

/// A camera whose read never returns in time.
struct StuckSource(CameraInfo);

impl FrameSource for StuckSource {
    fn info(&self) -> &CameraInfo {
        &self.0
    }
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        std::thread::sleep(Duration::from_secs(5));
        Err(CaptureError::Disconnected)
    }
}

#[test]
fn a_stuck_driver_does_not_hang_stop() {
    let info = CameraInfo {
        index: 0,
        name: "stuck".into(),
        description: String::new(),
    };
    let mut stream = CameraStream::start(Box::new(StuckSource(info)), None);
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    stream.stop();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        started.elapsed()
    );
    assert_eq!(stream.status(), StreamStatus::Stopped);
}

/// A camera whose driver panics on the third read.
struct PanickingSource(CameraInfo, u32);

impl FrameSource for PanickingSource {
    fn info(&self) -> &CameraInfo {
        &self.0
    }
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        self.1 += 1;
        if self.1 == 3 {
            panic!("driver bug");
        }
        std::thread::sleep(Duration::from_millis(2));
        Ok(RgbImage::new(4, 4))
    }
}

#[test]
fn a_panicking_driver_fails_the_stream_not_the_app() {
    let info = CameraInfo {
        index: 0,
        name: "panicky".into(),
        description: String::new(),
    };
    let stream = CameraStream::start(Box::new(PanickingSource(info, 0)), None);
    assert!(wait_for(Duration::from_secs(5), || matches!(
        stream.status(),
        StreamStatus::Failed(_)
    )));
    match stream.status() {
        StreamStatus::Failed(CaptureError::Frame(message)) => {
            assert!(message.contains("driver bug"), "{message}")
        }
        other => panic!("unexpected status {other:?}"),
    }
    assert_eq!(stream.frames_captured(), 2);
}

#[test]
fn occasional_bad_frames_are_skipped() {
    let stream = CameraStream::open(
        backend(
            SyntheticBackend::new()
                .frame_size(16, 16)
                .frame_rate(500.0)
                .bad_frame_every(3),
        ),
        0,
        None,
    );
    assert!(wait_for(Duration::from_secs(5), || stream
        .frames_captured()
        >= 20));
    assert_eq!(stream.status(), StreamStatus::Running);
}

#[test]
fn several_synthetic_cameras_are_listed() {
    let two = SyntheticBackend::new().with_camera_count(2);
    let cameras = two.cameras().unwrap();
    assert_eq!(cameras.len(), 2);
    assert_eq!(cameras[1].index, 1);
    assert!(two.open(1).is_ok());
    assert_eq!(two.open(7).err(), Some(CaptureError::Disconnected));
}

#[test]
fn real_cameras_are_listed_without_panicking() {
    let nokhwa = Arc::new(NokhwaBackend::new());
    match nokhwa.cameras() {
        Ok(cameras) => {
            for camera in &cameras {
                assert!(!camera.name.is_empty());
            }
            if cameras.is_empty() {
                assert_eq!(nokhwa.open(0).err(), Some(CaptureError::NoCamera));
                assert_eq!(nokhwa.open_default().err(), Some(CaptureError::NoCamera));
                let stream = CameraStream::open(nokhwa, 0, None);
                assert!(wait_for(Duration::from_secs(10), || stream.status()
                    != StreamStatus::Starting));
                assert_eq!(
                    stream.status(),
                    StreamStatus::Failed(CaptureError::NoCamera)
                );
            }
        }
        // A clean error is fine (no video subsystem); a panic is not.
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}
