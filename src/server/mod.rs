//! The HTTP server: the router and its layers (`router`), the edge every request passes
//! (`edge`), who the client is behind proxies (`client`), `SANDBOX=auto` serving this
//! machine only (`local_only`), the accept loop (`serve`), and the wiring of the virtual
//! operator.

pub mod client;
pub mod edge;
pub mod local_only;
pub mod router;
pub mod serve;
#[cfg(feature = "sandbox")]
pub mod virtual_operator;

pub use edge::BODY_LIMIT;
pub use router::router;
pub use serve::{serve, serve_with_limits, serve_with_timeout, ConnectionLimits, DEFAULT_REQUEST_TIMEOUT};
