function ConvertTo-AgCheckResult {
    <#
    .SYNOPSIS
    AgDiag.CheckResult objects (pass, fail, or not_evaluated with the reason) from a report.
    #>
    [CmdletBinding()]
    [OutputType('AgDiag.CheckResult')]
    param(
        [Parameter(Mandatory = $true, ValueFromPipeline = $true)]
        [AgDiag.Report]$Report
    )

    process {
        foreach ($result in (ConvertFrom-AgJson -Json $Report.FindingsJson()).checks) {
            [pscustomobject]@{
                PSTypeName = 'AgDiag.CheckResult'
                Check      = $result.check
                Status     = $result.status
                Findings   = $result.findings
                Reason     = $result.reason
                Report     = $Report
            }
        }
    }
}
