//! `--on-change`: runs the operator's command through `sh -c` after a revision changed files.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// How much of the command's output (stdout and stderr, interleaved) is kept for the report: with
/// the reason before it, the detail stays within the 2,000 characters the server keeps.
pub const TAIL_BYTES: usize = 1900;
/// After the command ended, how long its output pipes may stay open (a background child of the
/// command may hold them) before the agent stops reading.
const DRAIN: Duration = Duration::from_millis(500);

/// The last `TAIL_BYTES` bytes written to it.
#[derive(Default)]
struct Tail(VecDeque<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend(bytes);
        let excess = self.0.len().saturating_sub(TAIL_BYTES);
        self.0.drain(..excess);
    }

    /// The kept output as text: whole lines only when it was cut, trailing space trimmed.
    fn text(&self, cut: bool) -> String {
        let bytes: Vec<u8> = self.0.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let text = match (cut, text.find('\n')) {
            (true, Some(i)) if i + 1 < text.len() => &text[i + 1..],
            _ => &text[..],
        };
        text.trim().to_string()
    }
}

/// Kills the command's whole process group (the shell and what it started) unless disarmed: on a
/// timeout, and when the agent is stopped while the command runs.
struct GroupGuard(Option<rustix::process::Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

async fn pump(mut from: impl AsyncRead + Unpin, tail: Arc<Mutex<(Tail, usize)>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
        t.0.push(&buf[..n]);
        t.1 += n;
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "abnormal exit".to_string(),
    }
}

fn failure(why: &str, output: &str) -> String {
    if output.is_empty() {
        format!("on-change command failed ({why})")
    } else {
        format!("on-change command failed ({why}): {output}")
    }
}

/// Runs `command` with `KEYWARD_REVISION` and `KEYWARD_OUT` set; `Err` carries the detail to
/// acknowledge (the reason and the command's last output lines).
pub async fn run(
    command: &str,
    revision: u64,
    out: &Path,
    timeout: Duration,
) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("KEYWARD_REVISION", revision.to_string())
        .env("KEYWARD_OUT", out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("on-change command could not be started: {e}"))?;
    let mut guard = GroupGuard(
        child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32)),
    );
    let tail = Arc::new(Mutex::new((Tail::default(), 0usize)));
    let mut readers = tokio::task::JoinSet::new();
    if let Some(o) = child.stdout.take() {
        readers.spawn(pump(o, tail.clone()));
    }
    if let Some(e) = child.stderr.take() {
        readers.spawn(pump(e, tail.clone()));
    }

    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let why = match waited {
        Ok(Ok(status)) => {
            guard.0 = None;
            if status.success() {
                None
            } else {
                Some(describe(status))
            }
        }
        Ok(Err(e)) => Some(format!("cannot wait for it: {e}")),
        Err(_) => {
            drop(guard);
            let _ = child.kill().await;
            Some(format!(
                "still running after {} s; killed",
                timeout.as_secs_f64()
            ))
        }
    };
    let _ = tokio::time::timeout(DRAIN, async {
        while readers.join_next().await.is_some() {}
    })
    .await;
    readers.abort_all();
    match why {
        None => Ok(()),
        Some(why) => {
            let t = tail.lock().unwrap_or_else(|e| e.into_inner());
            Err(failure(&why, &t.0.text(t.1 > TAIL_BYTES)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn out() -> &'static Path {
        Path::new("/tmp/keyward-out")
    }

    #[tokio::test]
    async fn success_and_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let marker = tmp.path().join("env");
        let cmd = format!(
            "echo \"$KEYWARD_REVISION $KEYWARD_OUT\" > {}",
            marker.display()
        );
        run(&cmd, 42, out(), Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap(),
            "42 /tmp/keyward-out\n"
        );
    }

    #[tokio::test]
    async fn failure_reports_status_and_last_output() {
        let err = run(
            "echo first; echo oops >&2; exit 3",
            1,
            out(),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            err.starts_with("on-change command failed (exit status 3): "),
            "{err}"
        );
        assert!(err.contains("first") && err.contains("oops"), "{err}");

        let err = run("exit 4", 1, out(), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err, "on-change command failed (exit status 4)");
    }

    #[tokio::test]
    async fn long_output_keeps_only_the_last_lines() {
        let err = run(
            "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; exit 1",
            1,
            out(),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(err.len() < TAIL_BYTES + 100, "{}", err.len());
        assert!(err.ends_with("line-1999"), "{err}");
        assert!(!err.contains("line-0\n"));
        // Whole lines only after the reason.
        let output = err.split_once("): ").unwrap().1;
        assert!(output.starts_with("line-"), "{output}");
    }

    #[tokio::test]
    async fn timeout_kills_the_command_and_its_children() {
        let tmp = tempfile::tempdir().unwrap();
        let marker = tmp.path().join("survived");
        let cmd = format!(
            "echo started; (sleep 1; touch {}) & sleep 30",
            marker.display()
        );
        let start = Instant::now();
        let err = run(&cmd, 1, out(), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert!(err.contains("still running after 0.3 s; killed"), "{err}");
        assert!(err.contains("started"), "{err}");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(
            !marker.exists(),
            "a child of the command outlived the timeout"
        );
    }

    #[tokio::test]
    async fn a_background_child_holding_the_output_does_not_block() {
        let start = Instant::now();
        run("sleep 5 & echo done", 1, out(), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
