//! Criterion benches of the GPU kernels (wgpu): matmul, elementwise add, row sum, softmax, and
//! the host cost of recording one small op. Each timed iteration ends with a synchronize, so
//! the figures are device time plus one submit; on a machine without an adapter the benches
//! report that and do nothing.

use _core::op::{BinaryOp, ReduceOp};
use _core::ops::{elementwise, linalg, reduce};
use _core::{gpu, random, DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const GPU: Device = Device::Gpu(0);

fn available() -> bool {
    if gpu::adapter_count() == 0 {
        eprintln!("no GPU adapter: the GPU benches are skipped");
        return false;
    }
    true
}

fn randn(shape: &[usize]) -> Tensor {
    let t = Tensor::zeros(shape, DType::F32, Device::Cpu).unwrap();
    random::normal_(&t, 0.0, 1.0, None).unwrap();
    elementwise::to_device(&t, GPU).unwrap()
}

fn sync() {
    gpu::context(0).unwrap().synchronize().unwrap();
}

fn kernels(c: &mut Criterion) {
    if !available() {
        return;
    }
    let mut g = c.benchmark_group("gpu");
    for n in [256usize, 1024] {
        let (a, b) = (randn(&[n, n]), randn(&[n, n]));
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_function(format!("matmul_f32_{n}"), |bch| {
            bch.iter(|| {
                linalg::matmul(&a, &b).unwrap();
                sync()
            })
        });
    }
    let n = 1 << 22;
    let (a, b) = (randn(&[n]), randn(&[n]));
    g.throughput(Throughput::Bytes((3 * 4 * n) as u64));
    g.bench_function("add_4M", |bch| {
        bch.iter(|| {
            elementwise::binary(BinaryOp::Add, &a, &b).unwrap();
            sync()
        })
    });
    let rows = randn(&[1024, 4096]);
    g.throughput(Throughput::Bytes((4 * 1024 * 4096) as u64));
    g.bench_function("sum_rows_1024x4096", |bch| {
        bch.iter(|| {
            reduce::reduce(ReduceOp::Sum, &rows, &[-1], false).unwrap();
            sync()
        })
    });
    g.bench_function("softmax_rows_1024x4096", |bch| {
        bch.iter(|| {
            reduce::softmax(&rows, -1, false).unwrap();
            sync()
        })
    });
    g.finish();
}

/// Host time to record one small op (the queue drains outside the timed loop's body).
fn record(c: &mut Criterion) {
    if !available() {
        return;
    }
    let (a, b) = (randn(&[1024]), randn(&[1024]));
    let mut n = 0u32;
    c.bench_function("gpu_record_add_1024", |bch| {
        bch.iter(|| {
            elementwise::binary(BinaryOp::Add, &a, &b).unwrap();
            n += 1;
            if n % 4096 == 0 {
                sync();
            }
        })
    });
    sync();
}

criterion_group!(benches, kernels, record);
criterion_main!(benches);
