//! The OpenAI endpoints over real HTTP: shapes, usage arithmetic, streams, tools,
//! embeddings, models and request errors.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};

fn without_volatile(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.remove("created");
    }
    v
}

#[tokio::test]
async fn whole_chat_completion_shape_and_usage() {
    let server = start(settings(json!({}))).await;
    let reply = post_json(
        &client(),
        &chat_url(&server),
        &json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hello  brave new\nworld"}
            ],
            "temperature": 0.3,
            "some_future_field": {"x": 1}
        }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("x-request-id").is_some());
    let body = reply.json();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["service_tier"], "default");
    assert!(
        body["system_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("fp_")
    );
    assert_eq!(
        body["choices"],
        json!([{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello brave new world",
                "refusal": null,
                "annotations": []
            },
            "logprobs": null,
            "finish_reason": "stop"
        }])
    );
    // prompt: 3 priming + (3 + 3 words) + (3 + 4 words); completion: 4 words.
    assert_eq!(
        body["usage"],
        json!({
            "prompt_tokens": 16,
            "completion_tokens": 4,
            "total_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    );
    assert_eq!(server.stats().chat_completions(), 1);
}

#[tokio::test]
async fn echo_uses_last_user_message_and_text_parts() {
    let server = start(settings(json!({}))).await;
    let body = post_json(
        &client(),
        &chat_url(&server),
        &json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "an answer"},
                {"role": "user", "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "text", "text": "this picture"}
                ]}
            ]
        }),
    )
    .await
    .json();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "describe this picture"
    );
}

#[tokio::test]
async fn echo_is_deterministic() {
    let a = start(settings(json!({}))).await;
    let b = start(settings(json!({}))).await;
    let request = user("the same words every time");
    let from_a = post_json(&client(), &chat_url(&a), &request).await.json();
    let from_b = post_json(&client(), &chat_url(&b), &request).await.json();
    // Same settings, same request (and same request number): same bytes but the clock.
    assert_eq!(without_volatile(from_a), without_volatile(from_b));
}

#[tokio::test]
async fn lorem_is_seeded_and_sized() {
    let lorem = |seed: u64| settings(json!({"reply": "lorem", "reply_tokens": 12, "seed": seed}));
    let a = start(lorem(7)).await;
    let b = start(lorem(7)).await;
    let c = start(lorem(8)).await;
    let http = client();
    let content = |v: Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let text_a = content(post_json(&http, &chat_url(&a), &user("hi")).await.json());
    let text_a2 = content(post_json(&http, &chat_url(&a), &user("hi")).await.json());
    let text_b = content(post_json(&http, &chat_url(&b), &user("hi")).await.json());
    let text_c = content(post_json(&http, &chat_url(&c), &user("hi")).await.json());
    let other_prompt = post_json(&http, &chat_url(&a), &user("something else"))
        .await
        .json();
    assert_eq!(text_a.split_whitespace().count(), 12);
    assert_eq!(text_a, text_a2);
    assert_eq!(text_a, text_b);
    assert_ne!(text_a, text_c);
    assert_ne!(text_a, content(other_prompt.clone()));
    assert_eq!(other_prompt["usage"]["completion_tokens"], 12);
}

#[tokio::test]
async fn max_tokens_cuts_with_length() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let mut request = user("one two three four five six");
    request["max_tokens"] = json!(4);
    let body = post_json(&http, &chat_url(&server), &request).await.json();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "one two three four"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 4);

    request["stream"] = json!(true);
    let text = String::from_utf8(
        call(&http, "POST", &chat_url(&server), request.to_string())
            .await
            .body
            .to_vec(),
    )
    .unwrap();
    let chunks = sse_chunks(&text);
    let finish = &chunks[chunks.len() - 1]["choices"][0];
    assert_eq!(finish["finish_reason"], "length");
    assert_eq!(chunks.len(), 1 + 4 + 1);
}

fn stream_request(text: &str, include_usage: bool) -> Value {
    let mut request = user(text);
    request["stream"] = json!(true);
    if include_usage {
        request["stream_options"] = json!({"include_usage": true});
    }
    request
}

