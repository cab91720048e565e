//! The command stream: kernels, copies and clears are recorded into one encoder and submitted
//! in batches; only a read (download, synchronize) waits for the GPU.
//!
//! Each dispatch's parameters go into one arena that is written to the device just before its
//! batch is submitted, so recording an op costs no transfer of its own.

use super::device::Gpu;
use super::profile::Profiler;
use super::shaders::Kernel;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Dispatches recorded before the batch is submitted without waiting for a read.
pub(super) const BATCH: usize = 256;
/// How long recorded work may wait for its batch to fill before it is submitted, so that the GPU
/// starts on a step while the host is still recording the rest of it: soon where the batch
/// holds enough workgroups to keep a GPU busy (a train step's matmuls), later where it holds
/// only small ops, whose submission would cost the host more than the GPU gains.
const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_micros(25);
const FLUSH_SMALL_AFTER: std::time::Duration = std::time::Duration::from_millis(1);
/// Workgroups recorded in a batch that make it worth submitting after `FLUSH_AFTER`.
const BUSY_GROUPS: u64 = 256;
/// Bytes of dispatch parameters one batch can hold.
const PARAM_BYTES: u64 = 1 << 20;

/// A bad-input check a kernel left on the device (an out-of-range target or index): its flag
/// word holds `healthy` unless the input was bad. Checks are read at the next wait, with the
/// data a read fetches anyway, so the kernel itself never waits; as with CUDA's device-side
/// asserts, the error is raised by that read.
pub struct Check {
    flag: Tensor,
    healthy: u32,
    describe: Box<dyn FnOnce() -> Error + Send>,
}

pub struct Stream {
    /// The compute pass kept open across consecutive dispatches (ended before any copy).
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    params: Vec<u8>,
    param_buffer: wgpu::Buffer,
    align: usize,
    recorded: usize,
    /// When the first dispatch of the open batch was recorded.
    opened: Option<std::time::Instant>,
    /// Workgroups dispatched in the open batch.
    groups: u64,
    /// Totals since the device opened: dispatches recorded, batches submitted, waits.
    pub counts: StreamCounts,
    /// Per-kernel timestamps, when `EMBER_GPU_PROFILE` asks for them.
    pub profiler: Option<Profiler>,
}

/// What a stream has done since its device opened (`ember.gpu._stream_counts`): how many
/// kernels, submissions and host waits a piece of work costs.
#[derive(Clone, Copy, Default, Debug)]
pub struct StreamCounts {
    pub dispatches: u64,
    pub submits: u64,
    pub waits: u64,
}

impl Stream {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, limits: &wgpu::Limits) -> Stream {
        Stream {
            pass: None,
            encoder: None,
            params: Vec::new(),
            param_buffer: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ember params"),
                size: PARAM_BYTES,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            align: limits.min_storage_buffer_offset_alignment as usize,
            recorded: 0,
            opened: None,
            groups: 0,
            counts: StreamCounts::default(),
            profiler: Profiler::from_env(device, queue),
        }
    }
}

