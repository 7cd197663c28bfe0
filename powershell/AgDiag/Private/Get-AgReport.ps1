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

        # Check ids or patterns (endpoint.*, routing); all checks when empty.
        [string[]]$Check,

        [switch]$EnableException
    )

    $optionsJson = $null
    if ($Check) {
        $optionsJson = ConvertTo-Json -InputObject @{ checks = @($Check) } -Compress
    }

    if ($SnapshotPath) {
        foreach ($path in $SnapshotPath) {
            $files = @()
            try {
                $files = @(Resolve-Path -Path $path -ErrorAction Stop | ForEach-Object { $_.ProviderPath })
            }
            catch {
                Write-AgFailure -Cmdlet $Cmdlet -Message ("Snapshot file not found: {0}" -f $path) -ErrorId 'AgDiag.SnapshotNotFound' `
                    -Category ObjectNotFound -Target $path -ErrorRecord $_ -EnableException:$EnableException
                continue
            }
            foreach ($file in $files) {
                try {
                    $json = [System.IO.File]::ReadAllText($file, [System.Text.Encoding]::UTF8)
                    $report = [AgDiag.Native]::Analyze($json, $optionsJson)
                    $report.Source = $file
                    $report
                }
                catch {
                    if ($_.Exception -is [System.Management.Automation.PipelineStoppedException]) { throw }
                    Write-AgFailure -Cmdlet $Cmdlet -Message ("{0}: {1}" -f $file, $_.Exception.GetBaseException().Message) `
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
            -EncryptConnection $EncryptConnection -ConnectTimeout $ConnectTimeout -Check $Check
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
        Write-AgFailure -Cmdlet $Cmdlet -Message ("Collection from {0} failed: {1}" -f ($SqlInstance -join ', '), $_.Exception.GetBaseException().Message) `
            -ErrorId 'AgDiag.CollectionFailed' -Category ConnectionError -Target $SqlInstance -ErrorRecord $_ -EnableException:$EnableException
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
        $instances = @(($report.SnapshotJson() | ConvertFrom-Json).instances)
    }
    catch {
        # ConvertFrom-Json refuses keys that differ only in case; the report itself is still good.
        Write-Verbose -Message ('Could not read the collected snapshot back for per-instance errors: {0}' -f $_.Exception.Message)
    }
    foreach ($instance in $instances) {
        if (-not $instance.connected) {
            Write-AgFailure -Cmdlet $Cmdlet -Message ("Could not collect from {0}: {1}" -f $instance.target, $instance.connect_error) `
                -ErrorId 'AgDiag.InstanceNotConnected' -Category ConnectionError -Target $instance.target -EnableException:$EnableException
        }
    }
    $report
}
