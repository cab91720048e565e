//! Core tests that need no Python: ops against hand-computed values, gradients against
//! finite differences, and the error paths.

use crate::autograd;
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use crate::ops::{elementwise as ew, index, linalg, reduce, view};
use crate::{DType, Tensor};

fn t(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn leaf(v: &[f64], shape: &[usize]) -> Tensor {
    let x = t(v, shape);
    x.set_requires_grad(true).unwrap();
    x
}

#[test]
fn broadcast_add_and_transposed_matmul() {
    let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
    let b = t(&[10., 20., 30.], &[3]);
    assert_eq!(
        ew::binary(BinaryOp::Add, &a, &b).unwrap().to_vec::<f64>(),
        vec![11., 22., 33., 14., 25., 36.]
    );
    let at = view::transpose(&a, 0, 1).unwrap(); // [3, 2], strided
    let p = linalg::matmul(&a, &at).unwrap();
    assert_eq!(p.to_vec::<f64>(), vec![14., 32., 32., 77.]);
}

#[test]
fn reductions_over_dims() {
    let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
    assert_eq!(
        reduce::sum(&a, &[0], false).unwrap().to_vec::<f64>(),
        vec![5., 7., 9.]
    );
    assert_eq!(reduce::sum(&a, &[1], true).unwrap().shape(), &[2, 1]);
    assert_eq!(
        reduce::reduce(ReduceOp::Max, &a, &[1], false)
            .unwrap()
            .to_vec::<f64>(),
        vec![3., 6.]
    );
    assert_eq!(
        reduce::reduce(ReduceOp::ArgMin, &a, &[0], false)
            .unwrap()
            .to_vec::<i64>(),
        vec![0, 0, 0]
    );
}

/// Central differences of `f` (a scalar function of `x`) in float64.
fn numeric_grad(f: &dyn Fn(&Tensor) -> Tensor, x: &[f64], shape: &[usize]) -> Vec<f64> {
    let eps = 1e-6;
    (0..x.len())
        .map(|i| {
            let mut p = x.to_vec();
            let mut m = x.to_vec();
            p[i] += eps;
            m[i] -= eps;
            (f(&t(&p, shape)).item_f64().unwrap() - f(&t(&m, shape)).item_f64().unwrap())
                / (2.0 * eps)
        })
        .collect()
}

#[test]
fn gradients_match_finite_differences() {
    let x0 = [0.3, -1.2, 2.0, 0.7, -0.1, 1.5];
    let f = |x: &Tensor| {
        let w = t(&[0.5, -1.0, 2.0], &[3, 1]);
        let h = ew::unary(UnaryOp::Tanh, &linalg::matmul(x, &w).unwrap()).unwrap();
        let s = reduce::softmax(&view::reshape(x, &[3, 2]).unwrap(), 1, true).unwrap();
        let e = ew::binary(BinaryOp::Mul, &h, &h).unwrap();
        ew::binary(
            BinaryOp::Add,
            &reduce::sum(&e, &[], false).unwrap(),
            &reduce::sum(&s, &[], false).unwrap(),
        )
        .unwrap()
    };
    let x = leaf(&x0, &[2, 3]);
    autograd::backward(&[f(&x)], vec![None], false, false).unwrap();
    let analytic = x.grad().unwrap().to_vec::<f64>();
    let numeric = numeric_grad(&f, &x0, &[2, 3]);
    for (a, n) in analytic.iter().zip(&numeric) {
        assert!(
            (a - n).abs() < 1e-6,
            "analytic {analytic:?} vs numeric {numeric:?}"
        );
    }
}

#[test]
fn gather_and_cat_gradients() {
    let x = leaf(&[1., 2., 3., 4.], &[2, 2]);
    let idx = Tensor::from_vec(vec![1i64, 1, 0, 1], &[2, 2]).unwrap();
    let g = index::gather(&x, 1, &idx).unwrap();
    let c = index::cat(&[g, x.clone()], 0).unwrap();
    autograd::backward(
        &[reduce::sum(&c, &[], false).unwrap()],
        vec![None],
        false,
        false,
    )
    .unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![1., 3., 2., 2.]);
}

#[test]
fn errors_are_reported_not_panics() {
    let a = t(&[1., 2., 3.], &[3]);
    let b = t(&[1., 2.], &[2]);
    assert!(matches!(
        ew::binary(BinaryOp::Add, &a, &b),
        Err(crate::Error::Shape(_))
    ));
    assert!(matches!(
        reduce::sum(&a, &[3], false),
        Err(crate::Error::Index(_))
    ));
    let x = leaf(&[1., 2.], &[2]);
    let y = ew::binary(BinaryOp::Mul, &x, &x).unwrap();
    assert!(matches!(
        autograd::backward(&[y.clone()], vec![None], false, false),
        Err(crate::Error::Autograd(_))
    ));
    let s = reduce::sum(&y, &[], false).unwrap();
    autograd::backward(&[s.clone()], vec![None], false, false).unwrap();
    assert!(matches!(
        autograd::backward(&[s], vec![None], false, false),
        Err(crate::Error::Autograd(_))
    ));
    assert_eq!(
        ew::to_dtype(&a, DType::I64).unwrap().to_vec::<i64>(),
        vec![1, 2, 3]
    );
}

#[test]
fn in_place_write_to_saved_tensor_is_detected() {
    let x = leaf(&[1., 2.], &[2]);
    let y = ew::binary(BinaryOp::Mul, &x, &ew::copy(&x).unwrap()).unwrap();
    let z = ew::unary(UnaryOp::Sin, &y).unwrap(); // sin saves its input
    let _guard = autograd::GradModeGuard::new(false);
    ew::write(&y, &t(&[0., 0.], &[2]), false).unwrap();
    drop(_guard);
    let s = reduce::sum(&z, &[], false).unwrap();
    assert!(matches!(
        autograd::backward(&[s], vec![None], false, false),
        Err(crate::Error::Autograd(_))
    ));
}
