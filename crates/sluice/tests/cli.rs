//! The `sluice` binary as a user runs it: `check`, `serve` with no config, `mock`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::*;

/// Runs `sluice ARGS FILE`, asserts that it fails, and returns what it printed to stderr.
fn refused(args: &[&str], file: &std::path::Path) -> String {
    let output = Command::new(BIN)
        .args(args)
        .arg(file)
        .output()
        .expect("runs");
    assert!(
        !output.status.success(),
        "{args:?} accepted {}",
        file.display()
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_accepts_a_valid_file() {
    let path = write_temp("ok.yaml", "providers:\n  m:\n    kind: mock\n");
    let output = Command::new(BIN)
        .arg("check")
        .arg(&path)
        .output()
        .expect("runs");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok"));
}

#[test]
fn check_refuses_with_file_and_line() {
    let path = write_temp(
        "bad.yaml",
        "providers:\n  m:\n    kind: mock\nroutes:\n  r:\n    targets:\n      - provider: ghost\n        model: x\n",
    );
    let stderr = refused(&["check"], &path);
    assert!(
        stderr.contains(&format!("{}:7:", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("ghost"), "{stderr}");
}

#[test]
fn serve_refuses_a_bad_config_before_listening() {
    let path = write_temp("typo.yaml", "server:\n  lisen: 127.0.0.1:1\n");
    let stderr = refused(&["serve", "--config"], &path);
    assert!(
        stderr.contains(":2:") && stderr.contains("lisen"),
        "{stderr}"
    );
}

#[test]
fn serve_without_config_answers_a_chat_request_at_once() {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("OPENAI_API_KEY")
        .env_remove("SLUICE_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut child = Running(child);
    wait_until_up(port);
    let body = r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}]}"#;
    let (status, response) = http(port, "POST", "/v1/chat/completions", body).expect("answer");
    assert_eq!(status, 200, "{response}");
    assert!(response.contains(r#""content":"Say hi""#), "{response}");
    assert!(response.contains("x-sluice-provider: mock"), "{response}");

    // SIGTERM stops it cleanly.
    let pid = child.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            assert!(status.success(), "exit {status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut log = String::new();
    if let Some(stderr) = child.0.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
        }
    }
    assert!(log.contains("stopped"), "{log}");
}

/// `sluice mock` on a free port, up and answering; stopped when the guard drops.
fn start_mock_process() -> (Running, u16) {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["mock", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .expect("mock starts");
    let running = Running(child);
    wait_until_up(port);
    (running, port)
}

#[test]
fn mock_command_serves_the_openai_dialect() {
    let (_mock, port) = start_mock_process();
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"ping"}]}"#;
    let (status, response) = http(port, "POST", "/v1/chat/completions", body).expect("answer");
    assert_eq!(status, 200);
    assert!(
        response.contains(r#""object":"chat.completion""#),
        "{response}"
    );
}

#[test]
fn serve_without_config_detects_openai_from_the_environment() {
    // `sluice mock` stands in for api.openai.com, reached through OPENAI_BASE_URL.
    let (_mock, mock_port) = start_mock_process();

    let port = free_port();
    let gateway = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("OPENAI_API_KEY", "sk-from-env")
        .env(
            "OPENAI_BASE_URL",
            format!("http://127.0.0.1:{mock_port}/v1"),
        )
        .env_remove("SLUICE_CONFIG")
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway starts");
    let _gateway = Running(gateway);
    wait_until_up(port);
    let body = r#"{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"via env"}]}"#;
    let (status, response) = http(port, "POST", "/v1/chat/completions", body).expect("answer");
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("x-sluice-provider: openai"), "{response}");
    assert!(response.contains(r#""content":"via env""#), "{response}");
    assert!(!response.contains("sk-from-env"));
}
