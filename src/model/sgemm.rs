//! The f32 matrix product of the CPU path, `C = A·B` for any row and column strides of `A`
//! and `B`, written BLIS-style: `B` is packed into micro-panels of [`NR`] columns (`k`-major,
//! with 8×8 register transposes when `B` is a transposed weight, as in `x @ w^T`), `A` is read
//! in place when row-major and packed into panels of [`MR`] rows otherwise, and a 6×16
//! AVX2/FMA micro-kernel keeps a tile of `C` in twelve registers (the last tiles of fewer rows
//! run the same kernel at their own row count; see `RowPanels`). The tiles of `C` are grouped
//! into blocks of about `MC` rows and `NC` columns, one task each of [`super::team`];
//! batched products run one matrix per task instead. While a `B` micro-panel serves its
//! column of tiles, the next one is prefetched into L2 a slice per tile (a paper-size weight
//! may no longer be in the L3, which other cores and processes share, at the next net call).
//!
//! Each element of `C` is one chain of fused multiply-adds over `k` in increasing order,
//! whatever the blocking or the number of threads, so results do not depend on the pool size
//! and a product of some rows equals those rows of the whole product.
//!
//! Also here: the candle ops that call it (differentiable, for `linear` and attention), and
//! [`pack_scope`], which packs the detached weights of a supervision step once for all its
//! products. candle's own CPU product (the `gemm` crate) zero-fills its output and cannot keep
//! a packed weight between calls (`cargo bench --bench sgemm` compares the two on their own).
//! It needs AVX2 and FMA: [`available`] says whether the CPU has them, and callers fall back
//! to candle's product otherwise.

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::Arc;

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape,
    Tensor, TensorId,
};

use super::team::SendPtr;

/// Rows of a micro-tile.
pub const MR: usize = 6;
/// Columns of a micro-tile (two AVX registers).
pub const NR: usize = 16;
/// Depth of one packed block (an `A` micro-panel of `KC × MR` and a `B` micro-panel of
/// `KC × NR` stay in L1).
const KC: usize = 256;
/// About the rows of a task's block (16 micro-panels: `MC × KC` floats of `A` in L2).
const MC: usize = 16 * MR;
/// Columns of a task's block (16 micro-panels).
const NC: usize = 16 * NR;

/// Whether this CPU runs the kernel (AVX2 and FMA on x86-64).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A strided read-only matrix: element `(i, j)` is at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// The transpose, as a view of the same elements.
    fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// A `rows × cols` view of `data` from `offset` with strides `rs`, `cs`; `None` when an
    /// element would fall outside `data`.
    pub fn new(
        data: &'a [f32],
        offset: usize,
        rows: usize,
        cols: usize,
        rs: usize,
        cs: usize,
    ) -> Option<Self> {
        if rows > 0 && cols > 0 {
            let last = offset + (rows - 1) * rs + (cols - 1) * cs;
            if last >= data.len() {
                return None;
            }
        }
        Some(Self {
            data,
            offset,
            rows,
            cols,
            rs,
            cs,
        })
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> f32 {
        // SAFETY: `new` checked that every (i < rows, j < cols) element is inside `data`,
        // and the packers only ask for those.
        unsafe {
            *self
                .data
                .get_unchecked(self.offset + i * self.rs + j * self.cs)
        }
    }
}

/// `A · B` for `A: m × k` and `B: k × n`, as a row-major `m × n` vector. Panics when the CPU
/// lacks AVX2/FMA (check [`available`]).
pub fn matmul(a: MatRef<'_>, b: MatRef<'_>, m: usize, k: usize, n: usize) -> Vec<f32> {
    assert!(available(), "sgemm::matmul needs AVX2 and FMA");
    assert!(
        (a.rows, a.cols, b.rows, b.cols) == (m, k, k, n),
        "sgemm::matmul: views of {}x{} and {}x{} for a {m}x{k} by {k}x{n} product",
        a.rows,
        a.cols,
        b.rows,
        b.cols
    );
    gemm(a, Operand::View(b), m, k, n)
}

/// `A · B` as a new row-major `m × n` vector, computed over the whole pool.
fn gemm(a: MatRef<'_>, b: Operand<'_>, m: usize, k: usize, n: usize) -> Vec<f32> {
    let len = m * n;
    if k == 0 || len == 0 {
        return vec![0.0; len];
    }
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let c = SendPtr(out.spare_capacity_mut()[..len].as_mut_ptr().cast::<f32>());
    gemm_into(a, b, m, k, n, c, true);
    // SAFETY: `gemm_into` wrote every element of the m × n output (through raw pointers into
    // the spare capacity: no reference to an uninitialised float is made).
    unsafe { out.set_len(len) };
    out
}

