//! The benchmark at a tiny size, so it cannot rot: every variant's server
//! delivers every event of a burst to every connection, in order. No timing
//! is asserted (that is what `bench-all` measures, on a quiet machine).

use std::io::{BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use ssekit_bench::lines;

const CONNS: u64 = 20;
const EVENTS: u64 = 10;

/// A child process and its output; killed when the test ends, however it ends.
struct Reaped {
    child: Child,
    output: BufReader<ChildStdout>,
}

impl Reaped {
    fn spawn(bin: &str, args: &[&str]) -> Self {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("spawn {bin}: {error}"));
        let output = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self { child, output }
    }

    fn line_after(&mut self, prefix: &str) -> String {
        lines::after(&mut self.output, prefix)
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(done: &str, key: &str) -> u64 {
    lines::field(done, key).unwrap_or_else(|| panic!("no number for {key} in {done:?}")) as u64
}

fn burst(framework: &str, variant: &str) {
    let mut server = Reaped::spawn(
        env!("CARGO_BIN_EXE_sse-bench-server"),
        &["--framework", framework, "--variant", variant],
    );
    let port = server.line_after("PORT");
    let mut load = Reaped::spawn(
        env!("CARGO_BIN_EXE_sse-bench-load"),
        &[
            "--port",
            &port,
            "--conns",
            &CONNS.to_string(),
            "--events",
            &EVENTS.to_string(),
            "--timeout",
            "60",
        ],
    );
    load.line_after("READY");
    let commands = server.child.stdin.as_mut().expect("piped stdin");
    writeln!(commands, "burst {EVENTS} 256 0").expect("command the server");
    commands.flush().expect("command the server");
    let done = load.line_after("DONE");
    assert_eq!(field(&done, "expected"), CONNS * EVENTS, "{done}");
    assert_eq!(field(&done, "deliveries"), CONNS * EVENTS, "{done}");
    assert_eq!(field(&done, "out_of_order"), 0, "{done}");
    assert_eq!(field(&done, "incomplete"), 0, "{done}");
}

macro_rules! variants {
    ($($name:ident: $framework:literal $variant:literal,)*) => {
        $(
            #[test]
            fn $name() {
                burst($framework, $variant);
            }
        )*
    };
}

variants! {
    axum_ours: "axum" "ours",
    axum_native: "axum" "native",
    actix_ours: "actix" "ours",
    actix_native: "actix" "native",
    warp_ours: "warp" "ours",
    warp_native: "warp" "native",
    poem_ours: "poem" "ours",
    poem_native: "poem" "native",
    hyper_ours: "hyper" "ours",
    rocket_ours: "rocket" "ours",
    rocket_native: "rocket" "native",
    salvo_ours: "salvo" "ours",
    salvo_native: "salvo" "native",
}
