#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Pester 5 tests of the AgDiag module, offline against examples/snapshots. They need the native
# library in powershell/AgDiag/bin/<rid>/ and the interop AgDiag.Native.dll (powershell/build.ps1 or
# build.sh), or $env:AGDIAG_MODULE_PATH naming a built package (build.sh --package: the release
# workflow tests the package it publishes). What only a real PowerShell can settle is here: the
# interop loading through the manifest, Constrained Language Mode, -WhatIf, Ctrl+C, rendering.
# Run from the repository root:
#   pwsh -NoProfile -Command "Invoke-Pester -Path ./tests/powershell -Output Detailed"
#   powershell.exe -NoProfile -Command "Invoke-Pester -Path .\tests\powershell -Output Detailed"

BeforeAll {
    $script:repo = (Resolve-Path -Path (Join-Path -Path $PSScriptRoot -ChildPath '../..')).ProviderPath
    $script:modulePath = Join-Path -Path $repo -ChildPath 'powershell/AgDiag'
    if ($env:AGDIAG_MODULE_PATH) {
        $script:modulePath = $env:AGDIAG_MODULE_PATH
    }
    $script:broken = Join-Path -Path $repo -ChildPath 'examples/snapshots/broken-3-replica.json'
    $script:healthy = Join-Path -Path $repo -ChildPath 'examples/snapshots/healthy-3-replica.json'
    Import-Module -Name $modulePath -Force
    $script:manifest = Import-PowerShellDataFile -Path (Join-Path -Path $modulePath -ChildPath 'AgDiag.psd1')
}

AfterAll {
    Remove-Module -Name AgDiag -ErrorAction SilentlyContinue
}