/// `batch` independent products `A_i · B_i` (`A_i: m × k` at `a` plus `i * a_bs`, `B_i: k × n`
/// at `b` plus `i * b_bs`), as one row-major `batch × m × n` vector. The batch is split over
/// the threads (each product on one), as the attention heads need. `None` when a view falls
/// outside its buffer. Panics when the CPU lacks AVX2/FMA.
#[allow(clippy::too_many_arguments)]
pub fn batched_matmul(
    a: MatRef<'_>,
    a_bs: usize,
    b: MatRef<'_>,
    b_bs: usize,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
) -> Option<Vec<f32>> {
    assert!(available(), "sgemm::batched_matmul needs AVX2 and FMA");
    let len = batch * m * n;
    if k == 0 || len == 0 {
        return Some(vec![0.0; len]);
    }
    let views: Option<Vec<(MatRef<'_>, MatRef<'_>)>> = (0..batch)
        .map(|i| {
            let ai = MatRef::new(a.data, a.offset + i * a_bs, m, k, a.rs, a.cs)?;
            let bi = MatRef::new(b.data, b.offset + i * b_bs, k, n, b.rs, b.cs)?;
            Some((ai, bi))
        })
        .collect();
    let views = views?;
    if batch == 1 {
        return Some(gemm(views[0].0, Operand::View(views[0].1), m, k, n));
    }
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let c = SendPtr(out.spare_capacity_mut()[..len].as_mut_ptr().cast::<f32>());
    super::team::for_each(batch, |i| {
        let (ai, bi) = views[i];
        // SAFETY: product i writes only its own m × n slice of the output.
        let ci = unsafe { c.offset(i * m * n) };
        gemm_into(ai, Operand::View(bi), m, k, n, ci, false);
    });
    // SAFETY: every product wrote all of its slice through raw pointers (see `gemm`).
    unsafe { out.set_len(len) };
    Some(out)
}

/// `C = A · B` into the uninitialised row-major `m × n` output at `c`; `k > 0`. Row-major `A` is read in place (six row streams), any
/// other layout is packed; `B` is packed. The tasks are blocks of about [`MC`] × [`NC`] of `C`.
#[allow(clippy::too_many_arguments)]
fn gemm_into(
    a: MatRef<'_>,
    b: Operand<'_>,
    m: usize,
    k: usize,
    n: usize,
    c: SendPtr,
    parallel: bool,
) {
    let rows = RowPanels::new(m);
    let (m_panels, n_panels) = (rows.count, n.div_ceil(NR));
    let direct_a = a.cs == 1;
    let packed_a = if direct_a {
        Vec::new()
    } else {
        // SAFETY: `pack_a` writes all `k * MR` floats of its panel.
        unsafe {
            super::team::fill(m_panels * k * MR, k * MR, parallel, |ip, panel| {
                let (r0, mr) = rows.at(ip);
                pack_a(a, r0, mr, k, panel)
            })
        }
    };
    let fresh_b;
    let packed_b: &[f32] = match b {
        Operand::Packed(p) => p,
        Operand::View(b) => {
            fresh_b = pack_b_panels(b, k, n, parallel);
            &fresh_b
        }
    };
    // Row blocks of about MC/MR panels (2/3 to 4/3 of it), all the same size to a panel: 97
    // rows make one block of 17 panels, not one of 16 and one of a single row (a task that
    // would stream a whole block of B for that row).
    let mut m_blocks = ((m_panels + MC / MR / 2) / (MC / MR)).max(1);
    let n_blocks = n.div_ceil(NC);
    if parallel {
        // A few tasks share the threads evenly (5 equal tasks on 2 threads would take three
        // rounds): split the rows finer until the count divides, if it can.
        let threads = super::team::threads();
        let tasks = m_blocks * n_blocks;
        if tasks < 8 * threads {
            if let Some(mb) = (m_blocks..m_blocks + threads)
                .take_while(|&mb| mb <= m_panels)
                .find(|mb| (mb * n_blocks).is_multiple_of(threads))
            {
                m_blocks = mb;
            }
        }
    }
    let tasks = m_blocks * n_blocks;
    let run = |task: usize| {
        let (mb, nb) = (task / n_blocks, task % n_blocks);
        let (ip0, ip1) = (mb * m_panels / m_blocks, (mb + 1) * m_panels / m_blocks);
        let (jp0, jp1) = (nb * NC / NR, ((nb + 1) * NC / NR).min(n_panels));
        let mut p0 = 0;
        while p0 < k {
            let kc = KC.min(k - p0);
            for jp in jp0..jp1 {
                let nr = NR.min(n - jp * NR);
                // The B micro-panel after this one (the next column panel, or the block's
                // first one at the next depth), fetched into L2 a slice per row panel while
                // this one runs, so that its first tile does not wait on memory.
                let next = if jp + 1 < jp1 {
                    Some((jp + 1, p0))
                } else if p0 + kc < k {
                    Some((jp0, p0 + kc))
                } else {
                    None
                };
                let next = next.map(|(jn, pn)| {
                    // SAFETY: inside the packed panels (see below).
                    (
                        unsafe { packed_b.as_ptr().add(jn * k * NR + pn * NR) },
                        KC.min(k - pn),
                    )
                });
                for ip in ip0..ip1 {
                    if let Some((ptr, kn)) = next {
                        // One line of 64 bytes per depth step (NR floats).
                        let (i, cnt) = (ip - ip0, ip1 - ip0);
                        let (l0, l1) = (kn * i / cnt, kn * (i + 1) / cnt);
                        // SAFETY: lines l0..l1 of the next panel's kn steps lie in packed_b.
                        unsafe { prefetch_l2(ptr.add(l0 * NR), l1 - l0) };
                    }
                    let (r0, mr) = rows.at(ip);
                    // SAFETY: the packed panels hold `k` steps of MR (NR) floats, and the
                    // in-place rows of A `k` floats from their start; the tile
                    // (r0 .. r0 + mr, jp*NR .. + nr) lies inside the m × n output and no other
                    // task writes this block. Before p0 = 0 the output is uninitialised, and
                    // there the kernel writes without reading.
                    unsafe {
                        let a_panel = if direct_a {
                            APanel {
                                ptr: a.data.as_ptr().add(a.offset + r0 * a.rs + p0),
                                rs: a.rs,
                                ps: 1,
                            }
                        } else {
                            APanel {
                                ptr: packed_a.as_ptr().add(ip * k * MR + p0 * MR),
                                rs: 1,
                                ps: MR,
                            }
                        };
                        let tile = CTile {
                            ptr: c.offset(r0 * n + jp * NR).0,
                            ld: n,
                            rows: mr,
                            cols: nr,
                        };
                        kernel(
                            kc,
                            a_panel,
                            packed_b.as_ptr().add(jp * k * NR + p0 * NR),
                            tile,
                            p0 > 0,
                        );
                    }
                }
            }
            p0 += kc;
        }
    };
    if parallel && tasks > 1 {
        super::team::for_each(tasks, run);
    } else {
        (0..tasks).for_each(run);
    }
}

