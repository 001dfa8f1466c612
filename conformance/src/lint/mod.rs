//! `ssekit-conformance lint URL`: connects to any SSE endpoint, reads its head and
//! (for a bounded time and size) its stream, and reports what a browser's
//! `EventSource`, a proxy or a non-browser client would trip over.
//!
//! The rules come from the WHATWG HTML standard's server-sent events section,
//! plus the practical ones about proxies and buffering. The pure parts,
//! [`analyse_head`] and [`analyse_stream`], work on values already in hand and
//! can be used without a network.
//!
//! # The request
//!
//! [`lint`] asks as a browser's `EventSource` does: `GET` with
//! `Accept: text/event-stream`, `Cache-Control: no-cache`,
//! `Accept-Encoding: gzip, deflate, br, zstd` (what browsers send) and, if
//! [`LintOptions::last_event_id`] is set, `Last-Event-ID`. Each of
//! [`LintOptions::headers`] replaces a default header of the same name.
//!
//! # Compression
//!
//! Since the lint accepts what browsers accept, a server that compresses for
//! browsers compresses for the lint, and the head gets the `compressed`
//! warning. The body is not decoded: decoding would remove the
//! `Content-Encoding` that warning is about, and the read limits count bytes
//! as they arrive. A compressed body is therefore read (and counted in
//! [`LintReport::bytes_read`]) but its lines are not checked, which
//! `stream-not-analysed` says. To check them, ask for the stream uncompressed:
//! `-H 'Accept-Encoding: identity'` (or the same in [`LintOptions::headers`]).
//!
//! # Findings
//!
//! Each [`Finding`] has a [`Code`], which gives it a stable kebab-case name
//! and a fixed [`Severity`], a message and, for stream findings, the
//! [`Location`] of the first occurrence. Repeats of the same code and detail
//! are folded into one finding with a count. The table below is checked
//! against [`Code`] by a unit test, so it lists every code as the output
//! spells it.
//!
//! | code | severity | what |
//! |---|---|---|
//! | `connect-failed` | error | the request failed before a response head arrived |
//! | `head-timeout` | error | no response head within the time limit |
//! | `redirected` | info | redirects were followed to another URL |
//! | `no-content` | info | status 204: `EventSource` stops reconnecting; nothing else is checked |
//! | `status` | error | a status other than 200 (or 204): `EventSource` fails the connection |
//! | `content-type` | error | the MIME type essence is not `text/event-stream` |
//! | `charset` | info | a `charset` other than UTF-8, which clients ignore |
//! | `no-cache-control` | warning | no `Cache-Control: no-cache` or `no-store` |
//! | `compressed` | warning | a `Content-Encoding` other than `identity` |
//! | `no-x-accel-buffering` | info | no `X-Accel-Buffering: no` |
//! | `content-length` | warning | a `Content-Length`: the stream is finite |
//! | `hop-by-hop-over-h2` | error | a connection-specific header over HTTP/2 or later |
//! | `stream-not-analysed` | info | the body was compressed, so its bytes were not checked |
//! | `body-failed` | error | reading the body failed before it ended |
//! | `bom` | info | a UTF-8 BOM at the start (clients strip it) |
//! | `invalid-utf8` | error | bytes that are not UTF-8 (clients see U+FFFD) |
//! | `lone-cr` | warning | a line ends in a lone CR |
//! | `mixed-line-endings` | info | more than one line-ending style |
//! | `no-space-after-colon` | info | `data:x` rather than `data: x` |
//! | `unknown-field` | warning | a field name other than `data`, `event`, `id`, `retry` |
//! | `invalid-retry` | error | a `retry` value that is not all ASCII digits |
//! | `id-with-nul` | error | an `id` value containing NUL |
//! | `event-type-empty` | info | `event:` with an empty value (dispatched as `message`) |
//! | `event-type-whitespace` | warning | an event type with leading or trailing whitespace |
//! | `event-without-data` | warning | a block with `event:` but no `data:`: nothing is dispatched |
//! | `unterminated-event` | error | the body ended in the middle of an event |
//! | `no-events` | warning | the body ended without dispatching any event |
//! | `read-limit` | info | reading stopped at the time or byte limit |
//! | `no-bytes` | info | nothing arrived after the head before the time limit |

mod code;
mod fetch;
mod finding;
mod head;
mod report;
mod scan;

pub use code::Code;
pub use fetch::{lint, LintOptions};
pub use finding::{Finding, Location, Severity};
pub use head::analyse_head;
pub use report::LintReport;
pub use scan::{analyse_stream, StreamAnalysis};
