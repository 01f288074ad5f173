//! Operator latency without threading the metrics through every operator client: a
//! verification's operator calls run inside [`attributed`], which names the operator for
//! the task; the clients' one sending path reports each call with its step and status.
//! Outside such a scope (the virtual operator's own calls, start-up discovery) nothing
//! is recorded.

use std::{future::Future, sync::Arc, time::Duration};

use super::Metrics;

tokio::task_local! {
    static CALLER: (Arc<Metrics>, &'static str);
}

/// Runs `work` with its operator calls counted for `operator` in `metrics`.
pub async fn attributed<F: Future>(metrics: &Arc<Metrics>, operator: &'static str, work: F) -> F::Output {
    CALLER.scope((metrics.clone(), operator), work).await
}

/// One operator call: its step (a fixed name such as "CAMARA token"), the HTTP status it
/// got or what happened instead ("timeout", "unreachable").
pub fn observe_operator_call(step: &'static str, status: Result<u16, &'static str>, took: Duration) {
    let _ = CALLER.try_with(|(metrics, operator)| {
        metrics.operator_request(operator, step, status_label(status), took);
    });
}

/// The statuses operators answer with most, each its own label; any other is its class.
const NAMED: [(u16, &str); 15] = [
    (200, "200"),
    (201, "201"),
    (204, "204"),
    (302, "302"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (409, "409"),
    (422, "422"),
    (429, "429"),
    (500, "500"),
    (502, "502"),
    (503, "503"),
    (504, "504"),
];

/// A label from a fixed set, whatever the operator sent.
fn status_label(status: Result<u16, &'static str>) -> &'static str {
    let code = match status {
        Err(what) => return what,
        Ok(code) => code,
    };
    NAMED
        .iter()
        .find(|(named, _)| *named == code)
        .map(|(_, label)| *label)
        .unwrap_or(match code / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_count_only_inside_a_scope() {
        let metrics = Arc::new(Metrics::new());
        observe_operator_call("CAMARA token", Ok(200), Duration::from_millis(5));
        attributed(&metrics, "camara_standard", async {
            observe_operator_call("CAMARA token", Ok(200), Duration::from_millis(5));
            observe_operator_call("CAMARA verify", Err("timeout"), Duration::from_secs(5));
            observe_operator_call("CAMARA verify", Ok(418), Duration::from_millis(5));
        })
        .await;
        let text = metrics.render();
        for line in [
            r#"nv_operator_request_duration_seconds_count{operator="camara_standard",step="CAMARA token",status="200"} 1"#,
            r#"nv_operator_request_duration_seconds_count{operator="camara_standard",step="CAMARA verify",status="timeout"} 1"#,
            r#"nv_operator_request_duration_seconds_count{operator="camara_standard",step="CAMARA verify",status="4xx"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