/// Hint the CPU to bring `lines` cache lines from `ptr` on into L2.
///
/// # Safety
/// The lines lie inside one allocation.
#[inline(always)]
unsafe fn prefetch_l2(ptr: *const f32, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        for l in 0..lines {
            _mm_prefetch::<_MM_HINT_T1>(ptr.add(l * NR) as *const i8);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, lines);
}

/// How the `m` rows of `C` fall into micro-panels: [`MR`] rows each, except that a
/// remainder of one row is joined to the panel before it and the seven rows split as 4 + 3.
/// A one-row tile does two multiply-adds per three loads, so it runs at load speed and costs
/// several times its share of the product's time; tiles of three rows or more are bound by
/// their multiply-adds. Each element of `C` is still the same chain, whatever its tile.
#[derive(Clone, Copy)]
struct RowPanels {
    m: usize,
    count: usize,
    /// Whether the last two panels are the 4 + 3 split.
    split: bool,
}

impl RowPanels {
    fn new(m: usize) -> Self {
        let split = m > MR && m % MR == 1;
        let count = if split { m / MR + 1 } else { m.div_ceil(MR) };
        Self { m, count, split }
    }

    /// First row and row count of panel `ip`.
    fn at(self, ip: usize) -> (usize, usize) {
        if self.split && ip + 2 >= self.count {
            let r0 = (self.count - 2) * MR;
            return if ip + 2 == self.count {
                (r0, 4)
            } else {
                (r0 + 4, 3)
            };
        }
        let r0 = ip * MR;
        (r0, MR.min(self.m - r0))
    }
}

