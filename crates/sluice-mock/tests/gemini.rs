//! The Gemini API and Vertex AI dialects over real HTTP.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use sluice_mock::MockServer;

const MODEL: &str = "gemini-2.5-flash";

fn base(server: &MockServer) -> String {
    format!("http://{}", server.addr())
}

fn gemini_url(server: &MockServer, action: &str) -> String {
    format!("{}/v1beta/models/{MODEL}:{action}", base(server))
}

fn vertex_url(server: &MockServer, action: &str) -> String {
    format!(
        "{}/v1/projects/my-project/locations/us-central1/publishers/google/models/{MODEL}:{action}",
        base(server)
    )
}

async fn gemini(client: &HttpClient, url: &str, body: &Value) -> Reply {
    read_reply(post_json_raw(client, url, &[("x-goog-api-key", "AIza-test")], body).await).await
}

/// Starts Gemini's `streamGenerateContent` as SSE (`alt=sse`) with an API key.
async fn stream_sse(
    client: &HttpClient,
    server: &MockServer,
    body: &Value,
) -> http::Response<hyper::body::Incoming> {
    let url = format!("{}?alt=sse", gemini_url(server, "streamGenerateContent"));
    post_json_raw(client, &url, &[("x-goog-api-key", "k")], body).await
}

fn ask(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn weather_tools() -> Value {
    json!([{"functionDeclarations": [{
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "OBJECT",
            "properties": {"city": {"type": "STRING"}, "unit": {"type": "STRING", "enum": ["C", "F"]}},
            "required": ["city"]
        }
    }]}])
}

/// The JSON chunks of a Google SSE body: `data: {…}` events separated by CRLF CRLF.
fn google_sse_chunks(text: &str) -> Vec<Value> {
    assert!(
        !text.contains("[DONE]"),
        "Gemini streams end without [DONE]"
    );
    text.split("\r\n\r\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let data = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"));
            serde_json::from_str(data).expect("JSON chunk")
        })
        .collect()
}

#[tokio::test]
async fn generate_content_whole() {
    let server = start(settings(json!({}))).await;
    let reply = gemini(
        &client(),
        &gemini_url(&server, "generateContent"),
        &ask("Hello there friend"),
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"text": "Hello there friend"}])
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(candidate["index"], 0);
    // 3 (priming) + 3 (message) + 3 words, as the OpenAI path counts the same prompt.
    assert_eq!(
        body["usageMetadata"],
        json!({"promptTokenCount": 9, "candidatesTokenCount": 3, "totalTokenCount": 12})
    );
    assert_eq!(body["modelVersion"], MODEL);
    assert!(body["responseId"].is_string());
    assert_eq!(server.stats().chat_completions(), 1);
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].path,
        format!("/v1beta/models/{MODEL}:generateContent")
    );
    assert_eq!(received[0].header("x-goog-api-key"), Some("AIza-test"));
}

#[tokio::test]
async fn api_key_in_the_query_and_max_tokens() {
    let server = start(settings(json!({}))).await;
    let mut request = ask("one two three four");
    request["generationConfig"] = json!({"maxOutputTokens": 2});
    let url = format!("{}?key=AIza-test", gemini_url(&server, "generateContent"));
    let response = post_raw(
        &client(),
        &url,
        &[],
        "application/json",
        request.to_string(),
    )
    .await;
    let body = read_reply(response).await.json();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "one two"
    );
    assert_eq!(body["candidates"][0]["finishReason"], "MAX_TOKENS");
}

#[tokio::test]
async fn stream_generate_content_sse() {
    let server = start(settings(json!({"reply": "lorem", "reply_tokens": 6}))).await;
    let http = client();
    let whole = gemini(&http, &gemini_url(&server, "generateContent"), &ask("hi")).await;
    let whole = whole.json();
    let response = stream_sse(&http, &server, &ask("hi")).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let frames = read_frames(response).await;
    assert!(frames.error.is_none());
    let chunks = google_sse_chunks(&frames.text());
    assert_eq!(chunks.len(), 7, "six tokens and the finishing chunk");
    let text: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .expect("text part")
        })
        .collect();
    assert_eq!(
        text,
        whole["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap()
    );
    for (i, chunk) in chunks[..6].iter().enumerate() {
        assert!(chunk["candidates"][0].get("finishReason").is_none());
        // Usage comes on every chunk, cumulative, as Google sends it.
        assert_eq!(chunk["usageMetadata"]["candidatesTokenCount"], i + 1);
        assert_eq!(chunk["modelVersion"], MODEL);
    }
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"], whole["usageMetadata"]);
    assert_eq!(server.stats().streams_started(), 1);
    assert_eq!(server.stats().streams_completed(), 1);
}

