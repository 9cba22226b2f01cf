//! The steps of a solve and where the user is in them: the step shown, the H-cycle lens inside
//! it, following the newest step while solving, and playback. Pure state: no I/O, no drawing.

use std::time::{Duration, Instant};

use crate::model::SolveStep;

#[derive(Debug, Clone)]
pub struct Steps {
    steps: Vec<SolveStep>,
    /// Index of the step shown.
    cur: usize,
    /// Follow the newest step while solving (until the user moves).
    follow: bool,
    /// H-cycle shown inside the current step (the lens), when on.
    lens: Option<usize>,
    playing: bool,
    last_play: Instant,
    play_interval: Duration,
}

impl Default for Steps {
    fn default() -> Self {
        Steps {
            steps: Vec::new(),
            cur: 0,
            follow: true,
            lens: None,
            playing: false,
            last_play: Instant::now(),
            play_interval: Duration::from_millis(400),
        }
    }
}

impl Steps {
    pub fn all(&self) -> &[SolveStep] {
        &self.steps
    }
    pub fn len(&self) -> usize {
        self.steps.len()
    }
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
    pub fn cur(&self) -> usize {
        self.cur
    }
    pub fn lens(&self) -> Option<usize> {
        self.lens
    }
    pub fn playing(&self) -> bool {
        self.playing
    }
    pub fn current(&self) -> Option<&SolveStep> {
        self.steps.get(self.cur)
    }

    /// Forget every step (a new puzzle or model).
    pub fn clear(&mut self) {
        self.steps.clear();
        self.cur = 0;
        self.lens = None;
        self.playing = false;
    }

    /// Start of a solve: no steps, follow the newest.
    pub fn restart(&mut self) {
        self.steps.clear();
        self.cur = 0;
        self.follow = true;
        self.lens = None;
    }

    /// A step arrived from the worker.
    pub fn push(&mut self, step: SolveStep) {
        self.steps.push(step);
        if self.follow {
            self.cur = self.steps.len() - 1;
        }
    }

    /// Replace the steps (a finished solve shown as is) and show step `cur`.
    pub fn set(&mut self, steps: Vec<SolveStep>, cur: usize) {
        self.steps = steps;
        self.cur = cur.min(self.steps.len().saturating_sub(1));
        self.lens = None;
        self.follow = false;
    }

    /// Show step `i` (clamped).
    pub fn show(&mut self, i: usize) {
        self.follow = false;
        self.cur = i.min(self.steps.len().saturating_sub(1));
    }

    /// Step forward/back by one (through H-cycles when the lens is on).
    pub fn step_by(&mut self, delta: i64) {
        self.follow = false;
        if self.steps.is_empty() {
            return;
        }
        if let Some(k) = self.lens {
            let cycles = self.steps[self.cur].cycle_preds.len().max(1) as i64;
            let pos = self.cur as i64 * cycles + k as i64 + delta;
            let max = self.steps.len() as i64 * cycles - 1;
            let pos = pos.clamp(0, max);
            self.cur = (pos / cycles) as usize;
            self.lens = Some((pos % cycles) as usize);
        } else {
            let n = self.steps.len() as i64;
            self.cur = (self.cur as i64 + delta).clamp(0, n - 1) as usize;
        }
    }

    pub fn first(&mut self) {
        self.follow = false;
        self.cur = 0;
        self.lens = self.lens.map(|_| 0);
    }

    pub fn last(&mut self) {
        self.follow = true;
        self.cur = self.steps.len().saturating_sub(1);
        self.lens = self.lens.and_then(|_| {
            self.steps
                .get(self.cur)
                .map(|s| s.cycle_preds.len().saturating_sub(1))
        });
    }

    /// The H-cycle lens on (at the step's last cycle) or off.
    pub fn toggle_lens(&mut self) {
        self.lens = match self.lens {
            Some(_) => None,
            None => self
                .steps
                .get(self.cur)
                .filter(|s| !s.cycle_preds.is_empty())
                .map(|s| s.cycle_preds.len() - 1),
        };
    }

    /// Play or pause; playing from the end of a finished solve starts over.
    pub fn toggle_play(&mut self, finished: bool) {
        self.playing = !self.playing;
        if self.playing && self.cur + 1 >= self.steps.len() && finished {
            self.cur = 0;
        }
        self.follow = false;
        self.last_play = Instant::now();
    }

    pub fn set_play_interval(&mut self, d: Duration) {
        self.play_interval = d;
    }

    /// Playback: the next step once the interval has passed; stops at the end of a solve that
    /// is over. True when the shown step changed.
    pub fn advance_play(&mut self, solving: bool) -> bool {
        if !self.playing || self.last_play.elapsed() < self.play_interval {
            return false;
        }
        self.last_play = Instant::now();
        if self.cur + 1 < self.steps.len() {
            self.cur += 1;
        } else if !solving {
            self.playing = false;
        }
        true
    }

    /// The answer on screen: the current step's, or its H-cycle's under the lens.
    pub fn shown_pred(&self) -> Option<&[u32]> {
        let s = self.steps.get(self.cur)?;
        Some(match self.lens {
            Some(k) => s
                .cycle_preds
                .get(k)
                .map_or(s.pred.as_slice(), |v| v.as_slice()),
            None => &s.pred,
        })
    }

    /// The answer before the shown one: the previous H-cycle's under the lens, else the
    /// previous step's.
    pub fn prev_pred(&self) -> Option<&[u32]> {
        match (self.lens, self.steps.get(self.cur)) {
            (Some(k), Some(s)) if k > 0 => s.cycle_preds.get(k - 1).map(|v| v.as_slice()),
            _ => self
                .cur
                .checked_sub(1)
                .and_then(|i| self.steps.get(i))
                .map(|s| s.pred.as_slice()),
        }
    }
}
