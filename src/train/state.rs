//! The trainer's lifecycle as a pure state machine (idle, running, paused, stopping, finished,
//! failed): `transition(state, input) -> (state, effects)`, with no I/O, so the rules can be
//! tested without threads, terminals or models. The trainer thread performs the effects.

use serde::{Deserialize, Serialize};

use super::api::RunEventKind;

/// Where a training run is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrainerState {
    /// Nothing started yet.
    Idle,
    Running,
    Paused,
    /// A stop was asked for; the final checkpoint is being written.
    Stopping,
    /// Ended normally (all steps done, or stopped by the user).
    Finished,
    /// Ended by an error (bad input, NaN loss, I/O); the message says why.
    Failed(String),
}

impl TrainerState {
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Stopping)
    }
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Finished | Self::Failed(_))
    }
    pub fn label(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Finished => "finished",
            Self::Failed(_) => "failed",
        }
    }
}

/// What can happen to a trainer: a user command or an outcome of the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Start,
    Pause,
    Resume,
    /// Stop, writing a checkpoint first when `checkpoint`.
    Stop {
        checkpoint: bool,
    },
    CheckpointNow,
    /// The loop finished its last step.
    Completed,
    /// The final checkpoint (after a stop) was written.
    Stopped,
    /// The loop hit an error.
    Error(String),
}

/// What the trainer thread must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Begin (or continue) stepping.
    RunSteps,
    /// Write a checkpoint now.
    SaveCheckpoint,
    /// Write a final checkpoint, then report `Stopped`.
    SaveFinalCheckpoint,
    /// Record an event in events.jsonl.
    Record(RunEventKind),
    /// Leave the loop.
    Exit,
}

/// The transition function. Inputs that make no sense in a state leave it unchanged and
/// produce no effect (e.g. `Pause` while paused); the caller may report them as ignored.
pub fn transition(state: &TrainerState, input: &Input) -> (TrainerState, Vec<Effect>) {
    use Effect::*;
    use RunEventKind as K;
    use TrainerState as S;
    match (state, input) {
        (S::Idle, Input::Start) => (S::Running, vec![Record(K::Start), RunSteps]),
        (S::Running, Input::Pause) => (S::Paused, vec![Record(K::Pause)]),
        (S::Paused, Input::Resume) => (S::Running, vec![Record(K::Resume), RunSteps]),
        (S::Running | S::Paused, Input::Stop { checkpoint: true }) => {
            (S::Stopping, vec![Record(K::Stop), SaveFinalCheckpoint])
        }
        (S::Running | S::Paused, Input::Stop { checkpoint: false }) => {
            (S::Finished, vec![Record(K::Stop), Exit])
        }
        (S::Idle, Input::Stop { .. }) => (S::Finished, vec![Exit]),
        (S::Running | S::Paused, Input::CheckpointNow) => (state.clone(), vec![SaveCheckpoint]),
        (S::Running, Input::Completed) => (
            S::Finished,
            vec![SaveFinalCheckpoint, Record(K::Finish), Exit],
        ),
        (S::Stopping, Input::Stopped) => (S::Finished, vec![Exit]),
        (s, Input::Error(msg)) if !s.is_terminal() => {
            (S::Failed(msg.clone()), vec![Record(K::Error), Exit])
        }
        (s, _) => (s.clone(), vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrainerState as S;

    #[test]
    fn normal_lifecycle() {
        let (s, e) = transition(&S::Idle, &Input::Start);
        assert_eq!(s, S::Running);
        assert!(e.contains(&Effect::RunSteps));
        let (s, _) = transition(&s, &Input::Pause);
        assert_eq!(s, S::Paused);
        let (s, e) = transition(&s, &Input::Resume);
        assert_eq!(s, S::Running);
        assert_eq!(
            e,
            vec![Effect::Record(RunEventKind::Resume), Effect::RunSteps]
        );
        let (s, e) = transition(&s, &Input::Completed);
        assert_eq!(s, S::Finished);
        assert!(e.contains(&Effect::SaveFinalCheckpoint) && e.contains(&Effect::Exit));
    }

    #[test]
    fn stop_with_checkpoint_goes_through_stopping() {
        let (s, e) = transition(&S::Paused, &Input::Stop { checkpoint: true });
        assert_eq!(s, S::Stopping);
        assert!(e.contains(&Effect::SaveFinalCheckpoint));
        let (s, e) = transition(&s, &Input::Stopped);
        assert_eq!((s, e), (S::Finished, vec![Effect::Exit]));
        let (s, _) = transition(&S::Running, &Input::Stop { checkpoint: false });
        assert_eq!(s, S::Finished);
    }

    #[test]
    fn nonsense_inputs_are_ignored() {
        for (s, i) in [
            (S::Paused, Input::Pause),
            (S::Running, Input::Resume),
            (S::Idle, Input::Pause),
            (S::Finished, Input::Start),
            (S::Idle, Input::CheckpointNow),
            (S::Stopping, Input::Pause),
        ] {
            let (s2, e) = transition(&s, &i);
            assert_eq!(s2, s, "{i:?}");
            assert!(e.is_empty());
        }
    }

    #[test]
    fn errors_fail_active_runs_but_not_ended_ones() {
        let (s, e) = transition(&S::Running, &Input::Error("loss is NaN".into()));
        assert_eq!(s, S::Failed("loss is NaN".into()));
        assert!(e.contains(&Effect::Exit));
        let (s, _) = transition(&S::Finished, &Input::Error("late".into()));
        assert_eq!(s, S::Finished);
        let (s, e) = transition(&S::Running, &Input::CheckpointNow);
        assert_eq!((s, e), (S::Running, vec![Effect::SaveCheckpoint]));
        assert!(
            S::Paused.is_active()
                && !S::Finished.is_active()
                && S::Failed(String::new()).is_terminal()
        );
    }
}
