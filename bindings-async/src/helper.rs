//! Running a header helper (`Action::RunHelper`): a command that prints the headers to
//! attach, re-run by the session on `401` and when its TTL passes.
//!
//! A runner only runs the command and hands back what it printed (at most one byte more
//! than core's `Policy::max_helper_output`); core reads and bounds the output
//! (`Session::handle_helper_stdout`), so every binding treats it alike.

use async_trait::async_trait;
use std::fmt;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The helper could not produce headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelperError {
    /// The command could not be started.
    Spawn(String),
    /// The command exited unsuccessfully; `code` is `None` when a signal ended it.
    Exit {
        /// Exit code.
        code: Option<i32>,
    },
    /// The command did not finish in time (it was killed).
    Timeout(Duration),
}

impl fmt::Display for HelperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelperError::Spawn(e) => write!(f, "the header helper could not be started: {e}"),
            HelperError::Exit { code: Some(c) } => {
                write!(f, "the header helper exited with status {c}")
            }
            HelperError::Exit { code: None } => {
                f.write_str("the header helper was ended by a signal")
            }
            HelperError::Timeout(d) => write!(
                f,
                "the header helper did not finish within {} ms",
                d.as_millis()
            ),
        }
    }
}

impl std::error::Error for HelperError {}

impl HelperError {
    /// The exit status to hand to `Session::handle_helper_failure`: the code when the
    /// command exited, `None` when it did not (not started, killed, timed out).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            HelperError::Exit { code } => *code,
            HelperError::Spawn(_) | HelperError::Timeout(_) => None,
        }
    }
}

/// Runs the header helper.
#[async_trait]
pub trait HelperRunner: Send + Sync + 'static {
    /// Run once and return what it printed on standard output: at most `max_output + 1`
    /// bytes (stop reading there; core refuses output over `max_output`).
    async fn run(&self, max_output: usize) -> Result<Vec<u8>, HelperError>;
}

/// Runs a shell command (`sh -c` on unix, `cmd /C` on Windows) and returns its standard
/// output (core parses it: a JSON object of strings or `Name: value` lines). Standard
/// error passes through to the host's. A run longer than the timeout is killed, and so
/// is one that prints more than the session accepts.
#[derive(Debug, Clone)]
pub struct CommandHelper {
    command: String,
    timeout: Duration,
}

impl CommandHelper {
    /// A helper running `command`, with a 30-second timeout.
    pub fn new(command: impl Into<String>) -> CommandHelper {
        CommandHelper {
            command: command.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Change the timeout.
    pub fn timeout(mut self, timeout: Duration) -> CommandHelper {
        self.timeout = timeout;
        self
    }
}

#[async_trait]
impl HelperRunner for CommandHelper {
    async fn run(&self, max_output: usize) -> Result<Vec<u8>, HelperError> {
        let mut cmd = if cfg!(windows) {
            let mut c = tokio::process::Command::new("cmd");
            c.arg("/C").arg(&self.command);
            c
        } else {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(&self.command);
            c
        };
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        // Its own process group, so a timeout ends the shell's children too (a killed
        // `sh` would leave `sleep`, say, holding the output pipe).
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| HelperError::Spawn(e.to_string()))?;
        let pid = child.id();
        let Some(stdout) = child.stdout.take() else {
            return Err(HelperError::Spawn("no standard output pipe".into()));
        };
        let limit = u64::try_from(max_output)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let run = async {
            let mut out = Vec::new();
            stdout
                .take(limit)
                .read_to_end(&mut out)
                .await
                .map_err(|e| HelperError::Spawn(e.to_string()))?;
            if out.len() > max_output {
                // More than the session accepts: stop it rather than read on.
                kill_group(pid);
                let _ = child.kill().await;
                return Ok(out);
            }
            let status = child
                .wait()
                .await
                .map_err(|e| HelperError::Spawn(e.to_string()))?;
            if !status.success() {
                return Err(HelperError::Exit {
                    code: status.code(),
                });
            }
            Ok(out)
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(result) => result,
            // Dropping the future drops the child, which kills it (kill_on_drop); the
            // group kill ends whatever it started.
            Err(_) => {
                kill_group(pid);
                Err(HelperError::Timeout(self.timeout))
            }
        }
    }
}

/// Kill the process group `pid` leads (unix; elsewhere the child alone was killed).
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    #[cfg(not(unix))]
    let _ = pid;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_what_the_command_printed() {
        let out = CommandHelper::new(r#"printf '{"Authorization": "Bearer abc"}'"#)
            .run(1024)
            .await
            .unwrap();
        assert_eq!(out, br#"{"Authorization": "Bearer abc"}"#);
    }

    #[tokio::test]
    async fn reads_at_most_one_byte_over_the_limit_and_stops_the_command() {
        // `yes` prints forever: the run ends at the limit, not at the timeout.
        let started = std::time::Instant::now();
        let out = CommandHelper::new("yes")
            .timeout(Duration::from_secs(60))
            .run(100)
            .await
            .unwrap();
        assert_eq!(out.len(), 101);
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[tokio::test]
    async fn failures_are_typed() {
        let e = CommandHelper::new("exit 3").run(1024).await.unwrap_err();
        assert_eq!(e, HelperError::Exit { code: Some(3) });
        assert_eq!(e.exit_code(), Some(3));
        assert!(e.to_string().contains('3'));
        let slow = CommandHelper::new("sleep 5").timeout(Duration::from_millis(100));
        let e = slow.run(1024).await.unwrap_err();
        assert!(matches!(e, HelperError::Timeout(_)));
        assert_eq!(e.exit_code(), None);
    }
}