#[tokio::test]
async fn stream_frames_match_openai_and_the_whole_response() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let whole = post_json(&http, &chat_url(&server), &user("streams are  fun to test"))
        .await
        .json();
    let response = open_stream(
        &http,
        &chat_url(&server),
        &stream_request("streams are  fun to test", false),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let frames = read_frames(response).await;
    assert!(frames.error.is_none());
    let text = frames.text();
    let events = sse_events(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = sse_chunks(&text);
    // role chunk, five words, finish chunk.
    assert_eq!(chunks.len(), 7);
    let id = chunks[0]["id"].as_str().unwrap();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["model"], "gpt-test");
        assert!(
            chunk.get("usage").is_none(),
            "no usage without include_usage"
        );
        assert_eq!(chunk["choices"][0]["index"], 0);
        assert_eq!(chunk["choices"][0]["logprobs"], Value::Null);
        assert!(
            chunk["obfuscation"].is_string(),
            "OpenAI pads chunks by default"
        );
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], Value::Null);
    let deltas: Vec<&str> = chunks[1..6]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, vec!["streams", " are", " fun", " to", " test"]);
    assert_eq!(
        deltas.concat(),
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(chunks[6]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "stop");
    let stats = server.stats();
    assert_eq!(stats.streams_started(), 1);
    assert_eq!(stats.streams_completed(), 1);
    assert_eq!(stats.client_disconnects(), 0);
}

#[tokio::test]
async fn stream_include_usage_adds_a_usage_chunk() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let whole = post_json(&http, &chat_url(&server), &user("count these four"))
        .await
        .json();
    let mut request = stream_request("count these four", true);
    request["stream_options"]["include_obfuscation"] = json!(false);
    let reply = post_json(&http, &chat_url(&server), &request).await;
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    let chunks = sse_chunks(&text);
    assert_eq!(chunks.len(), 1 + 3 + 1 + 1);
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.get("usage").is_some());
        assert!(chunk.get("obfuscation").is_none());
    }
    let last = &chunks[chunks.len() - 1];
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], whole["usage"]);
    assert!(text.ends_with("data: [DONE]\n\n"));
}

fn weather_request(stream: bool) -> Value {
    json!({
        "model": "gpt-test",
        "stream": stream,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [
            {"type": "function", "function": {
                "name": "lookup_time",
                "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}
            }},
            {"type": "function", "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string"},
                        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                        "days": {"type": "integer"},
                        "details": {"type": "boolean"}
                    },
                    "required": ["city"]
                }
            }}
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
    })
}

#[tokio::test]
async fn tool_call_whole() {
    let server = start(settings(json!({}))).await;
    let body = post_json(&client(), &chat_url(&server), &weather_request(false))
        .await
        .json();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let message = &choice["message"];
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"], Value::Null);
    let call = &message["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments = call["function"]["arguments"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(arguments).unwrap();
    assert_eq!(
        parsed,
        json!({"city": "mock", "unit": "celsius", "days": 1, "details": true})
    );
    assert_eq!(
        body["usage"]["completion_tokens"],
        arguments.split_whitespace().count()
    );

    // Without tool_choice the first tool is called; with "none" the answer is text.
    let mut first = weather_request(false);
    first.as_object_mut().unwrap().remove("tool_choice");
    let body = post_json(&client(), &chat_url(&server), &first)
        .await
        .json();
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "lookup_time"
    );
    let mut none = weather_request(false);
    none["tool_choice"] = json!("none");
    let body = post_json(&client(), &chat_url(&server), &none).await.json();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0]["message"].get("tool_calls").is_none());
}

