//! Fused elementwise ops with their own backward passes: RMS norm, rope, causal softmax and
//! SwiGLU gating. Each is one parallel pass over rows where the plain-op version is five to
//! fifteen allocating single-threaded ops, and each backward is one more pass.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::f32_slice;

/// Rows per parallel task: large enough that scheduling costs nothing next to the work.
const ROWS_PER_TASK: usize = 8;

/// The f32 values of `t` (made contiguous first), passed to `f`.
fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> candle_core::Result<R>) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        candle_core::Storage::Cpu(cpu) => f(f32_slice(cpu, layout, "fused op")?),
        _ => candle_core::bail!("fused ops run on the CPU only"),
    }
}

fn tensor(values: Vec<f32>, like: &Tensor) -> candle_core::Result<Tensor> {
    Tensor::from_vec(values, like.shape(), like.device())
}

/// `eˣ` to about 2 ulp, in plain arithmetic the compiler vectorises (libm's `expf` is a
/// call per element); inputs below −87 give 0.
#[inline]
pub fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // eˣ = 2ⁿ · eʳ with n = round(x / ln 2), |r| ≤ ln 2 / 2.
    // Round to nearest by adding and taking away 1.5·2²³ (`round` is a library call too).
    const ROUND: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    // Products and sums rather than `mul_add`: without FMA in the target's baseline,
    // `mul_add` is a library call per element.
    let r = x - n * 0.693_145_75;
    let r = r - n * 1.428_606_8e-6;
    let mut p = 1.987_569_2e-4f32;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = p * r + c;
    }
    let e_r = p * r * r + r + 1.0;
    let scale = f32::from_bits((((n as i32) + 127) as u32) << 23);
    e_r * scale
}

/// `x / rms(x) · weight` over the last dimension; the weight is frozen.
pub struct RmsNorm {
    /// The norm's weight.
    pub weight: Arc<Vec<f32>>,
    /// Added to the mean square.
    pub eps: f32,
}

impl RmsNorm {
    fn inv_rms(&self, row: &[f32]) -> f32 {
        let mean_sq = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
        1.0 / (mean_sq + self.eps).sqrt()
    }
}

