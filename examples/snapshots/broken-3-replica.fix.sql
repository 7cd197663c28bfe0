--- YOU MUST EXECUTE THE FOLLOWING SCRIPT IN SQLCMD MODE.
-- AgDiag 0.1.0 fix script
-- Evidence: snapshot collected at 2026-11-22T10:42:00Z by agdiag 0.1.0
-- Findings: 16 (11 with fix steps); instances changed by T-SQL: 2; manual steps: 4
--
-- REVIEW BEFORE RUNNING. AgDiag generated this script and never runs it. Each statement is
-- preceded by the finding it fixes. Steps marked MANUAL are done outside SQL Server.
-- Endpoint changes briefly interrupt that replica's AG traffic.
-- Keep this file UTF-8 with BOM (as agdiag --fix-script and New-AgFixScript -Path write it):
-- sqlcmd -i reads a file without BOM in the ANSI code page, mangling non-ASCII names.
:on error exit

-- ===== Prerequisites outside SQL Server =====

-- listener.dns_records@SQL1/AG1-LISTENER
-- MANUAL on SQL1:
--   From this machine and from a client: Resolve-DnsName 'AG1-LISTENER'; Get-Content C:\Windows\System32\drivers\etc\hosts
--   Remove-DnsServerResourceRecord -ZoneName <zone> -RRType A -Name 'AG1-LISTENER' -RecordData '10.0.9.50'   # stale record
--   ipconfig /flushdns   # on the clients
--   On a replica's computer (the cluster registers the listener's network name in DNS):
--   Get-ClusterResource | Where-Object { $_.ResourceType -in 'Network Name','Distributed Network Name' } | Format-Table Name, State, OwnerGroup
--   Get-ClusterResource <network name> | Get-ClusterParameter DnsName, RegisterAllProvidersIP, HostRecordTTL
--   Get-ClusterResource <network name> | Update-ClusterNetworkNameResource   # re-registers the name's records
--   Resolve-DnsName 'AG1-LISTENER'

-- network.unreachable@SQL3/sql3.contoso.com:5023
-- MANUAL on SQL3:
--   SQL3's endpoint listens on 5022: its endpoint_url must change, not the network (the endpoint.port_mismatch fix does it, on the primary). After that change, re-test from each other replica:
--   Test-NetConnection -ComputerName 'sql3.contoso.com' -Port 5022

-- build.outdated@SQL3/16.0.1000.6
-- MANUAL on SQL3:
--   Install SQL Server 2022 CU26 (KB5093420) or later on this instance (rolling update: secondaries first, then fail over).

-- ===== Logins for partner service accounts =====

:Connect SQL1
USE [master];
GO
-- accounts.login_missing@SQL1/CONTOSO\SQL3$, errorlog.connect_permission@SQL1/CONTOSO\SQL3$
IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'CONTOSO\SQL3$') CREATE LOGIN [CONTOSO\SQL3$] FROM WINDOWS;
GO

:Connect SQL2
USE [master];
GO
-- accounts.login_missing@SQL2/CONTOSO\SQL3$
IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'CONTOSO\SQL3$') CREATE LOGIN [CONTOSO\SQL3$] FROM WINDOWS;
GO

-- ===== Endpoint ownership (drops every permission on the endpoint; re-granted below) =====

:Connect SQL2
USE [master];
GO
-- endpoint.owner@SQL2/Hadr_endpoint
IF NOT EXISTS (SELECT 1 FROM sys.endpoints AS e JOIN sys.server_principals AS p ON p.principal_id = e.principal_id WHERE e.name = N'Hadr_endpoint' AND p.name = N'sa') ALTER AUTHORIZATION ON ENDPOINT::[Hadr_endpoint] TO [sa];
GO

-- ===== CONNECT permission on the endpoints =====

:Connect SQL1
USE [master];
GO
-- accounts.login_missing@SQL1/CONTOSO\SQL3$, errorlog.connect_permission@SQL1/CONTOSO\SQL3$
GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\SQL3$];
GO

:Connect SQL2
USE [master];
GO
-- accounts.login_missing@SQL2/CONTOSO\SQL3$
GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\SQL3$];
GO
-- endpoint.owner@SQL2/Hadr_endpoint
GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\svc_sql];
GO

-- ===== Availability replica options (run on the primary) =====

:Connect SQL1
USE [master];
GO
-- endpoint.port_mismatch@SQL3/Hadr_endpoint
ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (ENDPOINT_URL = N'TCP://sql3.contoso.com:5022');
GO
-- session.timeout_too_short@SQL1/SQL2
ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL2' WITH (SESSION_TIMEOUT = 10);
GO

-- ===== Read-only routing URLs (before the routing lists that name them) =====

:Connect SQL1
USE [master];
GO
-- routing.url_mirroring_port@SQL2/AG1
ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL2' WITH (SECONDARY_ROLE (READ_ONLY_ROUTING_URL = N'TCP://sql2.contoso.com:1433'));
GO
-- routing.url_missing@SQL3/AG1
ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (SECONDARY_ROLE (READ_ONLY_ROUTING_URL = N'TCP://sql3.contoso.com:1433'));
GO