#[tokio::test]
async fn tool_call_streamed_reassembles() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let whole = post_json(&http, &chat_url(&server), &weather_request(false))
        .await
        .json();
    let reply = post_json(&http, &chat_url(&server), &weather_request(true)).await;
    let chunks = sse_chunks(std::str::from_utf8(&reply.body).unwrap());
    let first = &chunks[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    assert_eq!(first["content"], Value::Null);
    let head = &first["tool_calls"][0];
    assert_eq!(head["index"], 0);
    assert!(head["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(head["type"], "function");
    assert_eq!(head["function"]["name"], "get_weather");
    assert_eq!(head["function"]["arguments"], "");
    let pieces: Vec<&str> = chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| {
            let call = &c["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(call["index"], 0);
            assert!(call.get("id").is_none());
            call["function"]["arguments"].as_str().unwrap()
        })
        .collect();
    assert!(pieces.len() > 2, "arguments arrive in several pieces");
    let arguments = pieces.concat();
    assert_eq!(
        arguments,
        whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap()
    );
    assert!(
        serde_json::from_str::<Value>(&arguments)
            .unwrap()
            .is_object()
    );
    assert_eq!(
        chunks[chunks.len() - 1]["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[tokio::test]
async fn embeddings_float_default_dimensions() {
    let server = start(settings(json!({"embedding_dimensions": 64}))).await;
    let url = format!("{}/embeddings", server.base_url());
    let http = client();
    let reply = post_json(
        &http,
        &url,
        &json!({"model": "text-embedding-3-small", "input": ["the quick brown fox", "hello"]}),
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 5, "total_tokens": 5})
    );
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        let vector: Vec<f32> = serde_json::from_value(item["embedding"].clone()).unwrap();
        assert_eq!(vector.len(), 64);
        assert!((norm(&vector) - 1.0).abs() < 1e-3);
    }
    // Deterministic.
    let again = post_json(
        &http,
        &url,
        &json!({"model": "text-embedding-3-small", "input": ["the quick brown fox", "hello"]}),
    )
    .await
    .json();
    assert_eq!(body["data"], again["data"]);
    assert_eq!(server.stats().embeddings(), 2);
}

#[tokio::test]
async fn embeddings_base64_and_dimensions() {
    let server = start(settings(json!({}))).await;
    let url = format!("{}/embeddings", server.base_url());
    let http = client();
    let request = |format: &str| json!({"model": "e", "input": "semantic caches like stable vectors", "dimensions": 32, "encoding_format": format});
    let b64 = post_json(&http, &url, &request("base64")).await.json();
    let float = post_json(&http, &url, &request("float")).await.json();
    let encoded = b64["data"][0]["embedding"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(bytes.len(), 32 * 4);
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert!((norm(&decoded) - 1.0).abs() < 1e-3);
    let floats: Vec<f32> = serde_json::from_value(float["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(decoded, floats);

    // Default dimensions come from the settings (1536).
    let default = post_json(&http, &url, &json!({"model": "e", "input": "x"}))
        .await
        .json();
    assert_eq!(
        default["data"][0]["embedding"].as_array().unwrap().len(),
        1536
    );
}

#[tokio::test]
async fn embeddings_token_inputs() {
    let server = start(settings(json!({"embedding_dimensions": 8}))).await;
    let url = format!("{}/embeddings", server.base_url());
    let http = client();
    let single = post_json(&http, &url, &json!({"model": "e", "input": [1, 2, 3]}))
        .await
        .json();
    assert_eq!(single["data"].as_array().unwrap().len(), 1);
    assert_eq!(single["usage"]["prompt_tokens"], 3);
    let many = post_json(&http, &url, &json!({"model": "e", "input": [[1, 2], [3]]}))
        .await
        .json();
    assert_eq!(many["data"].as_array().unwrap().len(), 2);
    assert_eq!(many["usage"]["prompt_tokens"], 3);
}

#[tokio::test]
async fn models_list_and_get() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let list = get(&http, &format!("{}/models", server.base_url())).await;
    assert_eq!(list.status, 200);
    let body = list.json();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"mock-gpt") && ids.contains(&"mock-embedding"));
    for model in body["data"].as_array().unwrap() {
        assert_eq!(model["object"], "model");
        assert!(model["created"].is_u64());
        assert!(model["owned_by"].is_string());
    }
    let one = get(&http, &format!("{}/models/mock-gpt", server.base_url())).await;
    assert_eq!(one.json()["id"], "mock-gpt");
    let missing = get(&http, &format!("{}/models/gpt-99", server.base_url())).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "model_not_found");
}

fn assert_error_shape(reply: &Reply, status: u16, kind: &str, param: Value, code: Value) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let error = &reply.json()["error"];
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(error["type"], kind);
    assert_eq!(error["param"], param);
    assert_eq!(error["code"], code);
}

