"""Virtual keys, budgets and rate limits as the official SDKs see them: the key goes where
each SDK puts its API key, and each refusal raises the SDK's own exception."""

import anthropic
import openai
import pytest

SDK_KEY = "sk-sluice-sdksdksdksdksdksdksdksdksdksdksdksdksd"
ONE_A_MINUTE = "sk-sluice-oneoneoneoneoneoneoneoneoneoneoneoneon"
BROKE = "sk-sluice-brokebrokebrokebrokebrokebrokebrokebr"
MOCK_ONLY = "sk-sluice-onlyonlyonlyonlyonlyonlyonlyonlyonlyon"


def openai_client(gateway_url, key):
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)


def anthropic_client(gateway_url, key):
    return anthropic.Anthropic(base_url=gateway_url, api_key=key, max_retries=0)


def ask(client, model="mock/gpt-4o-mini"):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "governed"}]
    )


def test_a_virtual_key_as_the_openai_api_key(gateway_url):
    completion = ask(openai_client(gateway_url, SDK_KEY))
    assert completion.choices[0].message.content == "governed"


def test_a_virtual_key_as_the_anthropic_api_key(gateway_url):
    message = anthropic_client(gateway_url, SDK_KEY).messages.create(
        model="claude/claude-sonnet-4-5",
        max_tokens=32,
        messages=[{"role": "user", "content": "governed"}],
    )
    assert message.content[0].text == "governed"


def test_an_unknown_virtual_key_raises_authentication_error(gateway_url):
    with pytest.raises(openai.AuthenticationError) as raised:
        ask(openai_client(gateway_url, "sk-sluice-notakeynotakeynotakeynotakeynotakeyno"))
    assert raised.value.code == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError):
        anthropic_client(
            gateway_url, "sk-sluice-notakeynotakeynotakeynotakeynotakeyno"
        ).messages.create(
            model="claude/claude-sonnet-4-5",
            max_tokens=8,
            messages=[{"role": "user", "content": "hi"}],
        )


def test_a_rate_limited_key_raises_rate_limit_error_with_retry_after(gateway_url):
    client = openai_client(gateway_url, ONE_A_MINUTE)
    ask(client)
    with pytest.raises(openai.RateLimitError) as raised:
        ask(client)
    headers = raised.value.response.headers
    assert headers["x-ratelimit-limit-requests"] == "1"
    assert 1 <= int(headers["retry-after"]) <= 60


def test_a_spent_budget_is_402(gateway_url):
    with pytest.raises(openai.APIStatusError) as raised:
        ask(openai_client(gateway_url, BROKE))
    assert raised.value.status_code == 402
    assert raised.value.code == "budget_exceeded"
    with pytest.raises(anthropic.APIStatusError) as raised:
        anthropic_client(gateway_url, BROKE).messages.create(
            model="claude/claude-sonnet-4-5",
            max_tokens=8,
            messages=[{"role": "user", "content": "hi"}],
        )
    assert raised.value.status_code == 402


def test_a_model_outside_the_keys_list_raises_permission_denied(gateway_url):
    client = openai_client(gateway_url, MOCK_ONLY)
    ask(client)
    with pytest.raises(openai.PermissionDeniedError):
        ask(client, model="smart")


def test_a_governed_stream_shows_the_sdk_no_usage_chunk_it_did_not_ask_for(gateway_url):
    stream = openai_client(gateway_url, SDK_KEY).chat.completions.create(
        model="mock/gpt-4o-mini",
        messages=[{"role": "user", "content": "stream governed words"}],
        stream=True,
    )
    chunks = list(stream)
    assert all(chunk.choices for chunk in chunks), "a chunk without choices reached the SDK"
    assert all(chunk.usage is None for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "stream governed words"


def test_a_keys_model_list_shows_only_what_it_may_ask_for(gateway_url):
    everything = [model.id for model in openai_client(gateway_url, SDK_KEY).models.list()]
    assert "mock/gpt-4o-mini" in everything and "hedged" in everything
    allowed = [model.id for model in openai_client(gateway_url, MOCK_ONLY).models.list()]
    assert allowed == ["mock/gpt-4o-mini"]
    claude = anthropic_client(gateway_url, MOCK_ONLY)
    assert [model.id for model in claude.models.list()] == ["mock/gpt-4o-mini"]
