//! The HTML shell and the routes.

use leptos::prelude::*;
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use crate::pages::{authorize::AuthorizePage, handoff::HandoffPage, verify::VerifyPage};

/// The document. Its head is written here, not through leptos_meta: the one page has
/// one head, and injecting registered tags costs a pass over every rendered page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    hand_nonce_to_the_edge();
    // The stylesheet under its hashed name, cached for a year.
    let stylesheet = use_context::<crate::state::AppState>()
        .and_then(|state| state.assets.stylesheet().map(str::to_owned))
        .unwrap_or_else(|| format!("/{}/{}.css", options.site_pkg_dir, options.output_name));
    // Only the form and a desktop's handoff have islands: a result page costs a phone no
    // wasm download.
    let credentials = use_context::<crate::state::AppState>().is_some_and(|s| s.verifier.offers_credentials());
    let islands = use_context::<axum::http::request::Parts>().is_some_and(|parts| {
        crate::pages::verify::has_islands(&parts.uri)
            // The phone's Continue asks the wallet first only where that channel exists.
            || (parts.uri.path() == "/handoff" && credentials)
    });
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <title>"Number Verify"</title>
                <meta name="description" content="Verify your phone number through your mobile operator, without an SMS code." />
                <meta name="theme-color" content="#0b5cad" />
                <link rel="stylesheet" id="leptos" href=stylesheet />
                <link rel="icon" href="/favicon.ico" sizes="any" />
                <AutoReload options=options.clone() />
                {islands.then(|| view! { <HydrationScripts options islands=true /> })}
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The hydration scripts carry this response's nonce (leptos_axum provides one per
/// render); the server's edge puts it in the Content-Security-Policy, which it alone
/// knows how to write.
fn hand_nonce_to_the_edge() {
    use axum::http::{HeaderName, HeaderValue};
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(value) = HeaderValue::from_str(&nonce) {
            response.insert_header(HeaderName::from_static(crate::http::NONCE_HEADER), value);
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <main class="page">
                <Routes fallback=|| view! { <p>"Page not found."</p> }>
                    // Async: the whole page, result included, is rendered before it is sent, so
                    // it works without JavaScript.
                    <Route path=StaticSegment("") view=VerifyPage ssr=SsrMode::Async />
                    // The OpenID Provider's hosted page, plain HTML.
                    <Route path=StaticSegment("authorize") view=AuthorizePage ssr=SsrMode::Async />
                    // The phone's side of a desktop's handoff, plain HTML.
                    <Route path=StaticSegment("handoff") view=HandoffPage ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}
