//! T-SQL fix statements that more than one check emits, in the exact syntax of
//! `ag-catalog-reference.md` §6, with idempotent guards where T-SQL allows. Each returns `None`
//! when a name cannot be written safely (see `tsql`); the caller then emits a manual step.

use super::tsql::{ident, literal};

/// Creates a Windows login unless it exists (fails with Msg 15401 if Windows cannot resolve it).
pub fn create_windows_login(login: &str) -> Option<String> {
    Some(format!(
        "IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = {}) CREATE LOGIN {} FROM WINDOWS;",
        literal(login),
        ident(login)?
    ))
}

pub fn enable_login(login: &str) -> Option<String> {
    Some(format!("ALTER LOGIN {} ENABLE;", ident(login)?))
}

/// Removes a DENY (REVOKE clears both grants and denies; the GRANT that follows restores CONNECT).
pub fn revoke_connect(endpoint: &str, login: &str) -> Option<String> {
    Some(format!("REVOKE CONNECT ON ENDPOINT::{} FROM {};", ident(endpoint)?, ident(login)?))
}

pub fn grant_connect(endpoint: &str, login: &str) -> Option<String> {
    Some(format!("GRANT CONNECT ON ENDPOINT::{} TO {};", ident(endpoint)?, ident(login)?))
}

/// Transfers endpoint ownership. Drops every permission on the endpoint: callers re-grant.
pub fn alter_endpoint_owner(endpoint: &str, owner: &str) -> Option<String> {
    Some(format!("ALTER AUTHORIZATION ON ENDPOINT::{} TO {};", ident(endpoint)?, ident(owner)?))
}

/// Starts the endpoint unless it is already started (state 0).
pub fn start_endpoint(endpoint: &str) -> Option<String> {
    Some(format!(
        "IF (SELECT state FROM sys.endpoints WHERE name = {}) <> 0 ALTER ENDPOINT {} STATE = STARTED;",
        literal(endpoint),
        ident(endpoint)?
    ))
}

/// `ALTER AVAILABILITY GROUP [ag] MODIFY REPLICA ON N'replica' WITH (<option>);` — one option per
/// statement, as the docs require. `option` is AgDiag's own text with any values already quoted.
pub fn modify_replica(ag: &str, replica: &str, option: &str) -> Option<String> {
    Some(format!(
        "ALTER AVAILABILITY GROUP {} MODIFY REPLICA ON {} WITH ({option});",
        ident(ag)?,
        literal(replica)
    ))
}
