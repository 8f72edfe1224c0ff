//! Types every Sluice crate shares: the config, the client-facing error, durations and
//! the mock provider's settings. No I/O lives here.

pub mod api_error;
pub mod chat;
pub mod config;
pub mod duration;
pub mod governance_config;
pub mod interpolate;
pub mod json_scan;
pub mod mock;
pub mod period;
pub mod presets;
pub mod pricing_config;
pub mod raw_fields;
pub mod secret;
pub mod weighted;

pub use api_error::{ApiError, ErrorKind};
pub use config::{Config, ConfigError};
pub use duration::ConfigDuration;
pub use raw_fields::{Count, RawFields};
pub use secret::Secret;
