//! The gemini dialect (being written).
