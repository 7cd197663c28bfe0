function ConvertTo-AgTimelineEntry {
    <#
    .SYNOPSIS
    AgDiag.TimelineEntry objects from a report's incident timeline: every replica's AlwaysOn_health
    events in UTC order, within Since of the time the snapshot was collected.
    #>
    [CmdletBinding()]
    [OutputType('AgDiag.TimelineEntry')]
    param(
        [Parameter(Mandatory = $true, ValueFromPipeline = $true)]
        [AgDiag.Report]$Report,

        [timespan]$Since = (New-TimeSpan -Days 7)
    )

    process {
        $timeline = ConvertFrom-AgJson -Json $Report.TimelineJson()
        $from = $null
        if ($timeline.until) {
            $until = [datetime]::Parse($timeline.until, [System.Globalization.CultureInfo]::InvariantCulture, [System.Globalization.DateTimeStyles]::AdjustToUniversal)
            $from = $until - $Since
        }
        foreach ($entry in $timeline.entries) {
            $time = [datetime]::Parse($entry.time, [System.Globalization.CultureInfo]::InvariantCulture, [System.Globalization.DateTimeStyles]::AdjustToUniversal)
            if ($from -and $time -lt $from) { continue }
            [pscustomobject]@{
                PSTypeName        = 'AgDiag.TimelineEntry'
                Time              = $time
                Replica           = $entry.replica
                AvailabilityGroup = $entry.availability_group
                Kind              = $entry.kind
                Message           = $entry.message
                Event             = $entry.event
                RecordedBy        = $entry.recorded_by
                Details           = $entry.details
                FileName          = $entry.source.file_name
                FileOffset        = $entry.source.file_offset
                Report            = $Report
            }
        }
    }
}
