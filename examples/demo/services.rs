//! The four services of the demo: gateway → orders → inventory and payments.
//!
//! Every handler and inner function is instrumented with `#[traced]` and the
//! HTTP helpers only: the tower layer opens the server span and continues the
//! caller's trace, `ClientCall` opens client spans and injects the context.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};
use serde_json::json;
use trace_runtime::http::{ClientCall, TraceLayer};
use trace_runtime::traced;

/// Which service a process runs, and where its downstream services are.
#[derive(Clone, Debug)]
pub enum Service {
    Gateway { orders: String },
    Orders { inventory: String, payments: String },
    Inventory,
    Payments,
}

impl Service {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Gateway { .. } => "gateway",
            Self::Orders { .. } => "orders",
            Self::Inventory => "inventory",
            Self::Payments => "payments",
        }
    }
}

#[derive(Clone)]
struct App {
    service: Service,
    client: reqwest::Client,
}

/// The routes of `service`, each request in a server span named after its
/// route template.
pub fn router(service: Service) -> Router {
    let app = App { service: service.clone(), client: reqwest::Client::new() };
    let routes = match service {
        Service::Gateway { .. } => Router::new().route("/checkout", post(checkout)),
        Service::Orders { .. } => Router::new().route("/orders", post(create_order)),
        Service::Inventory => Router::new().route("/stock/{sku}", get(stock)),
        Service::Payments => Router::new().route("/charge", post(charge)),
    };
    routes.with_state(app).route_layer(TraceLayer::new().with_route(|parts| {
        parts.extensions.get::<MatchedPath>().map(|path| path.as_str().to_owned())
    }))
}

#[derive(serde::Deserialize)]
struct Checkout {
    order: u64,
    scenario: String,
}

/// An HTTP call in a client span named `METHOD route` (`GET /stock/{sku}`),
/// its context injected into the headers. The client span is the call's only
/// span: it records the status, and an error for 4xx, 5xx or no answer.
async fn call(
    client: &reqwest::Client,
    method: Method,
    url: String,
    route: &str,
    body: String,
) -> Result<String, String> {
    let mut headers = HeaderMap::new();
    let span = ClientCall::start_with_template(&method, &url, route, &mut headers);
    let response = client.request(method, &url).headers(headers).body(body).send().await;
    match response {
        Ok(response) => {
            let status = response.status();
            span.end(Ok::<_, String>(status));
            let text = response.text().await.map_err(|e| e.to_string())?;
            if status.is_success() {
                Ok(text)
            } else {
                Err(format!("{url} answered {status}: {text}"))
            }
        }
        Err(error) => {
            let message = error.to_string();
            span.end(Err::<StatusCode, _>(&message));
            Err(message)
        }
    }
}

// --- gateway -------------------------------------------------------------

async fn checkout(State(app): State<App>, Query(request): Query<Checkout>) -> (StatusCode, String) {
    match place_order(&app, request.order, &request.scenario).await {
        Ok(receipt) => (StatusCode::OK, receipt),
        Err(error) => (StatusCode::BAD_GATEWAY, error),
    }
}

#[traced(args(order, scenario), err)]
async fn place_order(app: &App, order: u64, scenario: &str) -> Result<String, String> {
    trace_runtime::add_tag("scenario", scenario.to_owned());
    let cart = validate_cart(order, scenario)?;
    let Service::Gateway { orders } = &app.service else { unreachable!("gateway only") };
    call(&app.client, Method::POST, format!("{orders}/orders"), "/orders", cart.to_string()).await
}

#[traced(args, err)]
fn validate_cart(order: u64, scenario: &str) -> Result<serde_json::Value, String> {
    let (sku, card) = match scenario {
        "slow" => ("lamp-backorder", "4111"),
        "fail" => ("book", "declined"),
        _ => ("book", "4111"),
    };
    Ok(json!({ "order": order, "sku": sku, "card": card, "cents": 2_500 }))
}

// --- orders --------------------------------------------------------------

async fn create_order(State(app): State<App>, body: String) -> (StatusCode, String) {
    match process_order(&app, &body).await {
        Ok(receipt) => (StatusCode::CREATED, receipt),
        Err(error) => (StatusCode::BAD_GATEWAY, error),
    }
}

#[traced(err)]
async fn process_order(app: &App, body: &str) -> Result<String, String> {
    let order: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let Service::Orders { inventory, payments } = &app.service else { unreachable!("orders only") };
    let sku = order["sku"].as_str().unwrap_or("unknown");
    let stock = call(
        &app.client,
        Method::GET,
        format!("{inventory}/stock/{sku}"),
        "/stock/{sku}",
        String::new(),
    )
    .await?;
    let total = price_order(&order);
    let charge = json!({ "order": order["order"], "card": order["card"], "cents": total });
    let receipt = call(
        &app.client,
        Method::POST,
        format!("{payments}/charge"),
        "/charge",
        charge.to_string(),
    )
    .await?;
    Ok(json!({ "stock": stock, "payment": receipt }).to_string())
}

#[traced(ret)]
fn price_order(order: &serde_json::Value) -> u64 {
    order["cents"].as_u64().unwrap_or(0) * 108 / 100
}

// --- inventory -----------------------------------------------------------

async fn stock(Path(sku): Path<String>) -> (StatusCode, String) {
    let units = query_warehouse(&sku).await;
    (StatusCode::OK, json!({ "sku": sku, "units": units }).to_string())
}

/// The injected slow dependency: items on back-order take the slow path.
#[traced(args, kind = client, tags(db.system = "warehouse-db"))]
async fn query_warehouse(sku: &str) -> u32 {
    let delay = if sku.contains("backorder") { 180 } else { 4 };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    7
}

// --- payments ------------------------------------------------------------

async fn charge(body: String) -> (StatusCode, String) {
    match authorize(&body).await {
        Ok(id) => (StatusCode::OK, json!({ "authorization": id }).to_string()),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error),
    }
}

#[traced(err)]
async fn authorize(body: &str) -> Result<String, String> {
    let request: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let card = request["card"].as_str().unwrap_or_default().to_owned();
    tokio::time::sleep(Duration::from_millis(3)).await;
    call_card_issuer(&card)
}

/// The injected failure: the issuer rejects one card, two hops below the gateway.
#[traced(err)]
fn call_card_issuer(card: &str) -> Result<String, String> {
    if card == "declined" {
        return Err("card issuer unavailable: connection reset by issuer".to_owned());
    }
    Ok(format!("auth-{}", card.len()))
}
