"""The official `openai` SDK against providers of other dialects: Anthropic, Gemini,
Bedrock and Cohere answer through the gateway's translation, whole, streamed and with
tool calls."""

import json

import openai
import pytest

MODELS = [
    "claude/claude-sonnet-4-5",
    "gemini/gemini-2.5-flash",
    "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
    "cohere/command-a-03-2025",
]

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.mark.parametrize("model", MODELS)
def test_chat_completion(client, model):
    completion = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello translated world"},
        ],
        max_tokens=64,
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hello translated world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


@pytest.mark.parametrize("model", MODELS)
def test_stream_with_usage(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "a b c d e"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(
        chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices
    )
    assert text == "a b c d e"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 5


@pytest.mark.parametrize("model", MODELS)
def test_tool_calls_whole_and_streamed(client, model):
    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "mock"}
    assert completion.choices[0].finish_reason == "tool_calls"

    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
        stream=True,
    )
    arguments = ""
    names = []
    for chunk in stream:
        if not chunk.choices:
            continue
        for delta in chunk.choices[0].delta.tool_calls or []:
            if delta.function.name:
                names.append(delta.function.name)
            arguments += delta.function.arguments or ""
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "mock"}


def test_provider_errors_become_the_sdks_exceptions(client):
    with pytest.raises(openai.InternalServerError) as overloaded:
        client.chat.completions.create(
            model="overloaded/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}]
        )
    assert overloaded.value.status_code == 503
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="claude/claude-sonnet-4-5",
            messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_object"},
        )
    assert refused.value.body["param"] == "response_format"


def test_embeddings_from_other_dialects(client):
    reference = client.embeddings.create(
        model="mock/text-embedding-3-small", input=["alpha", "beta"], dimensions=16
    )
    for model in ["gemini/gemini-embedding-001", "cohere/embed-v4.0"]:
        result = client.embeddings.create(model=model, input=["alpha", "beta"], dimensions=16)
        assert len(result.data) == 2
        assert result.data[0].embedding == reference.data[0].embedding
