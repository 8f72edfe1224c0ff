//! The OpenAI-compatible family: every preset is a few lines of data, and each one
//! works through the gateway (its base URL pointed at the mock), with its own quirks.

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_core::presets::PRESETS;
use sluice_mock::MockSettings;

#[tokio::test]
async fn every_preset_serves_chat_streams_tools_and_embeddings_with_its_key() {
    let mock = start_mock(MockSettings::default()).await;
    let mut yaml = String::from("providers:\n");
    for preset in PRESETS {
        yaml.push_str(&format!(
            "  {name}:\n    kind: {name}\n    base_url: {base}\n",
            name = preset.name,
            base = mock.base_url()
        ));
        if preset.key_var.is_some() {
            yaml.push_str(&format!("    api_key: key-for-{}\n", preset.name));
        }
    }
    let gateway = TestGateway::start(&yaml).await;
    for preset in PRESETS {
        let model = format!("{}/some-model", preset.name);
        let answer = post(
            &gateway.url("/v1/chat/completions"),
            chat_body(&model, "preset says hi"),
        )
        .await;
        assert_eq!(answer.status, 200, "{}: {}", preset.name, answer.text());
        assert_eq!(
            answer.json()["choices"][0]["message"]["content"],
            "preset says hi"
        );
        let received = mock.received();
        let last = received.last().expect("request");
        assert_eq!(last.path, "/v1/chat/completions");
        let expected = preset
            .key_var
            .map(|_| format!("Bearer key-for-{}", preset.name));
        assert_eq!(
            last.header("authorization").map(str::to_string),
            expected,
            "{}",
            preset.name
        );

        let stream = post(
            &gateway.url("/v1/chat/completions"),
            json!({"model": model, "stream": true,
                   "messages": [{"role": "user", "content": "streamed words"}]})
            .to_string(),
        )
        .await;
        assert_eq!(stream.status, 200, "{}", preset.name);
        let data = sse_data(&stream.body);
        assert_eq!(
            data.last().map(String::as_str),
            Some("[DONE]"),
            "{}",
            preset.name
        );

        if preset.tools {
            let tools = post(
                &gateway.url("/v1/chat/completions"),
                json!({"model": model, "tool_choice": "required",
                       "messages": [{"role": "user", "content": "call it"}],
                       "tools": [{"type": "function", "function": {"name": "lookup",
                           "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]})
                .to_string(),
            )
            .await;
            assert_eq!(
                tools.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
                "lookup",
                "{}",
                preset.name
            );
        }

        if preset.embeddings {
            let embeddings = post(
                &gateway.url("/v1/embeddings"),
                json!({"model": format!("{}/embed-model", preset.name), "input": "x"}).to_string(),
            )
            .await;
            assert_eq!(embeddings.status, 200, "{}", preset.name);
            assert_eq!(embeddings.json()["object"], "list", "{}", preset.name);
        }
    }
}

#[tokio::test]
async fn a_preset_that_refuses_unknown_fields_gets_no_stream_options_when_translated() {
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n  mistral:\n    kind: mistral\n    base_url: {base}\n    api_key: k\n  groq:\n    kind: groq\n    base_url: {base}\n    api_key: k\n",
        base = mock.base_url()
    );
    let gateway = TestGateway::start(&yaml).await;
    for (model, keeps_stream_options) in [("mistral/mistral-large", false), ("groq/llama", true)] {
        let answer = post_with(
            &gateway.url("/v1/messages"),
            &[
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
            ],
            json!({"model": model, "max_tokens": 64, "stream": true,
                   "metadata": {"user_id": "end-user-7"},
                   "messages": [{"role": "user", "content": "x y"}]})
            .to_string(),
        )
        .await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let received = mock.received();
        let sent: Value =
            serde_json::from_slice(&received.last().expect("request").body).expect("json");
        assert_eq!(
            sent.get("stream_options").is_some(),
            keeps_stream_options,
            "{model}: {sent}"
        );
        // The family reads `max_tokens`; Mistral refuses `user`, Groq takes it.
        assert_eq!(sent["max_tokens"], 64, "{model}: {sent}");
        assert!(
            sent.get("max_completion_tokens").is_none(),
            "{model}: {sent}"
        );
        assert_eq!(
            sent.get("user").is_some(),
            keeps_stream_options,
            "{model}: {sent}"
        );
        assert_eq!(
            answer
                .header("x-sluice-dropped-params")
                .is_some_and(|dropped| dropped.contains("user")),
            !keeps_stream_options,
            "{model}"
        );
    }
}

#[tokio::test]
async fn tools_for_a_preset_whose_models_call_none_are_refused_when_translated() {
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:
  perplexity:
    kind: perplexity
    base_url: {}
    api_key: k
",
        mock.base_url()
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = post_with(
        &gateway.url("/v1/messages"),
        &[("content-type", "application/json")],
        json!({"model": "perplexity/sonar", "max_tokens": 64,
               "messages": [{"role": "user", "content": "x"}],
               "tools": [{"name": "t", "input_schema": {"type": "object"}}]})
        .to_string(),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["type"], "error");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("tools")),
        "{body}"
    );
}

#[tokio::test]
async fn azure_authenticates_with_an_entra_token_fetched_once() {
    let mock = start_mock(MockSettings::default()).await;
    let root = format!("http://{}", mock.addr());
    let yaml = format!(
        r#"
providers:
  azure:
    kind: azure
    base_url: {root}
    api_version: 2025-04-01-preview
    entra:
      tenant_id: my-tenant
      client_id: my-app
      client_secret: my-secret
      token_url: {root}/token
"#
    );
    let gateway = TestGateway::start(&yaml).await;
    for _ in 0..3 {
        let answer = post(
            &gateway.url("/v1/chat/completions"),
            chat_body("azure/gpt-4o", "entra works"),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    assert_eq!(mock.stats().oauth_tokens_issued(), 1);
    let received = mock.received();
    let token_request = received
        .iter()
        .find(|request| request.path == "/token")
        .expect("token request");
    let form = String::from_utf8_lossy(&token_request.body);
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(
        form.contains("scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"),
        "{form}"
    );
    let last = received.last().expect("chat request");
    assert_eq!(
        last.path,
        "/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview"
    );
    assert!(
        last.header("authorization")
            .is_some_and(|value| value.starts_with("Bearer ya29.mock-"))
    );
    assert_eq!(last.header("api-key"), None);
}
