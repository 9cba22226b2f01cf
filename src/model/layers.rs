//! The network's building blocks as pure functions of tensors, all differentiable with candle's
//! autograd (candle's fused `rms_norm`, `softmax_last_dim`, `rope` and `sdpa` have no backward,
//! so they are not used here): linear maps with `[out, in]` weights, weightless RMSNorm, RoPE
//! (rotate-half), bidirectional multi-head attention with the `[Q|K|V]` row split, SwiGLU.

use candle_core::{DType, Device, Result, Tensor, D};

/// `x @ w^T` for `x: [.., in]` and `w: [out, in]` (PyTorch layout), optional bias `[out]`.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let packed =
        super::sgemm::packed_for(w).filter(|_| x.dtype() == DType::F32 && x.device().is_cpu());
    let w = if w.dtype() != x.dtype() {
        w.to_dtype(x.dtype())?
    } else {
        w.clone()
    };
    let dims = x.dims();
    let inner = dims[dims.len() - 1];
    let rows = x.elem_count() / inner;
    let x2 = x.reshape((rows, inner))?;
    let y = if let Some(p) = &packed {
        super::sgemm::linear_packed(&x2, p)?
    } else {
        let wt = w.t()?;
        match super::sgemm::matmul_tensor(&x2, &wt)? {
            Some(y) => y,
            None => x2.matmul(&wt)?,
        }
    };
    let y = match b {
        Some(b) => y.broadcast_add(&b.to_dtype(y.dtype())?)?,
        None => y,
    };
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().expect("non-empty dims") = w.dim(0)?;
    y.reshape(out_dims)
}

/// Weightless RMSNorm over the last dimension, computed in f32 and cast back.
pub fn rms_norm(x: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let xf = x.to_dtype(DType::F32)?;
    let var = xf.sqr()?.mean_keepdim(D::Minus1)?;
    let inv = (var + eps)?.sqrt()?.recip()?;
    xf.broadcast_mul(&inv)?.to_dtype(dtype)
}

/// Softmax over the last dimension (fused on the CPU, see [`super::fused`]).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    super::fused::softmax_last_dim(x)
}

/// Softmax over the last dimension from differentiable primitives.
pub fn softmax_last_dim_composite(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let s = e.sum_keepdim(D::Minus1)?;
    e.broadcast_div(&s)
}

/// Precomputed RoPE tables `cos, sin: [L, head_dim]` (f32), `emb = cat(freqs, freqs)`.
#[derive(Debug, Clone)]
pub struct Rope {
    pub cos: Tensor,
    pub sin: Tensor,
    /// The same tables as flat vectors, for the fused CPU kernel.
    cos_v: std::sync::Arc<Vec<f32>>,
    sin_v: std::sync::Arc<Vec<f32>>,
}

impl Rope {
    pub fn new(head_dim: usize, len: usize, theta: f64, device: &Device) -> Result<Self> {
        let half = head_dim / 2;
        // inv_freq = 1 / theta^(arange(0, dim, 2) / dim), computed in f32 as torch does.
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1.0f32 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
            .collect();
        let mut cos = Vec::with_capacity(len * head_dim);
        let mut sin = Vec::with_capacity(len * head_dim);
        for p in 0..len {
            for k in 0..head_dim {
                let f = (p as f32) * inv_freq[k % half];
                cos.push(f.cos());
                sin.push(f.sin());
            }
        }
        Ok(Self {
            cos: Tensor::from_slice(&cos, (len, head_dim), device)?,
            sin: Tensor::from_slice(&sin, (len, head_dim), device)?,
            cos_v: std::sync::Arc::new(cos),
            sin_v: std::sync::Arc::new(sin),
        })
    }

    /// Rotate `x: [B, L, H, hd]` (rotate-half convention), in f32, cast back (fused on the
    /// CPU, see [`super::fused`]).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match super::fused::rope(x, &self.cos_v, &self.sin_v)? {
            Some(y) => Ok(y),
            None => self.apply_composite(x),
        }
    }

    /// [`Rope::apply`] from differentiable primitives.
    pub fn apply_composite(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let (_, l, _, hd) = x.dims4()?;
        let xf = x.to_dtype(DType::F32)?;
        let cos = self.cos.narrow(0, 0, l)?.reshape((1, l, 1, hd))?;
        let sin = self.sin.narrow(0, 0, l)?.reshape((1, l, 1, hd))?;
        let half = hd / 2;
        let x1 = xf.narrow(D::Minus1, 0, half)?;
        let x2 = xf.narrow(D::Minus1, half, half)?;
        let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        let out = xf.broadcast_mul(&cos)?.add(&rot.broadcast_mul(&sin)?)?;
        out.to_dtype(dtype)
    }
}

