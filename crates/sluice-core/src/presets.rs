//! Providers that speak the OpenAI dialect at a well-known base URL, as data.
//!
//! With no config file, `sluice serve` turns every preset whose key variable is set into
//! a provider of kind `openai-compatible`. Anthropic and Gemini are reached through their
//! own OpenAI-compatible endpoints until their native dialects arrive.

/// One OpenAI-compatible service: the provider name, the variable holding its key,
/// the variable that may override its base URL, and its default base URL.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub key_var: &'static str,
    pub base_url_var: Option<&'static str>,
    pub base_url: &'static str,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "openai",
        key_var: "OPENAI_API_KEY",
        base_url_var: Some("OPENAI_BASE_URL"),
        base_url: "https://api.openai.com/v1",
    },
    Preset {
        name: "anthropic",
        key_var: "ANTHROPIC_API_KEY",
        base_url_var: None,
        base_url: "https://api.anthropic.com/v1",
    },
    Preset {
        name: "gemini",
        key_var: "GEMINI_API_KEY",
        base_url_var: None,
        base_url: "https://generativelanguage.googleapis.com/v1beta/openai",
    },
    Preset {
        name: "mistral",
        key_var: "MISTRAL_API_KEY",
        base_url_var: None,
        base_url: "https://api.mistral.ai/v1",
    },
    Preset {
        name: "groq",
        key_var: "GROQ_API_KEY",
        base_url_var: None,
        base_url: "https://api.groq.com/openai/v1",
    },
    Preset {
        name: "deepseek",
        key_var: "DEEPSEEK_API_KEY",
        base_url_var: None,
        base_url: "https://api.deepseek.com/v1",
    },
    Preset {
        name: "xai",
        key_var: "XAI_API_KEY",
        base_url_var: None,
        base_url: "https://api.x.ai/v1",
    },
    Preset {
        name: "openrouter",
        key_var: "OPENROUTER_API_KEY",
        base_url_var: None,
        base_url: "https://openrouter.ai/api/v1",
    },
    Preset {
        name: "together",
        key_var: "TOGETHER_API_KEY",
        base_url_var: None,
        base_url: "https://api.together.xyz/v1",
    },
    Preset {
        name: "fireworks",
        key_var: "FIREWORKS_API_KEY",
        base_url_var: None,
        base_url: "https://api.fireworks.ai/inference/v1",
    },
    Preset {
        name: "perplexity",
        key_var: "PERPLEXITY_API_KEY",
        base_url_var: None,
        base_url: "https://api.perplexity.ai",
    },
    Preset {
        name: "cerebras",
        key_var: "CEREBRAS_API_KEY",
        base_url_var: None,
        base_url: "https://api.cerebras.ai/v1",
    },
];
