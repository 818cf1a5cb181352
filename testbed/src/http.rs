//! An HTTP client for the gateway: requests sent whole, answers read whole.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Reply {
    try_send(client, method, url, headers, body)
        .await
        .expect("hookgate answers")
}

/// As [`send`], for a gateway that may be gone.
pub async fn try_send(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let (status, headers, bytes) = exchange(client, method, url, headers, body.into()).await?;
    let body =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("JSON body, got {bytes:?}"));
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A GET answered with its status and body text.
pub async fn try_get(client: &HttpClient, url: &str) -> Result<(u16, String), String> {
    let (status, _, bytes) = exchange(client, "GET", url, &[], Bytes::new()).await?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// One request, and the answer's status, headers and whole body.
pub async fn exchange(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, headers, bytes))
}
