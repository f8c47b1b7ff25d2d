//! The trainer's own CPU kernels, as candle ops with their backward passes: frozen
//! projections in bf16 through oneDNN where the machine has it ([`dnnl`]), and fused
//! normalisation, rotation, causal softmax and gating ([`ops`]) that replace chains of small
//! allocating tensor ops.
//!
//! [`crate::llama::Kernels::Plain`] runs the same model on candle's plain ops; a test
//! compares the two (loss and every gradient) within the precision of each path.

pub mod dnnl;
pub mod ops;

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Asks glibc's allocator to keep freed memory for reuse instead of handing large blocks
/// back to the kernel: candle allocates every op's result afresh, and without this each
/// multi-megabyte buffer is a new mapping whose pages the kernel faults in and zeroes (a
/// fifth of a training step's time, measured). Does nothing on other C libraries.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // Blocks up to 32 MiB (glibc's largest threshold) come from the heap, whose top is
        // never trimmed.
        // SAFETY: mallopt only changes allocator parameters; called before threads start.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

/// `x` rounded to the nearest bf16 (ties to even), as its bit pattern.
#[inline]
pub fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// `src` rounded to bf16 into `dst` (resized to fit), in parallel chunks.
pub fn to_bf16(src: &[f32], dst: &mut Vec<u16>) {
    dst.resize(src.len(), 0);
    dst.par_chunks_mut(1 << 14)
        .zip(src.par_chunks(1 << 14))
        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, &s)| *d = bf16_bits(s)));
}

/// A frozen projection `[out, in]` held once in bf16, for products through oneDNN.
#[derive(Debug)]
pub struct Bf16Weight {
    bits: Vec<u16>,
    out: usize,
    input: usize,
}

impl Bf16Weight {
    /// `weight` (`[out, in]`, f32) rounded to bf16.
    pub fn new(weight: &Tensor) -> candle_core::Result<Self> {
        let (out, input) = weight.dims2()?;
        let values = weight.flatten_all()?.to_vec1::<f32>()?;
        let mut bits = Vec::new();
        to_bf16(&values, &mut bits);
        Ok(Bf16Weight { bits, out, input })
    }

    /// `(out, in)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.out, self.input)
    }

    /// The weight of the outputs `rows` only (a projection onto a few tokens).
    pub fn gather_rows(&self, rows: &[u32]) -> Bf16Weight {
        let mut bits = Vec::with_capacity(rows.len() * self.input);
        for &r in rows {
            bits.extend_from_slice(&self.bits[r as usize * self.input..][..self.input]);
        }
        Bf16Weight {
            bits,
            out: rows.len(),
            input: self.input,
        }
    }
}

/// `x · Wᵀ` (`transposed == false`, the forward product) or `g · W` (the input gradient),
/// on bf16 operands with f32 accumulation; the backward of each is the other.
pub struct Bf16Linear {
    /// The weight.
    pub weight: Arc<Bf16Weight>,
    /// Whether this is the input gradient's product `g · W`.
    pub transposed: bool,
}

impl Bf16Linear {
    /// `(k, n)` of the product: rows of `x` have `k` values, rows of the result `n`.
    fn inner_outer(&self) -> (usize, usize) {
        let (out, input) = self.weight.dims();
        if self.transposed {
            (out, input)
        } else {
            (input, out)
        }
    }
}

/// The f32 values of a contiguous CPU tensor's storage.
pub(crate) fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("{op}: f32 tensors only");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => candle_core::bail!("{op}: the input must be contiguous"),
    }
}

impl CustomOp1 for Bf16Linear {
    fn name(&self) -> &'static str {
        "bf16-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(storage, layout, self.name())?;
        let (k, n) = self.inner_outer();
        let mut dims = layout.shape().dims().to_vec();
        if dims.last() != Some(&k) {
            candle_core::bail!("bf16 linear: input {dims:?} does not end in {k}");
        }
        let m = x.len() / k;
        let dnnl = dnnl::get().ok_or_else(|| candle_core::Error::Msg("bf16 linear without oneDNN".into()))?;
        // Rows split evenly over rayon's threads, each product on its calling thread. Each
        // part is padded to a multiple of 32 rows so that few distinct shapes are ever
        // compiled (oneDNN compiles a kernel per shape and thread).
        let threads = rayon::current_num_threads().max(1);
        let rows = m.div_ceil(threads).next_multiple_of(32).max(32);
        let padded = m.next_multiple_of(rows);
        let mut a = Vec::with_capacity(padded * k);
        to_bf16(x, &mut a);
        a.resize(padded * k, 0);
        let mut out = vec![0f32; padded * n];
        out.par_chunks_mut(rows * n)
            .zip(a.par_chunks(rows * k))
            .try_for_each(|(out, a)| dnnl.matmul(a, &self.weight.bits, !self.transposed, out, (rows, k, n)))
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        out.truncate(m * n);
        *dims.last_mut().expect("checked above") = n;
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let back = Bf16Linear {
            weight: self.weight.clone(),
            transposed: !self.transposed,
        };
        Ok(Some(grad_res.contiguous()?.apply_op1_no_bwd(&back)?))
    }
}
