//! Record ids: checking the ones clients choose, generating the rest.

use sluice_governance::keys::random_hex;

use super::error::{AdminError, AdminResult};

/// Longest id accepted; ids travel in paths, logs and metric labels.
const MAX_ID: usize = 128;

/// An id a client chose: non-empty, at most 128 characters of `A-Z a-z 0-9 - _ . : @`,
/// so it needs no escaping in a path.
pub(crate) fn check(param: &'static str, id: &str) -> AdminResult<()> {
    if id.is_empty() {
        return Err(AdminError::invalid(
            param,
            format!("`{param}` must not be empty"),
        ));
    }
    if id.len() > MAX_ID {
        return Err(AdminError::invalid(
            param,
            format!("`{param}` is longer than {MAX_ID} characters"),
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
    {
        return Err(AdminError::invalid(
            param,
            format!("`{param}` may contain only letters, digits and - _ . : @"),
        ));
    }
    Ok(())
}

/// The chosen id, checked, or `prefix_` and 12 random hex characters.
pub(crate) fn chosen_or_new(
    param: &'static str,
    id: Option<String>,
    prefix: &str,
) -> AdminResult<String> {
    match id {
        Some(id) => {
            check(param, &id)?;
            Ok(id)
        }
        None => random_hex(6)
            .map(|hex| format!("{prefix}_{hex}"))
            .map_err(|_| AdminError::internal("random number generator")),
    }
}

/// A display name: non-empty, at most 256 characters.
pub(crate) fn check_name(param: &'static str, name: &str) -> AdminResult<()> {
    if name.trim().is_empty() {
        return Err(AdminError::invalid(
            param,
            format!("`{param}` must not be empty"),
        ));
    }
    if name.chars().count() > 256 {
        return Err(AdminError::invalid(
            param,
            format!("`{param}` is longer than 256 characters"),
        ));
    }
    Ok(())
}