/// The right operand of a product: a view to pack, or panels packed before.
#[derive(Clone, Copy)]
enum Operand<'a> {
    View(MatRef<'a>),
    Packed(&'a [f32]),
}

/// All of `B: k × n` as [`NR`]-column micro-panels, `k`-major, packed in parallel.
fn pack_b_panels(b: MatRef<'_>, k: usize, n: usize, parallel: bool) -> Vec<f32> {
    // SAFETY: `pack_b` writes all `k * NR` floats of its panel.
    unsafe {
        super::team::fill(n.div_ceil(NR) * k * NR, k * NR, parallel, |jp, panel| {
            let cols = NR.min(n - jp * NR);
            // SAFETY: callers checked `available()`; the panel holds `k * NR` floats.
            pack_b(b, jp * NR, cols, k, panel)
        })
    }
}

/// The transpose of eight rows of eight floats: `out[j][i] = rows[i][j]`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose8(r: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// Packs rows `r0..r0+rows` (`rows <= MR`) of `A`, all `k` columns, into one micro-panel
/// `dst[p * MR + r]`, zero-padding missing rows; writes all of the first `k * MR` floats of
/// the (uninitialised) `dst`. Row-major `A` is never packed (the kernel reads it in place);
/// a transposed one (`rs == 1`) copies `MR` consecutive floats per step.
fn pack_a(a: MatRef<'_>, r0: usize, rows: usize, k: usize, dst: &mut [MaybeUninit<f32>]) {
    if a.rs == 1 && rows == MR {
        for (p, d) in dst.chunks_exact_mut(MR).take(k).enumerate() {
            let s = a.offset + r0 + p * a.cs;
            for (o, &v) in d.iter_mut().zip(&a.data[s..s + MR]) {
                o.write(v);
            }
        }
        return;
    }
    for (p, d) in dst.chunks_exact_mut(MR).take(k).enumerate() {
        for (r, v) in d.iter_mut().enumerate() {
            v.write(if r < rows { a.at(r0 + r, p) } else { 0.0 });
        }
    }
}

/// Packs columns `c0..c0+cols` (`cols <= NR`) of `B`, all `k` rows, into one micro-panel
/// `dst[p * NR + c]`, zero-padding missing columns; writes all of the first `k * NR` floats
/// of the (uninitialised) `dst`, through raw pointers (no reference to an uninitialised float
/// is made).
///
/// # Safety
/// AVX2 is available; `dst` holds `k * NR` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_b(b: MatRef<'_>, c0: usize, cols: usize, k: usize, dst: &mut [MaybeUninit<f32>]) {
    use std::arch::x86_64::*;
    let d = dst.as_mut_ptr().cast::<f32>();
    let mut p = 0;
    if b.cs == 1 && cols == NR {
        // Rows contiguous: each step is NR consecutive floats.
        while p < k {
            let s = b.data.as_ptr().add(b.offset + p * b.rs + c0);
            _mm256_storeu_ps(d.add(p * NR), _mm256_loadu_ps(s));
            _mm256_storeu_ps(d.add(p * NR + 8), _mm256_loadu_ps(s.add(8)));
            p += 1;
        }
    } else if b.rs == 1 && cols == NR {
        // Columns contiguous along k (a transposed row-major matrix, as `x @ w^T`): two 8×8
        // transposes per eight steps.
        let src: [*const f32; NR] =
            std::array::from_fn(|i| b.data.as_ptr().add(b.offset + (c0 + i) * b.cs));
        while p + 8 <= k {
            for half in 0..2 {
                let rows = transpose8(std::array::from_fn(|i| {
                    _mm256_loadu_ps(src[half * 8 + i].add(p))
                }));
                for (j, v) in rows.iter().enumerate() {
                    _mm256_storeu_ps(d.add((p + j) * NR + half * 8), *v);
                }
            }
            p += 8;
        }
    }
    for p in p..k {
        for c in 0..NR {
            *d.add(p * NR + c) = if c < cols { b.at(p, c0 + c) } else { 0.0 };
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn pack_b(_: MatRef<'_>, _: usize, _: usize, _: usize, _: &mut [MaybeUninit<f32>]) {
    unreachable!("sgemm::available() is false off x86-64")
}

/// Where a kernel reads its rows of `A` (as many as its tile of `C` has): row `r`, step `p` at
/// `ptr + r * rs + p * ps`. Packed panels have `rs = 1, ps = MR`; row-major `A` read in place
/// has `rs = lda, ps = 1`.
#[derive(Clone, Copy)]
struct APanel {
    ptr: *const f32,
    rs: usize,
    ps: usize,
}

/// Where a kernel writes its tile of `C`: `rows` (at most [`MR`]) rows, row `r` at
/// `ptr + r * ld`, of which the first `cols` (at most [`NR`]) columns lie inside `C`.
#[derive(Clone, Copy)]
struct CTile {
    ptr: *mut f32,
    ld: usize,
    rows: usize,
    cols: usize,
}

/// One tile of `c.rows × NR` (at most [`MR`] rows): `C = A_panel · B_panel` (or `C +=`
/// when `accumulate`) over `kc`, writing only the part of the tile that lies inside `C`.
///
/// # Safety
/// `a` can be read for `kc` steps of its rows and `b` holds `kc * NR` floats; the `rows × cols`
/// corner of `c` can be written (and read when `accumulate`). The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
unsafe fn kernel(kc: usize, a: APanel, b: *const f32, c: CTile, accumulate: bool) {
    match c.rows {
        6 => kernel_rows::<6>(kc, a, b, c, accumulate),
        5 => kernel_rows::<5>(kc, a, b, c, accumulate),
        4 => kernel_rows::<4>(kc, a, b, c, accumulate),
        3 => kernel_rows::<3>(kc, a, b, c, accumulate),
        2 => kernel_rows::<2>(kc, a, b, c, accumulate),
        _ => kernel_rows::<1>(kc, a, b, c, accumulate),
    }
}

/// [`kernel`] for `R` rows: `2R` accumulators, each step two loads of `B`, `R` broadcasts of
/// `A` and `2R` fused multiply-adds (the loops over `R` unroll at compile time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_rows<const R: usize>(
    kc: usize,
    a: APanel,
    b: *const f32,
    c: CTile,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    // Full tiles are loaded and stored in place; tiles cut by the last columns go through
    // `tmp`.
    let full = c.cols == NR;
    let mut tmp = [0f32; MR * NR];
    let (dst, ld) = if full {
        (c.ptr, c.ld)
    } else {
        if accumulate {
            for r in 0..R {
                for j in 0..c.cols {
                    tmp[r * NR + j] = *c.ptr.add(r * c.ld + j);
                }
            }
        }
        (tmp.as_mut_ptr(), NR)
    };
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    if accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            row[0] = _mm256_loadu_ps(dst.add(r * ld));
            row[1] = _mm256_loadu_ps(dst.add(r * ld + 8));
        }
    }
    let mut offs = [0usize; R];
    for (r, o) in offs.iter_mut().enumerate() {
        *o = r * a.rs;
    }
    let (mut ap, mut bp) = (a.ptr, b);
    for _ in 0..kc {
        let b0 = _mm256_loadu_ps(bp);
        let b1 = _mm256_loadu_ps(bp.add(8));
        for r in 0..R {
            let ar = _mm256_broadcast_ss(&*ap.add(offs[r]));
            acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
        }
        ap = ap.add(a.ps);
        bp = bp.add(NR);
    }
    for (r, row) in acc.iter().enumerate() {
        _mm256_storeu_ps(dst.add(r * ld), row[0]);
        _mm256_storeu_ps(dst.add(r * ld + 8), row[1]);
    }
    if !full {
        for r in 0..R {
            for j in 0..c.cols {
                *c.ptr.add(r * c.ld + j) = tmp[r * NR + j];
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel(_: usize, _: APanel, _: *const f32, _: CTile, _: bool) {
    unreachable!("sgemm::available() is false off x86-64")
}

/// `a @ b` for 2-D f32 tensors on the CPU through [`matmul`] (any strides, so transposed views
/// cost no copy), differentiable: the backward pass is two more products through the same
/// kernel. `None` where it does not apply (another device or dtype, another rank, no AVX2).
pub fn matmul_tensor(a: &Tensor, b: &Tensor) -> Result<Option<Tensor>> {
    let applies = available()
        && a.device().is_cpu()
        && b.device().is_cpu()
        && a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && a.rank() == 2
        && b.rank() == 2;
    if !applies {
        return Ok(None);
    }
    let (_, k) = a.dims2()?;
    let (k2, _) = b.dims2()?;
    if k != k2 {
        candle_core::bail!(
            "matmul: {:?} @ {:?}: inner dimensions differ",
            a.shape(),
            b.shape()
        );
    }
    Ok(Some(a.apply_op2(b, MatMul)?))
}

struct MatMul;

/// `a @ b` for f32 CPU tensors of the same rank >= 3 with equal leading (batch) dimensions,
/// each stored so that the batch dimensions merge into one (any strides on the last two,
/// so `k.t()` costs no copy); differentiable. `None` where it does not apply.
pub fn batched_matmul_tensor(a: &Tensor, b: &Tensor) -> Result<Option<Tensor>> {
    let r = a.rank();
    let applies = available()
        && a.device().is_cpu()
        && b.device().is_cpu()
        && a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && r >= 3
        && b.rank() == r
        && a.dims()[..r - 2] == b.dims()[..r - 2]
        && a.dims()[r - 1] == b.dims()[r - 2]
        && batch_stride(a.layout()).is_some()
        && batch_stride(b.layout()).is_some();
    if !applies {
        return Ok(None);
    }
    Ok(Some(a.apply_op2(b, BatchedMatMul)?))
}

/// The stride between consecutive matrices when the leading dimensions of `l` merge into one
/// (dimensions of size 1 carry no stride; with none larger the batch is one matrix).
fn batch_stride(l: &Layout) -> Option<usize> {
    let (dims, st) = (l.dims(), l.stride());
    let r = dims.len();
    if r < 3 {
        return None;
    }
    let batch: Vec<(usize, usize)> = (0..r - 2)
        .filter(|&i| dims[i] > 1)
        .map(|i| (dims[i], st[i]))
        .collect();
    if batch.windows(2).any(|w| w[0].1 != w[1].1 * w[1].0) {
        return None;
    }
    Some(batch.last().map_or(0, |&(_, s)| s))
}

struct BatchedMatMul;

impl CustomOp2 for BatchedMatMul {
    fn name(&self) -> &'static str {
        "sgemm-batched"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (d1, d2) = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(y)) => (x.as_slice(), y.as_slice()),
            _ => candle_core::bail!("batched matmul: expected f32"),
        };
        let (dims1, dims2) = (l1.dims(), l2.dims());
        let r = dims1.len();
        let (m, k, n) = (dims1[r - 2], dims1[r - 1], dims2[r - 1]);
        let batch: usize = dims1[..r - 2].iter().product();
        let (st1, st2) = (l1.stride(), l2.stride());
        let err = || candle_core::Error::Msg("batched matmul: a view outside its storage".into());
        let (bs1, bs2) = (
            batch_stride(l1).ok_or_else(err)?,
            batch_stride(l2).ok_or_else(err)?,
        );
        let a = MatRef::new(d1, l1.start_offset(), m, k, st1[r - 2], st1[r - 1]).ok_or_else(err)?;
        let b = MatRef::new(d2, l2.start_offset(), k, n, st2[r - 2], st2[r - 1]).ok_or_else(err)?;
        let out = batched_matmul(a, bs1, b, bs2, batch, m, k, n).ok_or_else(err)?;
        let mut shape = dims1.to_vec();
        shape[r - 1] = n;
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let r = a.rank();
        let grad = grad.contiguous()?;
        let da = grad.apply_op2_no_bwd(&b.transpose(r - 2, r - 1)?, &BatchedMatMul)?;
        let db = a
            .transpose(r - 2, r - 1)?
            .apply_op2_no_bwd(&grad, &BatchedMatMul)?;
        Ok((Some(da), Some(db)))
    }
}

fn view<'a>(s: &'a CpuStorage, l: &Layout) -> Result<(MatRef<'a>, usize, usize)> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        other => candle_core::bail!("matmul: expected f32, got {:?}", other.dtype()),
    };
    let (rows, cols) = l.shape().dims2()?;
    let st = l.stride();
    MatRef::new(data, l.start_offset(), rows, cols, st[0], st[1])
        .map(|m| (m, rows, cols))
        .ok_or_else(|| candle_core::Error::Msg("matmul: a view outside its storage".into()))
}

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        "sgemm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, m, k) = view(s1, l1)?;
        let (b, _, n) = view(s2, l2)?;
        Ok((CpuStorage::F32(matmul(a, b, m, k, n)), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let da = grad.apply_op2_no_bwd(&b.t()?, &MatMul)?;
        let db = a.t()?.apply_op2_no_bwd(grad, &MatMul)?;
        Ok((Some(da), Some(db)))
    }
}

