@{
    RootModule           = 'AgDiag.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '6d1f4b52-7c0e-4a8e-9a51-3f2b1c9e0a47'
    Author               = 'AgDiag contributors'
    CompanyName          = 'AgDiag'
    Copyright            = '(c) AgDiag contributors. MIT OR Apache-2.0.'
    Description          = 'Diagnoses SQL Server Always On availability groups that will not connect, join, synchronize or route: every check names the instance, the object and the evidence, and writes a reviewed T-SQL fix script.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    # The interop and the native library need a 64-bit process on .NET Framework 4.5.2 or later.
    DotNetFrameworkVersion = '4.5.2'
    # AgDiag.Native.cs compiled at build time (powershell/build.sh, build.ps1): nothing is compiled at import.
    RequiredAssemblies   = @('AgDiag.Native.dll')
    FormatsToProcess     = @('AgDiag.format.ps1xml')
    FunctionsToExport    = @(
        'Export-AgSnapshot',
        'Get-AgCheck',
        'Get-AgErrorLogIssue',
        'Get-AgRoutingIssue',
        'Get-AgRoutingPath',
        'Get-AgTimeline',
        'Invoke-AgDiagnostic',
        'New-AgFixScript',
        'Resolve-AgError',
        'Test-AgConnectionString',
        'Test-AgEndpoint',
        'Test-AgEndpointPermission',
        'Test-AgHadr',
        'Test-AgListener',
        'Test-AgNetwork',
        'Test-AgSession'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    # The package's build (powershell/build.sh --package) rewrites this line with every file it ships.
    FileList             = @('AgDiag.psd1', 'AgDiag.psm1', 'AgDiag.format.ps1xml', 'en-US/about_AgDiag.help.txt')
    PrivateData          = @{
        PSData = @{
            Tags         = @('SQLServer', 'AlwaysOn', 'AvailabilityGroups', 'HADR', 'DBA', 'Diagnostics', 'Windows', 'Linux', 'MacOS', 'PSEdition_Desktop', 'PSEdition_Core')
            # The package build (AGDIAG_PROJECT_URI) adds the project and licence links, pinned to the commit built.
            ReleaseNotes = 'First release: offline snapshot analysis, live collection with progress and cancel, fix scripts.'
        }
    }
}
