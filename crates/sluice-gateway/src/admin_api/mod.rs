//! The admin API: customers, teams, virtual keys, budgets, rate limits and spend over
//! HTTP, under `/admin/`, behind a bearer token.
//!
//! One file per resource; `error` maps store and parse errors onto the OpenAI error
//! envelope, `body` reads JSON bodies so that axum's own rejections never reach the
//! client in another shape, `auth` checks the admin token, `time` reads RFC 3339
//! timestamps and days, `ids` checks and generates record ids. The crate's
//! `openapi/admin.json`, served at `GET /admin/openapi.json`, describes every route in
//! [`ROUTES`]; tests keep the document, the list and the router equal.
//!
//! The router has no fallback of its own, so the gateway can `.merge()` it into its
//! router (whose fallback answers unknown paths).

pub(crate) mod auth;
mod body;
mod budgets;
mod customers;
pub(crate) mod error;
mod ids;
mod keys;
mod limits;
mod spend;
mod teams;
mod time;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use sluice_core::Secret;
use sluice_governance::keys::KeyHasher;
use sluice_store::Store;

/// What the admin API needs: the store, the token it accepts, the hasher keys are
/// stored by (the same one the gateway's auth path uses).
pub struct AdminState {
    /// The governance database.
    pub store: Store,
    /// `Authorization: Bearer <token>` must carry this on every route but the OpenAPI
    /// document.
    pub admin_token: Secret,
    /// Turns a key's plaintext into the HMAC it is stored and looked up by.
    pub key_hasher: KeyHasher,
}

/// The OpenAPI 3.1 description of every route, served as it is.
pub(crate) const OPENAPI: &str = include_str!("../../openapi/admin.json");

/// Every (method, path) the router serves, in OpenAPI path syntax. The router below and
/// `openapi/admin.json` must both match this list; the tests check it.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/admin/openapi.json"),
    ("get", "/admin/customers"),
    ("post", "/admin/customers"),
    ("get", "/admin/customers/{id}"),
    ("patch", "/admin/customers/{id}"),
    ("post", "/admin/customers/{id}/disable"),
    ("get", "/admin/teams"),
    ("post", "/admin/teams"),
    ("get", "/admin/teams/{id}"),
    ("patch", "/admin/teams/{id}"),
    ("post", "/admin/teams/{id}/disable"),
    ("get", "/admin/keys"),
    ("post", "/admin/keys"),
    ("get", "/admin/keys/{id}"),
    ("patch", "/admin/keys/{id}"),
    ("post", "/admin/keys/{id}/disable"),
    ("get", "/admin/budgets"),
    ("post", "/admin/budgets"),
    ("get", "/admin/budgets/{id}"),
    ("patch", "/admin/budgets/{id}"),
    ("delete", "/admin/budgets/{id}"),
    ("get", "/admin/limits"),
    ("post", "/admin/limits"),
    ("get", "/admin/limits/{id}"),
    ("patch", "/admin/limits/{id}"),
    ("delete", "/admin/limits/{id}"),
    ("get", "/admin/spend"),
];

/// The admin routes, with full `/admin/…` paths so the gateway can merge them.
pub fn admin_router(state: Arc<AdminState>) -> Router {
    let protected = Router::new()
        .route(
            "/admin/customers",
            get(customers::list).post(customers::create),
        )
        .route(
            "/admin/customers/{id}",
            get(customers::get_one).patch(customers::update),
        )
        .route("/admin/customers/{id}/disable", post(customers::disable))
        .route("/admin/teams", get(teams::list).post(teams::create))
        .route(
            "/admin/teams/{id}",
            get(teams::get_one).patch(teams::update),
        )
        .route("/admin/teams/{id}/disable", post(teams::disable))
        .route("/admin/keys", get(keys::list).post(keys::create))
        .route("/admin/keys/{id}", get(keys::get_one).patch(keys::update))
        .route("/admin/keys/{id}/disable", post(keys::disable))
        .route("/admin/budgets", get(budgets::list).post(budgets::create))
        .route(
            "/admin/budgets/{id}",
            get(budgets::get_one)
                .patch(budgets::update)
                .delete(budgets::delete),
        )
        .route("/admin/limits", get(limits::list).post(limits::create))
        .route(
            "/admin/limits/{id}",
            get(limits::get_one)
                .patch(limits::update)
                .delete(limits::delete),
        )
        .route("/admin/spend", get(spend::report))
        // `route_layer`: only matched routes ask for the token, so an unknown path is
        // still the gateway's 404 rather than a 401.
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_admin_token,
        ));
    Router::new()
        .route("/admin/openapi.json", get(openapi))
        .merge(protected)
        .with_state(state)
}

/// The document is public: it describes the API, it grants nothing.
async fn openapi() -> Response {
    let mut response = OPENAPI.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{OPENAPI, ROUTES};

    #[test]
    fn openapi_document_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented = BTreeSet::new();
        for (path, item) in paths {
            for method in ["get", "post", "patch", "put", "delete"] {
                if item.get(method).is_some() {
                    documented.insert((method.to_owned(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, served);
    }
}
