function Test-AgSession {
    <#
    .SYNOPSIS
    Checks session timeouts and disconnected replicas.

    .DESCRIPTION
    Runs the session checks: session_timeout below 10 seconds (fix SESSION_TIMEOUT = 10), and
    replicas DISCONNECTED with their last connect error, classified as hard or soft; a disconnected
    synchronous-commit replica is escalated because failing over to it can lose data.

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
    PS C:\> Test-AgSession -SqlInstance sql1

    Checks the sessions between the replicas of the availability groups of sql1.

    .EXAMPLE
    PS C:\> Test-AgSession -SnapshotPath .\snapshot.json | Select-Object -ExpandProperty Evidence

    Shows the rows that prove each finding.

    .OUTPUTS
    AgDiag.Finding, or AgDiag.FlatFinding with -Flat

    .LINK
    about_AgDiag

    .LINK
    Invoke-AgDiagnostic

    .LINK
    New-AgFixScript
    #>
    [CmdletBinding(DefaultParameterSetName = 'Live')]
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
        $source = @{
            Cmdlet                 = $PSCmdlet
            SqlInstance            = $instances.ToArray()
            SqlCredential          = $SqlCredential
            SnapshotPath           = $paths.ToArray()
            TrustServerCertificate = $TrustServerCertificate
            EncryptConnection      = $EncryptConnection
            ConnectTimeout         = $ConnectTimeout
            Check                  = @('session')
            EnableException        = $EnableException
        }
        foreach ($report in @(Get-AgReport @source)) {
            ConvertTo-AgFinding -Report $report -Flat:$Flat
        }
    }
}