#[tokio::test]
async fn stream_without_alt_is_a_json_array() {
    let server = start(settings(json!({}))).await;
    let response = post_raw(
        &client(),
        &gemini_url(&server, "streamGenerateContent"),
        &[("x-goog-api-key", "k")],
        "application/json",
        ask("a b c").to_string(),
    )
    .await;
    let frames = read_frames(response).await;
    let array: Value = serde_json::from_str(&frames.text()).expect("one JSON array");
    let array = array.as_array().expect("array");
    assert_eq!(array.len(), 4);
    assert_eq!(array[3]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn function_calls_whole_and_streamed() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let mut request = ask("weather in Paris?");
    request["tools"] = weather_tools();
    let whole = gemini(&http, &gemini_url(&server, "generateContent"), &request).await;
    let whole = whole.json();
    let part = &whole["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part["functionCall"],
        json!({"name": "get_weather", "args": {"city": "mock", "unit": "C"}})
    );
    assert_eq!(whole["candidates"][0]["finishReason"], "STOP");

    let response = stream_sse(&http, &server, &request).await;
    let chunks = google_sse_chunks(&read_frames(response).await.text());
    assert_eq!(chunks.len(), 1, "a function call arrives whole");
    assert_eq!(
        chunks[0]["candidates"][0]["content"]["parts"][0]["functionCall"],
        part["functionCall"]
    );
    assert_eq!(chunks[0]["usageMetadata"], whole["usageMetadata"]);

    // A function result comes back as a functionResponse part; NONE turns calls off.
    request["contents"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!({"role": "model", "parts": [part.clone()]}),
            json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}]}),
        ]);
    request["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let answer = gemini(&http, &gemini_url(&server, "generateContent"), &request).await;
    assert_eq!(
        answer.json()["candidates"][0]["content"]["parts"][0]["text"],
        "weather in Paris?"
    );
}

#[tokio::test]
async fn auth_and_validation_errors() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let response = post_raw(
        &http,
        &gemini_url(&server, "generateContent"),
        &[],
        "application/json",
        ask("hi").to_string(),
    )
    .await;
    let missing = read_reply(response).await;
    assert_eq!(missing.status, 403);
    let error = &missing.json()["error"];
    assert_eq!(error["code"], 403);
    assert_eq!(error["status"], "PERMISSION_DENIED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unregistered callers")
    );

    let openai_shaped = json!({"contents": ask("x")["contents"], "max_tokens": 5});
    let bad = gemini(
        &http,
        &gemini_url(&server, "generateContent"),
        &openai_shaped,
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["status"], "INVALID_ARGUMENT");

    let empty = gemini(
        &http,
        &gemini_url(&server, "generateContent"),
        &json!({"contents": []}),
    )
    .await;
    assert_eq!(empty.status, 400);
    let unknown = gemini(&http, &gemini_url(&server, "frobnicate"), &ask("x")).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn status_fault_in_google_format() {
    let server =
        start_with_fault(json!({"kind": "status", "rate": 1.0, "status": 429, "retry_after": 7}))
            .await;
    let reply = gemini(
        &client(),
        &gemini_url(&server, "generateContent"),
        &ask("hi"),
    )
    .await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("7"));
    let error = &reply.json()["error"];
    assert_eq!(error["code"], 429);
    assert_eq!(error["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(error["details"][0]["retryDelay"], "7s");
    assert_eq!(server.stats().faults_injected(), 1);
}

#[tokio::test]
async fn cut_stream_fault() {
    let server =
        start_with_fault(json!({"kind": "cut_stream", "rate": 1.0, "after_tokens": 2})).await;
    let response = stream_sse(&client(), &server, &ask("one two three four")).await;
    let frames = read_frames(response).await;
    assert!(frames.error.is_some(), "the body ends in an error");
    assert_eq!(google_sse_chunks(&frames.text()).len(), 2);
}

#[tokio::test]
async fn count_tokens_matches_usage() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let whole = gemini(
        &http,
        &gemini_url(&server, "generateContent"),
        &ask("count these words"),
    )
    .await;
    let counted = gemini(
        &http,
        &gemini_url(&server, "countTokens"),
        &ask("count these words"),
    )
    .await;
    assert_eq!(counted.status, 200);
    assert_eq!(
        counted.json()["totalTokens"],
        whole.json()["usageMetadata"]["promptTokenCount"]
    );
}

#[tokio::test]
async fn gemini_embeddings() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let one = gemini(
        &http,
        &format!(
            "{}/v1beta/models/text-embedding-004:embedContent",
            base(&server)
        ),
        &json!({"content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 8}),
    )
    .await;
    assert_eq!(one.status, 200);
    let values = one.json()["embedding"]["values"].clone();
    assert_eq!(values.as_array().unwrap().len(), 8);

    let batch = gemini(
        &http,
        &format!(
            "{}/v1beta/models/text-embedding-004:batchEmbedContents",
            base(&server)
        ),
        &json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 8},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "other"}]}, "outputDimensionality": 8}
        ]}),
    )
    .await;
    let embeddings = batch.json()["embeddings"].clone();
    assert_eq!(embeddings.as_array().unwrap().len(), 2);
    assert_eq!(embeddings[0]["values"], values);
    assert_eq!(server.stats().embeddings(), 2);
}

/// A service-account JWT with the claims Google's token endpoint reads (unsigned: the
/// mock does not verify signatures).
fn assertion() -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = 1_790_000_000u64;
    format!(
        "{}.{}.{}",
        b64(json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})),
        b64(json!({
            "iss": "mock@my-project.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "aud": "https://oauth2.googleapis.com/token",
            "iat": now,
            "exp": now + 3600,
        })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"not-a-real-signature")
    )
}

