// AgDiag.Native.cs: the AgDiag module's binding to the native library (include/agdiag.h).
//
// Compiled once, at build time, into AgDiag.Native.dll (powershell/build.sh with Mono's
// `mcs -langversion:5`, powershell/build.ps1 with the .NET Framework's own C# 5 csc.exe),
// which the manifest loads (RequiredAssemblies) in Windows PowerShell 5.1 (.NET Framework 4.5.2+)
// and in PowerShell 7 (.NET). So: C# 5 syntax only and .NET Framework 4.5 APIs only: none of .NET
// Core's UTF-8 marshalling helpers, its native library loader class, RuntimeInformation or Span.
// tests/mono_interop.rs lints for them (it holds the exact list), because Mono has several of them
// and would not notice.
//
// The library is loaded by absolute path (LoadLibraryExW/GetProcAddress on Windows, dlopen/dlsym
// elsewhere) and every export is bound on first use, so an older library that lacks an export
// (e.g. the live-collection job API) fails only the command that needs it, with a message naming it.
// Strings go in as NUL-terminated UTF-8 byte[] and come out as IntPtr, read byte by byte and freed
// with agdiag_string_free in a finally. A NULL result becomes an AgDiagException carrying
// agdiag_last_error(), read on the same thread right after the failing call (it is thread-local).

