function Write-AgFailure {
    <#
    .SYNOPSIS
    Reports one failure as an ErrorRecord on the calling cmdlet: non-terminating, or terminating
    with -EnableException (for automation).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        [Parameter(Mandatory = $true)]
        [string]$Message,

        [Parameter(Mandatory = $true)]
        [string]$ErrorId,

        [System.Management.Automation.ErrorCategory]$Category = [System.Management.Automation.ErrorCategory]::NotSpecified,

        [object]$Target,

        # The error caught, if any; .NET method errors arrive wrapped in MethodInvocationException.
        [object]$ErrorRecord,

        [switch]$EnableException
    )

    $exception = $null
    if ($ErrorRecord -is [System.Management.Automation.ErrorRecord]) {
        $exception = $ErrorRecord.Exception
    }
    elseif ($ErrorRecord -is [System.Exception]) {
        $exception = $ErrorRecord
    }
    while ($exception -is [System.Management.Automation.MethodInvocationException] -and $exception.InnerException) {
        $exception = $exception.InnerException
    }
    if (-not $exception) {
        $exception = New-Object -TypeName System.Exception -ArgumentList $Message
    }
    # A library load failure means the module is not installed right, not bad input.
    if ($exception -is [AgDiag.AgDiagException] -and -not $exception.Function) {
        $Category = [System.Management.Automation.ErrorCategory]::NotInstalled
        $ErrorId = 'AgDiag.LibraryNotLoaded'
    }
    $record = New-Object -TypeName System.Management.Automation.ErrorRecord -ArgumentList $exception, $ErrorId, $Category, $Target
    if ($Message -ne $exception.Message) {
        $record.ErrorDetails = New-Object -TypeName System.Management.Automation.ErrorDetails -ArgumentList $Message
    }
    if ($EnableException) {
        $Cmdlet.ThrowTerminatingError($record)
    }
    else {
        $Cmdlet.WriteError($record)
    }
}
