//! Choosing the compute device.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use candle_core::Device;

use super::EngineError;

/// A device request, as given on the command line (`auto`, `cpu`, `cuda`, `cuda:1`, `metal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The best compiled-in device that initialises, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let (kind, index) = match lower.split_once(':') {
            Some((k, i)) => (
                k.to_string(),
                i.parse::<usize>()
                    .map_err(|_| format!("invalid device index in `{s}`"))?,
            ),
            None => (lower.clone(), 0),
        };
        match kind.as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(index)),
            "metal" => Ok(DeviceChoice::Metal(index)),
            _ => Err(format!(
                "unknown device `{s}`; use auto, cpu, cuda[:N] or metal[:N]"
            )),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceChoice::Metal(i) => write!(f, "metal:{i}"),
        }
    }
}

/// Opens the requested device. `Auto` tries CUDA, then Metal (when compiled in), then falls back
/// to the CPU, logging which it took and why.
pub fn select_device(choice: DeviceChoice) -> Result<Device, EngineError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda(i) => open_cuda(i),
        DeviceChoice::Metal(i) => open_metal(i),
        DeviceChoice::Auto => {
            for (candidate, compiled) in [
                (DeviceChoice::Cuda(0), cfg!(feature = "cuda")),
                (DeviceChoice::Metal(0), cfg!(feature = "metal")),
            ] {
                if !compiled {
                    continue;
                }
                match select_device(candidate) {
                    Ok(device) => {
                        log::info!("device: {candidate} (auto)");
                        return Ok(device);
                    }
                    Err(e) => log::warn!("{e}; trying the next device"),
                }
            }
            log::info!("device: cpu (auto; no GPU backend available)");
            Ok(Device::Cpu)
        }
    }
}

/// Opens the requested device, or the CPU when it does not initialise. Returns the device and,
/// after a fallback, a message for the user saying what was asked for and why it failed.
pub fn select_device_or_cpu(choice: DeviceChoice) -> (Device, Option<String>) {
    match select_device(choice) {
        Ok(device) => (device, None),
        Err(e) => {
            log::warn!("{e}; using the CPU");
            (Device::Cpu, Some(format!("{e}; using the CPU instead")))
        }
    }
}

/// Whether CUDA device 0 opened, from the first attempt of this process: `None` until something
/// has tried (the model loader does on start), so asking never blocks.
static CUDA_STATUS: OnceLock<Result<(), String>> = OnceLock::new();

/// The device choices worth offering: automatic and the CPU always, CUDA once it has been seen
/// to initialise, Metal when compiled in.
pub fn usable_devices() -> Vec<DeviceChoice> {
    let mut devices = vec![DeviceChoice::Auto, DeviceChoice::Cpu];
    if matches!(CUDA_STATUS.get(), Some(Ok(()))) {
        devices.push(DeviceChoice::Cuda(0));
    }
    if cfg!(feature = "metal") {
        devices.push(DeviceChoice::Metal(0));
    }
    devices
}

fn open_cuda(index: usize) -> Result<Device, EngineError> {
    let error = |reason: String| EngineError::Device {
        device: format!("cuda:{index}"),
        reason,
    };
    if !cfg!(feature = "cuda") {
        return Err(error(
            "this build has no CUDA support (rebuild with `--features cuda`)".into(),
        ));
    }
    let opened = Device::new_cuda(index).map_err(|e| e.to_string());
    if index == 0 {
        let _ = CUDA_STATUS.set(opened.as_ref().map(|_| ()).map_err(Clone::clone));
    }
    opened.map_err(error)
}

fn open_metal(index: usize) -> Result<Device, EngineError> {
    if !cfg!(feature = "metal") {
        return Err(EngineError::Device {
            device: format!("metal:{index}"),
            reason: "this build has no Metal support (rebuild with `--features metal`)".into(),
        });
    }
    Device::new_metal(index).map_err(|e| EngineError::Device {
        device: format!("metal:{index}"),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        assert_eq!("CPU".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:2".parse(), Ok(DeviceChoice::Cuda(2)));
        assert_eq!("metal".parse(), Ok(DeviceChoice::Metal(0)));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn cpu_always_opens_and_missing_backends_are_named() {
        assert!(select_device(DeviceChoice::Cpu).unwrap().is_cpu());
        assert!(select_device(DeviceChoice::Auto).is_ok());
        if !cfg!(feature = "cuda") {
            let err = select_device(DeviceChoice::Cuda(0))
                .unwrap_err()
                .to_string();
            assert!(err.contains("--features cuda"), "{err}");
        }
    }

    #[test]
    fn fallback_names_the_failed_device_and_cuda_is_listed_only_once_it_opened() {
        let (device, note) = select_device_or_cpu(DeviceChoice::Cpu);
        assert!(device.is_cpu() && note.is_none());
        let opened = select_device(DeviceChoice::Cuda(0));
        let listed = usable_devices();
        assert_eq!(listed.contains(&DeviceChoice::Cuda(0)), opened.is_ok());
        assert!(listed.starts_with(&[DeviceChoice::Auto, DeviceChoice::Cpu]));
        let (device, note) = select_device_or_cpu(DeviceChoice::Cuda(0));
        match opened {
            Ok(_) => assert!(device.is_cuda() && note.is_none()),
            Err(e) => {
                assert!(device.is_cpu());
                let note = note.expect("a fallback says why");
                assert!(
                    note.contains(&e.to_string()) && note.contains("CPU"),
                    "{note}"
                );
            }
        }
    }
}
