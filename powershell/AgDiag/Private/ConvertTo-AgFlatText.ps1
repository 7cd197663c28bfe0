function ConvertTo-AgFlatText {
    <#
    .SYNOPSIS
    A finding's evidence (nested objects and arrays) as readable text for Export-Csv and
    ConvertTo-Json: one "path: value" line per value, like
    "presented_by[0].dm_server_services.service_account: NT Service\MSSQLSERVER".
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [AllowNull()]
        [object]$InputObject
    )

    if ($null -eq $InputObject) {
        return ''
    }
    $lines = New-Object -TypeName 'System.Collections.Generic.List[string]'
    $pending = New-Object -TypeName 'System.Collections.Generic.Stack[object]'
    $pending.Push(@('', $InputObject))
    while ($pending.Count -gt 0) {
        $entry = $pending.Pop()
        $path = [string]$entry[0]
        $node = $entry[1]
        if ($node -is [System.Management.Automation.PSCustomObject]) {
            $properties = @($node.PSObject.Properties)
            # A stack reverses: push the last first so the lines keep the library's order.
            for ($index = $properties.Count - 1; $index -ge 0; $index--) {
                $name = $properties[$index].Name
                if ($path) { $name = '{0}.{1}' -f $path, $name }
                $pending.Push(@($name, $properties[$index].Value))
            }
        }
        elseif ($node -is [System.Array]) {
            for ($index = $node.Length - 1; $index -ge 0; $index--) {
                $pending.Push(@(('{0}[{1}]' -f $path, $index), $node[$index]))
            }
        }
        else {
            $text = 'null'
            if ($null -ne $node) {
                $text = [System.Convert]::ToString($node, [System.Globalization.CultureInfo]::InvariantCulture)
            }
            if ($path) {
                $lines.Add(('{0}: {1}' -f $path, $text))
            }
            else {
                $lines.Add($text)
            }
        }
    }
    $lines -join "`n"
}