/// A weight `w: [n, k]` (PyTorch layout) packed once as the right operand of `x @ w^T`, for
/// the products of a forward pass that uses the same weights many times (the no-gradient
/// cycles of a supervision step, and every cycle of a solve).
pub struct PackedWeight {
    panels: Vec<f32>,
    n: usize,
    k: usize,
    /// The weight itself, for the backward pass `dx = dy @ w`.
    w: Tensor,
}

thread_local! {
    static PACKED: RefCell<HashMap<TensorId, Arc<PackedWeight>>> = RefCell::new(HashMap::new());
}

/// While alive, [`packed_for`] on this thread finds the weights given to [`pack_scope`].
/// The caller promises the weights do not change meanwhile (candle tensors are immutable;
/// only an optimizer's in-place update of a `Var` could, and it runs between steps).
pub struct PackScope {
    ids: Vec<TensorId>,
}

impl Drop for PackScope {
    fn drop(&mut self) {
        PACKED.with_borrow_mut(|map| {
            for id in &self.ids {
                map.remove(id);
            }
        });
    }
}

/// Packs the 2-D f32 CPU weights among `ws` (others are skipped) for this thread's products
/// until the scope is dropped.
pub fn pack_scope<'a>(ws: impl IntoIterator<Item = &'a Tensor>) -> Result<PackScope> {
    let mut ids = Vec::new();
    if !available() {
        return Ok(PackScope { ids });
    }
    for w in ws {
        if !w.device().is_cpu() || w.dtype() != DType::F32 || w.rank() != 2 {
            continue;
        }
        let (n, k) = w.dims2()?;
        let (storage, layout) = w.storage_and_layout();
        let packed = match &*storage {
            candle_core::Storage::Cpu(s) => {
                let (view, _, _) = view(s, layout)?;
                // B = w^T: k × n.
                let b = view.t();
                pack_b_panels(b, k, n, true)
            }
            _ => continue,
        };
        drop(storage);
        let p = Arc::new(PackedWeight {
            panels: packed,
            n,
            k,
            w: w.clone(),
        });
        PACKED.with_borrow_mut(|map| map.insert(w.id(), p));
        ids.push(w.id());
    }
    Ok(PackScope { ids })
}

