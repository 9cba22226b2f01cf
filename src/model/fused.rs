//! Fused CPU kernels for the element-wise hot spots of the reasoning net, with hand-written
//! backward passes: `rms_norm(a + b)` (the residual add and the weightless RMSNorm after
//! every sub-layer), `silu(gate) * up` (the SwiGLU core), and for attention the row softmax
//! and the rotate-half RoPE.
//!
//! candle runs each primitive as its own pass over a fresh full-size buffer; these run in one
//! pass per row, split over the threads of [`super::team`], and their backward passes
//! recompute what they need from the inputs (or, for the softmax, the output) instead of
//! keeping intermediates. They are used for contiguous f32 tensors on the CPU; anything else
//! (CUDA, bfloat16) takes the composite path of [`super::layers`], which has the same
//! arithmetic. Also here: the transposes of the sequence mixer and of attention's heads,
//! copied in parallel outside a graph.

use std::sync::Arc;

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result,
    Shape, Tensor,
};

/// Elements per task: enough work per task that scheduling does not dominate.
const MIN_ELEMS_PER_TASK: usize = 16 * 1024;

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        other => candle_core::bail!("{what}: expected f32, got {:?}", other.dtype()),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: expected a contiguous tensor"),
    }
}

fn rows_per_task(width: usize) -> usize {
    (MIN_ELEMS_PER_TASK / width.max(1)).max(1)
}

/// Whether the fused kernels apply to these tensors.
fn fusable(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
        && ts.windows(2).all(|w| w[0].shape() == w[1].shape())
}

/// `rms_norm(a + b)` over the last dimension (weightless), as
/// [`super::layers::rms_norm`]`(&a.add(b)?, eps)`.
pub fn add_rms_norm(a: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    if !fusable(&[a, b]) {
        return super::layers::rms_norm(&a.add(b)?, eps);
    }
    a.contiguous()?
        .apply_op2(&b.contiguous()?, AddRmsNorm { eps: eps as f32 })
}

/// The SwiGLU core on one product with the fused `gate_up: [2*inter, in]` weight:
/// `silu(gate) * up` with `[gate | up] = x @ gate_up^T` split along the last dimension, as
/// the official `gate, up = gate_up_proj(x).chunk(2, -1)`. One product (and one weight
/// gradient) instead of two, and the split costs no zero-padded gradient. `None` where the
/// fused kernels do not apply.
pub fn swiglu_core(x: &Tensor, gate_up_w: &Tensor) -> Result<Option<Tensor>> {
    if !fusable(&[x]) || !fusable(&[gate_up_w]) || gate_up_w.dim(0)? % 2 != 0 {
        return Ok(None);
    }
    let gu = super::layers::linear(x, gate_up_w, None)?;
    Ok(Some(gu.apply_op1(SiluMulSplit)?))
}

/// Softmax over the last dimension, as [`super::layers::softmax_last_dim`].
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if !fusable(&[x]) {
        return super::layers::softmax_last_dim_composite(x);
    }
    x.contiguous()?.apply_op1(Softmax)
}

/// Rotate-half RoPE of `x: [B, L, H, hd]` with `cos, sin: [>= L, hd]` tables (row-major,
/// f32), as [`super::layers::Rope::apply`] computes it.
pub fn rope(x: &Tensor, cos: &Arc<Vec<f32>>, sin: &Arc<Vec<f32>>) -> Result<Option<Tensor>> {
    if !fusable(&[x]) || x.rank() != 4 {
        return Ok(None);
    }
    let (_, l, _, hd) = x.dims4()?;
    if hd % 2 != 0 || cos.len() < l * hd || sin.len() < l * hd {
        return Ok(None);
    }
    Ok(Some(x.contiguous()?.apply_op1(Rope {
        cos: Arc::clone(cos),
        sin: Arc::clone(sin),
        backward: false,
    })?))
}

/// `x.transpose(1, 2)` made contiguous, for `x` of rank 3 or 4 (the sequence mixer's
/// `[B, L, D] -> [B, D, L]` and back, attention's `[B, L, H, hd] <-> [B, H, L, hd]`), copied
/// in parallel where candle copies on one thread, for tensors outside a graph: every net call
/// of a solve and the `T-1` no-gradient cycles of a training step. This op has no backward
/// pass: tensors tracked by a graph keep candle's transpose and copy, whose gradient candle
/// provides.
pub fn transpose12(x: &Tensor) -> Result<Tensor> {
    if !fusable(&[x]) || !(3..=4).contains(&x.rank()) || x.track_op() {
        return x.transpose(1, 2)?.contiguous();
    }
    x.contiguous()?.apply_op1_no_bwd(&Transpose12)
}

