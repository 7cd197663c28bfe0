function Resolve-AgError {
    <#
    .SYNOPSIS
    Explains a SQL Server error number seen with availability groups and names the checks that diagnose it.

    .DESCRIPTION
    For errors such as 1418 (the server network address cannot be reached), 35250 (the connection to
    the primary replica is not active) or 19404 (routing URL missing), returns what the error means
    and the diagnosis steps in order, each with the AgDiag checks that run it. Run those checks with
    Invoke-AgDiagnostic -Check.

    .PARAMETER Number
    The SQL Server error number, e.g. 1418 or 35250. Accepts pipeline input by value and by property
    name (Number, ErrorNumber).

    .PARAMETER EnableException
    Throw terminating errors instead of writing non-terminating ones, for automation scripts that
    use try/catch. Without it, every instance or file that fails gets its own ErrorRecord and the
    rest continue.

    .EXAMPLE
    PS C:\> Resolve-AgError -Number 1418

    Explains error 1418 and lists the checks for each diagnosis step.

    .EXAMPLE
    PS C:\> Resolve-AgError 35250 | Select-Object -ExpandProperty Steps

    Shows the seven-step checklist for error 35250.

    .EXAMPLE
    PS C:\> $checks = (Resolve-AgError 35250).Steps.checks; Invoke-AgDiagnostic -SqlInstance sql1 -Check $checks

    Runs exactly the checks that diagnose 35250.

    .OUTPUTS
    AgDiag.ErrorExplanation

    .LINK
    about_AgDiag

    .LINK
    Get-AgCheck

    .LINK
    Invoke-AgDiagnostic
    #>
    [CmdletBinding()]
    [OutputType('AgDiag.ErrorExplanation')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [Alias('ErrorNumber')]
        [int[]]$Number,

        [switch]$EnableException
    )

    process {
        foreach ($errorNumber in $Number) {
            try {
                $explanation = ConvertFrom-AgJson -Json ([AgDiag.Native]::ExplainErrorJson($errorNumber))
            }
            catch {
                Write-AgFailure -Cmdlet $PSCmdlet -Message ($_.Exception.GetBaseException().Message) -ErrorId 'AgDiag.UnknownError' `
                    -Category ObjectNotFound -Target $errorNumber -ErrorRecord $_ -EnableException:$EnableException
                continue
            }
            [pscustomobject]@{
                PSTypeName = 'AgDiag.ErrorExplanation'
                Number     = $explanation.number
                Severity   = $explanation.severity
                Message    = $explanation.message
                Meaning    = $explanation.meaning
                Steps      = $explanation.steps
            }
        }
    }
}
