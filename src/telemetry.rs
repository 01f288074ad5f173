//! Logs: the subscriber (`RUST_LOG`, default `info`), and paths as logs may show them.

use tracing_subscriber::EnvFilter;

/// Installs the process's log subscriber: `RUST_LOG` if set, else info for this app.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,number_verify=info")),
        )
        .init();
}

/// A path as logs may show it: segments that are random ids (the virtual operator's
/// single-use hop ids, say) are replaced by `{id}`.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let mixed = segment.bytes().any(|b| b.is_ascii_digit())
                || (segment.bytes().any(|b| b.is_ascii_uppercase()) && segment.bytes().any(|b| b.is_ascii_lowercase()));
            let id_like = segment.len() >= 16
                && mixed
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if id_like {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_paths_hide_random_ids_only() {
        assert_eq!(
            loggable_path("/sandbox/hop/1kvpBigKOgTxJPkGVT2eICn-"),
            "/sandbox/hop/{id}"
        );
        assert_eq!(
            loggable_path("/sandbox/hop/pIuJNNOmVmvyRsuUKLUwyjbc"),
            "/sandbox/hop/{id}"
        );
        for path in [
            "/",
            "/callback",
            "/api/start",
            "/pkg/number-verify.wasm",
            "/sandbox/camara/number-verification/v031/verify",
            "/sandbox/deviceinitiated/v1/authorize",
        ] {
            assert_eq!(loggable_path(path), path);
        }
    }
}
