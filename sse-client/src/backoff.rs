//! When to try again.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The delay before attempt `attempt + 1`, after `attempt` failures in a row.
///
/// The first reconnection waits exactly `retry` (the server's `retry:` or
/// the default), as a browser does. Each later one doubles the wait, up to
/// `cap`, and draws it from its upper half so that many clients dropped at
/// once do not come back in lockstep. A server's `retry` above the cap wins:
/// it is the server's to choose.
pub(crate) fn delay(attempt: u32, retry: Duration, cap: Duration) -> Duration {
    if attempt <= 1 {
        return retry;
    }
    let doublings = (attempt - 1).min(31);
    let grown = retry.saturating_mul(1 << doublings).min(cap);
    if grown <= retry {
        return retry;
    }
    let half = grown / 2;
    let jitter = half.mul_f64(fastrand::f64());
    (half + jitter).max(retry)
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn first_retry_is_exact_then_grows_with_jitter_up_to_the_cap() {
        assert_eq!(delay(1, S, 30 * S), S);
        for _ in 0..200 {
            let second = delay(2, S, 30 * S);
            assert!((S..=2 * S).contains(&second), "{second:?}");
            let fourth = delay(4, S, 30 * S);
            assert!((4 * S..=8 * S).contains(&fourth), "{fourth:?}");
            let late = delay(40, S, 30 * S);
            assert!((15 * S..=30 * S).contains(&late), "{late:?}");
        }
        // Not all the same: jittered.
        let draws: std::collections::HashSet<_> = (0..20).map(|_| delay(3, S, 30 * S)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn a_server_retry_above_the_cap_wins() {
        assert_eq!(delay(5, 60 * S, 30 * S), 60 * S);
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(7 * S));
        let later = SystemTime::now() + 100 * S;
        headers.insert(RETRY_AFTER, httpdate::fmt_http_date(later).parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!((98 * S..=100 * S).contains(&wait), "{wait:?}");
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
