function New-AgRequest {
    <#
    .SYNOPSIS
    The live-collection request JSON for agdiag_job_start / agdiag_run from the cmdlet parameters.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory = $true)]
        [string[]]$SqlInstance,

        [System.Management.Automation.PSCredential]$SqlCredential,

        [switch]$TrustServerCertificate,

        [string]$EncryptConnection = 'Mandatory',

        [int]$ConnectTimeout = 15,

        # Days of AlwaysOn_health event history to read (0: none).
        [int]$HistoryDays = 7,

        # Check ids or patterns; all checks when empty.
        [string[]]$Check
    )

    if ($SqlCredential) {
        # The password exists in clear text only inside this JSON, which goes straight to the library.
        $network = $SqlCredential.GetNetworkCredential()
        # The Windows credential dialog returns a local name as '\sa'. A SQL Server login name
        # cannot contain a backslash, so DOMAIN\user is a Windows login (NTLM; Windows only),
        # as in dbatools' -SqlCredential.
        $user = $SqlCredential.UserName.TrimStart('\')
        $method = 'sql'
        if ($user.Contains('\')) {
            $method = 'windows'
        }
        $authentication = @{ method = $method; user = $user; password = $network.Password }
    }
    else {
        $authentication = @{ method = 'integrated' }
    }
    $request = @{
        instances                = @($SqlInstance)
        authentication           = $authentication
        encrypt                  = $EncryptConnection.ToLowerInvariant()
        trust_server_certificate = [bool]$TrustServerCertificate
        timeouts                 = @{ connect_ms = $ConnectTimeout * 1000; login_ms = $ConnectTimeout * 1000 }
        discover_replicas        = $true
        history_days             = $HistoryDays
    }
    if ($Check) {
        $request.checks = @($Check)
    }
    ConvertTo-Json -InputObject $request -Depth 5 -Compress
}
