function ConvertTo-AgTimeText {
    <#
    .SYNOPSIS
    A [datetime] that PowerShell 7's ConvertFrom-Json parsed, as the ISO 8601 text it came from:
    UTC with Z (a time with an offset arrives as local time, and is written as the same instant in
    UTC), or without a zone when the text had none.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory = $true)]
        [datetime]$Time,

        [Parameter(Mandatory = $true)]
        [System.Globalization.CultureInfo]$Culture
    )

    if ($Time.Kind -eq [System.DateTimeKind]::Local) {
        $Time = $Time.ToUniversalTime()
    }
    # FFFFFFF drops trailing zeros and the point with them; K is Z for UTC, nothing when unspecified.
    $Time.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", $Culture)
}
