//! The in-process emit mode's control channel: one JSON command per line on the server's
//! stdin, one `bench-done {…}` answer per command on its stdout (the rules are in
//! `examples/bench_server/command.rs`). The server's other output goes to its log.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// What the server's emitter answered.
#[derive(Debug, Deserialize)]
pub struct Done {
    pub emitted: u64,
    /// Events the server refused or could not queue (e.g. a full socket buffer).
    pub errors: u64,
}

pub struct Control {
    stdin: ChildStdin,
    answers: UnboundedReceiver<String>,
}

impl Control {
    /// Reads `stdout` on a thread of its own: answers to the channel, the rest to `log`.
    pub fn new(stdin: ChildStdin, stdout: ChildStdout, mut log: File) -> Self {
        let (sender, answers) = unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                match line.strip_prefix("bench-done ") {
                    Some(answer) => {
                        let _ = sender.send(answer.to_owned());
                    }
                    None => {
                        let _ = writeln!(log, "{line}");
                    }
                }
            }
        });
        Self { stdin, answers }
    }

    /// Sends one command and waits for its answer (at most `limit`).
    pub async fn command(
        &mut self,
        command: &serde_json::Value,
        limit: Duration,
    ) -> Result<Done, String> {
        // A line of a few dozen bytes into an empty pipe: this write does not block.
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("cannot command the server's emitter: {e}"))?;
        let answer = tokio::time::timeout(limit, self.answers.recv())
            .await
            .map_err(|_| format!("the server's emitter did not answer {command} within {limit:?}"))?
            .ok_or("the server closed its output")?;
        serde_json::from_str(&answer).map_err(|e| format!("bad answer {answer:?}: {e}"))
    }
}
