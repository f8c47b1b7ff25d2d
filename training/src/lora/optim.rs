//! AdamW over the adapter's variables, with its state exposed for checkpoints.

use candle_core::{Tensor, Var};

/// AdamW settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator floor.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 2e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// AdamW: the moments of every variable and the step count.
pub struct AdamW {
    /// Settings.
    pub config: AdamWConfig,
    /// Steps taken.
    pub step: u64,
    /// First moments, one per variable.
    pub m: Vec<Tensor>,
    /// Second moments, one per variable.
    pub v: Vec<Tensor>,
}

impl AdamW {
    /// Fresh state for `vars`.
    pub fn new(vars: &[Var], config: AdamWConfig) -> candle_core::Result<Self> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        Ok(AdamW {
            config,
            step: 0,
            m: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            v: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
        })
    }

    /// One update of `vars` with their gradients `grads` (same order) at learning rate
    /// `lr` (the schedule's value for this step).
    pub fn step(&mut self, vars: &[Var], grads: &[Tensor], lr: f64) -> candle_core::Result<()> {
        self.step += 1;
        let c = &self.config;
        let t = self.step as i32;
        let (bias1, bias2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        for (i, (var, g)) in vars.iter().zip(grads).enumerate() {
            let m = ((&self.m[i] * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let update = ((&m / bias1)? / ((&v / bias2)?.sqrt()? + c.eps)?)?;
            let decayed = (var.as_tensor() * (1.0 - lr * c.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }
}