/// The width of the rows of a row-wise op (the last dimension, at least 1).
fn last_dim(l: &Layout) -> usize {
    l.dims().last().copied().unwrap_or(1).max(1)
}

/// A buffer of `n` floats, rows of `width`, filled in parallel a whole number of rows at a
/// time by `fill(range, out)`, `range` being the elements of the input `out` stands for.
fn par_rows(
    n: usize,
    width: usize,
    fill: impl Fn(std::ops::Range<usize>, &mut [f32]) + Sync,
) -> Vec<f32> {
    let chunk = rows_per_task(width) * width;
    super::team::fill_zeroed(n, chunk, true, |i, out| {
        fill(i * chunk..i * chunk + out.len(), out)
    })
}

/// `exp(x)` for f32 in plain arithmetic that the compiler vectorises (libm's `expf` is a
/// call per element): Cephes' range reduction `x = k ln2 + r` with `|r| <= ln2/2` and its
/// degree-7 polynomial, then `2^k` through the exponent bits. Within 2 ulp of `expf` on
/// `[-87, 88]`; inputs outside are clamped (`exp(-87.3)` is below 1e-37, sigmoid's tail).
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let k = x * LOG2E + MAGIC;
    let kf = k - MAGIC;
    let ki = (k.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = x - kf * C1 - kf * C2;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits((ki.wrapping_add(127) << 23) as u32)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

/// Run a kernel with AVX2 and FMA enabled where the CPU has them (the same arithmetic: no
/// `mul_add` is written, so nothing is contracted and both paths give the same bits).
macro_rules! dispatch {
    ($name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn kernel($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide($($arg: $ty),*) {
                    kernel($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `wide` is compiled for.
                    return unsafe { wide($($arg),*) };
                }
            }
            kernel($($arg),*)
        }
    };
}

/// Lanes of the f64 sums below: one running sum per lane, so the loop vectorises instead of
/// waiting on one chain of additions (four cycles per element).
const LANES: usize = 8;

/// `sum(f(x_i))` in f64 over eight interleaved running sums, added up at the end.
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f64::from(f(v));
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        *a += f64::from(f(v));
    }
    acc.iter().sum()
}

/// `sum(x_i * y_i)` (products in f32) in f64, over lanes as [`lane_sum`].
#[inline(always)]
fn lane_dot(x: &[f32], y: &[f32]) -> f64 {
    let mut acc = [0f64; LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (c, d) in xc.zip(yc) {
        for ((a, &u), &v) in acc.iter_mut().zip(c).zip(d) {
            *a += f64::from(u * v);
        }
    }
    for ((a, &u), &v) in acc.iter_mut().zip(xr).zip(yr) {
        *a += f64::from(u * v);
    }
    acc.iter().sum()
}

dispatch!(rms_rows(a: &[f32], b: &[f32], width: usize, eps: f32, y: &mut [f32]) {
    for ((y, a), b) in y.chunks_mut(width).zip(a.chunks(width)).zip(b.chunks(width)) {
        // The sum first lands in y (which the normalised row overwrites after).
        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = a + b;
        }
        let ss = lane_sum(y, |x| x * x);
        let r = 1.0 / ((ss / width as f64) as f32 + eps).sqrt();
        for y in y.iter_mut() {
            *y *= r;
        }
    }
});

dispatch!(rms_bwd_rows(a: &[f32], b: &[f32], g: &[f32], width: usize, eps: f32, dx: &mut [f32]) {
    for (((dx, a), b), g) in dx
        .chunks_mut(width)
        .zip(a.chunks(width))
        .zip(b.chunks(width))
        .zip(g.chunks(width))
    {
        // x = a + b lands in dx first (the gradient overwrites it after).
        for ((dx, &a), &b) in dx.iter_mut().zip(a).zip(b) {
            *dx = a + b;
        }
        let ss = lane_sum(dx, |x| x * x);
        let gx = lane_dot(g, dx);
        let n = width as f64;
        let r = 1.0 / ((ss / n) as f32 + eps).sqrt();
        let c = (f64::from(r).powi(3) * gx / n) as f32;
        for (dx, &g) in dx.iter_mut().zip(g) {
            *dx = r * g - *dx * c;
        }
    }
});