Describe 'The AgDiag module' {
    It 'exports exactly the functions its manifest lists' {
        $exported = @(Get-Command -Module AgDiag | ForEach-Object { $_.Name } | Sort-Object)
        $listed = @($manifest.FunctionsToExport | Sort-Object)
        $exported | Should -Be $listed
        $exported.Count | Should -Be 16
    }

    It 'loads the native library of the same version' {
        [AgDiag.Native]::Version() | Should -Be $manifest.ModuleVersion
        [AgDiag.Native]::LibraryPath | Should -Not -BeNullOrEmpty
    }

    It 'imports a second time without recompiling the interop' {
        { Import-Module -Name $modulePath -Force } | Should -Not -Throw
    }

    It 'loads the interop assembly through the manifest, of the module''s version' {
        $manifest.RequiredAssemblies | Should -Be @('AgDiag.Native.dll')
        $assembly = [AgDiag.Native].Assembly
        $assembly.Location | Should -Be (Join-Path -Path (Resolve-Path -Path $modulePath).ProviderPath -ChildPath 'AgDiag.Native.dll')
        $assembly.GetName().Version | Should -Be ([version]('{0}.0' -f $manifest.ModuleVersion))
        (Get-Content -LiteralPath (Join-Path -Path $modulePath -ChildPath 'AgDiag.psm1') -Raw) | Should -Not -Match 'Add-Type'
    }

    It 'refuses, with a message, to import in Constrained Language Mode' {
        $shell = (Get-Process -Id $PID).Path
        $command = "`$ExecutionContext.SessionState.LanguageMode = 'ConstrainedLanguage'; try { Import-Module '$modulePath' -ErrorAction Stop; 'imported' } catch { `$_.Exception.Message }"
        $output = (& $shell -NoProfile -NonInteractive -Command $command) -join "`n"
        $output | Should -Not -Be 'imported'
        $output | Should -Match 'FullLanguage|ConstrainedLanguage|language mode'
    }

    It 'resolves a relative AGDIAG_LIBRARY against the current location' {
        $shell = (Get-Process -Id $PID).Path
        $library = [AgDiag.Native]::LibraryPath
        $folder = Split-Path -Path $library -Parent
        $leaf = Split-Path -Path $library -Leaf
        $command = "Set-Location -LiteralPath '$folder'; `$env:AGDIAG_LIBRARY = './$leaf'; Import-Module '$modulePath'; [AgDiag.Native]::LibraryPath"
        $output = (& $shell -NoProfile -NonInteractive -Command $command) -join "`n"
        $output | Should -Be $library
    }

    It 'has help with a synopsis, every parameter and two examples for <_>' -ForEach @(
        'Invoke-AgDiagnostic', 'Test-AgHadr', 'Test-AgEndpoint', 'Test-AgEndpointPermission', 'Test-AgNetwork',
        'Test-AgListener', 'Get-AgRoutingIssue', 'Get-AgRoutingPath', 'Test-AgSession', 'Get-AgErrorLogIssue',
        'Resolve-AgError', 'Test-AgConnectionString', 'New-AgFixScript', 'Export-AgSnapshot', 'Get-AgCheck',
        'Get-AgTimeline'
    ) {
        $help = Get-Help -Name $_ -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match '^\s*\S+\s+\['
        @($help.Examples.Example).Count | Should -BeGreaterOrEqual 2
        $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
        foreach ($parameter in (Get-Command -Name $_).Parameters.Keys | Where-Object { $common -notcontains $_ }) {
            $described = $help.parameters.parameter | Where-Object { $_.name -eq $parameter }
            ($described.description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "$parameter needs help"
        }
    }

    It 'has the about_AgDiag topic' {
        (Get-Help -Name about_AgDiag | Out-String) | Should -Match 'Invoke-AgDiagnostic'
    }
}

Describe 'Offline analysis of the example snapshots' {
    BeforeAll {
        $script:findings = @(Invoke-AgDiagnostic -SnapshotPath $broken)
    }

    It 'returns AgDiag.Finding objects with errors for the broken example' {
        $findings.Count | Should -BeGreaterThan 0
        $findings[0].PSObject.TypeNames[0] | Should -Be 'AgDiag.Finding'
        @($findings | Where-Object { $_.Severity -eq 'error' }).Count | Should -BeGreaterThan 0
    }

    It 'finds no errors or warnings in the healthy example' {
        @(Invoke-AgDiagnostic -SnapshotPath $healthy | Where-Object { $_.Severity -ne 'info' }).Count | Should -Be 0
    }

    It 'shows Severity, Check, Instance, Object and Message in the default table' {
        $table = $findings | Out-String -Width 250
        $table | Should -Match 'Severity\s+Check\s+Instance\s+Object\s+Message'
        $table | Should -Match 'accounts\.login_missing'
    }

    It 'shows the evidence, remediation and fix with Select-Object *' {
        $all = $findings | Where-Object { $_.Check -eq 'accounts.login_missing' } | Select-Object -First 1 -Property *
        $all.Evidence | Should -Not -BeNullOrEmpty
        $all.Remediation | Should -Not -BeNullOrEmpty
        $all.Fix | Should -Match 'CREATE LOGIN'
        $all.Id | Should -Match '^accounts\.login_missing@'
    }

    It 'takes snapshot files from Get-ChildItem by property name' {
        @(Get-Item -Path $broken | Invoke-AgDiagnostic).Count | Should -Be $findings.Count
    }

    It 'runs only the checks asked for' {
        $accounts = @(Invoke-AgDiagnostic -SnapshotPath $broken -Check 'accounts')
        $accounts.Count | Should -BeGreaterThan 0
        $accounts | ForEach-Object { $_.Category | Should -Be 'accounts' }
        @(Test-AgEndpointPermission -SnapshotPath $broken).Count | Should -Be $accounts.Count
    }

    It 'Test-AgHadr returns only hadr findings' {
        Test-AgHadr -SnapshotPath $broken | ForEach-Object { $_.Category | Should -Be 'hadr' }
    }

    It 'round-trips non-ASCII names (CONTOSO\J<U+00FC>rgen)' {
        $text = [System.IO.File]::ReadAllText($broken, [System.Text.Encoding]::UTF8)
        $renamed = $text.Replace('CONTOSO\\svc_sql"', ('CONTOSO\\J{0}rgen"' -f [char]0x00FC))
        $path = Join-Path -Path $TestDrive -ChildPath 'juergen.json'
        [System.IO.File]::WriteAllText($path, $renamed, (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false))
        $messages = (Invoke-AgDiagnostic -SnapshotPath $path | ForEach-Object { $_.Message }) -join "`n"
        $messages | Should -Match ('CONTOSO\\J{0}rgen' -f [char]0x00FC)
    }
}

Describe 'One type per property on both editions, and flat output' {
    BeforeAll {
        $script:all = @(Invoke-AgDiagnostic -SnapshotPath $broken)
        $script:flat = @(Invoke-AgDiagnostic -SnapshotPath $broken -Flat)
    }

    It 'keeps evidence timestamps as strings (PowerShell 7''s ConvertFrom-Json would make dates)' {
        $pending = New-Object -TypeName 'System.Collections.Generic.Stack[object]'
        foreach ($finding in $all) { $pending.Push($finding.Evidence) }
        $dates = 0
        while ($pending.Count -gt 0) {
            $node = $pending.Pop()
            if ($node -is [datetime]) { $dates++ }
            elseif ($node -is [System.Management.Automation.PSCustomObject]) { foreach ($p in $node.PSObject.Properties) { if ($null -ne $p.Value) { $pending.Push($p.Value) } } }
            elseif ($node -is [System.Array]) { foreach ($item in $node) { if ($null -ne $item) { $pending.Push($item) } } }
        }
        $dates | Should -Be 0
    }

    It '-Flat gives one AgDiag.FlatFinding of strings per finding, without the Report' {
        $flat.Count | Should -Be $all.Count
        $flat[0].PSObject.TypeNames[0] | Should -Be 'AgDiag.FlatFinding'
        $flat[0].PSObject.Properties.Name | Should -Not -Contain 'Report'
        foreach ($property in $flat[0].PSObject.Properties) { $property.Value | Should -BeOfType [string] }
        $login = $flat | Where-Object { $_.Check -eq 'accounts.login_missing' } | Select-Object -First 1
        $login.Evidence | Should -Match '(?m)^login: CONTOSO\\SQL3\$$'
        $login.FixSteps | Should -Match '(?m)^SQL1 \(create_login\): IF NOT EXISTS'
    }

    It 'Export-Csv and ConvertTo-Json of -Flat findings are flat and readable' {
        $csv = Join-Path -Path $TestDrive -ChildPath 'findings.csv'
        $flat | Export-Csv -LiteralPath $csv -NoTypeInformation
        $back = @(Import-Csv -LiteralPath $csv)
        $back.Count | Should -Be $flat.Count
        $back[0].Evidence | Should -Be $flat[0].Evidence
        (Get-Content -LiteralPath $csv -Raw) | Should -Not -Match 'System.Object\[\]|@\{'
        $json = $flat | ConvertTo-Json -Depth 2 | ConvertFrom-Json
        @($json).Count | Should -Be $flat.Count
        $json[0].Evidence | Should -BeOfType [string]
    }

    It 'shows -Flat findings in the same table as findings' {
        ($flat | Out-String -Width 250) | Should -Match 'Severity\s+Check\s+Instance\s+Object\s+Message'
    }
}

Describe 'Fix scripts' {
    It 'writes exactly the piped findings' {
        $all = @(Invoke-AgDiagnostic -SnapshotPath $broken | Where-Object { $_.Fix })
        $all.Count | Should -BeGreaterThan 1
        $one = $all[0]
        $path = Join-Path -Path $TestDrive -ChildPath 'fix.sql'
        $file = $one | New-AgFixScript -Path $path
        $file.FullName | Should -Be $path
        $script = [System.IO.File]::ReadAllText($path)
        $script | Should -Match ':on error exit'
        $script | Should -Match ([regex]::Escape($one.Id))
        foreach ($other in $all[1..($all.Count - 1)]) {
            if ($other.Id -ne $one.Id) { $script | Should -Not -Match ([regex]::Escape('-- ' + $other.Id)) }
        }
    }

    It 'writes every finding of a snapshot without a BOM' {
        $path = Join-Path -Path $TestDrive -ChildPath 'all.sql'
        New-AgFixScript -SnapshotPath $broken -Path $path | Out-Null
        $bytes = [System.IO.File]::ReadAllBytes($path)
        $bytes[0] | Should -Not -Be 0xEF
        [System.IO.File]::ReadAllText($path) | Should -Match ':Connect '
    }

    It 'returns the script as a string without -Path, and honors -WhatIf' {
        (Invoke-AgDiagnostic -SnapshotPath $broken | New-AgFixScript) | Should -Match 'CREATE LOGIN'
        $path = Join-Path -Path $TestDrive -ChildPath 'whatif.sql'
        New-AgFixScript -SnapshotPath $broken -Path $path -WhatIf
        Test-Path -LiteralPath $path | Should -BeFalse
    }
}

Describe 'HTML report' {
    It 'writes the page next to the findings, and honors -WhatIf' {
        $path = Join-Path -Path $TestDrive -ChildPath 'ag1.html'
        $found = @(Invoke-AgDiagnostic -SnapshotPath $broken -HtmlPath $path)
        $found.Count | Should -Be $findings.Count
        $page = [System.IO.File]::ReadAllText($path)
        $page | Should -Match '^<!DOCTYPE html>'
        $page | Should -Match 'data-replica="SQL3"'
        $whatIf = Join-Path -Path $TestDrive -ChildPath 'whatif.html'
        Invoke-AgDiagnostic -SnapshotPath $broken -HtmlPath $whatIf -WhatIf | Out-Null
        Test-Path -LiteralPath $whatIf | Should -BeFalse
    }
}

Describe 'Other commands' {
    It 'Get-AgCheck lists the catalog' {
        $checks = @(Get-AgCheck)
        $checks.Count | Should -BeGreaterThan 5
        $checks[0].PSObject.TypeNames[0] | Should -Be 'AgDiag.CheckInfo'
        @(Get-AgCheck -Id 'hadr*') | ForEach-Object { $_.Category | Should -Be 'hadr' }
    }

    It 'Get-AgCheck with a selector that matches nothing is an error, not silence' {
        $result = Get-AgCheck sql1 -ErrorAction SilentlyContinue -ErrorVariable failures
        $result | Should -BeNullOrEmpty
        $failures[0].FullyQualifiedErrorId | Should -Match '^AgDiag.UnknownCheck'
        $failures[0].ToString() | Should -Match '-SqlInstance sql1'
        { Get-AgCheck -Id 'nosuch*' -EnableException } | Should -Throw
    }

    It 'Get-AgCheck -SnapshotPath gives a result per check' {
        $results = @(Get-AgCheck -SnapshotPath $broken)
        $results[0].PSObject.TypeNames[0] | Should -Be 'AgDiag.CheckResult'
        @($results | Where-Object { $_.Status -eq 'fail' }).Count | Should -BeGreaterThan 0
        ($results | Out-String -Width 200) | Should -Match 'Check\s+Status\s+Findings\s+Reason'
    }

    It 'Get-AgRoutingPath emits AgDiag.RoutingPath objects' {
        Get-AgRoutingPath -SnapshotPath $healthy | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'AgDiag.RoutingPath' }
    }

    It 'Get-AgTimeline emits the failover example''s events in UTC order' {
        $failover = Join-Path -Path (Split-Path -Path $healthy -Parent) -ChildPath 'failover-3-replica.json'
        $entries = @(Get-AgTimeline -SnapshotPath $failover)
        $entries[0].PSObject.TypeNames[0] | Should -Be 'AgDiag.TimelineEntry'
        @($entries | Where-Object Kind -eq 'lease_expired').Count | Should -Be 1
        $times = @($entries | ForEach-Object { $_.Time })
        ($times | Sort-Object) -join ',' | Should -Be ($times -join ',')
        @(Get-AgTimeline -SnapshotPath $failover -Since (New-TimeSpan -Hours 12)).Count | Should -Be 0
    }

    It 'Test-AgConnectionString checks a connection string' {
        { Test-AgConnectionString -ConnectionString 'Server=tcp:AG1-LISTENER,1433;Database=SalesDB' -SnapshotPath $healthy -EnableException } |
            Should -Not -Throw
    }

    It 'Export-AgSnapshot rewrites a snapshot the library reads back' {
        $path = Join-Path -Path $TestDrive -ChildPath 'copy.json'
        $file = Export-AgSnapshot -SnapshotPath $healthy -Path $path
        $file.Name | Should -Be 'copy.json'
        (Get-Content -LiteralPath $path -Raw | ConvertFrom-Json).format | Should -Be 'agdiag.snapshot/1'
    }
}