impl Gpu {
    pub fn stream(&self) -> std::sync::MutexGuard<'_, Stream> {
        self.stream.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open encoder for a copy or clear: ends the open compute pass first.
    fn encoder<'a>(&self, s: &'a mut Stream) -> &'a mut wgpu::CommandEncoder {
        s.pass = None;
        s.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        })
    }

    /// Records `kernel` over `groups` workgroups with `params` at binding 0 and `buffers` at
    /// bindings 1.. . Workgroup counts above the per-dimension limit are folded into a 2-D grid;
    /// kernels rebuild the linear workgroup index from `num_workgroups`.
    pub fn dispatch(
        &self,
        kernel: &Kernel,
        params: &[u32],
        buffers: &[&wgpu::Buffer],
        groups: u32,
    ) {
        if groups == 0 {
            return;
        }
        let mut s = self.stream();
        let bytes = (params.len().max(1) * 4) as u64;
        let start = s.params.len().next_multiple_of(s.align);
        let waited = s.opened.is_some_and(|t| {
            let waited = t.elapsed();
            waited > FLUSH_SMALL_AFTER || (waited > FLUSH_AFTER && s.groups >= BUSY_GROUPS)
        });
        if start as u64 + bytes > PARAM_BYTES || s.recorded >= BATCH || waited {
            self.submit(&mut s);
        }
        if s.opened.is_none() {
            s.opened = Some(std::time::Instant::now());
        }
        let start = s.params.len().next_multiple_of(s.align);
        s.params.resize(start, 0);
        s.params.extend(params.iter().flat_map(|p| p.to_le_bytes()));
        if params.is_empty() {
            s.params.extend([0u8; 4]);
        }
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &s.param_buffer,
                offset: start as u64,
                size: std::num::NonZeroU64::new(bytes),
            }),
        }];
        for (i, b) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: b.as_entire_binding(),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &kernel.layout,
            entries: &entries,
        });
        let max = self.limits.max_compute_workgroups_per_dimension;
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        if let Some(mut profiler) = s.profiler.take() {
            // Its own pass, so the pass's timestamps time this dispatch alone.
            let mut pass = self
                .encoder(&mut s)
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: Some(profiler.next_pass(&kernel.name)),
                });
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(x, y, 1);
            drop(pass);
            s.profiler = Some(profiler);
        } else {
            if s.pass.is_none() {
                let pass = self
                    .encoder(&mut s)
                    .begin_compute_pass(&wgpu::ComputePassDescriptor::default())
                    .forget_lifetime();
                s.pass = Some(pass);
            }
            let pass = s.pass.as_mut().expect("an open pass");
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        s.recorded += 1;
        s.groups += groups as u64;
        s.counts.dispatches += 1;
    }

    /// Zero-fills the first `bytes` bytes of `buffer` in stream order.
    pub fn clear(&self, buffer: &wgpu::Buffer, bytes: u64) {
        let mut s = self.stream();
        self.encoder(&mut s).clear_buffer(buffer, 0, Some(bytes));
    }

    /// Copies `data` into `buffer` at byte `offset` (both multiples of 4 once padded), in stream
    /// order: work recorded earlier still sees the old contents.
    pub fn upload(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let size = (data.len() as u64).next_multiple_of(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ember upload"),
            size,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        let mut view = staging
            .get_mapped_range_mut(..)
            .expect("mapped at creation");
        if data.len() as u64 == size {
            view.copy_from_slice(data);
        } else {
            let mut padded = data.to_vec();
            padded.resize(size as usize, 0);
            view.copy_from_slice(&padded);
        }
        drop(view);
        staging.unmap();
        let mut s = self.stream();
        self.encoder(&mut s)
            .copy_buffer_to_buffer(&staging, 0, buffer, offset, size);
    }

    /// Copies `bytes` bytes between two buffers in stream order (offsets multiples of 4).
    pub fn copy(
        &self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    ) {
        if bytes == 0 {
            return;
        }
        let mut s = self.stream();
        self.encoder(&mut s)
            .copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes);
    }

    /// Leaves a check on the device: `flag` (one u32 word) is compared with `healthy` at the
    /// next wait (or after 64 checks), and `describe` makes the error when it differs (typically by running the CPU
    /// kernel on host copies, for its exact message).
    pub fn defer_check(
        &self,
        flag: Tensor,
        healthy: u32,
        describe: impl FnOnce() -> Error + Send + 'static,
    ) -> Result<()> {
        let pending = {
            let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
            checks.push(Check {
                flag,
                healthy,
                describe: Box::new(describe),
            });
            checks.len()
        };
        // A loop that never reads would pile checks (and the tensors they keep) up: settle
        // them now and then.
        if pending >= 64 {
            return self.synchronize();
        }
        Ok(())
    }

    /// Reads `len` bytes from byte `offset` of `buffer` after all work recorded so far, then
    /// raises any failed deferred check.
    pub fn download(&self, buffer: &wgpu::Buffer, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.read(Some((buffer, offset, len)))
    }

    /// Submits what is recorded, with copies of `what` (buffer, byte offset, length) and of the
    /// pending checks' flag words into staging buffers, waits once for all of it, and returns
    /// the bytes read, or the first failed check's error.
    fn read(&self, what: Option<(&wgpu::Buffer, u64, usize)>) -> Result<Vec<u8>> {
        // A tensor the parent made on the GPU, read in a forked child.
        super::check_not_forked()?;
        let pending = std::mem::take(&mut *self.checks.lock().unwrap_or_else(|e| e.into_inner()));
        let staging = |size: u64, label| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        // (staging buffer, bytes to skip, bytes to keep) of the data, then of the flags.
        let mut reads = Vec::new();
        {
            let mut s = self.stream();
            if let Some((buffer, offset, len)) = what.filter(|w| w.2 > 0) {
                let start = offset - offset % 4;
                let size = (offset + len as u64 - start).next_multiple_of(4);
                let data = staging(size, "ember download");
                self.encoder(&mut s)
                    .copy_buffer_to_buffer(buffer, start, &data, 0, size);
                reads.push((data, (offset - start) as usize, len));
            }
            if !pending.is_empty() {
                let flags = staging(4 * pending.len() as u64, "ember checks");
                for (i, c) in pending.iter().enumerate() {
                    let b = c.flag.storage().gpu_buffer().expect("a GPU flag").raw();
                    let at = (c.flag.layout().offset * 4) as u64;
                    self.encoder(&mut s)
                        .copy_buffer_to_buffer(b, at, &flags, 4 * i as u64, 4);
                }
                reads.push((flags, 0, 4 * pending.len()));
            }
            self.submit(&mut s);
        }
        let mut bytes = self.map_read(&reads);
        if !pending.is_empty() {
            let words = bytes.pop().expect("the flags were read");
            for (c, w) in pending.into_iter().zip(words.chunks_exact(4)) {
                if u32::from_le_bytes(w.try_into().expect("4 bytes")) != c.healthy {
                    return Err((c.describe)());
                }
            }
        }
        Ok(bytes.pop().unwrap_or_default())
    }

    /// Waits for the submitted work, then copies `len` bytes from `skip` out of each staging
    /// buffer.
    fn map_read(&self, reads: &[(wgpu::Buffer, usize, usize)]) -> Vec<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        for (staging, _, _) in reads {
            let tx = tx.clone();
            staging.map_async(wgpu::MapMode::Read, .., move |r| {
                let _ = tx.send(r);
            });
        }
        self.wait();
        reads
            .iter()
            .map(|(staging, skip, len)| {
                rx.recv()
                    .expect("map callback ran")
                    .expect("mapping a download buffer");
                let out = staging.get_mapped_range(..).expect("mapped")[*skip..skip + len].to_vec();
                staging.unmap();
                out
            })
            .collect()
    }

    fn submit(&self, s: &mut Stream) {
        s.pass = None;
        if let Some(mut encoder) = s.encoder.take() {
            if !s.params.is_empty() {
                self.queue.write_buffer(&s.param_buffer, 0, &s.params);
            }
            if let Some(p) = &s.profiler {
                p.resolve(&mut encoder);
            }
            self.queue.submit([encoder.finish()]);
            s.counts.submits += 1;
            if let Some(p) = &mut s.profiler {
                p.collect(&self.device);
            }
        }
        s.params.clear();
        s.recorded = 0;
        s.opened = None;
        s.groups = 0;
    }

    fn wait(&self) {
        self.stream().counts.waits += 1;
        // A lost device is reported by the next allocation or read; here there is nothing to
        // give back but the wait itself.
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
    }

    /// Submits what is recorded without waiting.
    pub fn flush(&self) {
        let mut s = self.stream();
        self.submit(&mut s);
    }

    /// Waits for all recorded work (`ember.gpu.synchronize`), raising a failed deferred check.
    pub fn synchronize(&self) -> Result<()> {
        self.read(None).map(drop)
    }
}
