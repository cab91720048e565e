//! Random numbers: a seedable generator (xoshiro256++ seeded by splitmix64) and the samplers
//! behind rand, randn, randint, randperm, multinomial, bernoulli, normal_ and uniform_.

use crate::bail;
use crate::dtype::DType;
use crate::error::Result;
use crate::storage::Device;
use crate::tensor::Tensor;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    seed: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E3779B97F4A7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
            seed,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// `[seed, s0, s1, s2, s3]`: everything needed to resume the stream.
    pub fn state(&self) -> [u64; 5] {
        [self.seed, self.s[0], self.s[1], self.s[2], self.s[3]]
    }

    pub fn set_state(&mut self, st: [u64; 5]) {
        self.seed = st[0];
        self.s = [st[1], st[2], st[3], st[4]];
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box-Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in [0, n) without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// A shared, lockable generator (`ember.Generator`).
#[derive(Clone)]
pub struct Generator(pub Arc<Mutex<Rng>>);

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator(Arc::new(Mutex::new(Rng::new(seed))))
    }
    pub fn manual_seed(&self, seed: u64) {
        *self.lock() = Rng::new(seed);
    }
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Rng> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The default generator that `ember.manual_seed` seeds.
pub fn default_generator() -> &'static Generator {
    static G: OnceLock<Generator> = OnceLock::new();
    G.get_or_init(|| Generator::new(67280421310721))
}

fn pick(g: Option<&Generator>) -> &Generator {
    g.unwrap_or_else(|| default_generator())
}

/// Fills `t` (in place, any view) with draws of `f`.
fn fill_with(t: &Tensor, g: Option<&Generator>, mut f: impl FnMut(&mut Rng) -> f64) {
    let mut rng = pick(g).lock();
    let l = t.layout().clone();
    with_dtype!(t.dtype(), T, {
        let data = t.storage().as_mut_slice::<T>();
        for i in l.indices() {
            data[i] = <T as crate::dtype::Element>::from_value(f(&mut rng));
        }
    });
    t.storage().bump_version();
}

pub fn uniform_(t: &Tensor, low: f64, high: f64, g: Option<&Generator>) -> Result<()> {
    if !t.dtype().is_float() {
        bail!(
            DType,
            "uniform_ expects a floating point tensor, got {}",
            t.dtype().name()
        );
    }
    fill_with(t, g, |r| low + (high - low) * r.uniform());
    Ok(())
}

pub fn normal_(t: &Tensor, mean: f64, std: f64, g: Option<&Generator>) -> Result<()> {
    if !t.dtype().is_float() {
        bail!(
            DType,
            "normal_ expects a floating point tensor, got {}",
            t.dtype().name()
        );
    }
    if std < 0.0 {
        bail!(Runtime, "normal expects std >= 0.0, but found std {std}");
    }
    fill_with(t, g, |r| mean + std * r.normal());
    Ok(())
}

pub fn randint(
    low: i64,
    high: i64,
    shape: &[usize],
    dtype: DType,
    g: Option<&Generator>,
) -> Result<Tensor> {
    if high <= low {
        bail!(
            Runtime,
            "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        );
    }
    let t = Tensor::zeros(shape, dtype, Device::Cpu)?;
    let span = (high - low) as u64;
    if dtype == DType::I64 {
        let mut rng = pick(g).lock();
        for v in t.storage().as_mut_slice::<i64>() {
            *v = low + rng.below(span) as i64;
        }
    } else {
        fill_with(&t, g, |r| (low + r.below(span) as i64) as f64);
    }
    Ok(t)
}

pub fn randperm(n: usize, g: Option<&Generator>) -> Result<Tensor> {
    let mut v: Vec<i64> = (0..n as i64).collect();
    let mut rng = pick(g).lock();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    Tensor::from_vec(v, &[n])
}

pub fn bernoulli(p: &Tensor, g: Option<&Generator>) -> Result<Tensor> {
    let probs = p.to_vec::<f64>();
    if probs.iter().any(|&q| !(0.0..=1.0).contains(&q)) {
        bail!(
            Runtime,
            "Expected p_in >= 0 && p_in <= 1 to be true, but got false."
        );
    }
    let mut rng = pick(g).lock();
    let out: Vec<f64> = probs
        .iter()
        .map(|&q| (rng.uniform() < q) as i64 as f64)
        .collect();
    drop(rng);
    let t = Tensor::from_vec(out, p.shape())?;
    let t = crate::ops::elementwise::to_dtype(
        &t,
        if p.dtype().is_float() {
            p.dtype()
        } else {
            DType::F32
        },
    )?;
    // Drawn on the host from the one generator stream; the result lives where its input does.
    crate::ops::elementwise::to_device(&t, p.device())
}

/// Draws `n` category indices per row of non-negative `weights` (1-D or 2-D).
pub fn multinomial(
    weights: &Tensor,
    n: usize,
    replacement: bool,
    g: Option<&Generator>,
) -> Result<Tensor> {
    if weights.ndim() == 0 || weights.ndim() > 2 {
        bail!(
            Shape,
            "prob_dist must be 1 or 2 dim, got shape {:?}",
            weights.shape()
        );
    }
    let k = *weights.shape().last().unwrap();
    let rows = if weights.ndim() == 2 {
        weights.shape()[0]
    } else {
        1
    };
    let w = weights.to_vec::<f64>();
    if w.iter().any(|&v| v < 0.0 || !v.is_finite()) {
        bail!(
            Runtime,
            "probability tensor contains either `inf`, `nan` or element < 0"
        );
    }
    if !replacement && n > k {
        bail!(Runtime, "cannot sample n_sample > prob_dist.size(-1) samples without replacement (n_sample={n}, categories={k})");
    }
    let mut out = Vec::with_capacity(rows * n);
    let mut rng = pick(g).lock();
    for r in 0..rows {
        let mut row: Vec<f64> = w[r * k..(r + 1) * k].to_vec();
        for _ in 0..n {
            let total: f64 = row.iter().sum();
            if total <= 0.0 {
                bail!(
                    Runtime,
                    "invalid multinomial distribution (sum of probabilities <= 0)"
                );
            }
            let mut u = rng.uniform() * total;
            let mut pick_i = k - 1;
            for (i, &v) in row.iter().enumerate() {
                if u < v {
                    pick_i = i;
                    break;
                }
                u -= v;
            }
            while row[pick_i] == 0.0 && pick_i > 0 {
                pick_i -= 1;
            }
            out.push(pick_i as i64);
            if !replacement {
                row[pick_i] = 0.0;
            }
        }
    }
    let shape: Vec<usize> = if weights.ndim() == 2 {
        vec![rows, n]
    } else {
        vec![n]
    };
    crate::ops::elementwise::to_device(&Tensor::from_vec(out, &shape)?, weights.device())
}
