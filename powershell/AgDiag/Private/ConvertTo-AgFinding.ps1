function ConvertTo-AgFinding {
    <#
    .SYNOPSIS
    AgDiag.Finding objects from a report's findings, or from a JSON array of findings (as
    agdiag_check_connection_string returns). Each keeps its Report, so New-AgFixScript can write
    the fix script for exactly the findings piped to it.
    #>
    [CmdletBinding()]
    [OutputType('AgDiag.Finding')]
    param(
        [Parameter(Mandatory = $true, ValueFromPipeline = $true)]
        [AgDiag.Report]$Report,

        # A JSON array of findings to convert instead of the report's own.
        [string]$FindingsJson
    )

    process {
        if ($FindingsJson) {
            $findings = $FindingsJson | ConvertFrom-Json
        }
        else {
            $findings = ($Report.FindingsJson() | ConvertFrom-Json).findings
        }
        foreach ($finding in $findings) {
            [pscustomobject]@{
                PSTypeName        = 'AgDiag.Finding'
                Severity          = $finding.severity
                Check             = $finding.check
                Instance          = $finding.instance
                Object            = $finding.object
                Message           = $finding.message
                Category          = $finding.category
                AvailabilityGroup = $finding.availability_group
                Replica           = $finding.replica
                Title             = $finding.title
                Remediation       = $finding.remediation
                Fix               = $finding.fix
                FixSteps          = $finding.fix_steps
                Evidence          = $finding.evidence
                RelatedErrors     = $finding.related_errors
                Id                = $finding.id
                Report            = $Report
            }
        }
    }
}