impl CustomOp1 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(storage, layout, self.name())?;
        let d = self.weight.len();
        if layout.shape().dims().last() != Some(&d) {
            candle_core::bail!("rms norm: input {:?} does not end in {d}", layout.shape());
        }
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .for_each(|(out, x)| {
                for (o, x) in out.chunks_mut(d).zip(x.chunks(d)) {
                    let inv = self.inv_rms(x);
                    for ((o, &x), &w) in o.iter_mut().zip(x).zip(self.weight.iter()) {
                        *o = x * inv * w;
                    }
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // With r = 1/rms(x): dx = r·(w⊙g) − x·r³·mean(x⊙w⊙g).
        let d = self.weight.len();
        let dx = with_values(x, |x| {
            with_values(grad, |g| {
                let mut dx = vec![0f32; x.len()];
                dx.par_chunks_mut(d * ROWS_PER_TASK)
                    .zip(x.par_chunks(d * ROWS_PER_TASK).zip(g.par_chunks(d * ROWS_PER_TASK)))
                    .for_each(|(dx, (x, g))| {
                        for ((dx, x), g) in dx.chunks_mut(d).zip(x.chunks(d)).zip(g.chunks(d)) {
                            let r = self.inv_rms(x);
                            let dot: f32 = x
                                .iter()
                                .zip(g)
                                .zip(self.weight.iter())
                                .map(|((x, g), w)| x * g * w)
                                .sum();
                            let c = r * r * r * dot / d as f32;
                            for (((dx, &x), &g), &w) in dx.iter_mut().zip(x).zip(g).zip(self.weight.iter()) {
                                *dx = r * w * g - x * c;
                            }
                        }
                    });
                Ok(dx)
            })
        })?;
        Ok(Some(tensor(dx, x)?))
    }
}

/// The rotation of adjacent pairs `(x[2i], x[2i+1])` of every head by its position's angles
/// (llama.cpp's normal rope on GGUF-layout weights), on `[batch, seq, heads, head_dim]`.
/// Its backward is the inverse rotation.
pub struct Rope {
    /// `cos` of position `t` and frequency `i` at `t * head_dim / 2 + i`.
    pub cos: Arc<Vec<f32>>,
    /// `sin`, likewise.
    pub sin: Arc<Vec<f32>>,
    /// Rotate backwards (the gradient of the forward rotation).
    pub inverse: bool,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "fused-rope"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(storage, layout, self.name())?;
        let (_, seq, heads, d) = layout.shape().dims4()?;
        let half = d / 2;
        if self.cos.len() < seq * half || d % 2 != 0 {
            candle_core::bail!(
                "rope: tables for {} positions, input {:?}",
                self.cos.len() / half.max(1),
                layout.shape()
            );
        }
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let row = heads * d;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(row)
            .zip(x.par_chunks(row))
            .enumerate()
            .for_each(|(r, (out, x))| {
                let t = r % seq;
                let (cos, sin) = (&self.cos[t * half..][..half], &self.sin[t * half..][..half]);
                for (out, x) in out.chunks_mut(d).zip(x.chunks(d)) {
                    for i in 0..half {
                        let (x0, x1) = (x[2 * i], x[2 * i + 1]);
                        let (c, s) = (cos[i], sign * sin[i]);
                        out[2 * i] = x0 * c - x1 * s;
                        out[2 * i + 1] = x0 * s + x1 * c;
                    }
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let back = Rope {
            cos: self.cos.clone(),
            sin: self.sin.clone(),
            inverse: !self.inverse,
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&back)?))
    }
}

/// Softmax over the last dimension of scores `[..., rows, keys]` with a causal mask: row `r`
/// is query position `r % queries` and sees keys `0..=r % queries` (several query heads
/// sharing one key head are stacked along the rows). Masked entries are exactly 0.
pub struct CausalSoftmax {
    /// Query positions per stacked block of rows.
    pub queries: usize,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "fused-causal-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(storage, layout, self.name())?;
        let keys = *layout.shape().dims().last().unwrap_or(&0);
        if keys == 0 || self.queries == 0 || keys < self.queries {
            candle_core::bail!("causal softmax: {} queries, input {:?}", self.queries, layout.shape());
        }
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(keys * ROWS_PER_TASK)
            .zip(x.par_chunks(keys * ROWS_PER_TASK))
            .enumerate()
            .for_each(|(task, (out, x))| {
                for (i, (out, x)) in out.chunks_mut(keys).zip(x.chunks(keys)).enumerate() {
                    let seen = (task * ROWS_PER_TASK + i) % self.queries + 1;
                    let max = x[..seen].iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for (o, &v) in out[..seen].iter_mut().zip(&x[..seen]) {
                        *o = fast_exp(v - max);
                        sum += *o;
                    }
                    let inv = 1.0 / sum;
                    out[..seen].iter_mut().for_each(|o| *o *= inv);
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, p: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // dx = p ⊙ (g − Σ p⊙g), row by row; masked entries have p = 0 and get 0.
        let keys = *p.dims().last().unwrap_or(&0);
        let dx = with_values(p, |p| {
            with_values(grad, |g| {
                let mut dx = vec![0f32; p.len()];
                dx.par_chunks_mut(keys * ROWS_PER_TASK)
                    .zip(
                        p.par_chunks(keys * ROWS_PER_TASK)
                            .zip(g.par_chunks(keys * ROWS_PER_TASK)),
                    )
                    .for_each(|(dx, (p, g))| {
                        for ((dx, p), g) in dx.chunks_mut(keys).zip(p.chunks(keys)).zip(g.chunks(keys)) {
                            let dot: f32 = p.iter().zip(g).map(|(p, g)| p * g).sum();
                            for ((dx, &p), &g) in dx.iter_mut().zip(p).zip(g) {
                                *dx = p * (g - dot);
                            }
                        }
                    });
                Ok(dx)
            })
        })?;
        Ok(Some(tensor(dx, p)?))
    }
}

/// `silu(gate) ⊙ up`, the feed-forward's gating.
pub struct SwiGlu;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + fast_exp(-x))
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (gate, up) = (f32_slice(s1, l1, self.name())?, f32_slice(s2, l2, self.name())?);
        if l1.shape() != l2.shape() {
            candle_core::bail!("swiglu: gate {:?} and up {:?} differ", l1.shape(), l2.shape());
        }
        let mut out = vec![0f32; gate.len()];
        out.par_chunks_mut(1 << 14)
            .zip(gate.par_chunks(1 << 14).zip(up.par_chunks(1 << 14)))
            .for_each(|(o, (g, u))| {
                for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                    *o = g * sigmoid(g) * u;
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // d/dg silu(g) = σ(g)·(1 + g·(1 − σ(g))).
        let (dg, du) = with_values(gate, |g| {
            with_values(up, |u| {
                with_values(grad, |d| {
                    let (mut dg, mut du) = (vec![0f32; g.len()], vec![0f32; g.len()]);
                    dg.par_chunks_mut(1 << 14)
                        .zip(du.par_chunks_mut(1 << 14))
                        .zip(
                            g.par_chunks(1 << 14)
                                .zip(u.par_chunks(1 << 14))
                                .zip(d.par_chunks(1 << 14)),
                        )
                        .for_each(|((dg, du), ((g, u), d))| {
                            for i in 0..g.len() {
                                let s = sigmoid(g[i]);
                                du[i] = d[i] * g[i] * s;
                                dg[i] = d[i] * u[i] * s * (1.0 + g[i] * (1.0 - s));
                            }
                        });
                    Ok((dg, du))
                })
            })
        })?;
        Ok((Some(tensor(dg, gate)?), Some(tensor(du, up)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_within_a_few_ulp_of_libm() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (fast, exact) = (fast_exp(x), x.exp());
            assert!(((fast - exact) / exact).abs() < 4e-7, "{x}: {fast} vs {exact}");
            x += 0.0137;
        }
        assert_eq!(fast_exp(-1000.0), fast_exp(-87.0));
        assert!(fast_exp(-87.0) < 2e-38);
    }
}