dispatch!(silu_mul_elems(g: &[f32], u: &[f32], h: &mut [f32]) {
    for ((h, &g), &u) in h.iter_mut().zip(g).zip(u) {
        *h = g * sigmoid(g) * u;
    }
});

dispatch!(silu_mul_bwd_elems(x: &[f32], u: &[f32], g: &[f32], dg: &mut [f32], du: &mut [f32]) {
    for ((((dg, du), &x), &u), &g) in dg.iter_mut().zip(du.iter_mut()).zip(x).zip(u).zip(g) {
        let s = sigmoid(x);
        *du = g * x * s;
        *dg = g * u * s * (1.0 + x * (1.0 - s));
    }
});

dispatch!(softmax_rows(x: &[f32], width: usize, y: &mut [f32]) {
    for (y, x) in y.chunks_mut(width).zip(x.chunks(width)) {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        for c in x.chunks(LANES) {
            for (m, &v) in lanes.iter_mut().zip(c) {
                *m = m.max(v);
            }
        }
        let max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (y, &x) in y.iter_mut().zip(x) {
            *y = exp_approx(x - max);
        }
        let sum = lane_sum(y, |e| e) as f32;
        for y in y.iter_mut() {
            *y /= sum;
        }
    }
});

dispatch!(softmax_bwd_rows(y: &[f32], g: &[f32], width: usize, dx: &mut [f32]) {
    for ((dx, y), g) in dx.chunks_mut(width).zip(y.chunks(width)).zip(g.chunks(width)) {
        let dot = lane_dot(y, g) as f32;
        for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            *dx = y * (g - dot);
        }
    }
});

/// Rows of `hd` (one head at one position each) rotated with position `pos(row)`'s tables.
/// Forward `y = x cos + rot(x) sin` with `rot(x) = [-x2, x1]`; backward (the transpose)
/// `dx = g cos + [g2 sin2, -g1 sin1]`.
#[allow(clippy::too_many_arguments)]
fn rope_rows(
    x: &[f32],
    first_row: usize,
    heads: usize,
    len: usize,
    cos: &[f32],
    sin: &[f32],
    backward: bool,
    y: &mut [f32],
) {
    let hd = cos.len() / len.max(1);
    let half = hd / 2;
    for (i, (y, x)) in y.chunks_mut(hd).zip(x.chunks(hd)).enumerate() {
        let pos = ((first_row + i) / heads) % len;
        let (c, s) = (&cos[pos * hd..][..hd], &sin[pos * hd..][..hd]);
        for k in 0..half {
            if backward {
                y[k] = x[k] * c[k] + x[k + half] * s[k + half];
                y[k + half] = x[k + half] * c[k + half] + (-x[k]) * s[k];
            } else {
                y[k] = x[k] * c[k] + (-x[k + half]) * s[k];
                y[k + half] = x[k + half] * c[k + half] + x[k] * s[k + half];
            }
        }
    }
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax-last-dim"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "softmax")?;
        let width = last_dim(l);
        let y = par_rows(x.len(), width, |r, y| softmax_rows(&x[r], width, y));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(y.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxBwd)?))
    }
}

