"""Starts `sluice serve` in front of mock providers for the SDK compatibility tests."""

import os
import pathlib
import socket
import subprocess
import time
import urllib.request

import anthropic
import openai
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = pathlib.Path(__file__).with_name("sluice.yaml")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gateway_url():
    binary = os.environ.get("SLUICE_BIN", str(ROOT / "target" / "debug" / "sluice"))
    port = _free_port()
    env = dict(os.environ, SLUICE_LOG="warn")
    process = subprocess.Popen(
        [binary, "serve", "--config", str(CONFIG), "--listen", f"127.0.0.1:{port}"],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("sluice serve did not become healthy")
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture()
def client(gateway_url):
    # The gateway needs no client key yet; the SDK insists on one being set.
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="sk-client-unused", max_retries=0)


@pytest.fixture()
def claude(gateway_url):
    # The official Anthropic SDK takes the gateway's root as its base URL.
    return anthropic.Anthropic(base_url=gateway_url, api_key="sk-client-unused", max_retries=0)
