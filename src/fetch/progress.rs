//! Progress of a transfer on stderr: an indicatif bar when stderr is a terminal, otherwise
//! plain lines (start, every quarter of a known size or every 64 MiB of an unknown one, end),
//! which read well in logs and CI output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// How transfers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter {
    Bar,
    Lines,
    Quiet,
}

impl Reporter {
    /// A bar when stderr is a terminal, lines otherwise.
    pub fn auto() -> Reporter {
        if std::io::stderr().is_terminal() {
            Reporter::Bar
        } else {
            Reporter::Lines
        }
    }

    /// Start reporting a transfer of `total` bytes (when known), `done` of them already on disk.
    pub fn start(self, label: &str, total: Option<u64>, done: u64) -> Transfer {
        let bar = match self {
            Reporter::Bar => {
                let bar = match total {
                    Some(t) => ProgressBar::new(t),
                    None => ProgressBar::new_spinner(),
                };
                let template = if total.is_some() {
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
                } else {
                    "{spinner} {msg} {bytes} {bytes_per_sec}"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(label.to_string());
                bar.set_position(done);
                Some(bar)
            }
            Reporter::Lines => {
                let size = total.map_or("size unknown".to_string(), mib);
                if done > 0 {
                    eprintln!("{label}: resuming at {} of {size}", mib(done));
                } else {
                    eprintln!("{label}: downloading ({size})");
                }
                None
            }
            Reporter::Quiet => None,
        };
        Transfer {
            reporter: self,
            bar,
            label: label.to_string(),
            total,
            done,
            next_line: next_mark(total, done),
        }
    }
}

/// One transfer in progress.
pub struct Transfer {
    reporter: Reporter,
    bar: Option<ProgressBar>,
    label: String,
    total: Option<u64>,
    done: u64,
    next_line: u64,
}

const UNKNOWN_STEP: u64 = 64 << 20;

fn next_mark(total: Option<u64>, done: u64) -> u64 {
    match total {
        Some(t) if t > 0 => {
            let quarter = t.div_ceil(4).max(1);
            (done / quarter + 1) * quarter
        }
        _ => (done / UNKNOWN_STEP + 1) * UNKNOWN_STEP,
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

impl Transfer {
    pub fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
        } else if self.reporter == Reporter::Lines && self.done >= self.next_line {
            match self.total {
                Some(t) if t > 0 && self.done < t => eprintln!(
                    "{}: {}% ({} of {})",
                    self.label,
                    self.done * 100 / t,
                    mib(self.done),
                    mib(t)
                ),
                Some(_) => {}
                None => eprintln!("{}: {}", self.label, mib(self.done)),
            }
            self.next_line = next_mark(self.total, self.done);
        }
    }

    /// End the transfer with a closing word ("done", "connection lost", ...).
    pub fn finish(self, word: &str) {
        if let Some(bar) = self.bar {
            bar.finish_with_message(format!("{} {word}", self.label));
        } else if self.reporter == Reporter::Lines {
            eprintln!("{}: {word} ({})", self.label, mib(self.done));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_at_each_quarter_of_a_known_size() {
        assert_eq!(next_mark(Some(100), 0), 25);
        assert_eq!(next_mark(Some(100), 26), 50);
        assert_eq!(next_mark(Some(100), 99), 100);
        assert_eq!(next_mark(None, 0), UNKNOWN_STEP);
        assert_eq!(next_mark(None, UNKNOWN_STEP), 2 * UNKNOWN_STEP);
    }
}