/// Bidirectional multi-head self-attention, `qkv: [3*H*hd, D]` with rows `[Q | K | V]`,
/// `o: [D, H*hd]`; no mask; scale `1/sqrt(hd)`.
pub fn attention(
    x: &Tensor,
    qkv_w: &Tensor,
    o_w: &Tensor,
    num_heads: usize,
    rope: Option<&Rope>,
) -> Result<Tensor> {
    let (b, l, _) = x.dims3()?;
    let width = qkv_w.dim(0)? / 3;
    let hd = width / num_heads;
    // Three products with the row blocks [Q | K | V] of the fused weight (contiguous views),
    // so no activation-sized narrow (and its zero-padding backward) is needed.
    // Weights packed for a no-gradient pass (see `sgemm::pack_scope`) take one product.
    let (mut q, mut k, v) = if super::sgemm::packed_for(qkv_w).is_some() {
        let qkv = linear(x, qkv_w, None)?;
        let part = |i: usize| {
            qkv.narrow(D::Minus1, i * width, width)?
                .reshape((b, l, num_heads, hd))
        };
        (part(0)?, part(1)?, part(2)?)
    } else {
        let project = |i: usize| -> Result<Tensor> {
            linear(x, &qkv_w.narrow(0, i * width, width)?, None)?.reshape((b, l, num_heads, hd))
        };
        (project(0)?, project(1)?, project(2)?)
    };
    if let Some(rope) = rope {
        q = rope.apply(&q)?;
        k = rope.apply(&k)?;
    }
    // [B, H, L, hd]
    let q = super::fused::transpose12(&q)?;
    let k = super::fused::transpose12(&k)?;
    let v = super::fused::transpose12(&v)?;
    let scale = 1.0 / (hd as f64).sqrt();
    let bmm = |a: &Tensor, b: &Tensor| -> Result<Tensor> {
        match super::sgemm::batched_matmul_tensor(a, b)? {
            Some(y) => Ok(y),
            None => a.matmul(b),
        }
    };
    let scores = (bmm(&q, &k.t()?)? * scale)?;
    let probs = softmax_last_dim(&scores)?;
    let out = bmm(&probs, &v)?; // [B, H, L, hd]
    let out = super::fused::transpose12(&out)?.reshape((b, l, num_heads * hd))?;
    linear(&out, o_w, None)
}

/// SwiGLU with a fused `gate_up: [2*inter, in]` (first half gate, second half up) and
/// `down: [in, inter]`: `down(silu(gate) * up)`.
pub fn swiglu(x: &Tensor, gate_up_w: &Tensor, down_w: &Tensor) -> Result<Tensor> {
    if let Some(h) = super::fused::swiglu_core(x, gate_up_w)? {
        return linear(&h, down_w, None);
    }
    let inter = gate_up_w.dim(0)? / 2;
    // Two products with row blocks of the fused weight (contiguous views) rather than one
    // product narrowed afterwards: the narrow's backward would zero-pad activation-sized
    // gradients; here only the (smaller) weight gradient is assembled.
    let gate = linear(x, &gate_up_w.narrow(0, 0, inter)?, None)?;
    let up = linear(x, &gate_up_w.narrow(0, inter, inter)?, None)?;
    let h = gate.silu()?.mul(&up)?;
    linear(&h, down_w, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_normalises_last_dim() -> Result<()> {
        let x = Tensor::new(&[[3.0f32, 4.0], [1.0, 1.0]], &Device::Cpu)?;
        let y = rms_norm(&x, 0.0)?.to_vec2::<f32>()?;
        let r = (12.5f32).sqrt();
        assert!((y[0][0] - 3.0 / r).abs() < 1e-6 && (y[1][1] - 1.0).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn softmax_sums_to_one() -> Result<()> {
        let x = Tensor::new(&[[1.0f32, 2.0, 3.0], [1000.0, 0.0, -1000.0]], &Device::Cpu)?;
        let y = softmax_last_dim(&x)?;
        let s = y.sum(1)?.to_vec1::<f32>()?;
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-6));
        Ok(())
    }

    #[test]
    fn rope_position_zero_is_identity_and_norm_preserving() -> Result<()> {
        let dev = Device::Cpu;
        let rope = Rope::new(8, 5, 10000.0, &dev)?;
        let x = Tensor::randn(0f32, 1.0, (2, 5, 3, 8), &dev)?;
        let y = rope.apply(&x)?;
        let x0 = x.narrow(1, 0, 1)?.flatten_all()?.to_vec1::<f32>()?;
        let y0 = y.narrow(1, 0, 1)?.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(x0, y0);
        let nx = x.sqr()?.sum_all()?.to_scalar::<f32>()?;
        let ny = y.sqr()?.sum_all()?.to_scalar::<f32>()?;
        assert!((nx - ny).abs() / nx < 1e-5);
        Ok(())
    }
}