/// `dx = y (g - (g . y))` per row.
struct SoftmaxBwd;

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "softmax-last-dim-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = f32_slice(s1, l1, "softmax-bwd")?;
        let g = f32_slice(s2, l2, "softmax-bwd")?;
        let width = last_dim(l1);
        let dx = par_rows(y.len(), width, |r, dx| {
            softmax_bwd_rows(&y[r.clone()], &g[r], width, dx)
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

struct Rope {
    cos: Arc<Vec<f32>>,
    sin: Arc<Vec<f32>>,
    backward: bool,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "rope")?;
        let (_, len, heads, hd) = l.shape().dims4()?;
        let (cos, sin) = (&self.cos[..len * hd], &self.sin[..len * hd]);
        let rows_per = rows_per_task(hd);
        let chunk = rows_per * hd;
        let y = super::team::fill_zeroed(x.len(), chunk, true, |i, y| {
            let at = i * chunk;
            rope_rows(
                &x[at..at + y.len()],
                i * rows_per,
                heads,
                len,
                cos,
                sin,
                self.backward,
                y,
            );
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = Rope {
            cos: Arc::clone(&self.cos),
            sin: Arc::clone(&self.sin),
            backward: !self.backward,
        };
        Ok(Some(grad.contiguous()?.apply_op1(op)?))
    }
}

struct Transpose12;

impl CustomOp1 for Transpose12 {
    fn name(&self) -> &'static str {
        "transpose12"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "transpose12")?;
        let dims = l.dims();
        let (a, c) = (dims[1], dims[2]);
        let inner: usize = dims[3..].iter().product();
        // Output rows (b, c) of `a * inner` floats, gathered from rows (b, a) of the input.
        let width = (a * inner).max(1);
        let rows_per = rows_per_task(width);
        let y = super::team::fill_zeroed(x.len(), rows_per * width, true, |i, y| {
            for (r, row) in y.chunks_mut(width).enumerate() {
                let (bi, ci) = ((i * rows_per + r) / c, (i * rows_per + r) % c);
                let src = &x[(bi * a * c + ci) * inner..];
                if inner == 1 {
                    // A column of a matrix (no call per element).
                    for (ai, v) in row.iter_mut().enumerate() {
                        *v = src[ai * c];
                    }
                } else {
                    for (ai, dst) in row.chunks_mut(inner).enumerate() {
                        dst.copy_from_slice(&src[ai * c * inner..][..inner]);
                    }
                }
            }
        });
        let mut out = dims.to_vec();
        out.swap(1, 2);
        Ok((CpuStorage::F32(y), Shape::from(out)))
    }
}

struct AddRmsNorm {
    eps: f32,
}

impl CustomOp2 for AddRmsNorm {
    fn name(&self) -> &'static str {
        "add-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = f32_slice(s1, l1, "add-rms-norm")?;
        let b = f32_slice(s2, l2, "add-rms-norm")?;
        let width = last_dim(l1);
        let y = par_rows(a.len(), width, |r, y| {
            rms_rows(&a[r.clone()], &b[r], width, self.eps, y)
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = a.apply_op3_no_bwd(b, &grad.contiguous()?, &AddRmsNormBwd { eps: self.eps })?;
        Ok((Some(dx.clone()), Some(dx)))
    }
}

/// `d(rms_norm(a + b)) / d(a + b)` applied to the incoming gradient:
/// `dx = r g - x r^3 (g . x) / D`.
struct AddRmsNormBwd {
    eps: f32,
}

impl CustomOp3 for AddRmsNormBwd {
    fn name(&self) -> &'static str {
        "add-rms-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = f32_slice(s1, l1, "add-rms-norm-bwd")?;
        let b = f32_slice(s2, l2, "add-rms-norm-bwd")?;
        let g = f32_slice(s3, l3, "add-rms-norm-bwd")?;
        let width = last_dim(l1);
        let dx = par_rows(a.len(), width, |r, dx| {
            rms_bwd_rows(&a[r.clone()], &b[r.clone()], &g[r], width, self.eps, dx)
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// `silu(gate) * up` of `[.., gate | up]` rows.
struct SiluMulSplit;

impl CustomOp1 for SiluMulSplit {
    fn name(&self) -> &'static str {
        "silu-mul-split"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let gu = f32_slice(s, l, "silu-mul-split")?;
        let width = l.dims().last().copied().unwrap_or(2).max(2);
        let inter = width / 2;
        let rows_per = rows_per_task(inter);
        let h = super::team::fill_zeroed(gu.len() / 2, rows_per * inter, true, |i, h| {
            let first = i * rows_per;
            for (r, h) in h.chunks_mut(inter).enumerate() {
                let row = &gu[(first + r) * width..][..width];
                silu_mul_elems(&row[..inter], &row[inter..], h);
            }
        });
        let mut dims = l.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = inter;
        }
        Ok((CpuStorage::F32(h), Shape::from(dims)))
    }

    fn bwd(&self, gu: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            gu.apply_op2_no_bwd(&grad.contiguous()?, &SiluMulSplitBwd)?,
        ))
    }
}

