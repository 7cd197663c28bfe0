function Export-AgSnapshot {
    <#
    .SYNOPSIS
    Collects a snapshot of an availability group from live instances and saves it as JSON for offline analysis.

    .DESCRIPTION
    Connects to the instances (and the replicas they discover), runs the read-only collection
    queries, probes endpoints, listeners and routing URLs, and writes the snapshot (format
    agdiag.snapshot/1) to -Path. Analyze it later, on any machine, with -SnapshotPath on every
    AgDiag command; it holds catalog rows and error log lines but no passwords.

    With -SnapshotPath, rewrites existing snapshot files as the library reads them (useful to check
    a hand-edited snapshot or the output of sql/collect.sql).

    .PARAMETER Path
    The JSON file to write (UTF-8 without BOM).

    .PARAMETER NoClobber
    Do not overwrite an existing file at -Path.

    .PARAMETER SqlInstance
    SQL Server instances to collect from: host, host\instance, host,port or tcp:host,port. One
    replica is enough: AgDiag discovers the other replicas of its availability groups and collects
    from them too. Accepts pipeline input by value and by property name (SqlInstance,
    ServerInstance, SqlServer).

    .PARAMETER SqlCredential
    A login (PSCredential) for every instance: a SQL Server login, or DOMAIN\user for a Windows
    login with its password (Windows only). Without it AgDiag uses integrated authentication: the
    current Windows user, or Kerberos on Linux and macOS where the library was built with it.

    .PARAMETER SnapshotPath
    One or more snapshot files (format agdiag.snapshot/1, written by Export-AgSnapshot, agdiag
    collect, or the sql/collect.sql script) to analyze offline instead of connecting. Wildcards are
    allowed. Accepts pipeline input by property name (SnapshotPath, FullName), so Get-ChildItem
    output can be piped.

    .PARAMETER TrustServerCertificate
    Accept the server's TLS certificate without validating it (self-signed certificates). It gives
    no protection against a man in the middle: prefer trusting the certificate's CA or reaching the
    server by a name on its certificate, and keep the default (validation) wherever you can. The
    choice is recorded in the snapshot.

    .PARAMETER EncryptConnection
    TLS for the connections: Mandatory (default; encrypted, certificate validated), Optional, Strict
    (TDS 8.0), or Off (test servers only; the login is still encrypted).

    .PARAMETER ConnectTimeout
    Seconds to wait for each TCP connect and for each login (default 15). An unreachable replica
    costs at most this long; the others are collected in parallel.

    .PARAMETER HistoryDays
    Days of AlwaysOn_health event history to read from each instance (default 7; the newest 50,000
    events at most per instance; 0 reads none). A history file that is missing or unreadable is
    recorded in the snapshot as a query error; the rest is still collected.

    .PARAMETER EnableException
    Throw terminating errors instead of writing non-terminating ones, for automation scripts that
    use try/catch. Without it, every instance or file that fails gets its own ErrorRecord and the
    rest continue.

    .EXAMPLE
    PS C:\> Export-AgSnapshot -SqlInstance sql1 -Path .\ag1-snapshot.json

    Collects from sql1 and its partner replicas and saves the snapshot.

    .EXAMPLE
    PS C:\> Export-AgSnapshot -SqlInstance sql1 -Path .\s.json; Invoke-AgDiagnostic -SnapshotPath .\s.json

    Collects once, analyzes offline as often as needed.

    .OUTPUTS
    System.IO.FileInfo

    .LINK
    about_AgDiag

    .LINK
    Invoke-AgDiagnostic

    .LINK
    New-AgFixScript
    #>
    [CmdletBinding(DefaultParameterSetName = 'Live', SupportsShouldProcess = $true)]
    [OutputType([System.IO.FileInfo])]
    param(
        [Parameter(Mandatory = $true)]
        [ValidateNotNullOrEmpty()]
        [string]$Path,

        [switch]$NoClobber,

        [Parameter(Mandatory = $true, ParameterSetName = 'Live', Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [Alias('ServerInstance', 'SqlServer')]
        [ValidateNotNullOrEmpty()]
        [string[]]$SqlInstance,

        [Parameter(ParameterSetName = 'Live')]
        [System.Management.Automation.PSCredential]
        [System.Management.Automation.Credential()]
        $SqlCredential = [System.Management.Automation.PSCredential]::Empty,

        [Parameter(Mandatory = $true, ParameterSetName = 'Snapshot', ValueFromPipelineByPropertyName = $true)]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string[]]$SnapshotPath,

        [Parameter(ParameterSetName = 'Live')]
        [switch]$TrustServerCertificate,

        [Parameter(ParameterSetName = 'Live')]
        [ValidateSet('Mandatory', 'Optional', 'Strict', 'Off')]
        [string]$EncryptConnection = 'Mandatory',

        [Parameter(ParameterSetName = 'Live')]
        [ValidateRange(1, 600)]
        [int]$ConnectTimeout = 15,

        [Parameter(ParameterSetName = 'Live')]
        [ValidateRange(0, 3650)]
        [int]$HistoryDays = 7,

        [switch]$EnableException
    )

    begin {
        $instances = New-Object -TypeName 'System.Collections.Generic.List[string]'
        $paths = New-Object -TypeName 'System.Collections.Generic.List[string]'
    }

    process {
        # Collected here and run once in end: one collection discovers and covers every replica.
        if ($SqlInstance) { $instances.AddRange([string[]]$SqlInstance) }
        if ($SnapshotPath) { $paths.AddRange([string[]]$SnapshotPath) }
    }

    end {
        # Decide about the file before collecting: -WhatIf and a declined -Confirm connect to
        # nothing, and -NoClobber fails before a long collection rather than after it.
        try {
            $target = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path)
        }
        catch {
            Write-AgFailure -Cmdlet $PSCmdlet -Message ("Cannot write the snapshot to {0}: {1}" -f $Path, $_.Exception.GetBaseException().Message) `
                -ErrorId 'AgDiag.InvalidPath' -Category InvalidArgument -Target $Path -ErrorRecord $_ -EnableException:$EnableException
            return
        }
        if ($NoClobber -and (Test-Path -LiteralPath $target)) {
            Write-AgFailure -Cmdlet $PSCmdlet -Message ("{0} exists and -NoClobber was given." -f $target) -ErrorId 'AgDiag.FileExists' `
                -Category ResourceExists -Target $target -EnableException:$EnableException
            return
        }
        $what = 'Collect from {0} and write the AgDiag snapshot' -f ($instances -join ', ')
        if ($paths.Count -gt 0) {
            $what = 'Read {0} and write the AgDiag snapshot' -f ($paths -join ', ')
        }
        if (-not $PSCmdlet.ShouldProcess($target, $what)) {
            return
        }
        $source = @{
            Cmdlet                 = $PSCmdlet
            SqlInstance            = $instances.ToArray()
            SqlCredential          = $SqlCredential
            SnapshotPath           = $paths.ToArray()
            TrustServerCertificate = $TrustServerCertificate
            EncryptConnection      = $EncryptConnection
            ConnectTimeout         = $ConnectTimeout
            HistoryDays            = $HistoryDays
            Check                  = $null
            EnableException        = $EnableException
        }
        $reports = @(Get-AgReport @source)
        if ($reports.Count -gt 1) {
            foreach ($report in $reports) { $report.Dispose() }
            Write-AgFailure -Cmdlet $PSCmdlet -Message ("{0} snapshots cannot be written to one file; export them one at a time." -f $reports.Count) `
                -ErrorId 'AgDiag.SeveralSnapshots' -Category InvalidArgument -Target $target -EnableException:$EnableException
            return
        }
        foreach ($report in $reports) {
            $written = $false
            try {
                [System.IO.File]::WriteAllText($target, $report.SnapshotJson(), (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false))
                $written = $true
            }
            catch {
                Write-AgFailure -Cmdlet $PSCmdlet -Message ("Cannot write the snapshot to {0}: {1}" -f $target, $_.Exception.GetBaseException().Message) `
                    -ErrorId 'AgDiag.WriteFailed' -Category WriteError -Target $target -ErrorRecord $_ -EnableException:$EnableException
            }
            finally {
                $report.Dispose()
            }
            if ($written) {
                Get-Item -LiteralPath $target
            }
        }
    }
}
