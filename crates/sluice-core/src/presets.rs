//! Services that speak the OpenAI dialect at a well-known base URL, as data: a preset
//! is a name, a base URL, the variable its key usually lives in, and its quirks. A
//! provider of `kind: groq` is an OpenAI-dialect provider with these defaults.

/// One OpenAI-compatible service.
#[derive(Debug, PartialEq, Eq)]
pub struct Preset {
    /// The `kind` that selects it, and the provider name `sluice serve` gives it when it
    /// detects its key variable.
    pub name: &'static str,
    pub display_name: &'static str,
    /// The variable holding its key; `None` for local servers that need none.
    pub key_var: Option<&'static str>,
    /// The variable that may override the base URL (`OLLAMA_BASE_URL`, say).
    pub base_url_var: Option<&'static str>,
    pub base_url: &'static str,
    /// Whether it serves `/embeddings`.
    pub embeddings: bool,
    /// Whether its models call tools (a translated request with tools is refused when not).
    pub tools: bool,
    /// Body fields it answers 400/422 to (or, for `stream_options`, does not know). On a
    /// translated path the gateway writes the request itself, so it leaves them out and
    /// names them in `x-sluice-dropped-params`; a client of the OpenAI dialect is passed
    /// through untouched and answers for its own fields.
    pub refuses: &'static [&'static str],
    /// Where its base URL and quirks are documented.
    pub source: &'static str,
}

macro_rules! preset {
    ($name:literal, $display:literal, $key:expr, $url_var:expr, $url:literal, embeddings: $emb:literal, tools: $tools:literal, refuses: $refuses:expr, $source:literal) => {
        Preset {
            name: $name,
            display_name: $display,
            key_var: $key,
            base_url_var: $url_var,
            base_url: $url,
            embeddings: $emb,
            tools: $tools,
            refuses: $refuses,
            source: $source,
        }
    };
}

pub const PRESETS: &[Preset] = &[
    preset!("mistral", "Mistral AI", Some("MISTRAL_API_KEY"), None, "https://api.mistral.ai/v1",
        embeddings: true, tools: true, refuses: &["stream_options", "user"], "https://docs.mistral.ai/api/"),
    preset!("groq", "Groq", Some("GROQ_API_KEY"), None, "https://api.groq.com/openai/v1",
        embeddings: false, tools: true, refuses: &["logprobs", "top_logprobs", "logit_bias"], "https://console.groq.com/docs/openai"),
    preset!("deepseek", "DeepSeek", Some("DEEPSEEK_API_KEY"), None, "https://api.deepseek.com/v1",
        embeddings: false, tools: true, refuses: &["logprobs", "top_logprobs"], "https://api-docs.deepseek.com/"),
    preset!("xai", "xAI", Some("XAI_API_KEY"), None, "https://api.x.ai/v1",
        embeddings: false, tools: true, refuses: &[], "https://docs.x.ai/docs/api-reference"),
    preset!("openrouter", "OpenRouter", Some("OPENROUTER_API_KEY"), None, "https://openrouter.ai/api/v1",
        embeddings: true, tools: true, refuses: &[], "https://openrouter.ai/docs/api-reference/overview"),
    preset!("together", "Together AI", Some("TOGETHER_API_KEY"), None, "https://api.together.xyz/v1",
        embeddings: true, tools: true, refuses: &[], "https://docs.together.ai/docs/openai-api-compatibility"),
    preset!("fireworks", "Fireworks AI", Some("FIREWORKS_API_KEY"), None, "https://api.fireworks.ai/inference/v1",
        embeddings: true, tools: true, refuses: &[], "https://docs.fireworks.ai/tools-sdks/openai-compatibility"),
    preset!("perplexity", "Perplexity", Some("PERPLEXITY_API_KEY"), None, "https://api.perplexity.ai",
        embeddings: false, tools: false, refuses: &["stream_options"], "https://docs.perplexity.ai/api-reference/chat-completions-post"),
    preset!("cerebras", "Cerebras", Some("CEREBRAS_API_KEY"), None, "https://api.cerebras.ai/v1",
        embeddings: false, tools: true, refuses: &["frequency_penalty", "presence_penalty", "parallel_tool_calls", "logit_bias"], "https://inference-docs.cerebras.ai/resources/openai"),
    preset!("deepinfra", "DeepInfra", Some("DEEPINFRA_API_KEY"), None, "https://api.deepinfra.com/v1/openai",
        embeddings: true, tools: true, refuses: &[], "https://deepinfra.com/docs/openai_api"),
    preset!("sambanova", "SambaNova", Some("SAMBANOVA_API_KEY"), None, "https://api.sambanova.ai/v1",
        embeddings: false, tools: true, refuses: &[], "https://docs.sambanova.ai/cloud/docs/capabilities/openai-compatibility"),
    preset!("nvidia", "NVIDIA NIM", Some("NVIDIA_API_KEY"), None, "https://integrate.api.nvidia.com/v1",
        embeddings: true, tools: true, refuses: &[], "https://docs.api.nvidia.com/nim/reference/llm-apis"),
    preset!("huggingface", "Hugging Face Inference Providers", Some("HF_TOKEN"), None, "https://router.huggingface.co/v1",
        embeddings: false, tools: true, refuses: &[], "https://huggingface.co/docs/inference-providers/index"),
    preset!("ollama", "Ollama", None, Some("OLLAMA_BASE_URL"), "http://localhost:11434/v1",
        embeddings: true, tools: true, refuses: &[], "https://github.com/ollama/ollama/blob/main/docs/openai.md"),
    preset!("vllm", "vLLM", Some("VLLM_API_KEY"), Some("VLLM_BASE_URL"), "http://localhost:8000/v1",
        embeddings: true, tools: true, refuses: &[], "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"),
    preset!("lmstudio", "LM Studio", None, Some("LMSTUDIO_BASE_URL"), "http://localhost:1234/v1",
        embeddings: true, tools: true, refuses: &[], "https://lmstudio.ai/docs/app/api/endpoints/openai"),
];

/// The preset of that name.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_urls_are_http() {
        for (index, preset) in PRESETS.iter().enumerate() {
            assert!(
                PRESETS[index + 1..]
                    .iter()
                    .all(|other| other.name != preset.name),
                "{} twice",
                preset.name
            );
            let uri: http::Uri = preset.base_url.parse().expect("base url");
            assert!(matches!(uri.scheme_str(), Some("http" | "https")));
            assert!(!preset.base_url.ends_with('/'), "{}", preset.name);
        }
    }
}
