//! Row kernels of the fused nn ops: softmax cross entropy (forward and gradient) and
//! normalisation over the last dim (layer/group/batch/RMS norm), f32 and f64.

use super::scalar::Float;
use super::threads::Limited;
use rayon::prelude::*;

const ROWS_PER_TASK_ELEMS: usize = 1 << 14;

fn rows_per_task(k: usize) -> usize {
    (ROWS_PER_TASK_ELEMS / k.max(1)).max(1)
}

/// Log-sum-exp of a row, shifted by its max for stability.
#[inline]
fn logsumexp<T: Float>(row: &[T]) -> (T, T) {
    let m = row.iter().fold(T::lowest(), |a, &b| a.max_(b));
    let m = if m == T::lowest() { T::zero() } else { m };
    let s = row.iter().fold(T::zero(), |a, &v| a + (v - m).exp());
    (m, s.ln())
}

/// Settings of one cross-entropy call over `[n, c]` logits with class-index targets.
pub struct CrossEntropy<'a, T> {
    pub n: usize,
    pub c: usize,
    pub weight: Option<&'a [T]>,
    pub ignore_index: i64,
    pub smoothing: f64,
}

impl<T: Float> CrossEntropy<'_, T> {
    fn w(&self, k: usize) -> T {
        self.weight.map(|w| w[k]).unwrap_or(T::ONE)
    }

    /// Per-row losses (0 for ignored rows) and each row's weight in a `mean` denominator.
    pub fn forward(
        &self,
        x: &[T],
        target: &[i64],
        loss: &mut [T],
        denom: &mut [T],
    ) -> Result<(), String> {
        let (c, eps) = (self.c, T::from_value(self.smoothing));
        for (i, &t) in target.iter().enumerate() {
            if t != self.ignore_index && (t < 0 || t as usize >= c) {
                return Err(format!(
                    "Target {t} is out of bounds for {c} classes (row {i})"
                ));
            }
        }
        let chunk = rows_per_task(c);
        loss.par_chunks_mut(chunk)
            .zip(denom.par_chunks_mut(chunk))
            .enumerate()
            .within_limit()
            .for_each(|(b, (l, d))| {
                for (j, (l, d)) in l.iter_mut().zip(d.iter_mut()).enumerate() {
                    let i = b * chunk + j;
                    let t = target[i];
                    if t == self.ignore_index {
                        *l = T::zero();
                        *d = T::zero();
                        continue;
                    }
                    let row = &x[i * c..(i + 1) * c];
                    let (m, lse) = logsumexp(row);
                    let logp = |k: usize| row[k] - m - lse;
                    let wt = self.w(t as usize);
                    let nll = (logp(t as usize)).neg() * wt;
                    let mut v = nll;
                    if self.smoothing > 0.0 {
                        let smooth = (0..c)
                            .fold(T::zero(), |a, k| a - self.w(k) * logp(k))
                            .div(T::from_value(c as f64));
                        v = (T::ONE - eps) * nll + eps * smooth;
                    }
                    *l = v;
                    *d = wt;
                }
            });
        Ok(())
    }

    /// `dx[i, k] = scale[i] * d loss_i / d x[i, k]`.
    pub fn backward(&self, x: &[T], target: &[i64], scale: &[T], dx: &mut [T]) {
        let (c, eps) = (self.c, T::from_value(self.smoothing));
        let wsum = (0..c).fold(T::zero(), |a, k| a + self.w(k));
        let inv_c = T::from_value(1.0 / c as f64);
        let chunk = rows_per_task(c);
        dx.par_chunks_mut(chunk * c)
            .enumerate()
            .within_limit()
            .for_each(|(b, out)| {
                for (j, drow) in out.chunks_mut(c).enumerate() {
                    let i = b * chunk + j;
                    let t = target[i];
                    if t == self.ignore_index {
                        drow.fill(T::zero());
                        continue;
                    }
                    let row = &x[i * c..(i + 1) * c];
                    let (m, lse) = logsumexp(row);
                    let wt = self.w(t as usize);
                    for (k, d) in drow.iter_mut().enumerate() {
                        let p = (row[k] - m - lse).exp();
                        let hit = if k == t as usize { T::ONE } else { T::zero() };
                        let mut g = (T::ONE - eps) * wt * (p - hit);
                        if self.smoothing > 0.0 {
                            g = g + eps * inv_c * (wsum * p - self.w(k));
                        }
                        *d = scale[i] * g;
                    }
                }
            });
    }
}

/// Normalises each row of `x [r, k]`: `(x - mean) * rstd` (or `x * rstd` with RMS when not
/// `center`), writing the output and each row's mean and rstd (saved for the gradient).
pub fn norm_rows<T: Float>(
    x: &[T],
    k: usize,
    eps: f64,
    center: bool,
    y: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
) {
    let chunk = rows_per_task(k);
    let inv_k = 1.0 / k as f64;
    y.par_chunks_mut(chunk * k)
        .zip(mean.par_chunks_mut(chunk))
        .zip(rstd.par_chunks_mut(chunk))
        .enumerate()
        .within_limit()
        .for_each(|(b, ((y, mean), rstd))| {
            for (j, yrow) in y.chunks_mut(k).enumerate() {
                let i = b * chunk + j;
                let row = &x[i * k..(i + 1) * k];
                // Accumulate in f64: rows can be long and the variance is a difference of squares.
                let mu = if center {
                    row.iter().map(|v| v.to_f64()).sum::<f64>() * inv_k
                } else {
                    0.0
                };
                let var = row.iter().map(|v| (v.to_f64() - mu).powi(2)).sum::<f64>() * inv_k;
                let r = 1.0 / (var + eps).sqrt();
                let (mu_t, r_t) = (T::from_value(mu), T::from_value(r));
                for (o, &v) in yrow.iter_mut().zip(row) {
                    *o = (v - mu_t) * r_t;
                }
                mean[j] = mu_t;
                rstd[j] = r_t;
            }
        });
}

/// Gradient of `norm_rows`: `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))` (without the
/// `mean(g)` term when not centred).
pub fn norm_rows_backward<T: Float>(
    x: &[T],
    g: &[T],
    k: usize,
    center: bool,
    mean: &[T],
    rstd: &[T],
    dx: &mut [T],
) {
    let chunk = rows_per_task(k);
    let inv_k = 1.0 / k as f64;
    dx.par_chunks_mut(chunk * k)
        .enumerate()
        .within_limit()
        .for_each(|(b, out)| {
            for (j, drow) in out.chunks_mut(k).enumerate() {
                let i = b * chunk + j;
                let (row, grow) = (&x[i * k..(i + 1) * k], &g[i * k..(i + 1) * k]);
                let (mu, r) = (mean[i].to_f64(), rstd[i].to_f64());
                let (mut sg, mut sgx) = (0.0f64, 0.0f64);
                for (&v, &gv) in row.iter().zip(grow) {
                    let xhat = (v.to_f64() - mu) * r;
                    sg += gv.to_f64();
                    sgx += gv.to_f64() * xhat;
                }
                let (mg, mgx) = (if center { sg * inv_k } else { 0.0 }, sgx * inv_k);
                for ((d, &v), &gv) in drow.iter_mut().zip(row).zip(grow) {
                    let xhat = (v.to_f64() - mu) * r;
                    *d = T::from_value(r * (gv.to_f64() - mg - xhat * mgx));
                }
            }
        });
}
