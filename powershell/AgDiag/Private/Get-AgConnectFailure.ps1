function Get-AgConnectFailure {
    <#
    .SYNOPSIS
    The message, ErrorId and ErrorCategory for an instance the collection could not reach, from
    the snapshot's connect_error ({ "number": 18456, "state": 8, "message": "..." } for a server
    error, { "message": "..." } for a transport error).
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [AllowNull()]
        [object]$ConnectError
    )

    # Never format connect_error itself with -f: it is an object, and Windows PowerShell 5.1
    # turns a PSCustomObject into an empty string there.
    $message = 'the connection failed without an error message'
    $number = $null
    if ($ConnectError -is [string]) {
        $message = $ConnectError
    }
    elseif ($null -ne $ConnectError) {
        if ($ConnectError.message) { $message = [string]$ConnectError.message }
        if ($null -ne $ConnectError.number) { $number = [int]$ConnectError.number }
    }
    $errorId = 'AgDiag.InstanceNotConnected'
    $category = [System.Management.Automation.ErrorCategory]::ConnectionError
    if ($null -ne $number) {
        $message = 'error {0}: {1}' -f $number, $message
        # 18456 login failed, 18452 untrusted domain, 18470 login disabled, 18486 locked out,
        # 18487/18488 password expired or must be changed.
        if (@(18452, 18456, 18470, 18486, 18487, 18488) -contains $number) {
            $errorId = 'AgDiag.LoginFailed'
            $category = [System.Management.Automation.ErrorCategory]::AuthenticationError
        }
    }
    elseif ($message -match 'timed out') {
        $category = [System.Management.Automation.ErrorCategory]::OperationTimeout
    }
    [pscustomobject]@{
        Message  = $message
        ErrorId  = $errorId
        Category = $category
    }
}
