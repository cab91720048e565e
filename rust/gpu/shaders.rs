//! The shader table: one WGSL file per op family in `shaders/`, specialised by substituting
//! `{NAME}` placeholders (types, expressions), compiled once per variant and cached.

use super::device::Gpu;
use crate::bail;
use crate::error::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The op families, each one shader file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Elementwise,
    Reduce,
    Softmax,
    Matmul,
    Optim,
    Nn,
}

impl Family {
    fn source(self) -> &'static str {
        match self {
            Family::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Family::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Family::Softmax => include_str!("../../shaders/softmax.wgsl"),
            Family::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Family::Optim => include_str!("../../shaders/optim.wgsl"),
            Family::Nn => include_str!("../../shaders/nn.wgsl"),
        }
    }
}

/// Helpers every family may use: strided offsets, the linear invocation index, float math.
const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// A compiled compute pipeline and the layout of its bind group 0.
pub struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub struct Pipelines(Mutex<HashMap<String, Arc<Kernel>>>);

/// `source` with every `{NAME}` replaced by its value.
fn render(source: &str, subs: &[(&str, &str)]) -> String {
    let mut out = source.to_string();
    for (name, value) in subs {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

impl Gpu {
    /// The pipeline of `family` specialised by `subs` (compiled on first use).
    pub fn kernel(
        &self,
        family: Family,
        entry: &str,
        subs: &[(&str, &str)],
    ) -> Result<Arc<Kernel>> {
        let key = format!("{family:?}/{entry}/{subs:?}");
        if let Some(k) = self
            .pipelines
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(k.clone());
        }
        let body = render(&format!("{COMMON}\n{}", family.source()), subs);
        let code = if body.contains("f16") {
            format!("enable f16;\n{body}")
        } else {
            body
        };
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(entry),
                source: wgpu::ShaderSource::Wgsl(code.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!(
                Runtime,
                "compiling the {family:?} shader '{entry}' {subs:?} failed on {}: {e}",
                self.name()
            );
        }
        let kernel = Arc::new(Kernel {
            layout: pipeline.get_bind_group_layout(0),
            pipeline,
        });
        self.pipelines
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, kernel.clone());
        Ok(kernel)
    }
}
