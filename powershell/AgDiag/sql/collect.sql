/*
 * AgDiag collect.sql: the AgDiag snapshot of ONE SQL Server instance, as one JSON document, for
 * servers where the agdiag tool cannot run or connect (locked-down hosts, jump boxes).
 *
 * What it does: reads the same catalog views and DMVs as `agdiag collect` (one per `results` key of
 * snapshot format agdiag.snapshot/1) and prints them as JSON (FOR JSON PATH). Read-only: it only
 * SELECTs from catalog views (and the AlwaysOn_health event files, with
 * sys.fn_xe_file_target_read_file) and runs sys.sp_readerrorlog into a temp table, filtered to
 * AG-relevant messages. A view that fails (permission denied, missing on this version) is recorded under
 * `query_errors` with its error number and message; every other view is still collected.
 *
 * Needs: SQL Server 2016 or later (FOR JSON, STRING_ESCAPE). VIEW SERVER STATE and VIEW ANY
 * DEFINITION give complete results; sp_readerrorlog needs securityadmin (without it, `errorlog`
 * is a query error and the other keys are unaffected).
 *
 * Run it on every replica and save each output, e.g. with sqlcmd (-f 65001: UTF-8, so that
 * non-ASCII names survive; without it sqlcmd writes the console's ANSI/OEM code page; -h -1: no
 * header; -W: no trailing padding):
 *     sqlcmd -S SQL1 -E -i collect.sql -f 65001 -h -1 -W -o sql1.agdiag.txt
 * or in SSMS with Query > Results To > Results to File, after setting Tools > Options > Query
 * Results > SQL Server > Results to Text > "Maximum number of characters displayed in each column"
 * to 8192 (the default, 256, cuts every line). Then analyze the files of every replica together,
 * as one AG (Import-Module AgDiag: Invoke-AgDiagnostic -SnapshotPath sql1.agdiag.txt, ...):
 *     agdiag analyze sql1.agdiag.txt sql2.agdiag.txt sql3.agdiag.txt --fix-script fix.sql
 *
 * Output: the snapshot JSON cut into lines `AGDIAG <piece number> <at most 3980 characters>|`
 * (nvarchar(4000), which sqlcmd never truncates), then `AGDIAG END <number of pieces>|`. One
 * instance's JSON is 15-20 KB even for a small AG, more with event history: as one value it would
 * be cut by SSMS (8192 characters at most) or sqlcmd -y 0 (1 MB). agdiag and the module join the pieces, check none is missing or cut, and read UTF-8 and
 * UTF-16 files (SSMS saves UTF-16).
 *
 * Logins that follow the databases: `database_principals` holds master's users and then, on the
 * primary, the users of each availability database it can read (their logins must exist, with the
 * same SID, on every replica).
 *
 * Event history: `alwayson_health` holds the AlwaysOn_health session's events of the last 7 days
 * (newest 50000; change @history_days / @history_max_rows below). A file that is missing or
 * unreadable is recorded under `query_errors`, like a denied view.
 *
 * Differences from `agdiag collect`: no network probes (the `probes` array is empty). Values have
 * the same representation as agdiag collect writes: FOR JSON writes decimal/numeric (LSNs) as
 * numbers with every digit; varbinary/binary columns (sid, owner_sid, thumbprint ...) would be
 * base64 in FOR JSON, so every `* FROM [master.]sys.<view>` below is expanded at run time into the
 * view's column list with each binary column as CONVERT(varchar(max), col, 1), the "0x..." hex
 * the snapshot contract specifies.
 */
SET NOCOUNT ON;

-- Event history read from the AlwaysOn_health files (the same defaults as agdiag collect's
-- --history-days): the newest @history_max_rows events of the last @history_days days.
DECLARE @history_days int = 7, @history_max_rows int = 50000;

