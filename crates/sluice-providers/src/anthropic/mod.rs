//! The anthropic dialect (being written).
