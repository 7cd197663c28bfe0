function ConvertTo-AgRoutingPath {
    <#
    .SYNOPSIS
    AgDiag.RoutingPath objects from a report's read-only routing simulation: for each replica
    that could be primary, the ordered sets of replicas a ReadOnly connection lands on.
    #>
    [CmdletBinding()]
    [OutputType('AgDiag.RoutingPath')]
    param(
        [Parameter(Mandatory = $true, ValueFromPipeline = $true)]
        [AgDiag.Report]$Report
    )

    process {
        foreach ($path in (ConvertFrom-AgJson -Json $Report.FindingsJson()).routing_simulation) {
            [pscustomobject]@{
                PSTypeName        = 'AgDiag.RoutingPath'
                AvailabilityGroup = $path.availability_group
                WhenPrimary       = $path.when_primary
                Sets              = $path.sets
                Note              = $path.note
                Report            = $Report
            }
        }
    }
}