async fn vertex(client: &HttpClient, url: &str, token: Option<&str>, body: &Value) -> Reply {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    read_reply(post_raw(client, url, &headers, "application/json", body.to_string()).await).await
}

#[tokio::test]
async fn vertex_token_then_calls() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let form = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
        assertion()
    );
    let issued = read_reply(
        post_raw(
            &http,
            &format!("{}/token", base(&server)),
            &[],
            "application/x-www-form-urlencoded",
            form,
        )
        .await,
    )
    .await;
    assert_eq!(issued.status, 200);
    let issued = issued.json();
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["expires_in"], 3600);
    let token = issued["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ya29.mock-"));
    assert_eq!(server.stats().oauth_tokens_issued(), 1);

    let url = vertex_url(&server, "generateContent");
    for _ in 0..2 {
        let answer = vertex(&http, &url, Some(&token), &ask("hello vertex")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.json()["candidates"][0]["content"]["parts"][0]["text"],
            "hello vertex"
        );
    }
    // The cached token served both calls.
    assert_eq!(server.stats().oauth_tokens_issued(), 1);

    let stream_url = format!("{}?alt=sse", vertex_url(&server, "streamGenerateContent"));
    let streamed = vertex(&http, &stream_url, Some(&token), &ask("a b")).await;
    let chunks = google_sse_chunks(std::str::from_utf8(&streamed.body).unwrap());
    assert_eq!(chunks.len(), 3);

    let predicted = vertex(
        &http,
        &vertex_url(&server, "predict"),
        Some(&token),
        &json!({"instances": [{"content": "hello world", "task_type": "RETRIEVAL_QUERY"}],
                "parameters": {"outputDimensionality": 4}}),
    )
    .await;
    let prediction = &predicted.json()["predictions"][0]["embeddings"];
    assert_eq!(prediction["values"].as_array().unwrap().len(), 4);
    assert_eq!(prediction["statistics"]["token_count"], 2);
    assert_eq!(prediction["statistics"]["truncated"], false);
}

#[tokio::test]
async fn vertex_refuses_unknown_credentials() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let url = vertex_url(&server, "generateContent");
    for token in [
        None,
        Some("ya29.not-ours"),
        Some("ya29.mock-0-0000000000000000"),
    ] {
        let refused = vertex(&http, &url, token, &ask("hi")).await;
        assert_eq!(refused.status, 401, "{token:?}");
        assert_eq!(refused.json()["error"]["status"], "UNAUTHENTICATED");
    }
    let bad_grant = read_reply(
        post_raw(
            &http,
            &format!("{}/token", base(&server)),
            &[],
            "application/x-www-form-urlencoded",
            "grant_type=password",
        )
        .await,
    )
    .await;
    assert_eq!(bad_grant.status, 400);
    assert_eq!(bad_grant.json()["error"], "unsupported_grant_type");
    let bad_jwt = read_reply(
        post_raw(
            &http,
            &format!("{}/token", base(&server)),
            &[],
            "application/x-www-form-urlencoded",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=abc",
        )
        .await,
    )
    .await;
    assert_eq!(bad_jwt.json()["error"], "invalid_grant");
    assert_eq!(server.stats().oauth_tokens_issued(), 0);
}

#[tokio::test]
async fn malformed_fault_and_pacing_in_streams() {
    let server = start(settings(json!({
        "first_token": "60ms",
        "faults": [{"kind": "malformed_json", "rate": 1.0}]
    })))
    .await;
    let sent = std::time::Instant::now();
    let response = stream_sse(&client(), &server, &ask("one two three four")).await;
    let frames = read_frames(response).await;
    assert!(sent.elapsed() >= std::time::Duration::from_millis(60));
    let text = frames.text();
    let events: Vec<&str> = text.split("\r\n\r\n").filter(|e| !e.is_empty()).collect();
    // Four tokens, the finishing chunk, and the garbage event before the third token.
    assert_eq!(events.len(), 6);
    assert_eq!(events[2], "data: {not json");
    assert!(serde_json::from_str::<Value>(events[3].trim_start_matches("data: ")).is_ok());
}

#[tokio::test]
async fn stream_error_fault_cuts_streams_and_fails_whole_answers() {
    let server = start_with_fault(
        json!({"kind": "stream_error", "rate": 1.0, "after_tokens": 1, "status": 503}),
    )
    .await;
    let http = client();
    let whole = gemini(
        &http,
        &gemini_url(&server, "generateContent"),
        &ask("a b c"),
    )
    .await;
    assert_eq!(whole.status, 503);
    assert_eq!(whole.json()["error"]["status"], "UNAVAILABLE");
    // SSE has no error event on this API: the stream is cut where the error would be.
    let response = stream_sse(&http, &server, &ask("a b c")).await;
    let frames = read_frames(response).await;
    assert!(frames.error.is_some());
    assert_eq!(google_sse_chunks(&frames.text()).len(), 1);
}
