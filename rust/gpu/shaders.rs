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
    Index,
    Conv,
    Nn,
    Half,
}

impl Family {
    fn source(self) -> &'static str {
        match self {
            Family::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Family::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Family::Softmax => include_str!("../../shaders/softmax.wgsl"),
            Family::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Family::Optim => include_str!("../../shaders/optim.wgsl"),
            Family::Index => include_str!("../../shaders/index.wgsl"),
            Family::Conv => include_str!("../../shaders/conv.wgsl"),
            Family::Nn => include_str!("../../shaders/nn.wgsl"),
            Family::Half => include_str!("../../shaders/half.wgsl"),
        }
    }
}

/// Helpers every family may use: strided offsets, the linear invocation index, float math.
const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// float64 math, for the variants that use f64 only (it needs shader-f64).
const FLOAT64: &str = include_str!("../../shaders/float64.wgsl");

/// A compiled compute pipeline and the layout of its bind group 0.
pub struct Kernel {
    /// Family, entry point and specialisation, for the profiler's report.
    pub name: String,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Compiled variants by a hash of (family, entry, substitutions); each entry keeps its
/// substitutions so a hash collision is caught by comparing them, without building a key string
/// on every dispatch.
type Variants = HashMap<u64, Vec<(Vec<(String, String)>, Arc<Kernel>)>>;

#[derive(Default)]
pub struct Pipelines(Mutex<Variants>);

fn variant_hash(family: Family, entry: &str, subs: &[(&str, &str)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (family, entry, subs).hash(&mut h);
    h.finish()
}

fn same_subs(a: &[(String, String)], b: &[(&str, &str)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((x, y), (u, v))| x == u && y == v)
}

/// `source` with every `{NAME}` replaced by its value.
fn render(source: &str, subs: &[(&str, &str)]) -> String {
    let mut out = source.to_string();
    for (name, value) in subs {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Whether WGSL code names the type `ty` (outside comments).
fn names_type(code: &str, ty: &str) -> bool {
    code.lines().any(|line| {
        let code = line.split("//").next().unwrap_or("");
        code.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .any(|token| token == ty)
    })
}

impl Gpu {
    /// The pipeline of `family` specialised by `subs` (compiled on first use).
    pub fn kernel(
        &self,
        family: Family,
        entry: &str,
        subs: &[(&str, &str)],
    ) -> Result<Arc<Kernel>> {
        let key = variant_hash(family, entry, subs);
        if let Some(found) = self
            .pipelines
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .and_then(|v| v.iter().find(|(s, _)| same_subs(s, subs)))
        {
            return Ok(found.1.clone());
        }
        let mut body = render(&format!("{COMMON}\n{}", family.source()), subs);
        if names_type(&body, "f64") {
            body.push_str(FLOAT64);
        }
        let code = if names_type(&body, "f16") {
            format!("enable f16;\n{body}")
        } else {
            body
        };
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        // SAFETY: every kernel guards its indices against the sizes in its params, so the
        // per-access bounds checks and loop bounding naga would add only cost time.
        let module = unsafe {
            self.device.create_shader_module_trusted(
                wgpu::ShaderModuleDescriptor {
                    label: Some(entry),
                    source: wgpu::ShaderSource::Wgsl(code.into()),
                },
                wgpu::ShaderRuntimeChecks::unchecked(),
            )
        };
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
        let mut name = format!("{family:?}.{entry}");
        for (_, value) in subs {
            // Substitutions may be lines of WGSL: one space for each run of whitespace.
            name.push(' ');
            name.push_str(&value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        let kernel = Arc::new(Kernel {
            name,
            layout: pipeline.get_bind_group_layout(0),
            pipeline,
        });
        let owned = subs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        self.pipelines
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .push((owned, kernel.clone()));
        Ok(kernel)
    }
}