/// The packed form of `w` if a live [`pack_scope`] on this thread holds it.
pub fn packed_for(w: &Tensor) -> Option<Arc<PackedWeight>> {
    PACKED.with_borrow(|map| map.get(&w.id()).cloned())
}

/// `x @ w^T` for `x: [rows, k]` (f32, CPU) with `w` packed; differentiable in `x`.
pub fn linear_packed(x: &Tensor, w: &Arc<PackedWeight>) -> Result<Tensor> {
    x.apply_op1(LinearPacked(Arc::clone(w)))
}

struct LinearPacked(Arc<PackedWeight>);

impl CustomOp1 for LinearPacked {
    fn name(&self) -> &'static str {
        "sgemm-packed"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, m, k) = view(s, l)?;
        let w = &self.0;
        if k != w.k {
            candle_core::bail!("linear: input width {k}, weight expects {}", w.k);
        }
        let out = gemm(a, Operand::Packed(&w.panels), m, k, w.n);
        Ok((CpuStorage::F32(out), Shape::from((m, w.n))))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.apply_op2_no_bwd(&self.0.w, &MatMul)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0f64; m * n];
        for i in 0..m {
            for p in 0..k {
                for j in 0..n {
                    c[i * n + j] += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
            }
        }
        c
    }

    fn data(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32
                    / 1000.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn products_match_a_naive_sum_across_edges_and_both_layouts() {
        if !available() {
            return;
        }
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 3, 7),
            (6, 16, 16),
            (97, 300, 50),
            (200, 513, 270),
            (13, 600, 33),
            // Last panels of 4 and 3 rows; 67 panels in 4 row blocks of 16-17; seven rows
            // (and 13 and 97 above) as 4 + 3.
            (16, 40, 20),
            (7, 20, 9),
            (99, 70, 17),
            (400, 40, 20),
        ] {
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let want = naive(&a, &b, m, k, n);
            // Row-major A and B.
            let got = matmul(
                MatRef::new(&a, 0, m, k, k, 1).unwrap(),
                MatRef::new(&b, 0, k, n, n, 1).unwrap(),
                m,
                k,
                n,
            );
            // The same through transposed storage: at = A^T row-major (k × m), bt = B^T.
            let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let got_t = matmul(
                MatRef::new(&at, 0, m, k, 1, m).unwrap(),
                MatRef::new(&bt, 0, k, n, 1, k).unwrap(),
                m,
                k,
                n,
            );
            for (i, w) in want.iter().enumerate() {
                let tol = 1e-4 * (k as f64).sqrt() * (1.0 + w.abs());
                assert!(
                    (got[i] as f64 - w).abs() <= tol,
                    "{m}x{k}x{n} [{i}]: {} vs {w}",
                    got[i]
                );
                // Same chains of multiply-adds whatever the layout: the same bits.
                assert_eq!(got[i].to_bits(), got_t[i].to_bits(), "{m}x{k}x{n} [{i}]");
            }
        }
    }

    #[test]
    fn row_panels_cover_every_row_once_and_never_leave_one_alone() {
        for m in 1..200 {
            let rows = RowPanels::new(m);
            let mut next = 0;
            for ip in 0..rows.count {
                let (r0, mr) = rows.at(ip);
                assert_eq!(r0, next, "m = {m}, panel {ip}");
                assert!((1..=MR).contains(&mr), "m = {m}, panel {ip}: {mr} rows");
                assert!(mr > 1 || m == 1, "m = {m}: a one-row panel");
                next += mr;
            }
            assert_eq!(next, m, "m = {m}");
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        if !available() {
            return;
        }
        let (m, k, n) = (150, 700, 300);
        let (a, b) = (data(m * k, 3), data(k * n, 4));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                matmul(
                    MatRef::new(&a, 0, m, k, k, 1).unwrap(),
                    MatRef::new(&b, 0, k, n, n, 1).unwrap(),
                    m,
                    k,
                    n,
                )
            })
        };
        let one = run(1);
        let three = run(3);
        assert!(one
            .iter()
            .zip(&three)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        // Outside any rayon pool: the team's threads (rayon's while another test holds the
        // team; the bits must agree either way).
        let team = matmul(
            MatRef::new(&a, 0, m, k, k, 1).unwrap(),
            MatRef::new(&b, 0, k, n, n, 1).unwrap(),
            m,
            k,
            n,
        );
        assert!(one
            .iter()
            .zip(&team)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn packed_a_panels_hold_the_rows_zero_padded() {
        // Through `team::fill` over uninitialised memory, as `gemm_into` packs (Miri runs
        // this: no intrinsics).
        for &(m, k) in &[(1, 1), (6, 3), (7, 5), (13, 4)] {
            let a = data(m * k, 5);
            let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let rows = RowPanels::new(m);
            for (view, what) in [
                (MatRef::new(&a, 0, m, k, k, 1).unwrap(), "row-major"),
                (MatRef::new(&at, 0, m, k, 1, m).unwrap(), "transposed"),
            ] {
                // SAFETY: `pack_a` writes all `k * MR` floats of its panel.
                let packed = unsafe {
                    super::super::team::fill(rows.count * k * MR, k * MR, false, |ip, panel| {
                        let (r0, mr) = rows.at(ip);
                        pack_a(view, r0, mr, k, panel)
                    })
                };
                for ip in 0..rows.count {
                    let (r0, mr) = rows.at(ip);
                    for p in 0..k {
                        for r in 0..MR {
                            let want = if r < mr { a[(r0 + r) * k + p] } else { 0.0 };
                            let got = packed[ip * k * MR + p * MR + r];
                            assert_eq!(got, want, "{what} {m}x{k}: panel {ip}, step {p}, row {r}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn views_outside_their_buffer_are_refused() {
        let v = vec![0f32; 12];
        assert!(MatRef::new(&v, 0, 3, 4, 4, 1).is_some());
        assert!(MatRef::new(&v, 1, 3, 4, 4, 1).is_none());
        assert!(MatRef::new(&v, 0, 4, 4, 4, 1).is_none());
        assert!(MatRef::new(&v, 0, 0, 4, 4, 1).is_some());
    }

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let v = data(n, seed as u32);
        Tensor::from_vec(v, shape, &candle_core::Device::Cpu).unwrap()
    }

    fn close(x: &Tensor, y: &Tensor) {
        let d = (x - y)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap();
        let d = d.to_scalar::<f32>().unwrap();
        assert!(d < 1e-3, "max difference {d}");
    }

    /// `ours` is close to `theirs`, and so are the gradients of `sum(out * up)` (a random
    /// `up` from `seed`) with respect to `vars`.
    fn same_values_and_grads(ours: Tensor, theirs: Tensor, seed: u64, vars: &[&candle_core::Var]) {
        close(&ours, &theirs);
        let up = randn(ours.dims(), seed);
        let grads = |t: Tensor| (t * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let (g1, g2) = (grads(ours), grads(theirs));
        for v in vars {
            close(g1.get(v).unwrap(), g2.get(v).unwrap());
        }
    }

    #[test]
    fn tensor_products_and_their_gradients_match_candles() {
        if !available() {
            return;
        }
        use candle_core::Var;
        // 2-D with a transposed weight view, as `linear` calls it.
        let x = Var::from_tensor(&randn(&[37, 70], 5)).unwrap();
        let w = Var::from_tensor(&randn(&[45, 70], 6)).unwrap();
        let ours = matmul_tensor(x.as_tensor(), &w.t().unwrap())
            .unwrap()
            .unwrap();
        let theirs = x.matmul(&w.t().unwrap()).unwrap();
        same_values_and_grads(ours, theirs, 7, &[&x, &w]);

        // Batched over [B, H] with a transposed right operand, as attention's q @ k^T.
        let q = Var::from_tensor(&randn(&[2, 3, 19, 8], 8)).unwrap();
        let k = Var::from_tensor(&randn(&[2, 3, 19, 8], 9)).unwrap();
        let kt = k.t().unwrap();
        let ours = batched_matmul_tensor(q.as_tensor(), &kt).unwrap().unwrap();
        let theirs = q.matmul(&kt).unwrap();
        assert_eq!(ours.dims(), &[2, 3, 19, 19]);
        same_values_and_grads(ours, theirs, 10, &[&q, &k]);

        // Batch dimensions that do not merge (a transposed batch) are left to candle.
        let t = randn(&[3, 2, 5, 5], 11).transpose(0, 1).unwrap();
        assert!(batched_matmul_tensor(&t, &t).unwrap().is_none());
    }

    #[test]
    fn packed_weights_give_the_same_bits_and_gradients() {
        if !available() {
            return;
        }
        use candle_core::Var;
        let w = randn(&[40, 33], 12);
        let x = Var::from_tensor(&randn(&[21, 33], 13)).unwrap();
        let plain = matmul_tensor(x.as_tensor(), &w.t().unwrap())
            .unwrap()
            .unwrap();
        let scope = pack_scope([&w]).unwrap();
        let p = packed_for(&w).expect("packed while the scope lives");
        let packed = linear_packed(x.as_tensor(), &p).unwrap();
        let (a, b) = (plain.flatten_all().unwrap(), packed.flatten_all().unwrap());
        let (a, b) = (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        same_values_and_grads(plain, packed, 14, &[&x]);
        drop(scope);
        assert!(packed_for(&w).is_none(), "dropped with its scope");
    }

    #[test]
    fn products_of_a_part_equal_that_part_of_the_product() {
        if !available() {
            return;
        }
        let max_diff = |x: Tensor, y: Tensor| {
            let d = (x - y).unwrap().abs().unwrap().max_all().unwrap();
            d.to_scalar::<f32>().unwrap()
        };
        let (x, w) = (randn(&[704, 40], 1), randn(&[96, 40], 2));
        let full = matmul_tensor(&x, &w.t().unwrap()).unwrap().unwrap();
        let part = matmul_tensor(&x.narrow(0, 0, 176).unwrap(), &w.t().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(max_diff(full.narrow(0, 0, 176).unwrap(), part), 0.0);
        // Batched, as attention's heads: `[B, L, H, hd]` transposed to `[B, H, L, hd]`. With
        // one head candle keeps the transposed view as "contiguous", and the stride of the
        // size-1 head dimension is not the distance between batches.
        for heads in [1, 3] {
            let heads_first = |t: Tensor| t.transpose(1, 2).unwrap().contiguous().unwrap();
            let q = heads_first(randn(&[32, 17, heads, 8], 3));
            let k = heads_first(randn(&[32, 17, heads, 8], 4));
            let bmm = |q: &Tensor, k: &Tensor| {
                batched_matmul_tensor(q, &k.t().unwrap()).unwrap().unwrap()
            };
            let full = bmm(&q, &k);
            let part = bmm(&q.narrow(0, 8, 8).unwrap(), &k.narrow(0, 8, 8).unwrap());
            assert_eq!(
                max_diff(full.narrow(0, 8, 8).unwrap(), part),
                0.0,
                "{heads} heads"
            );
            let theirs = q.matmul(&k.t().unwrap()).unwrap();
            assert!(max_diff(full, theirs) < 1e-4, "{heads} heads");
        }
    }
}