#[tokio::test]
async fn request_errors_speak_openai() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let chat = chat_url(&server);
    let invalid = call(&http, "POST", &chat, "{\"model\": ").await;
    assert_error_shape(
        &invalid,
        400,
        "invalid_request_error",
        Value::Null,
        Value::Null,
    );
    let no_model = post_json(
        &http,
        &chat,
        &json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_error_shape(
        &no_model,
        400,
        "invalid_request_error",
        json!("model"),
        json!("missing_required_parameter"),
    );
    let no_messages = post_json(&http, &chat, &json!({"model": "m"})).await;
    assert_error_shape(
        &no_messages,
        400,
        "invalid_request_error",
        json!("messages"),
        json!("missing_required_parameter"),
    );
    let embeddings = format!("{}/embeddings", server.base_url());
    let no_input = post_json(&http, &embeddings, &json!({"model": "e"})).await;
    assert_error_shape(
        &no_input,
        400,
        "invalid_request_error",
        json!("input"),
        json!("missing_required_parameter"),
    );
    let no_embedding_model = post_json(&http, &embeddings, &json!({"input": "x"})).await;
    assert_error_shape(
        &no_embedding_model,
        400,
        "invalid_request_error",
        json!("model"),
        json!("missing_required_parameter"),
    );
    let bad_json = call(&http, "POST", &embeddings, "nope").await;
    assert_error_shape(
        &bad_json,
        400,
        "invalid_request_error",
        Value::Null,
        Value::Null,
    );

    let unknown = call(
        &http,
        "POST",
        &format!("{}/v1/frobnicate", server_root(&server)),
        "{}",
    )
    .await;
    assert_error_shape(
        &unknown,
        404,
        "invalid_request_error",
        Value::Null,
        json!("unknown_url"),
    );
    assert!(
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/frobnicate")
    );
    let wrong_method = get(&http, &chat).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(
        wrong_method.json()["error"]["type"],
        "invalid_request_error"
    );
}

fn server_root(server: &sluice_mock::MockServer) -> String {
    format!("http://{}", server.addr())
}

#[tokio::test]
async fn received_records_requests() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let request = user("remember me");
    post_json(&http, &format!("{}?trace=1", chat_url(&server)), &request).await;
    get(&http, &format!("{}/models", server.base_url())).await;
    let received = server.received();
    assert_eq!(received.len(), 2);
    let first = &received[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/chat/completions?trace=1");
    assert_eq!(first.header("Authorization"), Some("Bearer sk-test-key"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(body, request);
    assert_eq!(received[1].method, "GET");
    assert_eq!(received[1].path, "/v1/models");
    assert!(received[1].body.is_empty());
    assert_eq!(server.stats().requests(), 2);
}

#[tokio::test]
async fn odd_inputs_get_answers_not_broken_connections() {
    let server = start(settings(json!({"embedding_dimensions": 4}))).await;
    let http = client();
    let chat = chat_url(&server);
    let embeddings = format!("{}/embeddings", server.base_url());
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (&chat, b"null".to_vec()),
        (&chat, b"[]".to_vec()),
        (&chat, vec![0xff, 0xfe, 0x00, 0x7b]),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":{\"weird\":1}}]}".to_vec()),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[1,{\"text\":5},{\"type\":\"text\"}]}]}".to_vec()),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":7}]}".to_vec()),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1e300}".to_vec()),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":18446744073709551615}".to_vec()),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}".to_vec()),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":7,\"properties\":[1]}}}]}".to_vec()),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\"}}".to_vec()),
        (&chat, b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":true}}],\"stream\":true}".to_vec()),
        (&embeddings, b"{\"model\":\"e\",\"input\":[[1,2],[\"a\"]]}".to_vec()),
        (&embeddings, b"{\"model\":\"e\",\"input\":\"\"}".to_vec()),
        (&embeddings, b"{\"model\":\"e\",\"input\":[\"\"],\"dimensions\":-1}".to_vec()),
        (&embeddings, b"{\"model\":\"e\",\"input\":\"x\",\"dimensions\":2.5}".to_vec()),
        (&embeddings, format!("{{\"model\":\"e\",\"input\":[{}],\"dimensions\":65536}}", vec!["\"w\""; 2000].join(",")).into_bytes()),
    ];
    for (url, body) in bodies {
        let reply = call(&http, "POST", url, body.clone()).await;
        assert!(
            reply.status == 200 || reply.status == 400,
            "{} for {:?}",
            reply.status,
            String::from_utf8_lossy(&body)
        );
        if reply.status == 200 && reply.header("content-type") == Some("application/json") {
            reply.json();
        } else if reply.status == 400 {
            assert!(reply.json()["error"]["message"].is_string());
        }
    }
}
