function Get-AgTimeline {
    <#
    .SYNOPSIS
    Shows what happened to the availability groups: every replica's AlwaysOn_health events in one UTC timeline.

    .DESCRIPTION
    Reads the AlwaysOn_health extended events of every replica (role changes, lease expirations,
    health-check failures, FAILOVER and FORCE_FAILOVER_ALLOW_DATA_LOSS statements, connection
    time-outs and losses between replicas, suspended data movement) and merges them into one list
    ordered by UTC time, each entry with its replica, availability group, kind, what it means and
    the .xel file and offset it came from. The window is the 7 days before the snapshot was
    collected (not before now), so an old snapshot keeps its history.

    Use it after an incident to answer "why did it fail over last night": the history.failover
    finding (Invoke-AgDiagnostic) names each failover, its kind and the root cause the events
    support.

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

    .PARAMETER Since
    How far back from the time the snapshot was collected (not from now) to show events: a
    TimeSpan such as (New-TimeSpan -Hours 36). At most the 7 days the report holds (the default).

    .PARAMETER EnableException
    Throw terminating errors instead of writing non-terminating ones, for automation scripts that
    use try/catch. Without it, every instance or file that fails gets its own ErrorRecord and the
    rest continue.

    .EXAMPLE
    PS C:\> Get-AgTimeline -SqlInstance sql1 -Since (New-TimeSpan -Hours 24)

    Shows the last day of role changes, lease expirations, failovers and connection errors of every
    replica of sql1's availability groups, oldest first.

    .EXAMPLE
    PS C:\> Get-AgTimeline -SnapshotPath .\snapshot.json | Where-Object Kind -in 'role_change', 'lease_expired'

    Shows only the role changes and lease expirations from a saved snapshot.

    .OUTPUTS
    AgDiag.TimelineEntry

    .LINK
    about_AgDiag

    .LINK
    Invoke-AgDiagnostic

    .LINK
    Export-AgSnapshot
    #>
    [CmdletBinding(DefaultParameterSetName = 'Live')]
    [OutputType('AgDiag.TimelineEntry')]
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

        [ValidateScript({ $_ -gt [timespan]::Zero -and $_ -le [timespan]::FromDays(7) })]
        [timespan]$Since = (New-TimeSpan -Days 7),

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
            Check                  = @('history')
            EnableException        = $EnableException
        }
        foreach ($report in @(Get-AgReport @source)) {
            ConvertTo-AgTimelineEntry -Report $report -Since $Since
        }
    }
}