using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace AgDiag
{
    /// <summary>An error reported by the AgDiag library (the text of agdiag_last_error) or by loading it.</summary>
    public class AgDiagException : Exception
    {
        private readonly string function;

        public AgDiagException(string message) : base(message) { }

        public AgDiagException(string message, string function) : base(message)
        {
            this.function = function;
        }

        public AgDiagException(string message, Exception inner) : base(message, inner) { }

        /// <summary>The native function that failed, or null when loading failed.</summary>
        public string Function { get { return function; } }
    }

    /// <summary>Owns an AgdiagReport*; frees it once, even if nobody calls Dispose.</summary>
    internal sealed class ReportHandle : SafeHandle
    {
        internal ReportHandle(IntPtr report) : base(IntPtr.Zero, true)
        {
            SetHandle(report);
        }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            Native.FreeReport(handle);
            return true;
        }
    }

    /// <summary>Owns an AgdiagJob*; freeing a running job cancels it (issue 3's contract).</summary>
    internal sealed class JobHandle : SafeHandle
    {
        internal JobHandle(IntPtr job) : base(IntPtr.Zero, true)
        {
            SetHandle(job);
        }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            Native.FreeJob(handle);
            return true;
        }
    }

    /// <summary>An analyzed snapshot (AgdiagReport). Safe to read from several threads at once.</summary>
    public sealed class Report : IDisposable
    {
        private readonly ReportHandle handle;

        internal Report(IntPtr report)
        {
            handle = new ReportHandle(report);
        }

        /// <summary>Where the snapshot came from (a file or instance names); shown by ToString.</summary>
        public string Source { get; set; }

        /// <summary>The findings as JSON (format agdiag.findings/1).</summary>
        public string FindingsJson()
        {
            return Native.WithHandle(handle, "agdiag_report_findings_json",
                delegate(IntPtr h) { return Native.Bind<Native.HandleFn>("agdiag_report_findings_json")(h); });
        }

        /// <summary>The incident timeline as JSON: every replica's AlwaysOn_health events of the
        /// 7 days before collected_at in UTC order, and the failovers read from them.</summary>
        public string TimelineJson()
        {
            return Native.WithHandle(handle, "agdiag_report_timeline_json",
                delegate(IntPtr h) { return Native.Bind<Native.HandleFn>("agdiag_report_timeline_json")(h); });
        }

        /// <summary>The SQLCMD-mode fix script; options may be null or {"findings": [...], ...}.</summary>
        public string FixScript(string optionsJson)
        {
            byte[] options = Native.Utf8(optionsJson, "optionsJson");
            return Native.WithHandle(handle, "agdiag_report_fix_script",
                delegate(IntPtr h) { return Native.Bind<Native.HandleStrFn>("agdiag_report_fix_script")(h, options); });
        }

        /// <summary>The report as one self-contained HTML page; options may be null or {"title": "..."}.</summary>
        public string Html(string optionsJson)
        {
            byte[] options = Native.Utf8(optionsJson, "optionsJson");
            return Native.WithHandle(handle, "agdiag_report_html",
                delegate(IntPtr h) { return Native.Bind<Native.HandleStrFn>("agdiag_report_html")(h, options); });
        }

        /// <summary>The snapshot this report was made from, as JSON.</summary>
        public string SnapshotJson()
        {
            return Native.WithHandle(handle, "agdiag_report_snapshot_json",
                delegate(IntPtr h) { return Native.Bind<Native.HandleFn>("agdiag_report_snapshot_json")(h); });
        }

        /// <summary>Findings (JSON array) for a client connection string against this report's AG.</summary>
        public string CheckConnectionString(string connectionString)
        {
            byte[] text = Native.Utf8(connectionString, "connectionString");
            if (text == null) throw new ArgumentNullException("connectionString");
            return Native.WithHandle(handle, "agdiag_check_connection_string",
                delegate(IntPtr h) { return Native.Bind<Native.StrHandleFn>("agdiag_check_connection_string")(text, h); });
        }

        public bool IsDisposed { get { return handle.IsClosed; } }

        public void Dispose()
        {
            handle.Dispose();
        }

        public override string ToString()
        {
            string text = string.IsNullOrEmpty(Source) ? "AgDiag report" : "AgDiag report of " + Source;
            return handle.IsClosed ? text + " (disposed)" : text;
        }
    }

    /// <summary>A live collection running in the library (agdiag_job_*): poll, wait, cancel, take the report.</summary>
    public sealed class Job : IDisposable
    {
        private readonly JobHandle handle;

        internal Job(IntPtr job)
        {
            handle = new JobHandle(job);
        }

        /// <summary>Progress as JSON (instances done/total, current step, elapsed).</summary>
        public string ProgressJson()
        {
            return Native.WithHandle(handle, "agdiag_job_progress_json",
                delegate(IntPtr h) { return Native.Bind<Native.HandleFn>("agdiag_job_progress_json")(h); });
        }

        /// <summary>Waits up to timeoutMs; true when the job has finished. Short waits keep Ctrl+C responsive.</summary>
        public bool Wait(int timeoutMs)
        {
            if (timeoutMs < 0) throw new ArgumentOutOfRangeException("timeoutMs");
            WaitFn wait = Native.Bind<WaitFn>("agdiag_job_wait");
            int state;
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                state = wait(handle.DangerousGetHandle(), timeoutMs);
                if (state < 0) throw Native.LastError("agdiag_job_wait");
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
            return state == 1;
        }

        /// <summary>Asks the job to stop; returns at once. Safe to call more than once or after it finished.</summary>
        public void Cancel()
        {
            if (handle.IsClosed) return;
            HandleVoidFn cancel = Native.Bind<HandleVoidFn>("agdiag_job_cancel");
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                cancel(handle.DangerousGetHandle());
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }

        /// <summary>The report of a finished job (a new handle each call; dispose it).</summary>
        public Report TakeReport()
        {
            HandleFn take = Native.Bind<HandleFn>("agdiag_job_report");
            bool added = false;
            IntPtr report;
            try
            {
                handle.DangerousAddRef(ref added);
                report = take(handle.DangerousGetHandle());
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
            if (report == IntPtr.Zero) throw Native.LastError("agdiag_job_report");
            return new Report(report);
        }

        public void Dispose()
        {
            handle.Dispose();
        }

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int WaitFn(IntPtr job, long timeoutMs); // int32_t agdiag_job_wait(job, int64_t)

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void HandleVoidFn(IntPtr job);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate IntPtr HandleFn(IntPtr job);
    }

    /// <summary>Loads the AgDiag library and calls it. All members are thread-safe.</summary>
    public static class Native
    {
        // Delegate shapes of the exports (Cdecl; no bool crosses the boundary).
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate IntPtr NoArgFn();

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate IntPtr IntFn(int number);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate IntPtr StrFn(byte[] text);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate IntPtr StrStrFn(byte[] first, byte[] second);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate IntPtr HandleFn(IntPtr handle);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate IntPtr HandleStrFn(IntPtr handle, byte[] text);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate IntPtr StrHandleFn(byte[] text, IntPtr handle);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void FreeFn(IntPtr pointer);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate int UnameFn(byte[] buffer);

        internal delegate IntPtr HandleCall(IntPtr handle);

        private static readonly object Gate = new object();
        private static readonly Dictionary<string, Delegate> Bound = new Dictionary<string, Delegate>();
        private static string libraryPath;
        private static IntPtr library;
        private static string rid;
        // The module folder DefaultLibraryPath was asked about: the "not found" message lists what it ships.
        private static string moduleRoot;

        /// <summary>The library file name on this OS.</summary>
        public static string LibraryFileName
        {
            get
            {
                string os = Rid.Substring(0, Rid.IndexOf('-'));
                if (os == "win") return "agdiag.dll";
                if (os == "osx") return "libagdiag.dylib";
                return "libagdiag.so";
            }
        }

        /// <summary>win-x64, win-arm64, linux-x64, linux-arm64, osx-x64 or osx-arm64 for this process.</summary>
        public static string Rid
        {
            get
            {
                lock (Gate)
                {
                    if (rid == null) rid = DetectRid();
                    return rid;
                }
            }
        }

        /// <summary>Where the module keeps the library for this process: moduleRoot/bin/RID/file.</summary>
        public static string DefaultLibraryPath(string moduleRoot)
        {
            if (moduleRoot == null) throw new ArgumentNullException("moduleRoot");
            string root = Path.GetFullPath(moduleRoot);
            lock (Gate) { Native.moduleRoot = root; }
            return Path.Combine(Path.Combine(Path.Combine(root, "bin"), Rid), LibraryFileName);
        }

        /// <summary>The library path in use (set by Configure), or null.</summary>
        public static string LibraryPath
        {
            get { lock (Gate) { return libraryPath; } }
        }

        /// <summary>True once the library has been loaded into this process.</summary>
        public static bool IsLoaded
        {
            get { lock (Gate) { return library != IntPtr.Zero; } }
        }

        /// <summary>
        /// Chooses the library file (absolute path). Loading happens on first use. Once loaded, a
        /// library cannot be unloaded from the process, so another path is refused.
        /// </summary>
        public static void Configure(string path)
        {
            if (string.IsNullOrEmpty(path)) throw new ArgumentNullException("path");
            string full = Path.GetFullPath(path);
            lock (Gate)
            {
                if (library != IntPtr.Zero && !string.Equals(full, libraryPath, StringComparison.Ordinal))
                {
                    throw new AgDiagException(string.Format(
                        "The AgDiag library is already loaded from '{0}' in this process and cannot be replaced by '{1}'. Start a new PowerShell session to use another copy.",
                        libraryPath, full));
                }
                libraryPath = full;
            }
        }

        /// <summary>Whether the loaded library exports a function (e.g. agdiag_job_start).</summary>
        public static bool HasExport(string name)
        {
            IntPtr handle = Library();
            return Symbol(handle, name) != IntPtr.Zero;
        }

        public static string Version()
        {
            // Static string owned by the library: read, never freed.
            IntPtr version = Bind<NoArgFn>("agdiag_version")();
            if (version == IntPtr.Zero) throw LastError("agdiag_version");
            return ReadUtf8(version);
        }

        /// <summary>The catalog of checks (JSON array).</summary>
        public static string ChecksJson()
        {
            return TakeString(Bind<NoArgFn>("agdiag_checks_json")(), "agdiag_checks_json");
        }

        /// <summary>What a SQL Server error number means and which checks diagnose it (JSON).</summary>
        public static string ExplainErrorJson(int number)
        {
            return TakeString(Bind<IntFn>("agdiag_explain_error_json")(number), "agdiag_explain_error_json");
        }

        /// <summary>Analyzes a snapshot (agdiag.snapshot/1). optionsJson may be null.</summary>
        public static Report Analyze(string snapshotJson, string optionsJson)
        {
            byte[] snapshot = Utf8(snapshotJson, "snapshotJson");
            if (snapshot == null) throw new ArgumentNullException("snapshotJson");
            byte[] options = Utf8(optionsJson, "optionsJson");
            IntPtr report = Bind<StrStrFn>("agdiag_analyze")(snapshot, options);
            if (report == IntPtr.Zero) throw LastError("agdiag_analyze");
            return new Report(report);
        }

        /// <summary>Collects from live servers and analyzes, blocking until done.</summary>
        public static Report Run(string requestJson)
        {
            byte[] request = Utf8(requestJson, "requestJson");
            if (request == null) throw new ArgumentNullException("requestJson");
            IntPtr report = Bind<StrFn>("agdiag_run")(request);
            if (report == IntPtr.Zero) throw LastError("agdiag_run");
            return new Report(report);
        }

        /// <summary>Starts a live collection in the library and returns at once.</summary>
        public static Job StartJob(string requestJson)
        {
            byte[] request = Utf8(requestJson, "requestJson");
            if (request == null) throw new ArgumentNullException("requestJson");
            IntPtr job = Bind<StrFn>("agdiag_job_start")(request);
            if (job == IntPtr.Zero) throw LastError("agdiag_job_start");
            return new Job(job);
        }

        // ---- strings ----

        /// <summary>NUL-terminated UTF-8; null stays null (a NULL pointer for optional arguments).</summary>
        internal static byte[] Utf8(string text, string name)
        {
            if (text == null) return null;
            if (text.IndexOf('\0') >= 0)
                throw new ArgumentException("The text contains a NUL character, which cannot be passed to the AgDiag library.", name);
            int length = Encoding.UTF8.GetByteCount(text);
            byte[] bytes = new byte[length + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Reads a NUL-terminated UTF-8 string the caller does not own.</summary>
        public static string ReadUtf8(IntPtr text)
        {
            if (text == IntPtr.Zero) return null;
            int length = 0;
            while (Marshal.ReadByte(text, length) != 0) length++;
            byte[] bytes = new byte[length];
            Marshal.Copy(text, bytes, 0, length);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Reads a string the library returned and frees it; NULL becomes the last error.</summary>
        internal static string TakeString(IntPtr text, string function)
        {
            if (text == IntPtr.Zero) throw LastError(function);
            try
            {
                return ReadUtf8(text);
            }
            finally
            {
                Bind<FreeFn>("agdiag_string_free")(text);
            }
        }

        /// <summary>The library's last error on this thread as an exception.</summary>
        internal static AgDiagException LastError(string function)
        {
            string message = ReadUtf8(Bind<NoArgFn>("agdiag_last_error")());
            if (string.IsNullOrEmpty(message)) message = function + " failed without an error message";
            return new AgDiagException(message, function);
        }

        /// <summary>Calls the library with a handle kept alive (not freed by another thread) for the call.</summary>
        internal static string WithHandle(SafeHandle handle, string function, HandleCall call)
        {
            if (handle.IsClosed) throw new ObjectDisposedException(handle.GetType().Name, "The AgDiag object was disposed.");
            bool added = false;
            IntPtr text;
            try
            {
                handle.DangerousAddRef(ref added);
                text = call(handle.DangerousGetHandle());
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
            return TakeString(text, function);
        }

        internal static void FreeReport(IntPtr report)
        {
            Bind<FreeFn>("agdiag_report_free")(report);
        }

        internal static void FreeJob(IntPtr job)
        {
            Bind<FreeFn>("agdiag_job_free")(job);
        }

        // ---- binding ----

        /// <summary>The delegate for an export, resolved on first use and cached.</summary>
        internal static T Bind<T>(string name) where T : class
        {
            lock (Gate)
            {
                Delegate bound;
                if (!Bound.TryGetValue(name, out bound))
                {
                    IntPtr handle = Library();
                    IntPtr address = Symbol(handle, name);
                    if (address == IntPtr.Zero)
                    {
                        throw new AgDiagException(string.Format(
                            "The AgDiag library at '{0}' does not export {1}: it comes from an older AgDiag than this module. Reinstall the module (Update-Module AgDiag, or Install-Module AgDiag -Force) and start a new PowerShell session.",
                            libraryPath, name), name);
                    }
                    bound = Marshal.GetDelegateForFunctionPointer(address, typeof(T));
                    Bound[name] = bound;
                }
                return bound as T;
            }
        }

        private static IntPtr Library()
        {
            lock (Gate)
            {
                if (library != IntPtr.Zero) return library;
                if (libraryPath == null)
                    throw new AgDiagException("No AgDiag library configured: call [AgDiag.Native]::Configure(path) (Import-Module AgDiag does this).");
                if (!File.Exists(libraryPath)) throw new AgDiagException(NotFoundMessage());
                string error;
                IntPtr handle = Open(libraryPath, out error);
                if (handle == IntPtr.Zero)
                {
                    throw new AgDiagException(string.Format(
                        "The AgDiag native library at '{0}' could not be loaded: {1}. It must be the {2} build ({3}-bit); a build for another OS or architecture cannot be loaded.",
                        libraryPath, error, Rid, IntPtr.Size * 8));
                }
                library = handle;
                return library;
            }
        }

        /// <summary>
        /// Why the library file is missing, for someone who installed the package (which ships a
        /// library per runtime in bin/RID/), not someone with the sources and a Rust toolchain.
        /// </summary>
        private static string NotFoundMessage()
        {
            string root = moduleRoot;
            string bin = root == null ? null : Path.Combine(root, "bin");
            bool inModule = bin != null && libraryPath.StartsWith(bin + Path.DirectorySeparatorChar, StringComparison.Ordinal);
            if (!inModule)
            {
                return string.Format(
                    "The AgDiag native library was not found at '{0}' (this process is {1}), the path $env:AGDIAG_LIBRARY or Configure gave. Point it at the {1} build of {2}, or remove it to use the module's own bin/{1}/{2}.",
                    libraryPath, Rid, LibraryFileName);
            }
            List<string> shipped = new List<string>();
            if (Directory.Exists(bin))
            {
                foreach (string folder in Directory.GetDirectories(bin))
                {
                    if (Directory.GetFiles(folder).Length > 0) shipped.Add(Path.GetFileName(folder));
                }
            }
            shipped.Sort(StringComparer.Ordinal);
            string has = shipped.Count == 0 ? "no runtime at all" : string.Join(", ", shipped.ToArray());
            string message = string.Format(
                "The AgDiag native library for {0} was not found at '{1}'. The AgDiag package ships the library of every runtime it supports in bin/<runtime>/; this copy of the module has {2}. ",
                Rid, libraryPath, has);
            if (File.Exists(Path.Combine(root, "AgDiag.Native.cs")))
            {
                // A source checkout (the package does not ship the C# source): the library is built there.
                return message + string.Format("This is a source checkout: build the {0} library with powershell/build.sh (Linux, macOS) or powershell/build.ps1 (Windows).", Rid);
            }
            if (shipped.Count > 0)
            {
                return message + string.Format(
                    "If {0} is missing from a copy that has other runtimes, the files were copied incompletely: reinstall with Install-Module AgDiag -Force. If the package itself has no {0} build, AgDiag does not support this platform yet.",
                    Rid);
            }
            return message + "Reinstall it with Install-Module AgDiag -Force: the bin folder did not arrive with the module.";
        }

        // ---- platform ----

        private static bool IsWindows
        {
            get { return Environment.OSVersion.Platform == PlatformID.Win32NT; }
        }

        private static string DetectRid()
        {
            if (IntPtr.Size != 8)
                throw new AgDiagException("AgDiag needs a 64-bit PowerShell process; this one is 32-bit.");
            if (IsWindows)
            {
                // Describes this process: an x64 process emulated on ARM64 Windows sees AMD64, and
                // that process can load only the x64 library.
                string arch = Environment.GetEnvironmentVariable("PROCESSOR_ARCHITECTURE") ?? "";
                return "win-" + NormalizeArch(arch);
            }
            string sysname;
            string machine;
            Uname(out sysname, out machine);
            string os = sysname == "Darwin" ? "osx" : "linux";
            return os + "-" + NormalizeArch(machine);
        }

        private static string NormalizeArch(string arch)
        {
            string a = arch.Trim().ToLowerInvariant();
            if (a == "amd64" || a == "x86_64" || a == "x64") return "x64";
            if (a == "arm64" || a == "aarch64") return "arm64";
            throw new AgDiagException(string.Format(
                "AgDiag has no native library for processor architecture '{0}' (supported: x64, arm64).", arch));
        }

        /// <summary>uname(2) through dlsym, so no libc name has to be guessed per OS.</summary>
        private static void Uname(out string sysname, out string machine)
        {
            IntPtr self = DlOpen(null);
            IntPtr address = self == IntPtr.Zero ? IntPtr.Zero : DlSym(self, "uname");
            // macOS may not search the main program's dependencies from that handle: RTLD_DEFAULT (-2) does.
            if (address == IntPtr.Zero && useMacDl) address = DlSym(new IntPtr(-2), "uname");
            if (address == IntPtr.Zero) throw new AgDiagException("Cannot determine the OS and architecture: uname is not available.");
            UnameFn uname = (UnameFn)Marshal.GetDelegateForFunctionPointer(address, typeof(UnameFn));
            // struct utsname: Linux has 6 fields of 65 bytes, macOS 5 fields of 256; machine is the 5th.
            byte[] buffer = new byte[8192];
            if (uname(buffer) != 0) throw new AgDiagException("Cannot determine the OS and architecture: uname failed.");
            sysname = CString(buffer, 0);
            machine = CString(buffer, sysname == "Darwin" ? 4 * 256 : 4 * 65);
        }

        private static string CString(byte[] buffer, int offset)
        {
            int end = offset;
            while (end < buffer.Length && buffer[end] != 0) end++;
            return Encoding.ASCII.GetString(buffer, offset, end - offset);
        }

        private static IntPtr Open(string path, out string error)
        {
            error = null;
            if (IsWindows)
            {
                // LOAD_WITH_ALTERED_SEARCH_PATH: the DLLs agdiag.dll depends on are looked for in
                // its own folder first (as .NET Core's library loader does for an absolute path).
                IntPtr handle = Kernel32.LoadLibraryExW(path, IntPtr.Zero, LOAD_WITH_ALTERED_SEARCH_PATH);
                if (handle == IntPtr.Zero)
                {
                    int code = Marshal.GetLastWin32Error();
                    string hint = "";
                    if (code == 193) hint = " (the file is not a library for this architecture)";
                    if (code == 126) hint = " (a DLL it depends on is missing: install the Visual C++ Redistributable (vcruntime140.dll) or build with static CRT)";
                    error = string.Format("LoadLibraryExW error {0}: {1}{2}", code, new System.ComponentModel.Win32Exception(code).Message, hint);
                }
                return handle;
            }
            IntPtr lib = DlOpen(path);
            if (lib == IntPtr.Zero) error = DlError();
            return lib;
        }

        private static IntPtr Symbol(IntPtr handle, string name)
        {
            return IsWindows ? Kernel32.GetProcAddress(handle, name) : DlSym(handle, name);
        }

        private const int RTLD_NOW = 2;
        private const uint LOAD_WITH_ALTERED_SEARCH_PATH = 0x00000008;

        // libdl.so.2 on Linux (glibc keeps it as a compatibility name since 2.34); libSystem on macOS.
        private static bool useMacDl;

        private static IntPtr DlOpen(string path)
        {
            // The path as UTF-8 bytes (what both dlopen implementations expect), null for the program itself.
            byte[] file = Utf8(path, "path");
            if (!useMacDl)
            {
                try { return LinuxDl.dlopen(file, RTLD_NOW); }
                catch (DllNotFoundException) { useMacDl = true; }
                catch (EntryPointNotFoundException) { useMacDl = true; }
            }
            return MacDl.dlopen(file, RTLD_NOW);
        }

        private static IntPtr DlSym(IntPtr handle, string name)
        {
            return useMacDl ? MacDl.dlsym(handle, name) : LinuxDl.dlsym(handle, name);
        }

        private static string DlError()
        {
            string text = ReadUtf8(useMacDl ? MacDl.dlerror() : LinuxDl.dlerror());
            return text ?? "dlopen failed";
        }

        private static class Kernel32
        {
            [DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true, ExactSpelling = true)]
            internal static extern IntPtr LoadLibraryExW(string path, IntPtr file, uint flags);

            [DllImport("kernel32.dll", CharSet = CharSet.Ansi, SetLastError = true, ExactSpelling = true, BestFitMapping = false)]
            internal static extern IntPtr GetProcAddress(IntPtr module, string name);
        }

        private static class LinuxDl
        {
            [DllImport("libdl.so.2", CharSet = CharSet.Ansi, BestFitMapping = false)]
            internal static extern IntPtr dlopen(byte[] path, int flags);

            [DllImport("libdl.so.2", CharSet = CharSet.Ansi, BestFitMapping = false)]
            internal static extern IntPtr dlsym(IntPtr handle, string name);

            [DllImport("libdl.so.2")]
            internal static extern IntPtr dlerror();
        }

        private static class MacDl
        {
            [DllImport("/usr/lib/libSystem.dylib", CharSet = CharSet.Ansi, BestFitMapping = false)]
            internal static extern IntPtr dlopen(byte[] path, int flags);

            [DllImport("/usr/lib/libSystem.dylib", CharSet = CharSet.Ansi, BestFitMapping = false)]
            internal static extern IntPtr dlsym(IntPtr handle, string name);

            [DllImport("/usr/lib/libSystem.dylib")]
            internal static extern IntPtr dlerror();
        }
    }
}
