//! Per-kernel GPU time (`EMBER_GPU_PROFILE=1`): each dispatch runs in its own compute pass
//! with timestamps at its start and end, and every batch is waited for and its times added to
//! its kernels' totals. For finding where a step's time goes; it serialises the stream, so
//! whole-step timings taken with it on are not the real ones.

use std::collections::HashMap;

/// Timestamps per batch: a start and an end per dispatch.
const QUERIES: u32 = 2 * super::stream::BATCH as u32;

pub struct Profiler {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period: f64,
    /// The kernel of each dispatch in the open batch, in order.
    batch: Vec<String>,
    /// Per kernel: dispatches and nanoseconds.
    totals: HashMap<String, (u64, f64)>,
}

impl Profiler {
    /// A profiler when `EMBER_GPU_PROFILE` is set and the device can write timestamps.
    pub fn from_env(device: &wgpu::Device, queue: &wgpu::Queue) -> Option<Profiler> {
        let on = std::env::var("EMBER_GPU_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0");
        if !on || !device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let bytes = 8 * QUERIES as u64;
        let buffer = |usage, label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Some(Profiler {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("ember profile"),
                ty: wgpu::QueryType::Timestamp,
                count: QUERIES,
            }),
            resolved: buffer(
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                "ember profile resolve",
            ),
            readback: buffer(
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                "ember profile readback",
            ),
            period: queue.get_timestamp_period() as f64,
            batch: Vec::new(),
            totals: HashMap::new(),
        })
    }

    /// The timestamp writes for the pass of the next dispatch, which runs `kernel`.
    pub fn next_pass(&mut self, kernel: &str) -> wgpu::ComputePassTimestampWrites<'_> {
        let i = self.batch.len() as u32;
        self.batch.push(kernel.to_string());
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        }
    }

    /// Records the copy of this batch's timestamps into the readback buffer.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if self.batch.is_empty() {
            return;
        }
        let n = 2 * self.batch.len() as u32;
        encoder.resolve_query_set(&self.queries, 0..n, &self.resolved, 0);
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readback, 0, 8 * n as u64);
    }

    /// After the batch was submitted: waits for it and adds its dispatches' times.
    pub fn collect(&mut self, device: &wgpu::Device) {
        if self.batch.is_empty() {
            return;
        }
        let n = 2 * self.batch.len();
        self.readback.map_async(wgpu::MapMode::Read, .., |_| {});
        let _ = device.poll(wgpu::PollType::wait_indefinitely());
        let ticks: Vec<u64> = self.readback.get_mapped_range(..).expect("mapped")[..8 * n]
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect();
        self.readback.unmap();
        for (kernel, t) in self.batch.drain(..).zip(ticks.chunks_exact(2)) {
            let entry = self.totals.entry(kernel).or_default();
            entry.0 += 1;
            entry.1 += t[1].saturating_sub(t[0]) as f64 * self.period;
        }
    }

    /// Per kernel: (dispatches, total milliseconds), emptied when `reset`.
    pub fn report(&mut self, reset: bool) -> Vec<(String, u64, f64)> {
        let mut rows: Vec<_> = self
            .totals
            .iter()
            .map(|(k, (n, ns))| (k.clone(), *n, ns / 1e6))
            .collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        if reset {
            self.totals.clear();
        }
        rows
    }
}
