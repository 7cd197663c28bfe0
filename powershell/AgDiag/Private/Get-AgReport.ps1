function Get-AgReport {
    <#
    .SYNOPSIS
    Analyzes snapshot files or collects from live instances (job API, with progress) and returns
    one AgDiag.Report per snapshot. Failures become ErrorRecords on the calling cmdlet.
    #>
    [CmdletBinding()]
    [OutputType('AgDiag.Report')]
    param(
        [Parameter(Mandatory = $true)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [string[]]$SqlInstance,

        [System.Management.Automation.PSCredential]$SqlCredential,

        [string[]]$SnapshotPath,

        [switch]$TrustServerCertificate,

        [string]$EncryptConnection = 'Mandatory',

        [int]$ConnectTimeout = 15,

        # Days of AlwaysOn_health event history a live collection reads (0: none).
        [int]$HistoryDays = 7,

        # Check ids or patterns (endpoint.*, routing); all checks when empty.
        [string[]]$Check,

        [switch]$EnableException
    )

    # Cmdlets default -SqlCredential to [PSCredential]::Empty (dbatools style), which is a truthy
    # object: normalize it here, once, so that "no credential" means integrated authentication.
    if ($SqlCredential -eq [System.Management.Automation.PSCredential]::Empty) {
        $SqlCredential = $null
    }

    $optionsJson = $null
    if ($Check) {
        $optionsJson = ConvertTo-Json -InputObject @{ checks = @($Check) } -Compress
    }

    if ($SnapshotPath) {
        foreach ($path in $SnapshotPath) {
            $files = @()
            try {
                # A literal name first: FullName from Get-ChildItem may hold [ ], which -Path reads
                # as a wildcard range and then cannot find.
                if (Test-Path -LiteralPath $path -PathType Leaf) {
                    $files = @((Resolve-Path -LiteralPath $path -ErrorAction Stop).ProviderPath)
                }
                else {
                    $files = @(Resolve-Path -Path $path -ErrorAction Stop | ForEach-Object { $_.ProviderPath })
                }
            }
            catch {
                Write-AgFailure -Cmdlet $Cmdlet -Message ("Snapshot file not found: {0}" -f $path) -ErrorId 'AgDiag.SnapshotNotFound' `
                    -Category ObjectNotFound -Target $path -ErrorRecord $_ -EnableException:$EnableException
                continue
            }
            foreach ($file in $files) {
                try {
                    # UTF-8 that throws on invalid bytes (an ANSI file must not pass as mangled text);
                    # a UTF-16 or UTF-8 byte order mark (SSMS Results to File) still selects its encoding.
                    $strictUtf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false, $true
                    $json = [System.IO.File]::ReadAllText($file, $strictUtf8)
                    $report = [AgDiag.Native]::Analyze($json, $optionsJson)
                    $report.Source = $file
                    $report
                }
                catch {
                    if ($_.Exception -is [System.Management.Automation.PipelineStoppedException]) { throw }
                    $reason = $_.Exception.GetBaseException().Message
                    if ($_.Exception.GetBaseException() -is [System.Text.DecoderFallbackException]) {
                        $reason = 'the file is neither UTF-8 nor UTF-16 with a byte order mark: it was probably saved in an ANSI/OEM code page, which loses every character outside it. Save collect.sql output with sqlcmd -f 65001 (UTF-8) or -u (UTF-16)'
                    }
                    Write-AgFailure -Cmdlet $Cmdlet -Message ("{0}: {1}" -f $file, $reason) `
                        -ErrorId 'AgDiag.SnapshotInvalid' -Category InvalidData -Target $file -ErrorRecord $_ -EnableException:$EnableException
                }
            }
        }
        return
    }

    if (-not $SqlInstance) {
        return
    }
    $activity = 'AgDiag: collecting from {0}' -f ($SqlInstance -join ', ')
    $report = $null
    $job = $null
    try {
        $request = New-AgRequest -SqlInstance $SqlInstance -SqlCredential $SqlCredential -TrustServerCertificate:$TrustServerCertificate `
            -EncryptConnection $EncryptConnection -ConnectTimeout $ConnectTimeout -HistoryDays $HistoryDays -Check $Check
        $job = [AgDiag.Native]::StartJob($request)
        $request = $null
        # Short waits: the pipeline stays responsive to Ctrl+C, which runs the finally below.
        while (-not $job.Wait(200)) {
            Write-AgProgress -Job $job -Activity $activity
        }
        $report = $job.TakeReport()
        $report.Source = $SqlInstance -join ', '
    }
    catch {
        if ($_.Exception -is [System.Management.Automation.PipelineStoppedException]) { throw }
        # agdiag_job_start refuses only an invalid request (bad instance name, options that
        # contradict each other): the caller's arguments, not the network.
        $errorId = 'AgDiag.CollectionFailed'
        $category = [System.Management.Automation.ErrorCategory]::ConnectionError
        $failure = $_.Exception.GetBaseException()
        if ($failure -is [AgDiag.AgDiagException] -and $failure.Function -eq 'agdiag_job_start') {
            $errorId = 'AgDiag.InvalidRequest'
            $category = [System.Management.Automation.ErrorCategory]::InvalidArgument
        }
        Write-AgFailure -Cmdlet $Cmdlet -Message ("Collection from {0} failed: {1}" -f ($SqlInstance -join ', '), $failure.Message) `
            -ErrorId $errorId -Category $category -Target $SqlInstance -ErrorRecord $_ -EnableException:$EnableException
        return
    }
    finally {
        if ($job) {
            # A no-op for a finished job; stops all outstanding work after Ctrl+C or an error.
            $job.Cancel()
            $job.Dispose()
        }
        Write-Progress -Activity $activity -Completed
    }

    # One ErrorRecord per instance that could not be collected; the rest of the snapshot stands.
    $instances = @()
    try {
        $instances = @((ConvertFrom-AgJson -Json $report.SnapshotJson()).instances)
    }
    catch {
        # ConvertFrom-Json refuses keys that differ only in case; the report itself is still good.
        Write-Verbose -Message ('Could not read the collected snapshot back for per-instance errors: {0}' -f $_.Exception.Message)
    }
    # The library ends a rejected certificate's message with this advice (collect/tls.rs, TRUST_ADVICE).
    $trustAdviceMarker = '-TrustServerCertificate in PowerShell'
    $rejected = 0
    foreach ($instance in $instances) {
        if (-not $instance.connected) {
            $failure = Get-AgConnectFailure -ConnectError $instance.connect_error
            if ($failure.Message.Contains($trustAdviceMarker)) { $rejected++ }
            Write-AgFailure -Cmdlet $Cmdlet -Message ("Could not collect from {0}: {1}" -f $instance.target, $failure.Message) `
                -ErrorId $failure.ErrorId -Category $failure.Category -Target $instance.target -EnableException:$EnableException
        }
    }
    # Most servers run with a self-signed certificate: say once what the opt-in is and what it costs.
    if ($rejected -gt 0) {
        $lead = 'Where a certificate cannot be fixed now, '
        if ($rejected -eq $instances.Count) {
            $lead = 'No instance could be reached: every instance''s TLS certificate was rejected. Fix the certificates or trust their CA (see the errors); for a one-off look on a network you trust, '
        }
        $Cmdlet.WriteWarning($lead + '-TrustServerCertificate accepts any certificate: it gives no protection against a man in the middle, so keep the secure default wherever you can.')
    }
    $report
}
