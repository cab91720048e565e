//! Adapters and devices: which GPUs ember sees (`EMBER_GPU` picks), and one device per adapter,
//! made on first use with the adapter's own limits.

use super::pool::Pool;
use super::shaders::Pipelines;
use super::stream::Stream;
use crate::bail;
use crate::error::Result;
use std::sync::{Arc, Mutex, OnceLock};

/// One opened GPU: the wgpu device and queue with ember's per-device state.
pub struct Gpu {
    pub index: usize,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Native float16 arithmetic in shaders (`shader-f16`).
    pub has_f16: bool,
    /// float64 storage and arithmetic in shaders (`shader-f64`).
    pub has_f64: bool,
    pub(super) pool: Mutex<Pool>,
    pub(super) stream: Mutex<Stream>,
    pub(super) checks: Mutex<Vec<super::stream::Check>>,
    pub(super) pipelines: Pipelines,
}

impl Gpu {
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }
    pub fn name(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }
}

struct Slot {
    adapter: wgpu::Adapter,
    opened: OnceLock<std::result::Result<Arc<Gpu>, String>>,
}

/// The backends and the adapter-name filter `EMBER_GPU` asks for. It holds backend names
/// (`vulkan`, `metal`, `dx12`, `gl`, comma-separated) or text that the adapter's name must
/// contain (`EMBER_GPU=llvmpipe`). Without it the primary backends are searched, and OpenGL
/// only where they find nothing.
fn wanted() -> (Option<wgpu::Backends>, Option<String>) {
    match std::env::var("EMBER_GPU") {
        Ok(v) if !v.trim().is_empty() => {
            let backends = wgpu::Backends::from_comma_list(&v);
            if backends.is_empty() {
                (None, Some(v.to_lowercase()))
            } else {
                (Some(backends), None)
            }
        }
        _ => (None, None),
    }
}

fn slots() -> &'static [Slot] {
    static SLOTS: OnceLock<Vec<Slot>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let _quiet = PrivateRuntimeDir::install();
        let (backends, name) = wanted();
        let find = |b: wgpu::Backends| {
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends: b,
                ..wgpu::InstanceDescriptor::new_without_display_handle()
            });
            let mut adapters = pollster::block_on(instance.enumerate_adapters(b));
            if let Some(n) = &name {
                adapters.retain(|a| a.get_info().name.to_lowercase().contains(n.as_str()));
            }
            adapters
        };
        let mut adapters = match backends {
            Some(b) => find(b),
            None => {
                let primary = find(wgpu::Backends::PRIMARY);
                if primary.is_empty() {
                    find(wgpu::Backends::GL)
                } else {
                    primary
                }
            }
        };
        // Real GPUs first, software rasterisers last: "gpu:0" is the best adapter present.
        adapters.sort_by_key(|a| match a.get_info().device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        });
        adapters
            .into_iter()
            .map(|adapter| Slot {
                adapter,
                opened: OnceLock::new(),
            })
            .collect()
    })
}

/// `XDG_RUNTIME_DIR` pointed at a fresh private directory while the adapters are listed, when it
/// is unset or not an absolute path; dropping it puts the variable back and removes the directory.
///
/// Mesa's Vulkan device-select layer (an implicit layer wherever Mesa's drivers are installed)
/// asks libwayland for a display during the probe, and libwayland prints `error:
/// XDG_RUNTIME_DIR is invalid or not set in the environment.` when there is no runtime
/// directory: on a headless box, in a container or under `sudo`, every GPU run said "error"
/// for nothing. In an empty 0700 directory of our own there is no Wayland socket (and nobody
/// else can plant one), so the layer sees what it saw before, no display, only quietly. The
/// variable is restored at once, so child processes and later code see what the user set.
/// Changing the environment here is sound: the probe runs once, holding the interpreter lock,
/// and no thread of ember's reads the environment meanwhile.
struct PrivateRuntimeDir {
    dir: std::path::PathBuf,
    before: Option<std::ffi::OsString>,
}

