<#
.SYNOPSIS
Builds the AgDiag module: the native library into bin/<rid>/, the interop into AgDiag.Native.dll,
and with -Package a Gallery-ready copy of the module.

.DESCRIPTION
Runs cargo build for the runtime of the PowerShell process that will load the library (an x64
PowerShell on ARM64 Windows loads only the win-x64 build, so that is what it builds), copies
agdiag.dll (libagdiag.so, libagdiag.dylib) to powershell/AgDiag/bin/<rid>/, and compiles
AgDiag.Native.cs into AgDiag.Native.dll with the C# 5 compiler of the .NET Framework (Windows) or
Mono's mcs (Linux, macOS). Works in Windows PowerShell 5.1 and PowerShell 7. Needs the Rust
toolchain (cargo, and rustup target add <triple> for a runtime other than the toolchain's host).

With -Package, also writes <Package>/AgDiag/: the module files, the interop, bin/<rid>/ for each
runtime, the licences, and a manifest whose FileList names every file.

.PARAMETER Configuration
release (default, optimized) or debug.

.PARAMETER Runtime
The runtime to build for: win-x64, win-arm64, linux-x64, linux-arm64, osx-x64 or osx-arm64.
Default: the runtime of this PowerShell process.

.PARAMETER Package
A folder to write the Gallery-ready module to, as <Package>/AgDiag/.

.PARAMETER RuntimesPath
With -Package: take every runtime's library from <RuntimesPath>/<rid>/ instead of building one
(the release workflow builds each runtime on its own machine).

.EXAMPLE
PS C:\src\agdiag> .\powershell\build.ps1
Builds the release library for this PowerShell and prepares .\powershell\AgDiag for Import-Module.

.EXAMPLE
PS C:\src\agdiag> .\powershell\build.ps1 -Configuration debug; Import-Module .\powershell\AgDiag -Force
Builds a debug library and imports the module.

.EXAMPLE
PS C:\src\agdiag> .\powershell\build.ps1 -Package .\dist
Builds, then writes the package to .\dist\AgDiag (Publish-Module -Path .\dist\AgDiag publishes it).
#>
[CmdletBinding()]
param(
    [ValidateSet('release', 'debug')]
    [string]$Configuration = 'release',

    [ValidateSet('win-x64', 'win-arm64', 'linux-x64', 'linux-arm64', 'osx-x64', 'osx-arm64')]
    [string]$Runtime,

    [string]$Package,

    [string]$RuntimesPath
)

$ErrorActionPreference = 'Stop'
$repo = Split-Path -Path $PSScriptRoot -Parent
$module = Join-Path -Path $PSScriptRoot -ChildPath 'AgDiag'
$onWindows = [System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT

if ($RuntimesPath -and -not $Package) {
    throw '-RuntimesPath goes with -Package.'
}

function Get-RuntimeOfThisProcess {
    # The process, not the machine: x64 PowerShell on ARM64 Windows reports AMD64 here.
    if ($onWindows) {
        switch ($env:PROCESSOR_ARCHITECTURE) {
            'AMD64' { return 'win-x64' }
            'ARM64' { return 'win-arm64' }
            default { throw ('AgDiag needs a 64-bit PowerShell (x64 or ARM64); this one is {0}.' -f $env:PROCESSOR_ARCHITECTURE) }
        }
    }
    # Only PowerShell 7 runs on Linux and macOS, and it has RuntimeInformation.
    $os = 'linux'
    if ([System.Runtime.InteropServices.RuntimeInformation]::IsOSPlatform([System.Runtime.InteropServices.OSPlatform]::OSX)) {
        $os = 'osx'
    }
    switch ([string][System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture) {
        'X64' { return '{0}-x64' -f $os }
        'Arm64' { return '{0}-arm64' -f $os }
        default { throw ('AgDiag has no build for {0}.' -f [System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture) }
    }
}

function Get-LibraryFileName([string]$Rid) {
    if ($Rid.StartsWith('win-')) { return 'agdiag.dll' }
    if ($Rid.StartsWith('osx-')) { return 'libagdiag.dylib' }
    return 'libagdiag.so'
}

$targets = @{
    'win-x64'     = 'x86_64-pc-windows-msvc'
    'win-arm64'   = 'aarch64-pc-windows-msvc'
    'linux-x64'   = 'x86_64-unknown-linux-gnu'
    'linux-arm64' = 'aarch64-unknown-linux-gnu'
    'osx-x64'     = 'x86_64-apple-darwin'
    'osx-arm64'   = 'aarch64-apple-darwin'
}

function Invoke-Native([string]$FilePath, [string[]]$ArgumentList) {
    # Native tools write progress to stderr. Where stderr is captured (the ISE, 2>&1, *>, jobs,
    # remoting), Windows PowerShell and PowerShell 7.0-7.1 turn each line into an error record,
    # which 'Stop' makes terminating at the first progress line: run them under 'Continue', show
    # their stderr as text, and judge them by their exit code.
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        & $FilePath @ArgumentList 2>&1 | ForEach-Object {
            if ($_ -is [System.Management.Automation.ErrorRecord]) { $_.Exception.Message } else { [string]$_ }
        } | Out-Host
        $exitCode = $LASTEXITCODE
    }
    finally {
        $ErrorActionPreference = $previous
    }
    if ($exitCode -ne 0) {
        throw ('{0} failed with exit code {1}.' -f $FilePath, $exitCode)
    }
}

function Get-ModuleVersion {
    $text = [System.IO.File]::ReadAllText((Join-Path -Path $module -ChildPath 'AgDiag.psd1'))
    $match = [regex]::Match($text, "(?m)^\s*ModuleVersion\s*=\s*'([0-9.]+)'")
    if (-not $match.Success) { throw 'No ModuleVersion in AgDiag.psd1.' }
    return $match.Groups[1].Value
}

function New-InteropAssembly([string]$Destination) {
    # C# 5 against .NET Framework 4.5, which Windows PowerShell 5.1 and PowerShell 7 both load.
    # The assembly version is the module version (AgDiag.psm1 compares them).
    $version = Get-ModuleVersion
    $info = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath ('agdiag-assembly-info-{0}.cs' -f $PID)
    $lines = @(
        ('[assembly: System.Reflection.AssemblyVersion("{0}.0")]' -f $version),
        ('[assembly: System.Reflection.AssemblyFileVersion("{0}.0")]' -f $version),
        ('[assembly: System.Reflection.AssemblyInformationalVersion("{0}")]' -f $version),
        '[assembly: System.Reflection.AssemblyTitle("AgDiag PowerShell interop")]'
    )
    [System.IO.File]::WriteAllLines($info, $lines)
    $source = Join-Path -Path $module -ChildPath 'AgDiag.Native.cs'
    try {
        if ($onWindows) {
            # The .NET Framework's own compiler (C# 5): the compiler of Windows PowerShell 5.1's Add-Type.
            $framework = Join-Path -Path $env:WINDIR -ChildPath 'Microsoft.NET\Framework64\v4.0.30319'
            $compiler = Join-Path -Path $framework -ChildPath 'csc.exe'
            if (-not (Test-Path -LiteralPath $compiler)) {
                throw ('The .NET Framework C# compiler is not at {0}: AgDiag needs .NET Framework 4.5.2 or later.' -f $compiler)
            }
            Invoke-Native -FilePath $compiler -ArgumentList @('/nologo', '/langversion:5', '/target:library', '/optimize+', '/warnaserror+', ('/out:{0}' -f $Destination), $source, $info)
        }
        else {
            if (-not (Get-Command -Name 'mcs' -ErrorAction SilentlyContinue)) {
                throw 'mcs (Mono''s C# compiler) is needed to compile the interop: apt-get install mono-mcs, or brew install mono.'
            }
            Invoke-Native -FilePath 'mcs' -ArgumentList @('-langversion:5', '-target:library', '-optimize+', '-warnaserror+', '-nologo', ('-out:{0}' -f $Destination), $source, $info)
        }
    }
    finally {
        Remove-Item -LiteralPath $info -ErrorAction SilentlyContinue
    }
}

if (-not $RuntimesPath) {
    if (-not $Runtime) {
        $Runtime = Get-RuntimeOfThisProcess
    }
    $triple = $targets[$Runtime]
    $file = Get-LibraryFileName -Rid $Runtime
    $profileName = 'release'
    $outputFolder = 'release'
    if ($Configuration -eq 'debug') {
        $profileName = 'dev'
        $outputFolder = 'debug'
    }
    # Always --target: the library is for the PowerShell that loads it, not for the toolchain's host.
    # (rustup target add <triple> once for another architecture; Windows builds link the C runtime
    # statically, .cargo/config.toml, so no Visual C++ Redistributable is needed.)
    Invoke-Native -FilePath 'cargo' -ArgumentList @('build', '--locked', '--lib', '--profile', $profileName, '--target', $triple, '--manifest-path', (Join-Path -Path $repo -ChildPath 'Cargo.toml'))

    $targetDir = $env:CARGO_TARGET_DIR
    if (-not $targetDir) {
        $targetDir = Join-Path -Path $repo -ChildPath 'target'
    }
    $built = Join-Path -Path (Join-Path -Path (Join-Path -Path $targetDir -ChildPath $triple) -ChildPath $outputFolder) -ChildPath $file
    $destination = Join-Path -Path (Join-Path -Path $module -ChildPath 'bin') -ChildPath $Runtime
    New-Item -Path $destination -ItemType Directory -Force | Out-Null
    Copy-Item -LiteralPath $built -Destination (Join-Path -Path $destination -ChildPath $file) -Force
}
New-InteropAssembly -Destination (Join-Path -Path $module -ChildPath 'AgDiag.Native.dll')

if (-not $Package) {
    Write-Host ('AgDiag module ready: {0}' -f $module)
    Write-Host ('  native library: {0}' -f (Join-Path -Path $destination -ChildPath $file))
    Write-Host ("  try: Import-Module '{0}'; Get-AgCheck" -f $module)
    return
}

# ---- the package: <Package>/AgDiag/, what Publish-Module uploads ----
New-Item -Path $Package -ItemType Directory -Force | Out-Null
$packageRoot = Join-Path -Path (Resolve-Path -LiteralPath $Package).ProviderPath -ChildPath 'AgDiag'
if (Test-Path -LiteralPath $packageRoot) {
    Remove-Item -LiteralPath $packageRoot -Recurse -Force
}
New-Item -Path $packageRoot -ItemType Directory | Out-Null
foreach ($name in @('AgDiag.psd1', 'AgDiag.psm1', 'AgDiag.format.ps1xml', 'AgDiag.Native.dll', 'Public', 'Private', 'en-US', 'sql')) {
    Copy-Item -LiteralPath (Join-Path -Path $module -ChildPath $name) -Destination $packageRoot -Recurse
}
foreach ($name in @('LICENSE-MIT', 'LICENSE-APACHE')) {
    Copy-Item -LiteralPath (Join-Path -Path $repo -ChildPath $name) -Destination $packageRoot
}
$packageBin = Join-Path -Path $packageRoot -ChildPath 'bin'
if ($RuntimesPath) {
    $folders = @(Get-ChildItem -LiteralPath $RuntimesPath -Directory)
    if ($folders.Count -eq 0) { throw ('No <rid> folders in {0}.' -f $RuntimesPath) }
    foreach ($folder in $folders) {
        $library = Join-Path -Path $folder.FullName -ChildPath (Get-LibraryFileName -Rid $folder.Name)
        if (-not (Test-Path -LiteralPath $library)) { throw ('{0} has no {1}.' -f $folder.FullName, (Split-Path -Path $library -Leaf)) }
        $to = Join-Path -Path $packageBin -ChildPath $folder.Name
        New-Item -Path $to -ItemType Directory -Force | Out-Null
        Copy-Item -LiteralPath $library -Destination $to
    }
}
else {
    $to = Join-Path -Path $packageBin -ChildPath $Runtime
    New-Item -Path $to -ItemType Directory -Force | Out-Null
    Copy-Item -LiteralPath (Join-Path -Path $destination -ChildPath $file) -Destination $to
}

# FileList: every file of the package, relative, with / (which Windows, Linux and macOS all read).
$prefix = $packageRoot.Length + 1
$files = @(Get-ChildItem -LiteralPath $packageRoot -Recurse -File | ForEach-Object { $_.FullName.Substring($prefix).Replace('\', '/') } | Sort-Object -CaseSensitive)
$fileList = ($files | ForEach-Object { "'{0}'" -f $_ }) -join ', '
$manifest = Join-Path -Path $packageRoot -ChildPath 'AgDiag.psd1'
$text = [System.IO.File]::ReadAllText($manifest)
$fileListLine = [regex]'(?m)^(\s*FileList\s*=\s*).*$'
if ($fileListLine.Matches($text).Count -ne 1) { throw 'The manifest needs exactly one FileList line.' }
$text = $fileListLine.Replace($text, ('${{1}}@({0})' -f $fileList))
if ($env:AGDIAG_PROJECT_URI) {
    # Pinned to the commit built: links that resolve.
    $revision = $env:AGDIAG_PROJECT_REVISION
    if (-not $revision) { $revision = 'main' }
    $links = "`n            ProjectUri   = '{0}'`n            LicenseUri   = '{0}/blob/{1}/LICENSE-MIT'" -f $env:AGDIAG_PROJECT_URI, $revision
    $text = ([regex]'(?m)^(\s*PSData\s*=\s*@\{)').Replace($text, ('$1' + $links), 1)
}
[System.IO.File]::WriteAllText($manifest, $text, (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false))
Write-Host ('AgDiag package ready: {0}' -f $packageRoot)
