//! Running a header helper (`Action::RunHelper`): a command that prints the headers to
//! attach, re-run by the session on `401` and when its TTL passes.

use async_trait::async_trait;
use bearerflow::session::{parse_helper_output, HelperOutput, HelperOutputError};
use std::fmt;
use std::time::Duration;

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
    /// Its output is not headers.
    Output(HelperOutputError),
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
            HelperError::Output(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HelperError {}

impl HelperError {
    /// The session's input for this failure (a type translation; the driver also keeps
    /// this error's text as the failure's detail).
    pub fn to_session_error(&self) -> HelperOutputError {
        match self {
            HelperError::Output(e) => e.clone(),
            HelperError::Exit { code } => HelperOutputError::CommandFailed { code: *code },
            HelperError::Spawn(_) | HelperError::Timeout(_) => {
                HelperOutputError::CommandFailed { code: None }
            }
        }
    }
}

/// Runs the header helper.
#[async_trait]
pub trait HelperRunner: Send + Sync + 'static {
    /// Run once and return the parsed headers.
    async fn run(&self) -> Result<HelperOutput, HelperError>;
}

/// Runs a shell command (`sh -c` on unix, `cmd /C` on Windows) and parses its standard
/// output with [`parse_helper_output`]: a JSON object of strings or `Name: value` lines.
/// Standard error passes through to the host's. A run longer than the timeout is
/// killed.
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
    async fn run(&self) -> Result<HelperOutput, HelperError> {
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
        let child = cmd.spawn().map_err(|e| HelperError::Spawn(e.to_string()))?;
        let pid = child.id();
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(HelperError::Spawn(e.to_string())),
            // Dropping the future drops the child, which kills it (kill_on_drop); the
            // group kill ends whatever it started.
            Err(_) => {
                kill_group(pid);
                return Err(HelperError::Timeout(self.timeout));
            }
        };
        if !output.status.success() {
            return Err(HelperError::Exit {
                code: output.status.code(),
            });
        }
        parse_helper_output(&output.stdout).map_err(HelperError::Output)
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
    async fn parses_json_output() {
        let out = CommandHelper::new(r#"printf '{"Authorization": "Bearer abc"}'"#)
            .run()
            .await
            .unwrap();
        assert_eq!(out.headers.len(), 1);
        assert_eq!(out.headers[0].value.expose(), "Bearer abc");
    }

    #[tokio::test]
    async fn failures_are_typed() {
        assert_eq!(
            CommandHelper::new("exit 3").run().await.unwrap_err(),
            HelperError::Exit { code: Some(3) }
        );
        assert_eq!(
            CommandHelper::new("echo not-a-header")
                .run()
                .await
                .unwrap_err(),
            HelperError::Output(HelperOutputError::Malformed { line: 1 })
        );
        let slow = CommandHelper::new("sleep 5").timeout(Duration::from_millis(100));
        let started = std::time::Instant::now();
        assert!(matches!(
            slow.run().await.unwrap_err(),
            HelperError::Timeout(_)
        ));
        assert!(started.elapsed() < Duration::from_secs(3));
        let e = HelperError::Exit { code: Some(3) };
        assert_eq!(
            e.to_session_error(),
            HelperOutputError::CommandFailed { code: Some(3) }
        );
        assert!(e.to_string().contains('3'));
    }
}
