"""The official `openai` Python SDK, unchanged but for its base URL, against the gateway."""

import json

import openai
import pytest


def test_chat_completion(client):
    completion = client.chat.completions.create(
        model="mock/gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello gateway"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Hello gateway"
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.completion_tokens == 2
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_route_name_and_sluice_headers(client):
    raw = client.chat.completions.with_raw_response.create(
        model="smart", messages=[{"role": "user", "content": "which one"}]
    )
    assert raw.headers["x-sluice-provider"] == "mock"
    assert raw.headers["x-sluice-model"] == "gpt-4o-mini"
    assert raw.headers["x-sluice-attempts"] == "1"
    assert int(raw.headers["x-sluice-overhead-us"]) >= 0
    assert raw.parse().choices[0].message.content == "which one"


def test_stream_with_usage(client):
    stream = client.chat.completions.create(
        model="mock/gpt-4o-mini",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 4
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_multimodal_content_parts(client):
    completion = client.chat.completions.create(
        model="mock/gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe this"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "describe this"


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]


def test_tool_call(client):
    completion = client.chat.completions.create(
        model="mock/gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=TOOLS,
        tool_choice="auto",
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)


def test_tool_call_streamed(client):
    stream = client.chat.completions.create(
        model="mock/gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=TOOLS,
        stream=True,
    )
    name, arguments = None, ""
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = call.function.name or name
            arguments += call.function.arguments or ""
    assert name == "get_weather"
    assert "city" in json.loads(arguments)


def test_embeddings(client):
    # The SDK asks for base64 by default and decodes it.
    result = client.embeddings.create(model="mock/text-embedding-3-small", input=["alpha", "beta"])
    assert len(result.data) == 2
    assert len(result.data[0].embedding) == 1536
    norm = sum(x * x for x in result.data[0].embedding) ** 0.5
    assert abs(norm - 1.0) < 1e-3
    floats = client.embeddings.create(
        model="mock/text-embedding-3-small", input="alpha", dimensions=16, encoding_format="float"
    )
    assert len(floats.data[0].embedding) == 16


def test_models_list(client):
    ids = [model.id for model in client.models.list()]
    assert "smart" in ids
    assert "mock/gpt-4o-mini" in ids


def test_unknown_model_raises_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="nope/none", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"


def test_bad_request_raises_bad_request(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="mock/gpt-4o-mini", messages=[])
    assert caught.value.param == "messages"


def test_upstream_rate_limit_raises_rate_limit_error(client):
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="limited/x", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "1"


def test_upstream_auth_failure_raises_authentication_error(client):
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="denied/x", messages=[{"role": "user", "content": "x"}])


def test_upstream_server_error_raises_internal_server_error(client):
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="broken/x", messages=[{"role": "user", "content": "x"}])


def test_unreachable_upstream_raises_internal_server_error_without_secret(client):
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gone/x", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert "sk-never-shown" not in caught.value.response.text


def test_stream_cut_mid_way_raises_api_error(client):
    stream = client.chat.completions.create(
        model="cut/x",
        messages=[{"role": "user", "content": "one two three four five six"}],
        stream=True,
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received).startswith("one")
    assert "broke" in str(caught.value)


def test_request_fallbacks_header_fails_over_across_dialects(client):
    raw = client.chat.completions.with_raw_response.create(
        model="broken/gpt-4o-mini",
        messages=[{"role": "user", "content": "fall back please"}],
        extra_headers={"x-sluice-fallbacks": "claude/claude-sonnet-4-5"},
    )
    assert raw.headers["x-sluice-provider"] == "claude"
    assert raw.headers["x-sluice-attempts"] == (
        "2 (broken/gpt-4o-mini 500; claude/claude-sonnet-4-5 200)"
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "fall back please"


def test_hedged_stream_is_served_by_the_second_target(client):
    import time

    began = time.monotonic()
    with client.chat.completions.with_streaming_response.create(
        model="hedged",
        messages=[{"role": "user", "content": "race them"}],
        stream=True,
    ) as response:
        assert response.headers["x-sluice-provider"] == "mock"
        assert response.headers["x-sluice-attempts"].endswith("mock/gpt-4o-mini 200)")
        text = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in response.parse()
            if chunk.choices
        )
    assert text == "race them"
    # The stalled target would take 5 s to its first token.
    assert time.monotonic() - began < 3
