//! T-SQL fix statements that more than one check emits, in the exact syntax of
//! `ag-catalog-reference.md` §6, with idempotent guards where T-SQL allows. Each returns `None`
//! when a name cannot be written safely (see `tsql`); the caller then emits a manual step.

use super::tsql::{ident, literal, plain_literal};

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

/// Creates a user in master for a login unless one exists (the owner a certificate is mapped through).
pub fn create_master_user(user: &str, login: &str) -> Option<String> {
    Some(format!(
        "USE [master]; IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = {}) CREATE USER {} FOR LOGIN {};",
        literal(user),
        ident(user)?,
        ident(login)?
    ))
}

/// Makes `user` (in master) the owner of a certificate in master: the endpoint handshake maps a
/// partner's certificate to a login through its owner.
pub fn alter_certificate_owner(certificate: &str, user: &str) -> Option<String> {
    Some(format!("USE [master]; ALTER AUTHORIZATION ON CERTIFICATE::{} TO {};", ident(certificate)?, ident(user)?))
}

/// Removes a DENY (REVOKE clears both grants and denies; the GRANT that follows restores CONNECT).
pub fn revoke_connect(endpoint: &str, login: &str) -> Option<String> {
    Some(format!("REVOKE CONNECT ON ENDPOINT::{} FROM {};", ident(endpoint)?, ident(login)?))
}

pub fn grant_connect(endpoint: &str, login: &str) -> Option<String> {
    Some(format!("GRANT CONNECT ON ENDPOINT::{} TO {};", ident(endpoint)?, ident(login)?))
}

/// Transfers endpoint ownership unless `owner` already owns it. Drops every permission on the
/// endpoint: callers re-grant. The guard keeps a second run from dropping grants made since.
pub fn alter_endpoint_owner(endpoint: &str, owner: &str) -> Option<String> {
    Some(format!(
        "IF NOT EXISTS (SELECT 1 FROM sys.endpoints AS e JOIN sys.server_principals AS p ON p.principal_id = e.principal_id \
         WHERE e.name = {} AND p.name = {}) ALTER AUTHORIZATION ON ENDPOINT::{} TO {};",
        literal(endpoint),
        literal(owner),
        ident(endpoint)?,
        ident(owner)?
    ))
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
/// `None` when the AG name cannot be an identifier or the replica name cannot be one plain literal
/// (MODIFY REPLICA ON takes no expression).
pub fn modify_replica(ag: &str, replica: &str, option: &str) -> Option<String> {
    Some(format!(
        "ALTER AVAILABILITY GROUP {} MODIFY REPLICA ON {} WITH ({option});",
        ident(ag)?,
        plain_literal(replica)?
    ))
}

/// Creates the instance's database mirroring endpoint unless it has one (only one can exist), with
/// the wizard's settings: Windows Negotiate authentication, AES required, role ALL. It is owned by
/// `owner` (sa): without AUTHORIZATION whoever runs the script would own it, the endpoint
/// ownership problem (error 15141) the seed warns about. CREATE ENDPOINT leaves it STOPPED:
/// callers add `start_endpoint`.
pub fn create_mirroring_endpoint(endpoint: &str, owner: &str, port: u16) -> Option<String> {
    Some(format!(
        "IF NOT EXISTS (SELECT 1 FROM sys.database_mirroring_endpoints) CREATE ENDPOINT {} AUTHORIZATION {} AS TCP (LISTENER_PORT = {port}) \
         FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = WINDOWS NEGOTIATE, ENCRYPTION = REQUIRED ALGORITHM AES);",
        ident(endpoint)?,
        ident(owner)?
    ))
}

/// Lets the endpoint act as an availability replica partner (ROLE = ALL) unless it already can
/// (role 1 PARTNER or 3 ALL).
pub fn alter_endpoint_role_all(endpoint: &str) -> Option<String> {
    alter_endpoint_role(endpoint, "ALL", "1, 3")
}

/// `ALTER ENDPOINT ... (ROLE = <role>)`, guarded to run only when the endpoint's `role` code is not
/// already one of `enough` (1 PARTNER, 2 WITNESS, 3 ALL).
fn alter_endpoint_role(endpoint: &str, role: &str, enough: &str) -> Option<String> {
    Some(format!(
        "IF EXISTS (SELECT 1 FROM sys.database_mirroring_endpoints WHERE name = {} AND role NOT IN ({enough})) \
         ALTER ENDPOINT {} FOR DATABASE_MIRRORING (ROLE = {role});",
        literal(endpoint),
        ident(endpoint)?
    ))
}

/// Sets the endpoint's encryption to `mode` (`REQUIRED` or `SUPPORTED`) with AES only, unless it
/// already is exactly that.
pub fn alter_endpoint_encryption_aes(endpoint: &str, supported_only: bool) -> Option<String> {
    let (mode, current) = if supported_only { ("SUPPORTED", "NONE, AES") } else { ("REQUIRED", "AES") };
    Some(format!(
        "IF EXISTS (SELECT 1 FROM sys.database_mirroring_endpoints WHERE name = {} AND encryption_algorithm_desc <> N'{current}') \
         ALTER ENDPOINT {} FOR DATABASE_MIRRORING (ENCRYPTION = {mode} ALGORITHM AES);",
        literal(endpoint),
        ident(endpoint)?
    ))
}

/// `GRANT CONNECT ... WITH GRANT OPTION`, to restore a `W` (GRANT_WITH_GRANT_OPTION) row as it was.
pub fn grant_connect_with_grant_option(endpoint: &str, login: &str) -> Option<String> {
    Some(format!("GRANT CONNECT ON ENDPOINT::{} TO {} WITH GRANT OPTION;", ident(endpoint)?, ident(login)?))
}

/// `ALTER AVAILABILITY GROUP [ag] MODIFY REPLICA ON N'replica' WITH (ENDPOINT_URL = N'url');` (on the primary).
pub fn set_endpoint_url(ag: &str, replica: &str, url: &str) -> Option<String> {
    modify_replica(ag, replica, &format!("ENDPOINT_URL = {}", plain_literal(url)?))
}

/// `ALTER AVAILABILITY GROUP [dag] MODIFY AVAILABILITY GROUP ON N'member' WITH (LISTENER_URL = N'url');`
/// for a distributed AG. Each side keeps its own copy of the distributed AG's metadata: run it on
/// the global primary and on the forwarder.
pub fn set_listener_url(distributed_ag: &str, member_ag: &str, url: &str) -> Option<String> {
    Some(format!(
        "ALTER AVAILABILITY GROUP {} MODIFY AVAILABILITY GROUP ON {} WITH (LISTENER_URL = {});",
        ident(distributed_ag)?,
        plain_literal(member_ag)?,
        plain_literal(url)?
    ))
}

/// Gives a configuration-only replica's endpoint the witness role it needs (`ROLE = WITNESS`, the
/// only value SQL Server Express accepts), unless it already is WITNESS (2) or ALL (3).
pub fn alter_endpoint_role_witness(endpoint: &str) -> Option<String> {
    alter_endpoint_role(endpoint, "WITNESS", "2, 3")
}

/// Makes the endpoint listen on every address (`LISTENER_IP = ALL`), as a distributed AG requires:
/// its partners arrive at the listener's virtual IP, not at the one address the endpoint was bound to.
pub fn alter_endpoint_listener_ip_all(endpoint: &str) -> Option<String> {
    Some(format!("ALTER ENDPOINT {} AS TCP (LISTENER_IP = ALL);", ident(endpoint)?))
}
