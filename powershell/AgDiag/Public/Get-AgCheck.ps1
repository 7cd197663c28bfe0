function Get-AgCheck {
    <#
    .SYNOPSIS
    Lists the AgDiag checks, or the result of each check (pass, fail, not evaluated) for a snapshot or live instances.

    .DESCRIPTION
    Without -SqlInstance or -SnapshotPath, lists the catalog of checks: id, category, title, what
    each detects, the snapshot keys it needs, the SQL Server errors it relates to, and the
    troubleshooting step it implements.

    With -SqlInstance or -SnapshotPath, runs the checks and returns one AgDiag.CheckResult per
    check: pass, fail (with the number of findings) or not_evaluated with the reason (a view that
    was not collected, a query error, an instance that could not be reached). A check that was not
    evaluated proves nothing: look at the reason before trusting a clean result.

    .PARAMETER Id
    Check ids, categories or patterns (endpoint.*) to list or run; all when omitted. Wildcards
    follow PowerShell -like rules when listing the catalog.

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

    .PARAMETER EnableException
    Throw terminating errors instead of writing non-terminating ones, for automation scripts that
    use try/catch. Without it, every instance or file that fails gets its own ErrorRecord and the
    rest continue.

    .EXAMPLE
    PS C:\> Get-AgCheck | Format-Table -Property Id, Category, Title

    Lists every check.

    .EXAMPLE
    PS C:\> Get-AgCheck -SnapshotPath .\snapshot.json | Where-Object Status -ne 'pass'

    Shows the checks that failed or could not be evaluated, with the reason.

    .EXAMPLE
    PS C:\> Get-AgCheck -Id 'routing*' | Format-List

    Describes the routing checks.

    .OUTPUTS
    AgDiag.CheckInfo, AgDiag.CheckResult

    .LINK
    about_AgDiag

    .LINK
    Invoke-AgDiagnostic

    .LINK
    Resolve-AgError
    #>
    [CmdletBinding(DefaultParameterSetName = 'Catalog')]
    [OutputType('AgDiag.CheckInfo', 'AgDiag.CheckResult')]
    param(
        [Parameter(ParameterSetName = 'Catalog', Position = 0)]
        [Parameter(ParameterSetName = 'Live')]
        [Parameter(ParameterSetName = 'Snapshot')]
        [SupportsWildcards()]
        [string[]]$Id,

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
        if ($PSCmdlet.ParameterSetName -eq 'Catalog') {
            try {
                $catalog = ConvertFrom-AgJson -Json ([AgDiag.Native]::ChecksJson())
            }
            catch {
                Write-AgFailure -Cmdlet $PSCmdlet -Message ($_.Exception.GetBaseException().Message) -ErrorId 'AgDiag.CatalogFailed' `
                    -Category NotSpecified -ErrorRecord $_ -EnableException:$EnableException
                return
            }
            $matched = @{}
            foreach ($check in $catalog) {
                $selected = -not $Id
                foreach ($pattern in $Id) {
                    if ($check.id -like $pattern -or $check.category -like $pattern) {
                        $selected = $true
                        $matched[$pattern] = $true
                    }
                }
                if ($selected) {
                    [pscustomobject]@{
                        PSTypeName    = 'AgDiag.CheckInfo'
                        Id            = $check.id
                        Category      = $check.category
                        Title         = $check.title
                        Description   = $check.description
                        Needs         = $check.needs
                        RelatedErrors = $check.related_errors
                        Seed          = $check.seed
                    }
                }
            }
            # A selector that matches nothing is a mistake (often an instance name given
            # positionally: Get-AgCheck sql1), not an empty result, as in the CLI.
            foreach ($pattern in $Id) {
                if (-not $matched.ContainsKey($pattern)) {
                    $message = "Check selector '{0}' matches no check (ids, categories or patterns such as 'endpoint.*': see Get-AgCheck). To run the checks on an instance, use Get-AgCheck -SqlInstance {0}." -f $pattern
                    Write-AgFailure -Cmdlet $PSCmdlet -Message $message -ErrorId 'AgDiag.UnknownCheck' -Category ObjectNotFound -Target $pattern `
                        -EnableException:$EnableException
                }
            }
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
            Check                  = $Id
            EnableException        = $EnableException
        }
        foreach ($report in @(Get-AgReport @source)) {
            ConvertTo-AgCheckResult -Report $report
        }
    }
}
