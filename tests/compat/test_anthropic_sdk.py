"""The official `anthropic` Python SDK, unchanged but for its base URL, against the
gateway's `/v1/messages`, served by providers of every dialect."""

import anthropic
import pytest

# An OpenAI-dialect upstream first: the case the issue names; then the others.
MODELS = [
    "mock/gpt-4o-mini",
    "claude/claude-sonnet-4-5",
    "gemini/gemini-2.5-flash",
    "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
    "cohere/command-a-03-2025",
]

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"],
    },
}


@pytest.mark.parametrize("model", MODELS)
def test_message(claude, model):
    message = claude.messages.create(
        model=model,
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "Hello from the Anthropic SDK"}],
    )
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the Anthropic SDK"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 5
    assert message.usage.input_tokens >= 5


@pytest.mark.parametrize("model", MODELS)
def test_stream(claude, model):
    with claude.messages.stream(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": "one two three four"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "one two three four"
    assert final.content[0].text == "one two three four"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4


@pytest.mark.parametrize("model", MODELS)
def test_tool_use_whole_and_streamed(claude, model):
    message = claude.messages.create(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice={"type": "any"},
    )
    tool_use = next(block for block in message.content if block.type == "tool_use")
    assert tool_use.name == "get_weather"
    assert tool_use.input == {"city": "mock", "unit": "c"}
    assert message.stop_reason == "tool_use"

    with claude.messages.stream(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice={"type": "any"},
    ) as stream:
        final = stream.get_final_message()
    streamed = next(block for block in final.content if block.type == "tool_use")
    assert streamed.input == tool_use.input

    # The tool's result goes back in the next turn, translated like the rest.
    follow_up_request = dict(
        model=model,
        max_tokens=256,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": message.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use.id, "content": "18 C"},
                    {"type": "text", "text": "thank you"},
                ],
            },
        ],
        tools=[WEATHER],
        tool_choice={"type": "none"},
    )
    if model.startswith("bedrock/"):
        # Bedrock cannot forbid tool calls once the conversation holds some: the
        # documented rule refuses rather than let the model call a tool anyway.
        with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
            claude.messages.create(**follow_up_request)
        return
    follow_up = claude.messages.create(**follow_up_request)
    assert follow_up.content[-1].type == "text"
    assert follow_up.content[-1].text.endswith("thank you")


def test_anthropic_prefix_and_bearer_key_and_unknown_version(gateway_url):
    # Tools configured with ANTHROPIC_BASE_URL=http://host:port/anthropic, an auth token
    # instead of an API key, and an anthropic-version newer than any the gateway knows.
    client = anthropic.Anthropic(
        base_url=f"{gateway_url}/anthropic",
        auth_token="sk-client-bearer",
        default_headers={"anthropic-version": "2031-12-31"},
        max_retries=0,
    )
    for model in ["mock/gpt-4o-mini", "claude/claude-sonnet-4-5"]:
        message = client.messages.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "prefixed"}]
        )
        assert message.content[0].text == "prefixed"


def test_count_tokens(claude):
    for model in ["claude/claude-sonnet-4-5", "gemini/gemini-2.5-flash"]:
        counted = claude.messages.count_tokens(
            model=model, messages=[{"role": "user", "content": "count these four words"}]
        )
        assert counted.input_tokens >= 4
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.count_tokens(
            model="mock/gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )


def test_errors_arrive_as_the_sdks_exceptions(claude):
    with pytest.raises(anthropic.RateLimitError) as limited:
        claude.messages.create(
            model="limited/gpt-4o-mini", max_tokens=16, messages=[{"role": "user", "content": "x"}]
        )
    assert limited.value.response.headers["retry-after"] == "1"
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(
            model="nowhere/model", max_tokens=16, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        claude.messages.create(
            model="overloaded/claude-sonnet-4-5",
            max_tokens=16,
            messages=[{"role": "user", "content": "x"}],
        )
    assert overloaded.value.status_code == 529
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(
            model="mock/gpt-4o-mini", max_tokens=16, messages="not a list"
        )


def test_a_cut_stream_raises_instead_of_truncating(claude):
    with pytest.raises(anthropic.APIError):
        with claude.messages.stream(
            model="cut/gpt-4o-mini",
            max_tokens=64,
            messages=[{"role": "user", "content": "a b c d e f"}],
        ) as stream:
            for _ in stream.text_stream:
                pass


def test_models_list_in_the_anthropic_shape(claude):
    ids = [model.id for model in claude.models.list()]
    assert "mock/gpt-4o-mini" in ids
    assert "smart" in ids
