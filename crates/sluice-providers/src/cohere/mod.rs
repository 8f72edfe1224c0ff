//! The cohere dialect (being written).