impl PrivateRuntimeDir {
    const VAR: &'static str = "XDG_RUNTIME_DIR";

    /// None where nothing needs doing: a usable runtime dir is set, or no Mesa layer looks
    /// for a Wayland display (macOS, Windows), or no temp dir could be made (then the probe
    /// works all the same and may only print libwayland's line).
    fn install() -> Option<Self> {
        if !cfg!(all(unix, not(target_vendor = "apple"))) {
            return None;
        }
        let before = std::env::var_os(Self::VAR);
        if before
            .as_ref()
            .is_some_and(|d| std::path::Path::new(d).is_absolute())
        {
            return None;
        }
        let dir = Self::make_private_dir()?;
        std::env::set_var(Self::VAR, &dir);
        Some(Self { dir, before })
    }

    /// A new, empty directory in the temp dir that only this user can enter. `create` (not
    /// `create_all`) fails on a name that exists, so the directory is surely our own.
    fn make_private_dir() -> Option<std::path::PathBuf> {
        let base = std::env::temp_dir();
        let pid = std::process::id();
        (0..16).find_map(|attempt| {
            let dir = base.join(format!("ember-runtime-{pid}-{attempt}"));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&dir).ok().map(|()| dir)
        })
    }
}

impl Drop for PrivateRuntimeDir {
    fn drop(&mut self) {
        match &self.before {
            Some(v) => std::env::set_var(Self::VAR, v),
            None => std::env::remove_var(Self::VAR),
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

pub fn adapter_count() -> usize {
    slots().len()
}

/// Name, backend and whether it is a software adapter, without opening a device.
pub fn adapter_summary(index: usize) -> Option<(String, String, bool)> {
    slots().get(index).map(|s| {
        let info = s.adapter.get_info();
        (
            info.name.clone(),
            format!("{:?}", info.backend).to_lowercase(),
            info.device_type == wgpu::DeviceType::Cpu,
        )
    })
}

/// The opened device behind `gpu:index`.
pub fn context(index: usize) -> Result<Arc<Gpu>> {
    super::check_not_forked()?;
    let Some(slot) = slots().get(index) else {
        let n = adapter_count();
        if n == 0 {
            bail!(
                Device,
                "device 'gpu:{index}' is not available: no GPU adapter was found (EMBER_GPU={:?})",
                std::env::var("EMBER_GPU").unwrap_or_default()
            );
        }
        bail!(
            Device,
            "device 'gpu:{index}' is not available: {n} GPU adapter(s) found"
        );
    };
    match slot.opened.get_or_init(|| open(index, &slot.adapter)) {
        Ok(g) => Ok(g.clone()),
        Err(e) => bail!(Device, "cannot open device 'gpu:{index}': {e}"),
    }
}

fn open(index: usize, adapter: &wgpu::Adapter) -> std::result::Result<Arc<Gpu>, String> {
    let mut wanted = wgpu::Features::SHADER_F16 | wgpu::Features::SHADER_F64;
    if std::env::var_os("EMBER_GPU_PROFILE").is_some() {
        wanted |= wgpu::Features::TIMESTAMP_QUERY;
    }
    let features = adapter.features() & wanted;
    // Ask for everything the adapter allows: large tensors need large storage bindings.
    let limits = adapter.limits();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("ember"),
        required_features: features,
        required_limits: limits.clone(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .map_err(|e| e.to_string())?;
    // Errors are caught by error scopes where they can happen (allocation); anything else is a
    // bug in a kernel, reported instead of aborting the process.
    device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
        eprintln!("ember: wgpu error: {e}");
    }));
    let stream = Stream::new(&device, &queue, &limits);
    Ok(Arc::new(Gpu {
        index,
        info: adapter.get_info(),
        has_f16: features.contains(wgpu::Features::SHADER_F16),
        has_f64: features.contains(wgpu::Features::SHADER_F64),
        pool: Mutex::new(Pool::default()),
        stream: Mutex::new(stream),
        checks: Mutex::new(Vec::new()),
        pipelines: Pipelines::default(),
        limits,
        device,
        queue,
    }))
}
