//! The bedrock dialect (being written).
