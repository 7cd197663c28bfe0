# AgDiag module: diagnoses SQL Server Always On availability groups through the AgDiag native
# library. PowerShell stays thin: collection, checks, findings and fix scripts are the library's;
# the functions here bind parameters, show progress and shape the library's JSON into objects.
# Runs on Windows PowerShell 5.1 and PowerShell 7 (no PowerShell-7-only syntax).

# Every function calls the interop ([AgDiag.Native]), which PowerShell allows only in FullLanguage.
# Say so once, here, instead of failing in every command.
if ($ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') {
    throw ('AgDiag calls its .NET interop, which PowerShell allows only in FullLanguage mode; this module runs in {0}. Where an application control policy (WDAC, AppLocker) sets that mode, allow or sign the module''s files, then import it again.' -f $ExecutionContext.SessionState.LanguageMode)
}

# The manifest loaded AgDiag.Native.dll (RequiredAssemblies). A session keeps the first copy it
# loaded (types cannot be unloaded), so after an update Import-Module -Force may find an older
# interop already loaded: refuse to run these scripts on it and say what to do.
$interopFile = Join-Path -Path $PSScriptRoot -ChildPath 'AgDiag.Native.dll'
$loadedInterop = [AgDiag.Native].Assembly.GetName().Version
$shippedInterop = [System.Reflection.AssemblyName]::GetAssemblyName($interopFile).Version
if ($loadedInterop -ne $shippedInterop) {
    throw ('This session already has AgDiag''s interop {0} loaded (from {1}), and .NET cannot unload it; this module needs {2}. Start a new PowerShell session, then Import-Module AgDiag.' -f $loadedInterop, [AgDiag.Native].Assembly.Location, $shippedInterop)
}

# The library for this OS and architecture, bin/<rid>/ (shipped in the package; built by
# powershell/build.ps1 or build.sh in a source checkout). AGDIAG_LIBRARY points at another build
# (e.g. target/debug/libagdiag.so while developing); a relative path is relative to the current
# location, as everywhere in PowerShell (.NET alone would read it from the process's start folder).
# Loading waits for the first command, so Get-Help works without the library.
try {
    $libraryPath = $env:AGDIAG_LIBRARY
    if ($libraryPath) {
        $libraryPath = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($libraryPath)
    }
    else {
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
