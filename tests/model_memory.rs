//! Memory over supervision steps: the ACT carry holds no autograd graph, so resident memory
//! stays flat however many steps run. Alone in its test binary, because resident memory is
//! the whole process's: tests running beside it in other threads would count too.

use candle_core::Device;
use trm_tui::model::{PosEncoding, TrmConfig, TrmModel};
use trm_tui::util::Rng;

mod common;
use common::random_batch;

fn small() -> TrmConfig {
    TrmConfig {
        hidden_size: 64,
        num_heads: 4,
        l_layers: 2,
        h_cycles: 2,
        l_cycles: 2,
        halt_max_steps: 1000,
        puzzle_emb_ndim: 32,
        puzzle_emb_len: 2,
        mlp_t: false,
        pos_encodings: PosEncoding::Rope,
        vocab_size: 6,
        seq_len: 64,
        num_puzzle_identifiers: 3,
        ..TrmConfig::default()
    }
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// No graph survives a supervision step: carries are detached and resident memory does not
/// grow over many training steps.
#[test]
fn memory_stays_flat_over_supervision_steps() {
    let cfg = small();
    let model = TrmModel::new(cfg.clone(), 5, &Device::Cpu).unwrap();
    let batch = random_batch(&cfg, 8, 2);
    let mut carry = model.act_initial_carry(8).unwrap();
    let mut rng = Rng::new(0);
    let mut rss_after_warmup = 0;
    for step in 0..60 {
        let (c, _, loss) = model.act_loss_step(&carry, &batch, true, &mut rng).unwrap();
        let _grads = loss.total.backward().unwrap();
        assert!(
            !c.inner.z_h.track_op() && !c.inner.z_l.track_op(),
            "carry keeps a graph"
        );
        carry = c;
        if step == 10 {
            rss_after_warmup = rss_bytes();
        }
    }
    let growth = rss_bytes() as i64 - rss_after_warmup as i64;
    // One step's graph at this size is several MB; 50 kept graphs would be hundreds.
    assert!(
        growth < 24 << 20,
        "resident memory grew by {} MB over 50 steps",
        growth >> 20
    );
}
