# AgDiag module: diagnoses SQL Server Always On availability groups through the AgDiag native
# library. PowerShell stays thin: collection, checks, findings and fix scripts are the library's;
# the functions here bind parameters, show progress and shape the library's JSON into objects.
# Runs on Windows PowerShell 5.1 and PowerShell 7 (no PowerShell-7-only syntax).

# Types cannot be unloaded: a second Import-Module -Force reuses the compiled interop.
if (-not ('AgDiag.Native' -as [type])) {
    Add-Type -Path (Join-Path -Path $PSScriptRoot -ChildPath 'AgDiag.Native.cs')
}

# The library for this OS and architecture, bin/<rid>/ (built by powershell/build.ps1 or build.sh).
# AGDIAG_LIBRARY points at another build (e.g. target/debug/libagdiag.so while developing).
# Loading waits for the first command, so Get-Help works without the library.
try {
    $libraryPath = $env:AGDIAG_LIBRARY
    if (-not $libraryPath) {
        $libraryPath = [AgDiag.Native]::DefaultLibraryPath($PSScriptRoot)
    }
    [AgDiag.Native]::Configure($libraryPath)
}
catch {
    Write-Warning -Message ('AgDiag: {0}' -f $_.Exception.GetBaseException().Message)
}

$private = @(Get-ChildItem -Path (Join-Path -Path $PSScriptRoot -ChildPath 'Private') -Filter '*.ps1' -ErrorAction SilentlyContinue)
$public = @(Get-ChildItem -Path (Join-Path -Path $PSScriptRoot -ChildPath 'Public') -Filter '*.ps1' -ErrorAction SilentlyContinue)
foreach ($file in ($private + $public)) {
    . $file.FullName
}

Export-ModuleMember -Function ($public | ForEach-Object { $_.BaseName })