Describe 'Errors' {
    It 'a missing snapshot is a non-terminating ObjectNotFound error' {
        $result = Invoke-AgDiagnostic -SnapshotPath (Join-Path -Path $TestDrive -ChildPath 'none.json') -ErrorAction SilentlyContinue -ErrorVariable failures
        $result | Should -BeNullOrEmpty
        $failures[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'invalid JSON is InvalidData with the library message, and -EnableException throws' {
        $path = Join-Path -Path $TestDrive -ChildPath 'bad.json'
        Set-Content -LiteralPath $path -Value '{"format": '
        Invoke-AgDiagnostic -SnapshotPath $path -ErrorAction SilentlyContinue -ErrorVariable failures
        $failures[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $failures[0].ToString() | Should -Match 'not valid'
        { Invoke-AgDiagnostic -SnapshotPath $path -EnableException } | Should -Throw
    }

    It 'an unknown error number is ObjectNotFound' {
        Resolve-AgError -Number 987654 -ErrorAction SilentlyContinue -ErrorVariable failures
        $failures[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'a missing library names the file it looked for' {
        # A fresh process: a library, once loaded, stays loaded in this one.
        $missing = Join-Path -Path $TestDrive -ChildPath 'nowhere/agdiag-missing.so'
        $shell = (Get-Process -Id $PID).Path
        $command = "`$env:AGDIAG_LIBRARY = '$missing'; Import-Module '$modulePath'; Get-AgCheck -ErrorAction SilentlyContinue -ErrorVariable e; `$e[0].ToString()"
        $output = & $shell -NoProfile -NonInteractive -Command $command
        ($output -join "`n") | Should -Match ([regex]::Escape($missing))
    }
}

Describe 'Ctrl+C' {
    It 'stops a live collection promptly and leaves nothing running' {
        # A loopback listener that accepts and never answers: the login waits until it is stopped.
        $listener = New-Object -TypeName System.Net.Sockets.TcpListener -ArgumentList ([System.Net.IPAddress]::Loopback), 0
        $listener.Start()
        try {
            $instance = 'tcp:127.0.0.1,{0}' -f $listener.LocalEndpoint.Port
            $shell = [powershell]::Create()
            $null = $shell.AddScript("Import-Module '$modulePath'; Invoke-AgDiagnostic -SqlInstance '$instance' -ConnectTimeout 120 -EncryptConnection Off")
            $async = $shell.BeginInvoke()
            Start-Sleep -Seconds 2
            $async.IsCompleted | Should -BeFalse
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $shell.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 5
            $async.IsCompleted | Should -BeTrue
            $shell.Dispose()
        }
        finally {
            $listener.Stop()
        }
    }
}

Describe 'Review fixes (5.1 and binding pitfalls)' {
    It 'reads a snapshot whose literal name has [ ] (not a wildcard)' {
        $path = Join-Path -Path $TestDrive -ChildPath 'snap[1].json'
        Copy-Item -LiteralPath $broken -Destination $path
        @(Get-Item -LiteralPath $path | Invoke-AgDiagnostic -EnableException).Count | Should -BeGreaterThan 0
    }

    It 'a write failure is a WriteError and returns no file' {
        $path = Join-Path -Path $TestDrive -ChildPath 'no-such-folder/fix.sql'
        $result = New-AgFixScript -SnapshotPath $broken -Path $path -ErrorAction SilentlyContinue -ErrorVariable failures
        $result | Should -BeNullOrEmpty
        $failures[0].CategoryInfo.Category | Should -Be 'WriteError'
        { New-AgFixScript -SnapshotPath $broken -Path $path -EnableException } | Should -Throw
    }

    It 'Export-AgSnapshot -WhatIf writes nothing' {
        $path = Join-Path -Path $TestDrive -ChildPath 'whatif.json'
        Export-AgSnapshot -SnapshotPath $healthy -Path $path -WhatIf
        Test-Path -LiteralPath $path | Should -BeFalse
    }

    It 'warns instead of silently keeping an old file when no findings arrive' {
        $path = Join-Path -Path $TestDrive -ChildPath 'empty.sql'
        @() | New-AgFixScript -Path $path -WarningVariable warnings -WarningAction SilentlyContinue
        Test-Path -LiteralPath $path | Should -BeFalse
        ($warnings -join ' ') | Should -Match 'not written'
    }

    It 'connection-string findings are not scripted as server fixes' {
        $findings = @(Test-AgConnectionString -ConnectionString 'Server=tcp:sql1,1433;Database=SalesDB' -SnapshotPath $healthy)
        $findings.Count | Should -BeGreaterThan 0
        $findings | New-AgFixScript -WarningVariable warnings -WarningAction SilentlyContinue | Should -BeNullOrEmpty
        @($warnings).Count | Should -Be $findings.Count
    }

    It 'formats connect_error objects into a message and a category' {
        InModuleScope AgDiag {
            $login = Get-AgConnectFailure -ConnectError ('{"number": 18456, "state": 8, "message": "Login failed for user ''x''."}' | ConvertFrom-Json)
            $login.Message | Should -Be "error 18456: Login failed for user 'x'."
            $login.Category | Should -Be 'AuthenticationError'
            $timeout = Get-AgConnectFailure -ConnectError ('{"message": "TCP connect to sql9:1433 timed out after 5000 ms"}' | ConvertFrom-Json)
            $timeout.Message | Should -Match 'timed out'
            $timeout.Category | Should -Be 'OperationTimeout'
        }
    }

    It 'sends DOMAIN\user credentials as a Windows login and \sa as a SQL login' {
        InModuleScope AgDiag {
            $secret = ConvertTo-SecureString -String 'p' -AsPlainText -Force
            $windows = New-AgRequest -SqlInstance sql1 -SqlCredential (New-Object -TypeName PSCredential -ArgumentList 'CONTOSO\dba', $secret) | ConvertFrom-Json
            $windows.authentication.method | Should -Be 'windows'
            $sql = New-AgRequest -SqlInstance sql1 -SqlCredential (New-Object -TypeName PSCredential -ArgumentList '\sa', $secret) | ConvertFrom-Json
            $sql.authentication.method | Should -Be 'sql'
            $sql.authentication.user | Should -Be 'sa'
        }
    }
}
