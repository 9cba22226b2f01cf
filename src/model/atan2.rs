//! `atan2(y, x)` element by element as a candle op, which candle lacks: the direction of the
//! AdamATan2 update (official `adam_atan2`, `torch.atan2(exp_avg, denom)`). On the CPU it is
//! `f32::atan2` over the elements in order, the arithmetic of the host loop the optimizer ran
//! before it moved to the device, so the update stays bit-identical there. On CUDA it is a
//! one-line kernel (`atan2f`) compiled by NVRTC on first use and cached per device by candle.
//! Float32 only: the optimizer state and master weights are float32.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

struct Atan2;

/// The contiguous element range of an operand (the wrapper makes operands contiguous).
fn span(l: &Layout) -> Result<(usize, usize)> {
    l.contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("atan2: the operands must be contiguous".into()))
}

impl CustomOp2 for Atan2 {
    fn name(&self) -> &'static str {
        "atan2"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(y), CpuStorage::F32(x)) = (s1, s2) else {
            candle_core::bail!("atan2: float32 operands only");
        };
        let (a0, a1) = span(l1)?;
        let (b0, b1) = span(l2)?;
        let out: Vec<f32> = y[a0..a1]
            .iter()
            .zip(&x[b0..b1])
            .map(|(&y, &x)| y.atan2(x))
            .collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
        use candle_core::cuda_backend::WrapErr;
        let dev = &s1.device;
        let (a0, a1) = span(l1)?;
        let (b0, b1) = span(l2)?;
        let n = a1 - a0;
        let y = s1.as_cuda_slice::<f32>()?.slice(a0..a1);
        let x = s2.as_cuda_slice::<f32>()?.slice(b0..b1);
        let func = dev.get_or_load_custom_func(KERNEL_NAME, MODULE_NAME, cuda::ptx()?)?;
        // SAFETY: the kernel writes all `n` elements before anything reads them.
        let out = unsafe { dev.alloc::<f32>(n)? };
        let count = n as u32;
        let mut b = func.builder();
        b.arg(&y);
        b.arg(&x);
        b.arg(&out);
        b.arg(&count);
        // SAFETY: the arguments match the kernel's signature (three f32 buffers of at least
        // `count` elements, then `count`), and the launch covers `count` threads.
        unsafe { b.launch(LaunchConfig::for_num_elems(count)) }.w()?;
        Ok((
            candle_core::CudaStorage::wrap_cuda_slice(out, dev.clone()),
            l1.shape().clone(),
        ))
    }
}

#[cfg(feature = "cuda")]
const KERNEL_NAME: &str = "trm_atan2_f32";
#[cfg(feature = "cuda")]
const MODULE_NAME: &str = "trm_atan2";

#[cfg(feature = "cuda")]
mod cuda {
    use std::sync::OnceLock;

    /// The kernel's source: one thread per element.
    const SOURCE: &str = r#"
extern "C" __global__ void trm_atan2_f32(const float *y, const float *x, float *out, unsigned int n) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = atan2f(y[i], x[i]);
    }
}
"#;

    /// The kernel as PTX, compiled by NVRTC once per process.
    pub fn ptx() -> candle_core::Result<&'static str> {
        static PTX: OnceLock<Result<String, String>> = OnceLock::new();
        PTX.get_or_init(|| {
            candle_core::cuda_backend::cudarc::nvrtc::compile_ptx(SOURCE)
                .map(|p| p.to_src())
                .map_err(|e| format!("{e:?}"))
        })
        .as_deref()
        .map_err(|e| {
            candle_core::Error::Msg(format!("atan2: NVRTC cannot compile the kernel: {e}"))
        })
    }
}

/// `atan2(y, x)` element by element (no gradient): float32 tensors of one shape.
pub fn atan2(y: &Tensor, x: &Tensor) -> Result<Tensor> {
    if y.dims() != x.dims() {
        candle_core::bail!("atan2: shapes {:?} and {:?} differ", y.dims(), x.dims());
    }
    if y.dtype() != DType::F32 || x.dtype() != DType::F32 {
        candle_core::bail!(
            "atan2: float32 operands only, got {:?} and {:?}",
            y.dtype(),
            x.dtype()
        );
    }
    y.contiguous()?.apply_op2_no_bwd(&x.contiguous()?, &Atan2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_f32_atan2_bit_for_bit_on_all_quadrants_and_zeros() -> Result<()> {
        let ys = [
            1.0f32,
            -1.0,
            0.0,
            -0.0,
            3.5e-8,
            -2.0,
            7.0,
            f32::INFINITY,
            1e-30,
        ];
        let xs = [1.0f32, 1.0, -1.0, -1.0, 1e-4, -3.0, 0.0, 2.0, 1e-30];
        let y = Tensor::new(&ys, &Device::Cpu)?;
        let x = Tensor::new(&xs, &Device::Cpu)?;
        let got: Vec<f32> = atan2(&y, &x)?.to_vec1()?;
        for i in 0..ys.len() {
            // black_box: the reference is libm's at run time, as in the optimizer's old host
            // loop, not a value the compiler folded from the constants.
            let want = std::hint::black_box(ys[i]).atan2(std::hint::black_box(xs[i]));
            assert_eq!(got[i].to_bits(), want.to_bits(), "element {i}");
        }
        // A strided operand is made contiguous first.
        let m = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu)?;
        let t: Vec<Vec<f32>> = atan2(&m.t()?, &m)?.to_vec2()?;
        assert_eq!(t[0][1].to_bits(), 3f32.atan2(2.0).to_bits());
        assert!(atan2(&y, &m).is_err());
        assert!(atan2(&y.to_dtype(DType::F64)?, &x).is_err());
        Ok(())
    }
}
