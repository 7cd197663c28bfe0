function Write-AgProgress {
    <#
    .SYNOPSIS
    Shows a running collection job's progress (instances done/total, current step).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AgDiag.Job]$Job,

        [Parameter(Mandatory = $true)]
        [string]$Activity
    )

    $progress = ConvertFrom-AgJson -Json $Job.ProgressJson()
    $done = [int]$progress.instances_done
    $total = [int]$progress.instances_total
    $status = '{0} of {1} instances done' -f $done, $total
    if ($progress.step) {
        $status = '{0}: {1}' -f $status, $progress.step
    }
    $percent = -1
    if ($total -gt 0) {
        $percent = [math]::Min(100, [int](100 * $done / $total))
    }
    Write-Progress -Activity $Activity -Status $status -PercentComplete $percent
}
