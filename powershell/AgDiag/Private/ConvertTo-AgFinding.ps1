function ConvertTo-AgFinding {
    <#
    .SYNOPSIS
    AgDiag.Finding objects from a report's findings, or from a JSON array of findings (as
    agdiag_check_connection_string returns). Each keeps its Report, so New-AgFixScript can write
    the fix script for exactly the findings piped to it. With -Flat, AgDiag.FlatFinding objects:
    every property a string (evidence, fix steps and related errors as text lines), no Report, for
    Export-Csv and ConvertTo-Json.
    #>
    [CmdletBinding()]
    [OutputType('AgDiag.Finding', 'AgDiag.FlatFinding')]
    param(
        [Parameter(Mandatory = $true, ValueFromPipeline = $true)]
        [AgDiag.Report]$Report,

        # A JSON array of findings to convert instead of the report's own.
        [string]$FindingsJson,

        [switch]$Flat
    )

    process {
        if ($FindingsJson) {
            $findings = ConvertFrom-AgJson -Json $FindingsJson
        }
        else {
            $findings = (ConvertFrom-AgJson -Json $Report.FindingsJson()).findings
        }
        foreach ($finding in $findings) {
            if ($Flat) {
                $steps = @($finding.fix_steps | Where-Object { $null -ne $_ } | ForEach-Object { '{0} ({1}): {2}' -f $_.target, $_.phase, $_.text })
                [pscustomobject]@{
                    PSTypeName        = 'AgDiag.FlatFinding'
                    Severity          = [string]$finding.severity
                    Check             = [string]$finding.check
                    Instance          = [string]$finding.instance
                    Object            = [string]$finding.object
                    Message           = [string]$finding.message
                    Category          = [string]$finding.category
                    AvailabilityGroup = [string]$finding.availability_group
                    Replica           = [string]$finding.replica
                    Title             = [string]$finding.title
                    Remediation       = [string]$finding.remediation
                    Fix               = [string]$finding.fix
                    FixSteps          = $steps -join "`n"
                    Evidence          = ConvertTo-AgFlatText -InputObject $finding.evidence
                    RelatedErrors     = @($finding.related_errors | Where-Object { $null -ne $_ }) -join ', '
                    Id                = [string]$finding.id
                }
                continue
            }
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
