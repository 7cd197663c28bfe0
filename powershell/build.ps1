<#
.SYNOPSIS
Builds the AgDiag native library and copies it into the module folder, bin/<rid>/.

.DESCRIPTION
Runs cargo build for the current platform and copies agdiag.dll (libagdiag.so, libagdiag.dylib)
to powershell/AgDiag/bin/<rid>/, where the module loads it. The RID (win-x64, win-arm64,
linux-x64, linux-arm64, osx-x64, osx-arm64) comes from the module's own interop class, so the
build and the module always agree on the folder. Works in Windows PowerShell 5.1 and PowerShell 7.
Needs the Rust toolchain (cargo) on PATH.

.PARAMETER Configuration
release (default, optimized) or debug.

.EXAMPLE
PS C:\src\agdiag> .\powershell\build.ps1
Builds the release library and prepares .\powershell\AgDiag for Import-Module.

.EXAMPLE
PS C:\src\agdiag> .\powershell\build.ps1 -Configuration debug; Import-Module .\powershell\AgDiag -Force
Builds a debug library and imports the module.
#>
[CmdletBinding()]
param(
    [ValidateSet('release', 'debug')]
    [string]$Configuration = 'release'
)

$ErrorActionPreference = 'Stop'
$repo = Split-Path -Path $PSScriptRoot -Parent
$module = Join-Path -Path $PSScriptRoot -ChildPath 'AgDiag'

if (-not ('AgDiag.Native' -as [type])) {
    Add-Type -Path (Join-Path -Path $module -ChildPath 'AgDiag.Native.cs')
}
$rid = [AgDiag.Native]::Rid
$file = [AgDiag.Native]::LibraryFileName

$profileName = 'release'
$outputFolder = 'release'
if ($Configuration -eq 'debug') {
    $profileName = 'dev'
    $outputFolder = 'debug'
}

& cargo build --locked --lib --profile $profileName --manifest-path (Join-Path -Path $repo -ChildPath 'Cargo.toml')
if ($LASTEXITCODE -ne 0) {
    throw "cargo build failed with exit code $LASTEXITCODE"
}

$targetDir = $env:CARGO_TARGET_DIR
if (-not $targetDir) {
    $targetDir = Join-Path -Path $repo -ChildPath 'target'
}
$built = Join-Path -Path (Join-Path -Path $targetDir -ChildPath $outputFolder) -ChildPath $file
$destination = Join-Path -Path (Join-Path -Path $module -ChildPath 'bin') -ChildPath $rid
New-Item -Path $destination -ItemType Directory -Force | Out-Null
Copy-Item -LiteralPath $built -Destination (Join-Path -Path $destination -ChildPath $file) -Force

Write-Host ('AgDiag module ready: {0}' -f $module)
Write-Host ('  native library: {0}' -f (Join-Path -Path $destination -ChildPath $file))
Write-Host ("  try: Import-Module '{0}'; Get-AgCheck" -f $module)
