//! Criterion benches of the CPU kernels: matmul, elementwise add, sum, and a small autograd step.

use _core::autograd;
use _core::op::{BinaryOp, ReduceOp};
use _core::ops::{elementwise, linalg, reduce};
use _core::{random, DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn randn(shape: &[usize]) -> Tensor {
    let t = Tensor::zeros(shape, DType::F32, Device::Cpu).unwrap();
    random::normal_(&t, 0.0, 1.0, None).unwrap();
    t
}

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul");
    for n in [256usize, 1024] {
        let (a, b) = (randn(&[n, n]), randn(&[n, n]));
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_function(format!("f32_{n}"), |bch| {
            bch.iter(|| linalg::matmul(&a, &b).unwrap())
        });
    }
    g.finish();
}

fn elementwise_and_reduce(c: &mut Criterion) {
    let n = 1 << 22;
    let (a, b) = (randn(&[n]), randn(&[n]));
    let mut g = c.benchmark_group("bandwidth");
    g.throughput(Throughput::Bytes((3 * 4 * n) as u64));
    g.bench_function("add_4M", |bch| {
        bch.iter(|| elementwise::binary(BinaryOp::Add, &a, &b).unwrap())
    });
    g.throughput(Throughput::Bytes((4 * n) as u64));
    g.bench_function("sum_4M", |bch| {
        bch.iter(|| reduce::reduce(ReduceOp::Sum, &a, &[], false).unwrap())
    });
    g.finish();
}

fn small_ops(c: &mut Criterion) {
    let (a, b) = (randn(&[1]), randn(&[1]));
    c.bench_function("add_1_element", |bch| {
        bch.iter(|| elementwise::binary(BinaryOp::Add, &a, &b).unwrap())
    });
    let x = randn(&[1]);
    x.set_requires_grad(true).unwrap();
    c.bench_function("autograd_step_1_element", |bch| {
        bch.iter(|| {
            let y = elementwise::binary(BinaryOp::Mul, &x, &b).unwrap();
            let z = elementwise::binary(BinaryOp::Add, &y, &x).unwrap();
            let s = reduce::sum(&z, &[], false).unwrap();
            autograd::backward(&[s], vec![None], false, false).unwrap();
        })
    });
}

criterion_group!(benches, matmul, elementwise_and_reduce, small_ops);
criterion_main!(benches);
