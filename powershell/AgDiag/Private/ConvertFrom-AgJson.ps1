function ConvertFrom-AgJson {
    <#
    .SYNOPSIS
    ConvertFrom-Json with one result on every edition: the only way the module reads the library's
    JSON. PowerShell 7 turns strings that look like ISO 8601 times into [datetime]; Windows
    PowerShell 5.1 keeps them as strings. Here they stay strings on both: a time PowerShell 7
    parsed is written back as yyyy-MM-ddTHH:mm:ss[.fffffff]Z (or without the Z when the text had
    no zone), the text the library wrote, so every output property has one type on both editions.
    An array comes back as one array (5.1's way), never enumerated.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AllowEmptyString()]
        [string]$Json
    )

    $value = ConvertFrom-Json -InputObject $Json
    # PowerShell 7 enumerates a top-level array (one element comes back alone, none as $null).
    if ($Json.TrimStart().StartsWith('[') -and $value -isnot [System.Array]) {
        if ($null -eq $value) { $value = @() } else { $value = @($value) }
    }
    # Nothing to undo on 5.1, nor where no string starts like a date (most of the library's JSON).
    if ($PSVersionTable.PSVersion.Major -lt 6 -or $Json -notmatch '"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d') {
        return , $value
    }
    $invariant = [System.Globalization.CultureInfo]::InvariantCulture
    $pending = New-Object -TypeName 'System.Collections.Generic.Stack[object]'
    $pending.Push($value)
    while ($pending.Count -gt 0) {
        $node = $pending.Pop()
        if ($node -is [System.Management.Automation.PSCustomObject]) {
            foreach ($property in $node.PSObject.Properties) {
                if ($property.Value -is [datetime]) {
                    $property.Value = ConvertTo-AgTimeText -Time $property.Value -Culture $invariant
                }
                elseif ($null -ne $property.Value) {
                    $pending.Push($property.Value)
                }
            }
        }
        elseif ($node -is [System.Array]) {
            for ($index = 0; $index -lt $node.Length; $index++) {
                if ($node[$index] -is [datetime]) {
                    $node[$index] = ConvertTo-AgTimeText -Time $node[$index] -Culture $invariant
                }
                elseif ($null -ne $node[$index]) {
                    $pending.Push($node[$index])
                }
            }
        }
    }
    return , $value
}