/// The gradient of [`SiluMulSplit`]: rows `[d_gate | d_up]`.
struct SiluMulSplitBwd;

impl CustomOp2 for SiluMulSplitBwd {
    fn name(&self) -> &'static str {
        "silu-mul-split-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let gu = f32_slice(s1, l1, "silu-mul-split-bwd")?;
        let g = f32_slice(s2, l2, "silu-mul-split-bwd")?;
        let width = l1.dims().last().copied().unwrap_or(2).max(2);
        let inter = width / 2;
        let rows_per = rows_per_task(width);
        let d = super::team::fill_zeroed(gu.len(), rows_per * width, true, |i, d| {
            let first = i * rows_per;
            for (r, d) in d.chunks_mut(width).enumerate() {
                let row = first + r;
                let x = &gu[row * width..][..width];
                let (dg, du) = d.split_at_mut(inter);
                silu_mul_bwd_elems(&x[..inter], &x[inter..], &g[row * inter..][..inter], dg, du);
            }
        });
        Ok((CpuStorage::F32(d), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f32) -> Result<()> {
        let a = a.flatten_all()?.to_vec1::<f32>()?;
        let b = b.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "element {i}: fused {x} vs composite {y}"
            );
        }
        Ok(())
    }

    /// Forward values and both input gradients, fused against the composite path.
    fn check(
        fused: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
        composite: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
        dims: &[usize],
    ) -> Result<()> {
        let dev = Device::Cpu;
        let a = Var::from_tensor(&(Tensor::randn(0f32, 2.0, dims, &dev)?))?;
        let b = Var::from_tensor(&(Tensor::randn(0f32, 1.0, dims, &dev)?))?;
        // A non-uniform upstream gradient, so that the row dot products matter.
        let w = Tensor::randn(0f32, 1.0, dims, &dev)?;
        let yf = fused(a.as_tensor(), b.as_tensor())?;
        let yc = composite(a.as_tensor(), b.as_tensor())?;
        same_values_and_grads(&yf, &yc, &w, &[&a, &b])
    }

    /// `yf` and `yc` agree, and so do the gradients of `sum(y * w)` for every var.
    fn same_values_and_grads(yf: &Tensor, yc: &Tensor, w: &Tensor, vars: &[&Var]) -> Result<()> {
        close(yf, yc, 1e-5)?;
        let gf = (yf * w)?.sum_all()?.backward()?;
        let gc = (yc * w)?.sum_all()?.backward()?;
        for v in vars {
            close(
                gf.get(v.as_tensor()).expect("fused grad"),
                gc.get(v.as_tensor()).expect("composite grad"),
                1e-4,
            )?;
        }
        Ok(())
    }

    #[test]
    fn exp_approx_is_within_two_ulp_of_expf() {
        // Distance in units in the last place: adjacent positive floats differ by 1 in bits.
        let mut worst = 0u32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp_approx(x), x.exp());
            worst = worst.max(got.to_bits().abs_diff(want.to_bits()));
            x += 0.000_37;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(exp_approx(0.0), 1.0);
        assert!(exp_approx(-1e4) < 1e-37 && exp_approx(1e4).is_finite());
        assert!((0.0..1e-37).contains(&sigmoid(-1e4)));
        assert!((sigmoid(1e4) - 1.0).abs() < f32::EPSILON);
    }

    #[test]
    fn add_rms_norm_matches_the_composite_forward_and_backward() -> Result<()> {
        for dims in [&[3usize, 7, 64][..], &[5, 512], &[2, 81, 16]] {
            check(
                |a, b| add_rms_norm(a, b, 1e-5),
                |a, b| super::super::layers::rms_norm(&a.add(b)?, 1e-5),
                dims,
            )?;
        }
        Ok(())
    }

    #[test]
    fn swiglu_core_matches_two_products_forward_and_backward() -> Result<()> {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.3, (2 * 24, 16), &dev)?)?;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 5, 16), &dev)?)?;
        let up_w = Tensor::randn(0f32, 1.0, (3, 5, 24), &dev)?;
        let fused = swiglu_core(x.as_tensor(), w.as_tensor())?.expect("fused on the CPU");
        let gate =
            super::super::layers::linear(x.as_tensor(), &w.as_tensor().narrow(0, 0, 24)?, None)?;
        let up =
            super::super::layers::linear(x.as_tensor(), &w.as_tensor().narrow(0, 24, 24)?, None)?;
        let composite = gate.silu()?.mul(&up)?;
        same_values_and_grads(&fused, &composite, &up_w, &[&w, &x])
    }

    #[test]
    fn softmax_matches_the_composite_forward_and_backward() -> Result<()> {
        for dims in [&[2usize, 3, 7, 7][..], &[4, 97], &[1, 2, 82, 82]] {
            check(
                |a, b| softmax_last_dim(&(a * 3.0)?.add(b)?),
                |a, b| super::super::layers::softmax_last_dim_composite(&(a * 3.0)?.add(b)?),
                dims,
            )?;
        }
        Ok(())
    }

    #[test]
    fn transpose12_matches_candles_outside_and_inside_a_graph() -> Result<()> {
        // The sequence mixer's [B, L, D], attention's [B, L, H, hd], and a one-head case:
        // outside a graph (the parallel copy) the same bits; inside one (candle's path) the
        // same values and the same gradient of a weighted sum.
        let dev = Device::Cpu;
        for dims in [
            &[2usize, 5, 7][..],
            &[1, 97, 33],
            &[2, 5, 3, 8],
            &[1, 4, 1, 6],
        ] {
            let plain = Tensor::randn(0f32, 1.0, dims, &dev)?;
            let ours = transpose12(&plain)?.flatten_all()?.to_vec1::<f32>()?;
            let theirs = plain.transpose(1, 2)?.contiguous()?;
            assert_eq!(ours, theirs.flatten_all()?.to_vec1::<f32>()?, "{dims:?}");
            let x = Var::from_tensor(&plain)?;
            let yf = transpose12(&x.as_tensor().sqr()?)?;
            let yc = x.as_tensor().sqr()?.transpose(1, 2)?.contiguous()?;
            assert_eq!(yf.dims(), yc.dims());
            let (vf, vc) = (
                yf.flatten_all()?.to_vec1::<f32>()?,
                yc.flatten_all()?.to_vec1::<f32>()?,
            );
            assert_eq!(vf, vc, "{dims:?}");
            let w = Tensor::randn(0f32, 1.0, yf.dims(), &dev)?;
            let gf = (yf * &w)?.sum_all()?.backward()?;
            let gc = (yc * &w)?.sum_all()?.backward()?;
            let g = |s: &candle_core::backprop::GradStore| -> Result<Vec<f32>> {
                s.get(x.as_tensor())
                    .expect("gradient")
                    .flatten_all()?
                    .to_vec1::<f32>()
            };
            assert_eq!(g(&gf)?, g(&gc)?, "{dims:?}");
        }
        Ok(())
    }

    #[test]
    fn rope_matches_the_composite_forward_and_backward() -> Result<()> {
        let dev = Device::Cpu;
        let table = super::super::layers::Rope::new(8, 6, 10000.0, &dev)?;
        for dims in [&[2usize, 5, 3, 8][..], &[1, 6, 1, 8]] {
            check(
                |a, b| table.apply(&a.add(b)?),
                |a, b| table.apply_composite(&a.add(b)?),
                dims,
            )?;
        }
        Ok(())
    }

    #[test]
    fn non_f32_and_mismatched_inputs_take_the_composite_path() -> Result<()> {
        let dev = Device::Cpu;
        let a = Tensor::randn(0f32, 1.0, (4, 8), &dev)?.to_dtype(DType::BF16)?;
        let y = add_rms_norm(&a, &a, 1e-5)?;
        assert_eq!(y.dtype(), DType::BF16);
        // Different shapes are not fused: the composite path reports the mismatch.
        let b = Tensor::randn(0f32, 1.0, (1, 8), &dev)?;
        let a = a.to_dtype(DType::F32)?;
        assert!(
            add_rms_norm(&a, &b, 1e-5).is_err(),
            "add does not broadcast"
        );
        // bfloat16 weights or an odd gate_up are left to the two-product path.
        let w = Tensor::randn(0f32, 1.0, (6, 8), &dev)?;
        assert!(swiglu_core(&a, &w.to_dtype(DType::BF16)?)?.is_none());
        assert!(swiglu_core(&a, &w.narrow(0, 0, 5)?)?.is_none());
        Ok(())
    }
}