DECLARE @queries TABLE (ord int PRIMARY KEY, [key] sysname NOT NULL, [sql] nvarchar(max) NOT NULL);
INSERT INTO @queries (ord, [key], [sql]) VALUES
(1, N'server_properties', N'SELECT @j = (SELECT
    CAST(SERVERPROPERTY(''ServerName'') AS nvarchar(128)) AS [ServerName],
    CAST(SERVERPROPERTY(''MachineName'') AS nvarchar(128)) AS [MachineName],
    CAST(SERVERPROPERTY(''InstanceName'') AS nvarchar(128)) AS [InstanceName],
    CAST(SERVERPROPERTY(''ComputerNamePhysicalNetBIOS'') AS nvarchar(128)) AS [ComputerNamePhysicalNetBIOS],
    CAST(SERVERPROPERTY(''IsHadrEnabled'') AS int) AS [IsHadrEnabled],
    CAST(SERVERPROPERTY(''HadrManagerStatus'') AS int) AS [HadrManagerStatus],
    CAST(SERVERPROPERTY(''IsClustered'') AS int) AS [IsClustered],
    CAST(SERVERPROPERTY(''ProductVersion'') AS nvarchar(128)) AS [ProductVersion],
    CAST(SERVERPROPERTY(''ProductLevel'') AS nvarchar(128)) AS [ProductLevel],
    CAST(SERVERPROPERTY(''ProductUpdateLevel'') AS nvarchar(128)) AS [ProductUpdateLevel],
    CAST(SERVERPROPERTY(''ProductUpdateReference'') AS nvarchar(128)) AS [ProductUpdateReference],
    CAST(SERVERPROPERTY(''Edition'') AS nvarchar(128)) AS [Edition],
    CAST(SERVERPROPERTY(''EngineEdition'') AS int) AS [EngineEdition],
    CAST(@@SERVERNAME AS nvarchar(128)) AS [@@SERVERNAME],
    CAST(DEFAULT_DOMAIN() AS nvarchar(128)) AS [DEFAULT_DOMAIN()],
    CAST(SERVERPROPERTY(''InstanceDefaultDataPath'') AS nvarchar(512)) AS [InstanceDefaultDataPath],
    CAST(SERVERPROPERTY(''InstanceDefaultLogPath'') AS nvarchar(512)) AS [InstanceDefaultLogPath],
    CAST(SERVERPROPERTY(''ErrorLogFileName'') AS nvarchar(512)) AS [ErrorLogFileName]
    FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(2, N'dm_server_services', N'SELECT @j = (SELECT * FROM sys.dm_server_services FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(3, N'endpoints', N'SELECT @j = (SELECT * FROM sys.endpoints FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(4, N'database_mirroring_endpoints', N'SELECT @j = (SELECT * FROM sys.database_mirroring_endpoints FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(5, N'tcp_endpoints', N'SELECT @j = (SELECT * FROM sys.tcp_endpoints FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(6, N'server_permissions', N'SELECT @j = (SELECT * FROM sys.server_permissions FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(7, N'server_principals', N'SELECT @j = (SELECT * FROM sys.server_principals FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(8, N'availability_groups', N'SELECT @j = (SELECT * FROM sys.availability_groups FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(9, N'availability_replicas', N'SELECT @j = (SELECT * FROM sys.availability_replicas FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(10, N'availability_read_only_routing_lists', N'SELECT @j = (SELECT * FROM sys.availability_read_only_routing_lists FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(11, N'availability_group_listeners', N'SELECT @j = (SELECT * FROM sys.availability_group_listeners FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(12, N'availability_group_listener_ip_addresses', N'SELECT @j = (SELECT * FROM sys.availability_group_listener_ip_addresses FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(13, N'availability_databases_cluster', N'SELECT @j = (SELECT * FROM sys.availability_databases_cluster FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(14, N'dm_tcp_listener_states', N'SELECT @j = (SELECT * FROM sys.dm_tcp_listener_states FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(15, N'dm_hadr_availability_replica_states', N'SELECT @j = (SELECT * FROM sys.dm_hadr_availability_replica_states FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(16, N'dm_hadr_availability_group_states', N'SELECT @j = (SELECT * FROM sys.dm_hadr_availability_group_states FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(17, N'dm_hadr_database_replica_states', N'SELECT @j = (SELECT * FROM sys.dm_hadr_database_replica_states FOR JSON PATH, INCLUDE_NULL_VALUES)'),
-- Automatic seeding (SQL Server 2016+: error 208 before, recorded in query_errors).
(18, N'dm_hadr_automatic_seeding', N'SELECT @j = (SELECT * FROM sys.dm_hadr_automatic_seeding FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(19, N'dm_hadr_physical_seeding_stats', N'SELECT @j = (SELECT * FROM sys.dm_hadr_physical_seeding_stats FOR JSON PATH, INCLUDE_NULL_VALUES)'),
-- The files of the availability databases, with each database's name (ids differ between replicas).
(20, N'master_files', N'SELECT @j = (SELECT DB_NAME(database_id) AS database_name, * FROM sys.master_files WHERE database_id IN (SELECT database_id FROM sys.databases WHERE replica_id IS NOT NULL) FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(21, N'dm_hadr_cluster', N'SELECT @j = (SELECT * FROM sys.dm_hadr_cluster FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(22, N'dm_hadr_cluster_members', N'SELECT @j = (SELECT * FROM sys.dm_hadr_cluster_members FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(23, N'certificates', N'SELECT @j = (SELECT * FROM master.sys.certificates FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(24, N'database_principals', N'SELECT @j = (SELECT N''master'' AS database_name, * FROM master.sys.database_principals FOR JSON PATH, INCLUDE_NULL_VALUES)'),
-- sys.sp_readerrorlog 0, 1 (current log, SQL Server log) is read into #agdiag_errorlog below.
(25, N'errorlog', N'SELECT @j = (SELECT LogDate, ProcessInfo, [Text] FROM #agdiag_errorlog ORDER BY LogDate FOR JSON PATH, INCLUDE_NULL_VALUES)'),
-- The AlwaysOn_health events of the last @history_days days (newest @history_max_rows), as agdiag
-- collect reads them (src/collect/queries.rs): a missing or unreadable file is a query error.
(26, N'alwayson_health', N'SELECT @j = (SELECT h.object_name, h.event_data, h.file_name, h.file_offset, h.timestamp_utc
FROM (SELECT CAST(NULL AS datetime2(7)) AS timestamp_utc) AS before_2017
CROSS APPLY (
    SELECT TOP (' + CAST(@history_max_rows AS nvarchar(10)) + N') x.object_name, CAST(x.event_data AS nvarchar(max)) AS event_data, x.file_name, x.file_offset,
        CAST(timestamp_utc AS datetime2(7)) AS timestamp_utc, w.event_time
    FROM (SELECT
        (SELECT TOP (1) CAST(t.target_data AS xml).value(''(EventFileTarget/File/@name)[1]'', ''nvarchar(260)'')
            FROM sys.dm_xe_sessions AS s JOIN sys.dm_xe_session_targets AS t ON t.event_session_address = s.address
            WHERE s.name = N''AlwaysOn_health'' AND t.target_name = N''event_file'') AS running_file,
        (SELECT TOP (1) CAST(f.value AS nvarchar(260))
            FROM sys.server_event_sessions AS s JOIN sys.server_event_session_fields AS f ON f.event_session_id = s.event_session_id
            WHERE s.name = N''AlwaysOn_health'' AND f.name = N''filename'') AS defined_file,
        CAST(SERVERPROPERTY(''ErrorLogFileName'') AS nvarchar(260)) AS errorlog_file) AS src
    CROSS APPLY (SELECT COALESCE(src.running_file,
            CASE WHEN PATINDEX(N''%[\/]%'', src.defined_file) > 0 THEN src.defined_file END, src.errorlog_file) AS located,
        N''/'' + COALESCE(src.defined_file, N''AlwaysOn_health.xel'') AS defined) AS l
    CROSS APPLY (SELECT LEFT(l.located, LEN(l.located) - PATINDEX(N''%[\/]%'', REVERSE(l.located)) + 1) AS folder,
        RIGHT(l.defined, PATINDEX(N''%[\/]%'', REVERSE(l.defined)) - 1) AS file_part) AS d
    CROSS APPLY (SELECT d.folder + CASE WHEN d.file_part LIKE N''%.xel'' THEN LEFT(d.file_part, LEN(d.file_part) - 4)
        ELSE d.file_part END + N''*.xel'' AS pattern) AS p
    CROSS APPLY sys.fn_xe_file_target_read_file(p.pattern, NULL, NULL, NULL) AS x
    CROSS APPLY (SELECT COALESCE(CAST(timestamp_utc AS datetime2(7)),
        CAST(x.event_data AS xml).value(''(/event/@timestamp)[1]'', ''datetime2(7)'')) AS event_time) AS w
    WHERE w.event_time >= DATEADD(day, -' + CAST(@history_days AS nvarchar(10)) + N', SYSUTCDATETIME())
    ORDER BY w.event_time DESC, x.file_name DESC, x.file_offset DESC
) AS h
ORDER BY h.event_time, h.file_name, h.file_offset
    FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(27, N'server_event_sessions', N'SELECT @j = (SELECT * FROM sys.server_event_sessions FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(28, N'dm_xe_sessions', N'SELECT @j = (SELECT * FROM sys.dm_xe_sessions FOR JSON PATH, INCLUDE_NULL_VALUES)'),
(29, N'dm_hadr_database_replica_cluster_states', N'SELECT @j = (SELECT * FROM sys.dm_hadr_database_replica_cluster_states FOR JSON PATH, INCLUDE_NULL_VALUES)');

-- The error log, filtered to what AG troubleshooting needs (the same filter as agdiag collect).
CREATE TABLE #agdiag_errorlog (LogDate datetime NULL, ProcessInfo nvarchar(64) NULL, [Text] nvarchar(max) NULL);
DECLARE @errorlog_error nvarchar(max) = NULL;
BEGIN TRY
    INSERT INTO #agdiag_errorlog (LogDate, ProcessInfo, [Text]) EXEC sys.sp_readerrorlog 0, 1;
    DELETE FROM #agdiag_errorlog
    WHERE NOT (
           [Text] LIKE N'%availability group%' OR [Text] LIKE N'%availability replica%'
        OR [Text] LIKE N'%always on%' OR [Text] LIKE N'%alwayson%' OR [Text] LIKE N'%hadr%'
        OR [Text] LIKE N'%database mirroring%' OR [Text] LIKE N'%mirroring endpoint%'
        OR [Text] LIKE N'%connection handshake failed%' OR [Text] LIKE N'%wsfc%'
        OR [Text] LIKE N'%failover cluster%' OR [Text] LIKE N'% lease%'
        OR [Text] LIKE N'%service broker/database mirroring transport%'
        OR [Text] LIKE N'%Error: 1418,%' OR [Text] LIKE N'%Error: 96[4-9][0-9],%'
        OR [Text] LIKE N'%Error: 194[0-9][0-9],%' OR [Text] LIKE N'%Error: 195[0-9][0-9],%'
        OR [Text] LIKE N'%Error: 280[0-9][0-9],%' OR [Text] LIKE N'%Error: 352[0-9][0-9],%'
        OR [Text] LIKE N'%Error: 411[0-9][0-9],%');
END TRY
BEGIN CATCH
    SET @errorlog_error = (SELECT ERROR_NUMBER() AS number, ERROR_STATE() AS state, ERROR_MESSAGE() AS message
                           FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
END CATCH;

DECLARE @results nvarchar(max) = N'', @errors nvarchar(max) = N'';
DECLARE @ord int = 1, @key sysname, @sql nvarchar(max), @j nvarchar(max);
DECLARE @from int, @view nvarchar(300), @cols nvarchar(max);
DECLARE @db sysname, @next sysname, @dbsql nvarchar(max), @dbj nvarchar(max);
WHILE @ord <= (SELECT MAX(ord) FROM @queries)
BEGIN
    SELECT @key = [key], @sql = [sql] FROM @queries WHERE ord = @ord;
    SET @j = NULL;
    -- `* FROM [master.]sys.<view>` becomes the view's columns on this version, in order, with every
    -- varbinary/binary column as "0x..." hex (style 1) under its own name. A view missing on this
    -- version keeps * and fails below as before (error 208, recorded in query_errors).
    SET @from = CHARINDEX(N'* FROM ', @sql);
    IF @from > 0
    BEGIN
        SET @view = SUBSTRING(@sql, @from + 7, CHARINDEX(N' ', @sql + N' ', @from + 7) - (@from + 7));
        SET @cols = STUFF((
            SELECT N', ' + CASE WHEN TYPE_NAME(c.system_type_id) IN (N'varbinary', N'binary')
                               THEN N'CONVERT(varchar(max), ' + QUOTENAME(c.name) + N', 1) AS ' + QUOTENAME(c.name)
                               ELSE QUOTENAME(c.name) END
            FROM sys.all_columns AS c
            WHERE c.object_id = OBJECT_ID(@view)
            ORDER BY c.column_id
            FOR XML PATH(''), TYPE).value('.', 'nvarchar(max)'), 1, 2, N'');
        IF @cols IS NOT NULL
            SET @sql = STUFF(@sql, @from, 1, @cols);
    END;
    IF @key = N'errorlog' AND @errorlog_error IS NOT NULL
        SET @errors += CASE WHEN @errors = N'' THEN N'' ELSE N',' END + N'"errorlog":' + @errorlog_error;
    ELSE
    BEGIN
    BEGIN TRY
        -- Dynamic SQL so that a view missing on this version (error 208) is caught here too.
        EXEC sys.sp_executesql @sql, N'@j nvarchar(max) OUTPUT', @j = @j OUTPUT;
        IF @key = N'database_principals'
        BEGIN
            -- Then the users of each availability database this replica is the readable primary
            -- of (their logins must exist on every replica), appended to master's, as agdiag
            -- collect's second round does. Not the local AG of the secondary side of a distributed
            -- AG (its databases are not readable). One failed database is recorded under
            -- "database_principals:<name>"; the others are still read.
            SET @db = N'';
            WHILE 1 = 1
            BEGIN
                SET @next = NULL;
                SELECT TOP (1) @next = adc.database_name
                FROM sys.availability_databases_cluster AS adc
                JOIN sys.dm_hadr_database_replica_states AS drs
                    ON drs.group_database_id = adc.group_database_id AND drs.is_local = 1
                    AND drs.is_primary_replica = 1 AND drs.database_state_desc = N'ONLINE'
                WHERE adc.database_name > @db
                    AND NOT EXISTS (SELECT 1 FROM sys.availability_groups AS g WHERE g.group_id = adc.group_id AND g.is_distributed = 1)
                    AND NOT EXISTS (
                        SELECT 1 FROM sys.availability_groups AS dag
                        JOIN sys.dm_hadr_availability_replica_states AS ds ON ds.group_id = dag.group_id AND ds.is_local = 1 AND ds.role = 2
                        JOIN sys.availability_replicas AS dr ON dr.replica_id = ds.replica_id
                        JOIN sys.availability_groups AS mine ON mine.name = dr.replica_server_name
                        WHERE dag.is_distributed = 1 AND mine.group_id = adc.group_id)
                ORDER BY adc.database_name;
                IF @next IS NULL BREAK;
                SET @db = @next;
                -- master's statement (columns already expanded) on the database's own view; the
                -- name travels as a parameter for the literal and through QUOTENAME for the identifier.
                SET @dbsql = REPLACE(REPLACE(@sql,
                    N'FROM master.sys.database_principals', N'FROM ' + QUOTENAME(@db) + N'.sys.database_principals'),
                    N'SELECT N''master'' AS database_name', N'SELECT @db AS database_name');
                SET @dbj = NULL;
                BEGIN TRY
                    EXEC sys.sp_executesql @dbsql, N'@db sysname, @j nvarchar(max) OUTPUT', @db = @db, @j = @dbj OUTPUT;
                    IF @dbj IS NOT NULL AND @dbj <> N'[]'
                        SET @j = CASE WHEN @j IS NULL OR @j = N'[]' THEN @dbj
                                      ELSE LEFT(@j, LEN(@j) - 1) + N',' + SUBSTRING(@dbj, 2, LEN(@dbj)) END;
                END TRY
                BEGIN CATCH
                    SET @errors += CASE WHEN @errors = N'' THEN N'' ELSE N',' END
                        + N'"' + STRING_ESCAPE(N'database_principals:' + @db, 'json') + N'":'
                        + (SELECT ERROR_NUMBER() AS number, ERROR_STATE() AS state, ERROR_MESSAGE() AS message
                           FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
                END CATCH;
            END;
        END;
        SET @results += CASE WHEN @results = N'' THEN N'' ELSE N',' END
            + N'"' + STRING_ESCAPE(@key, 'json') + N'":' + ISNULL(@j, N'[]');
    END TRY
    BEGIN CATCH
        SET @errors += CASE WHEN @errors = N'' THEN N'' ELSE N',' END
            + N'"' + STRING_ESCAPE(@key, 'json') + N'":'
            + (SELECT ERROR_NUMBER() AS number, ERROR_STATE() AS state, ERROR_MESSAGE() AS message
               FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    END CATCH;
    END;
    SET @ord += 1;
END;

DROP TABLE #agdiag_errorlog;

DECLARE @snapshot nvarchar(max) = N'{"format":"agdiag.snapshot/1"'
    + N',"collected_at":"' + CONVERT(nvarchar(30), SYSUTCDATETIME(), 127) + N'Z"'
    + N',"collector":"agdiag collect.sql"'
    + N',"instances":[{"target":"' + STRING_ESCAPE(CAST(@@SERVERNAME AS nvarchar(128)), 'json') + N'"'
    + N',"connected":true,"connect_error":null'
    + N',"results":{' + @results + N'}'
    + N',"query_errors":{' + @errors + N'}}]'
    + N',"probes":[]}';

-- The snapshot in numbered pieces of at most @piece_length characters, each line ended by '|' so
-- that the padding a tool adds after it is never read as JSON (see the header).
DECLARE @piece_length int = 3980, @at int = 1, @piece int = 0, @take int;
DECLARE @length int = LEN(@snapshot + N'x') - 1; -- LEN ignores trailing spaces
DECLARE @pieces TABLE (piece int PRIMARY KEY, line nvarchar(4000) NOT NULL);
WHILE @at <= @length
BEGIN
    SET @take = @piece_length;
    -- Never split a UTF-16 surrogate pair (outside _SC collations SUBSTRING counts its halves):
    -- each half alone would be written as a broken character.
    IF UNICODE(SUBSTRING(@snapshot, @at + @take - 1, 1)) BETWEEN 55296 AND 56319
        SET @take -= 1;
    SET @piece += 1;
    INSERT INTO @pieces (piece, line)
    VALUES (@piece, N'AGDIAG ' + RIGHT(N'000000' + CAST(@piece AS nvarchar(10)), 7) + N' ' + SUBSTRING(@snapshot, @at, @take) + N'|');
    SET @at += @take;
END;
INSERT INTO @pieces (piece, line) VALUES (@piece + 1, N'AGDIAG END ' + CAST(@piece AS nvarchar(10)) + N'|');
SELECT line AS agdiag_snapshot FROM @pieces ORDER BY piece;
