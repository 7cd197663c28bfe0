function Invoke-AgDiagnostic {
    <#
    .SYNOPSIS
    Runs every AgDiag check against an availability group and returns the findings.

    .DESCRIPTION
    Collects a snapshot of the catalog views of every replica (or reads snapshot files with
    -SnapshotPath) and runs all AgDiag checks: the HADR feature, service accounts and endpoint
    permissions, the mirroring endpoints and their URLs, network probes, listeners, read-only
    routing, sessions, error logs, synchronization health and builds.

    Each finding names the instance and object, explains why it breaks the availability group, and
    carries the evidence rows, a remediation and, where T-SQL can fix it, the fix. Pipe findings to
    New-AgFixScript to write a reviewed SQLCMD script.

    Long collections show progress; Ctrl+C cancels the collection.

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

    .PARAMETER Check
    Check ids or patterns to run instead of all: an id (endpoint.not_started), a category (endpoint,
    routing), or a prefix with * (endpoint.*). Get-AgCheck lists them.

    .PARAMETER HtmlPath
    Also write the report as one self-contained HTML page to this file (UTF-8): the verdict per
    availability group, the topology and read-only routing drawn, the findings with their evidence
    and fixes, and the whole fix script. It opens in any browser without network access. Supports
    -WhatIf and -Confirm. With several snapshot files the page shows the first one's report.

    .PARAMETER Flat
    Return AgDiag.FlatFinding objects for Export-Csv and ConvertTo-Json: the same columns, every
    one a string, with Evidence as one "path: value" line per value, FixSteps as one
    "target (phase): statement" line per step, RelatedErrors comma-separated, and no Report.
    New-AgFixScript needs the findings without -Flat.

    .PARAMETER EnableException
    Throw terminating errors instead of writing non-terminating ones, for automation scripts that
    use try/catch. Without it, every instance or file that fails gets its own ErrorRecord and the
    rest continue.

    .EXAMPLE
    PS C:\> Invoke-AgDiagnostic -SqlInstance sql1 | Format-Table

    Collects from sql1 and every replica it knows, and shows the findings as a table (Severity,
    Check, Instance, Object, Message).

    .EXAMPLE
    PS C:\> Invoke-AgDiagnostic -SnapshotPath .\broken-3-replica.json -Check 'endpoint.*', 'accounts'

    Analyzes a saved snapshot offline, running only the endpoint and accounts checks.

    .EXAMPLE
    PS C:\> Invoke-AgDiagnostic -SnapshotPath .\broken-3-replica.json -HtmlPath .\ag1.html

    Returns the findings and also writes them, with the topology drawn, to ag1.html to attach to a
    ticket.

    .EXAMPLE
    PS C:\> Invoke-AgDiagnostic -SqlInstance sql1 | Where-Object Severity -eq 'error' | New-AgFixScript -Path .\fix.sql

    Writes a fix script for the errors only.

    .OUTPUTS
    AgDiag.Finding, or AgDiag.FlatFinding with -Flat

    .LINK
    about_AgDiag

    .LINK
    Invoke-AgDiagnostic

    .LINK
    New-AgFixScript
    #>
    [CmdletBinding(DefaultParameterSetName = 'Live', SupportsShouldProcess = $true)]
    [OutputType('AgDiag.Finding', 'AgDiag.FlatFinding')]
    param(
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

        [SupportsWildcards()]
        [string[]]$Check,

        [ValidateNotNullOrEmpty()]
        [string]$HtmlPath,

        [switch]$Flat,

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
        # Decide about the HTML file before any work (as New-AgFixScript does): -WhatIf and a
        # declined -Confirm collect nothing.
        $htmlTarget = $null
        if ($HtmlPath) {
            try {
                $htmlTarget = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($HtmlPath)
            }
            catch {
                Write-AgFailure -Cmdlet $PSCmdlet -Message ("Cannot write the HTML report to {0}: {1}" -f $HtmlPath, $_.Exception.GetBaseException().Message) `
                    -ErrorId 'AgDiag.InvalidPath' -Category InvalidArgument -Target $HtmlPath -ErrorRecord $_ -EnableException:$EnableException
                return
            }
            if (-not $PSCmdlet.ShouldProcess($htmlTarget, 'Write AgDiag HTML report')) {
                return
            }
        }

        $source = @{
            Cmdlet                 = $PSCmdlet
            SqlInstance            = $instances.ToArray()
            SqlCredential          = $SqlCredential
            SnapshotPath           = $paths.ToArray()
            TrustServerCertificate = $TrustServerCertificate
            EncryptConnection      = $EncryptConnection
            ConnectTimeout         = $ConnectTimeout
            Check                  = $Check
            EnableException        = $EnableException
        }
        $reports = @(Get-AgReport @source)
        foreach ($report in $reports) {
            ConvertTo-AgFinding -Report $report -Flat:$Flat
        }
        if (-not $htmlTarget -or $reports.Count -eq 0) {
            return
        }
        if ($reports.Count -gt 1) {
            Write-Warning -Message ("{0} reports (one per snapshot file): {1} shows the first, {2}." -f $reports.Count, $htmlTarget, $reports[0].Source)
        }
        try {
            [System.IO.File]::WriteAllText($htmlTarget, $reports[0].Html($null), (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false))
            Write-Verbose -Message ("HTML report written to {0}" -f $htmlTarget)
        }
        catch {
            Write-AgFailure -Cmdlet $PSCmdlet -Message ("Cannot write the HTML report to {0}: {1}" -f $htmlTarget, $_.Exception.GetBaseException().Message) `
                -ErrorId 'AgDiag.WriteFailed' -Category WriteError -Target $htmlTarget -ErrorRecord $_ -EnableException:$EnableException
        }
    }
}
