function New-AgFixScript {
    <#
    .SYNOPSIS
    Writes the SQLCMD-mode fix script for findings: exactly the findings piped to it, or all findings of a snapshot.

    .DESCRIPTION
    The script is written by the AgDiag library and never run by AgDiag: a header saying to review
    it, :on error exit, then one :Connect block per instance where a statement must run, in
    dependency order (CREATE LOGIN before GRANT; ALTER AUTHORIZATION then the CONNECT grants it
    dropped; routing URLs before routing lists), with IF/IF NOT EXISTS guards where T-SQL allows and
    every server-supplied name escaped. Remediations that are not T-SQL (enable the feature,
    firewall, DNS) appear as comments.

    Pipe AgDiag.Finding objects from any AgDiag command to script exactly those findings; or give
    -SqlInstance or -SnapshotPath to script every finding. Run the result in SSMS (Query > SQLCMD
    Mode) or with sqlcmd -i after review.

    .PARAMETER InputObject
    AgDiag.Finding objects (from Invoke-AgDiagnostic, Test-AgEndpoint and the other commands). Only
    these findings are scripted. Accepts pipeline input by value.

    .PARAMETER Path
    The .sql file to write, as UTF-8 with BOM: sqlcmd -i reads a file without BOM in the ANSI code
    page, which mangles names such as CONTOSO\Juergen with an umlaut. Without it the script is written
    to the pipeline as one string.

    .PARAMETER NoClobber
    Do not overwrite an existing file at -Path.

    .PARAMETER SqlInstance
    SQL Server instances to collect from: host, host\instance, host,port or tcp:host,port. One
    replica is enough: AgDiag discovers the other replicas of its availability groups and collects
    from them too. Accepts pipeline input by property name (SqlInstance, ServerInstance,
    SqlServer); objects piped by value are findings (-InputObject).

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
    PS C:\> Invoke-AgDiagnostic -SqlInstance sql1 | New-AgFixScript -Path .\fix.sql

    Writes the fix script for every finding.

    .EXAMPLE
    PS C:\> Test-AgEndpointPermission -SnapshotPath .\snapshot.json | Where-Object Instance -eq 'SQL1' | New-AgFixScript

    Prints the fixes to run on SQL1 only.

    .EXAMPLE
    PS C:\> New-AgFixScript -SnapshotPath .\snapshot.json -Path .\fix.sql -WhatIf

    Shows which file would be written.

    .OUTPUTS
    System.IO.FileInfo when -Path is given, otherwise System.String

    .LINK
    about_AgDiag

    .LINK
    Invoke-AgDiagnostic
    #>
    [CmdletBinding(DefaultParameterSetName = 'Finding', SupportsShouldProcess = $true)]
    [OutputType([System.IO.FileInfo], [string])]
    param(
        [Parameter(Mandatory = $true, ParameterSetName = 'Finding', ValueFromPipeline = $true)]
        [PSTypeName('AgDiag.Finding')]
        [psobject[]]$InputObject,

        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string]$Path,

        [switch]$NoClobber,

        [Parameter(Mandatory = $true, ParameterSetName = 'Live', ValueFromPipelineByPropertyName = $true)]
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
        # Findings grouped by the report they came from (reference equality), in arrival order.
        $groups = New-Object -TypeName 'System.Collections.Generic.List[object]'
        $instances = New-Object -TypeName 'System.Collections.Generic.List[string]'
        $paths = New-Object -TypeName 'System.Collections.Generic.List[string]'
    }

    process {
        if ($SqlInstance) { $instances.AddRange([string[]]$SqlInstance) }
        if ($SnapshotPath) { $paths.AddRange([string[]]$SnapshotPath) }
        foreach ($finding in $InputObject) {
            if ([string]$finding.Check -like 'connection_string.*') {
                # Test-AgConnectionString findings are about a client's connection string, not
                # the report's findings: there is nothing to run on a server.
                Write-Warning -Message ("{0}: the fix is in the client's connection string, not on a server, so it is not scripted. {1}" -f $finding.Check, $finding.Remediation)
                continue
            }
            if (-not ($finding.Report -is [AgDiag.Report]) -or $finding.Report.IsDisposed) {
                Write-AgFailure -Cmdlet $PSCmdlet -Message ("Finding {0} has no live report (it was deserialized or its report was disposed); run the analysis again and pipe its findings." -f $finding.Id) `
                    -ErrorId 'AgDiag.FindingWithoutReport' -Category InvalidArgument -Target $finding -EnableException:$EnableException
                continue
            }
            $group = $null
            foreach ($candidate in $groups) {
                if ([object]::ReferenceEquals($candidate.Report, $finding.Report)) { $group = $candidate }
            }
            if (-not $group) {
                $group = [pscustomobject]@{ Report = $finding.Report; Ids = (New-Object -TypeName 'System.Collections.Generic.List[string]') }
                $groups.Add($group)
            }
            $group.Ids.Add([string]$finding.Id)
        }
    }

    end {
        # Decide about the file before any work: -WhatIf and a declined -Confirm collect nothing,
        # and -NoClobber fails before a long collection rather than after it.
        $target = $null
        if ($Path) {
            try {
                $target = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path)
            }
            catch {
                Write-AgFailure -Cmdlet $PSCmdlet -Message ("Cannot write the fix script to {0}: {1}" -f $Path, $_.Exception.GetBaseException().Message) `
                    -ErrorId 'AgDiag.InvalidPath' -Category InvalidArgument -Target $Path -ErrorRecord $_ -EnableException:$EnableException
                return
            }
            if ($NoClobber -and (Test-Path -LiteralPath $target)) {
                Write-AgFailure -Cmdlet $PSCmdlet -Message ("{0} exists and -NoClobber was given." -f $target) -ErrorId 'AgDiag.FileExists' `
                    -Category ResourceExists -Target $target -EnableException:$EnableException
                return
            }
            if (-not $PSCmdlet.ShouldProcess($target, 'Write AgDiag fix script')) {
                return
            }
        }

        $scripts = New-Object -TypeName 'System.Collections.Generic.List[string]'
        if ($PSCmdlet.ParameterSetName -eq 'Finding') {
            foreach ($group in $groups) {
                $options = ConvertTo-Json -InputObject @{ findings = $group.Ids.ToArray() } -Compress
                try {
                    $scripts.Add($group.Report.FixScript($options))
                }
                catch {
                    Write-AgFailure -Cmdlet $PSCmdlet -Message ($_.Exception.GetBaseException().Message) -ErrorId 'AgDiag.FixScriptFailed' `
                        -Category InvalidOperation -Target $group.Report -ErrorRecord $_ -EnableException:$EnableException
                }
            }
        }
        else {
            $source = @{
                Cmdlet                 = $PSCmdlet
                SqlInstance            = $instances.ToArray()
                SqlCredential          = $SqlCredential
                SnapshotPath           = $paths.ToArray()
                TrustServerCertificate = $TrustServerCertificate
                EncryptConnection      = $EncryptConnection
                ConnectTimeout         = $ConnectTimeout
                Check                  = $null
                EnableException        = $EnableException
            }
            foreach ($report in @(Get-AgReport @source)) {
                try {
                    $scripts.Add($report.FixScript($null))
                }
                catch {
                    Write-AgFailure -Cmdlet $PSCmdlet -Message ($_.Exception.GetBaseException().Message) -ErrorId 'AgDiag.FixScriptFailed' `
                        -Category InvalidOperation -Target $report -ErrorRecord $_ -EnableException:$EnableException
                }
                finally {
                    $report.Dispose()
                }
            }
        }
        if ($scripts.Count -eq 0) {
            if ($target) {
                # Say so: a fix script left over from an earlier run must not pass for this one's.
                Write-Warning -Message ("No findings to script: {0} was not written." -f $target)
            }
            return
        }
        $text = $scripts -join [Environment]::NewLine
        if (-not $target) {
            return $text
        }
        $written = $false
        try {
            [System.IO.File]::WriteAllText($target, $text, (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $true))
            $written = $true
        }
        catch {
            Write-AgFailure -Cmdlet $PSCmdlet -Message ("Cannot write the fix script to {0}: {1}" -f $target, $_.Exception.GetBaseException().Message) `
                -ErrorId 'AgDiag.WriteFailed' -Category WriteError -Target $target -ErrorRecord $_ -EnableException:$EnableException
        }
        if ($written) {
            Get-Item -LiteralPath $target
        }
    }
}
