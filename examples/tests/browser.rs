//! Runs the examples' end-to-end tests (`browser-tests/`, Node's test runner
//! driving Debian's headless Chromium through playwright-core) against the
//! example binaries cargo just built, on every framework, and the agreement
//! of ssekit-client with Chromium's `EventSource` on the same byte streams
//! (`browser-tests/tests/agreement.test.js`, served by the `agreement` binary).
//!
//! Needs `node`/`npm` and `/usr/bin/chromium` (`apt-get install chromium`);
//! `.ci/run` installs them. The dashboard screenshot lands in
//! `examples/browser-tests/artifacts/dashboard.png`.

use std::path::Path;
use std::process::Command;

#[test]
fn examples_in_a_real_browser() {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser-tests");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (apt-get install chromium) or set CHROMIUM"
    );
    if !tests_dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&tests_dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci failed");
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_chat"))
        .parent()
        .expect("bin dir");
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/"])
        .current_dir(&tests_dir)
        .env("EXAMPLES_BIN_DIR", bin_dir)
        .env("CHROMIUM", &chromium)
        .status()
        .expect("node runs");
    assert!(
        status.success(),
        "browser tests failed (see their output above)"
    );
}
