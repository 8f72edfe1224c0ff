//! Spend survives a crash: the gateway killed with SIGKILL loses at most the last flush
//! interval (1 s, after the 50 ms in which settled calls are gathered) of spend; what was
//! flushed is in the store, and a restarted gateway still refuses a budget spent before
//! the crash.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const KEY: &str = "sk-sluice-crashcrashcrashcrashcrashcrashcrashcr";

fn start(config: &std::path::Path, port: u16) -> Running {
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sluice starts");
    let running = Running(child);
    wait_until_up(port);
    running
}

fn chat(port: u16) -> u16 {
    let body = r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"spend before the crash"}]}"#;
    http_with(
        port,
        "POST",
        "/v1/chat/completions",
        &format!("authorization: Bearer {KEY}\r\n"),
        body,
    )
    .map_or(0, |(status, _)| status)
}

#[test]
fn spend_flushed_before_a_kill_is_kept_and_still_counts_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("sluice-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = dir.join("sluice.db");
    let config = write_temp(
        "crash.yaml",
        &format!(
            "providers:\n  mock:\n    kind: mock\nstore:\n  url: \"sqlite://{}\"\ngovernance:\n  key_secret: crash-test-secret-long-enough\n  keys:\n    crash: {{key: {KEY}, budgets: [{{limit: 0.00002, period: 1d}}]}}\n",
            database.display()
        ),
    );
    let port = free_port();
    let mut gateway = start(&config, port);
    let mut served = 0;
    while chat(port) == 200 {
        served += 1;
        assert!(served < 100, "the budget never ran out");
    }
    assert!(served >= 2, "served {served}");
    assert_eq!(chat(port), 402);
    // Past one batch and one flush interval, then SIGKILL: no shutdown hook runs.
    std::thread::sleep(Duration::from_millis(1500));
    gateway.0.kill().expect("killed");
    let _ = gateway.0.wait();

    // The ledger has every request served.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let requests = runtime.block_on(async {
        let store = sluice_store::Store::connect(&format!("sqlite://{}", database.display()))
            .await
            .expect("store opens");
        let rows = store
            .spend_rows("2000-01-01", "2999-12-31")
            .await
            .expect("rows");
        rows.iter().map(|row| row.totals.requests).sum::<i64>()
    });
    assert_eq!(requests, served, "spend lost in the crash");

    // A new process reads the spent budget back and refuses at once.
    let port = free_port();
    let _restarted = start(&config, port);
    assert_eq!(
        chat(port),
        402,
        "the budget was forgotten across the restart"
    );
}
