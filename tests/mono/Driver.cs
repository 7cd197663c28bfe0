// Test driver for powershell/AgDiag/AgDiag.Native.cs, compiled with it by `mcs -langversion:5` and
// run with `mono` by tests/mono_interop.rs against the freshly built library. Prints one line per
// case and ends with "N passed, N failed" (exit code 1 when anything failed).
//
// Usage: Driver.exe <library> <snapshots-dir> <module-root> [<request.json> <blackhole-request.json> <password>]
// The two requests (written by the Rust test) collect from its test TDS servers: a healthy
// 3-replica AG, and a server that accepts connections and never answers.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using AgDiag;

public static class Driver
{
    private static int passed;
    private static int failed;

    private const string Pinned = "{\"generated_at\": \"2026-11-22T10:20:00Z\"}";

    private static string library;
    private static string snapshots;
    private static string moduleRoot;
    private static string request;
    private static string blackholeRequest;
    private static string password;

    public static int Main(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: Driver.exe <library> <snapshots-dir> <module-root> [<request.json> <blackhole-request.json> <password>]");
            return 2;
        }
        library = args[0];
        snapshots = args[1];
        moduleRoot = args[2];
        if (args.Length >= 6)
        {
            request = File.ReadAllText(args[3], Encoding.UTF8);
            blackholeRequest = File.ReadAllText(args[4], Encoding.UTF8);
            password = args[5];
        }

        // Before the real library is configured: the load errors name the file looked for.
        Case("missing library names the path", MissingLibrary);
        Case("unloadable library names the path", UnloadableLibrary);
        Case("a package without this runtime says which and what it ships", MissingRuntimeInPackage);
        Native.Configure(library);

        Case("rid and default path", RidAndDefaultPath);
        Case("the interop assembly's version is the module's (AgDiag.psm1 compares them)", AssemblyVersion);
        Case("version", VersionCase);
        Case("checks catalog", ChecksCatalog);
        Case("explain unknown error -> exception", ExplainUnknown);
        Case("analyze healthy example", AnalyzeHealthy);
        Case("analyze broken example: findings and fix script", AnalyzeBroken);
        Case("fix script for selected findings only", FixScriptSelection);
        Case("timeline of the failover example", TimelineFailover);
        Case("HTML report: a page with every replica, options checked", HtmlReport);
        Case("invalid JSON -> exception with last error", InvalidJson);
        Case("wrong format -> exception", WrongFormat);
        Case("NUL in input is refused before the call", NulInInput);
        Case("disposed report -> ObjectDisposedException", DisposedReport);
        Case("non-ASCII round trip (CONTOSO\\J\u00fcrgen)", NonAscii);
        Case("connection string check returns JSON array", ConnectionString);
        Case("reconfigure to another path after load is refused", Reconfigure);
        Case("8 threads at once", EightThreads);
        Case("10 000 calls with stable memory", StableMemory);
        if (request != null)
        {
            Case("job API: progress, wait, report from the test server", JobAgainstServer);
            Case("job API: cancel returns promptly", JobCancel);
            Case("agdiag_run blocking collection", RunBlocking);
        }
        else
        {
            Case("job API absent or unreachable -> clear error", JobWithoutServer);
        }

        Console.WriteLine("{0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }

    private static void Case(string name, Action body)
    {
        Stopwatch watch = Stopwatch.StartNew();
        try
        {
            body();
            passed++;
            Console.WriteLine("ok   {0} ({1} ms)", name, watch.ElapsedMilliseconds);
        }
        catch (Exception e)
        {
            failed++;
            Console.WriteLine("FAIL {0}: {1}", name, e);
        }
    }

    private static void Assert(bool condition, string message)
    {
        if (!condition) throw new Exception("assertion failed: " + message);
    }

    private static void Contains(string text, string expected)
    {
        if (text == null || text.IndexOf(expected, StringComparison.Ordinal) < 0)
        {
            string shown = text == null ? "(null)" : (text.Length > 600 ? text.Substring(0, 600) + "..." : text);
            throw new Exception(string.Format("expected to contain <{0}>, got: {1}", expected, shown));
        }
    }

    private static T Throws<T>(Action body) where T : Exception
    {
        try
        {
            body();
        }
        catch (T e)
        {
            return e;
        }
        throw new Exception("expected " + typeof(T).Name + ", nothing was thrown");
    }

    private static string Read(string file)
    {
        return File.ReadAllText(Path.Combine(snapshots, file), Encoding.UTF8);
    }

    // ---- cases ----

    private static void MissingLibrary()
    {
        string missing = Path.Combine(Path.GetTempPath(), "agdiag-no-such-dir", "libagdiag.so");
        Native.Configure(missing);
        AgDiagException e = Throws<AgDiagException>(delegate { Native.Version(); });
        Contains(e.Message, missing);
        Contains(e.Message, "not found");
    }

    private static void UnloadableLibrary()
    {
        // A file that is not a loadable library for this process, like a build for another OS/arch.
        string bogus = Path.Combine(Path.GetTempPath(), "agdiag-bogus-" + Process.GetCurrentProcess().Id + ".so");
        File.WriteAllBytes(bogus, new byte[] { 0x4d, 0x5a, 0x90, 0x00, 1, 2, 3, 4 });
        try
        {
            Native.Configure(bogus);
            AgDiagException e = Throws<AgDiagException>(delegate { Native.Version(); });
            Contains(e.Message, bogus);
            Contains(e.Message, "could not be loaded");
            Contains(e.Message, Native.Rid);
            Assert(!Native.IsLoaded, "a failed load leaves nothing loaded");
        }
        finally
        {
            File.Delete(bogus);
        }
    }

    private static void MissingRuntimeInPackage()
    {
        // An installed package (no C# source beside it) that ships only another runtime's library.
        string root = Path.Combine(Path.GetTempPath(), "agdiag-package-" + Process.GetCurrentProcess().Id);
        string other = Path.Combine(Path.Combine(root, "bin"), "osx-arm64");
        Directory.CreateDirectory(other);
        File.WriteAllBytes(Path.Combine(other, "libagdiag.dylib"), new byte[] { 0 });
        try
        {
            string path = Native.DefaultLibraryPath(root);
            Native.Configure(path);
            AgDiagException e = Throws<AgDiagException>(delegate { Native.Version(); });
            Contains(e.Message, path);
            Contains(e.Message, "for " + Native.Rid + " was not found");
            Contains(e.Message, "osx-arm64");
            Contains(e.Message, "Install-Module AgDiag -Force");
            Assert(e.Message.IndexOf("build.sh", StringComparison.Ordinal) < 0, "a package user is not told to run a build script: " + e.Message);
            Assert(!Native.IsLoaded, "nothing loaded");
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    private static void AssemblyVersion()
    {
        string manifest = File.ReadAllText(Path.Combine(moduleRoot, "AgDiag.psd1"), Encoding.UTF8);
        System.Text.RegularExpressions.Match match = System.Text.RegularExpressions.Regex.Match(
            manifest, "(?m)^\\s*ModuleVersion\\s*=\\s*'([0-9.]+)'");
        Assert(match.Success, "ModuleVersion in AgDiag.psd1");
        Version expected = new Version(match.Groups[1].Value + ".0");
        Version actual = typeof(Native).Assembly.GetName().Version;
        Assert(actual == expected, "assembly version " + actual + ", module version " + expected);
        Assert(typeof(Native).Assembly.Location.EndsWith("AgDiag.Native.dll", StringComparison.Ordinal), "loaded from the compiled assembly: " + typeof(Native).Assembly.Location);
    }

    private static void RidAndDefaultPath()
    {
        string rid = Native.Rid;
        Assert(rid == "linux-x64" || rid == "linux-arm64", "rid on this Linux machine: " + rid);
        string expected = Path.Combine(Path.Combine(Path.Combine(Path.GetFullPath(moduleRoot), "bin"), rid), "libagdiag.so");
        Assert(Native.DefaultLibraryPath(moduleRoot) == expected, Native.DefaultLibraryPath(moduleRoot) + " != " + expected);
    }

    private static void VersionCase()
    {
        string version = Native.Version();
        Assert(System.Text.RegularExpressions.Regex.IsMatch(version, "^\\d+\\.\\d+\\.\\d+"), "version " + version);
        Assert(Native.IsLoaded, "loaded after first call");
        Assert(Native.LibraryPath == Path.GetFullPath(library), "library path");
    }

    private static void ChecksCatalog()
    {
        string json = Native.ChecksJson();
        Assert(json.TrimStart().StartsWith("["), "catalog is an array");
        Contains(json, "\"hadr.disabled\"");
        Contains(json, "\"accounts.login_missing\"");
    }

    private static void ExplainUnknown()
    {
        AgDiagException e = Throws<AgDiagException>(delegate { Native.ExplainErrorJson(-5); });
        Contains(e.Message, "-5");
        Assert(e.Function == "agdiag_explain_error_json", "function " + e.Function);
    }

    private static void AnalyzeHealthy()
    {
        using (Report report = Native.Analyze(Read("healthy-3-replica.json"), Pinned))
        {
            string findings = report.FindingsJson();
            Contains(findings, "\"format\": \"agdiag.findings/1\"");
            Contains(findings, "\"generated_at\": \"2026-11-22T10:20:00Z\"");
            Contains(findings, "\"errors\": 0");
            Contains(findings, "\"warnings\": 0");
        }
    }

    private static void TimelineFailover()
    {
        using (Report report = Native.Analyze(Read("failover-3-replica.json"), Pinned))
        {
            string timeline = report.TimelineJson();
            Contains(timeline, "\"until\": \"2026-11-22T10:15:00.000Z\"");
            Contains(timeline, "\"kind\": \"lease_expired\"");
            Contains(timeline, "\"cause\": \"lease_expired\"");
        }
    }

    private static void AnalyzeBroken()
    {
        using (Report report = Native.Analyze(Read("broken-3-replica.json"), Pinned))
        {
            string findings = report.FindingsJson();
            Contains(findings, "\"check\": \"accounts.login_missing\"");
            Contains(findings, "\"severity\": \"error\"");
            Assert(!findings.Contains("\"errors\": 0"), "broken example has errors");
            string script = report.FixScript(null);
            Contains(script, ":on error exit");
            Contains(script, ":Connect ");
            Contains(script, "CREATE LOGIN [CONTOSO\\SQL3$] FROM WINDOWS");
            Assert(script == report.FixScript(null), "same report -> same script bytes");
            string snapshot = report.SnapshotJson();
            Contains(snapshot, "\"format\": \"agdiag.snapshot/1\"");
        }
    }

    private static void FixScriptSelection()
    {
        using (Report report = Native.Analyze(Read("broken-3-replica.json"), Pinned))
        {
            string all = report.FixScript(null);
            string one = report.FixScript("{\"findings\": [\"accounts.login_missing@SQL1/CONTOSO\\\\SQL3$\"]}");
            Contains(one, "accounts.login_missing@SQL1/CONTOSO\\SQL3$");
            Assert(one.Length < all.Length, "a selection is shorter than the whole script");
            Assert(one.IndexOf("@SQL2/", StringComparison.Ordinal) < 0, "other findings left out");
            AgDiagException e = Throws<AgDiagException>(delegate { report.FixScript("{\"findings\": 3}"); });
            Contains(e.Message, "fix script options");
        }
    }

    private static void HtmlReport()
    {
        using (Report report = Native.Analyze(Read("broken-3-replica.json"), Pinned))
        {
            string page = report.Html(null);
            Assert(page.StartsWith("<!DOCTYPE html>", StringComparison.Ordinal), "starts as an HTML5 page");
            Contains(page, "data-replica=\"SQL3\"");
            Contains(page, "data-finding-id=\"endpoint.port_mismatch@SQL3/Hadr_endpoint\"");
            Assert(page == report.Html(null), "same report -> same page bytes");
            Contains(report.Html("{\"title\": \"Ticket \u00e9 <1>\"}"), "<title>Ticket \u00e9 &lt;1&gt;</title>");
            AgDiagException e = Throws<AgDiagException>(delegate { report.Html("{\"titel\": 1}"); });
            Contains(e.Message, "HTML options");
        }
    }

    private static void InvalidJson()
    {
        AgDiagException e = Throws<AgDiagException>(delegate { Native.Analyze("{\"format\": ", null); });
        Contains(e.Message, "snapshot JSON is not valid");
        Contains(e.Message, "line 1");
        Assert(e.Function == "agdiag_analyze", "function " + e.Function);
        // The next call succeeds: the last error does not leak into it.
        Assert(Native.Version().Length > 0, "library still usable");
    }

    private static void WrongFormat()
    {
        AgDiagException e = Throws<AgDiagException>(delegate { Native.Analyze("{\"format\": \"agdiag.snapshot/99\", \"instances\": []}", null); });
        Contains(e.Message, "agdiag.snapshot/99");
    }

    private static void NulInInput()
    {
        Throws<ArgumentException>(delegate { Native.Analyze("{\"format\"\0: 1}", null); });
        Throws<ArgumentNullException>(delegate { Native.Analyze(null, null); });
    }

    private static void DisposedReport()
    {
        Report report = Native.Analyze(Read("healthy-3-replica.json"), Pinned);
        report.Dispose();
        report.Dispose();
        Assert(report.IsDisposed, "disposed");
        Throws<ObjectDisposedException>(delegate { report.FindingsJson(); });
        Contains(report.ToString(), "(disposed)");
    }

    private static void NonAscii()
    {
        // Service account and its login renamed on SQL1 and SQL2; a collector string with a 4-byte character.
        string text = Read("broken-3-replica.json")
            .Replace("CONTOSO\\\\svc_sql\"", "CONTOSO\\\\J\u00fcrgen\"")
            .Replace("\"collector\": \"agdiag 0.1.0\"", "\"collector\": \"agdiag 0.1.0 \u65e5\u672c \ud83d\ude00\"");
        Contains(text, "J\u00fcrgen");
        using (Report report = Native.Analyze(text, Pinned))
        {
            string snapshot = report.SnapshotJson();
            Contains(snapshot, "\"CONTOSO\\\\J\u00fcrgen\"");
            Contains(snapshot, "\u65e5\u672c \ud83d\ude00");
            string findings = report.FindingsJson();
            Contains(findings, "CONTOSO\\\\J\u00fcrgen");
            Assert(findings.IndexOf('\ufffd') < 0, "no replacement characters");
            string script = report.FixScript(null);
            Assert(script.IndexOf('\ufffd') < 0, "no replacement characters in the script");
        }
    }

    private static void ConnectionString()
    {
        using (Report report = Native.Analyze(Read("healthy-3-replica.json"), Pinned))
        {
            string result = report.CheckConnectionString("Server=tcp:AG1-LISTENER,1433;Database=SalesDB;ApplicationIntent=ReadOnly;MultiSubnetFailover=True");
            Assert(result.TrimStart().StartsWith("["), "an array: " + result);
        }
    }

    private static void Reconfigure()
    {
        AgDiagException e = Throws<AgDiagException>(delegate { Native.Configure("/tmp/other/libagdiag.so"); });
        Contains(e.Message, "already loaded");
        Native.Configure(library);
    }

    private static void EightThreads()
    {
        string broken = Read("broken-3-replica.json");
        string expectedFindings;
        string expectedScript;
        using (Report report = Native.Analyze(broken, Pinned))
        {
            expectedFindings = report.FindingsJson();
            expectedScript = report.FixScript(null);
        }
        // One report shared by all threads too: handles may be read concurrently.
        Report shared = Native.Analyze(broken, Pinned);
        List<string> errors = new List<string>();
        Thread[] threads = new Thread[8];
        ManualResetEvent start = new ManualResetEvent(false);
        for (int t = 0; t < threads.Length; t++)
        {
            int id = t;
            threads[t] = new Thread(delegate()
            {
                try
                {
                    start.WaitOne();
                    for (int i = 0; i < 25; i++)
                    {
                        using (Report own = Native.Analyze(broken, Pinned))
                        {
                            if (own.FindingsJson() != expectedFindings) throw new Exception("findings differ");
                            if (own.FixScript(null) != expectedScript) throw new Exception("script differs");
                        }
                        if (shared.FindingsJson() != expectedFindings) throw new Exception("shared findings differ");
                        // Each thread's own error text: agdiag_last_error is per thread.
                        string marker = "thread" + id + "iteration" + i;
                        try
                        {
                            Native.Analyze("{\"" + marker + "\": ", null);
                            throw new Exception("invalid JSON accepted");
                        }
                        catch (AgDiagException e)
                        {
                            if (e.Message.IndexOf("not valid", StringComparison.Ordinal) < 0) throw new Exception("wrong error: " + e.Message);
                        }
                        try
                        {
                            Native.ExplainErrorJson(-1000 - id);
                            throw new Exception("unknown error explained");
                        }
                        catch (AgDiagException e)
                        {
                            if (e.Message.IndexOf((-1000 - id).ToString(), StringComparison.Ordinal) < 0)
                                throw new Exception("another thread's error: " + e.Message);
                        }
                    }
                }
                catch (Exception e)
                {
                    lock (errors) errors.Add("thread " + id + ": " + e.Message);
                }
            });
            threads[t].Start();
        }
        start.Set();
        foreach (Thread thread in threads) thread.Join();
        shared.Dispose();
        Assert(errors.Count == 0, string.Join("; ", errors.ToArray()));
    }

    private static long ResidentBytes()
    {
        // /proc/self/statm: size resident ... in pages.
        string[] fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1]) * 4096;
    }

    private static void StableMemory()
    {
        string healthy = Read("healthy-3-replica.json");
        // A small snapshot keeps 10 000 rounds fast in a debug build; every 100th round is the full example.
        string small = "{\"format\": \"agdiag.snapshot/1\", \"instances\": [{\"target\": \"sql1\", \"connected\": true,"
            + " \"results\": {\"server_properties\": [{\"ServerName\": \"SQL1\", \"IsHadrEnabled\": 0}],"
            + " \"server_principals\": [{\"name\": \"CONTOSO\\\\J\u00fcrgen\", \"type\": \"U\"}]}}]}";
        int calls = 0;
        Action<int> round = delegate(int i)
        {
            using (Report report = Native.Analyze(i % 100 == 0 ? healthy : small, Pinned))
            {
                if (report.FindingsJson().Length == 0) throw new Exception("empty findings");
                if (report.FixScript(null).Length == 0) throw new Exception("empty script");
            }
            try { Native.ExplainErrorJson(-1); } catch (AgDiagException) { }
            // analyze, findings, free, script, free, report free, explain, last error
            calls += 8;
        };
        for (int i = 0; i < 500; i++) round(i);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long managedBefore = GC.GetTotalMemory(true);
        long residentBefore = ResidentBytes();
        calls = 0;
        for (int i = 0; i < 10000; i++) round(i);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long managedGrowth = GC.GetTotalMemory(true) - managedBefore;
        long residentGrowth = ResidentBytes() - residentBefore;
        Console.WriteLine("     10 000 rounds, {0} native calls: managed {1:+#;-#;0} KiB, resident {2:+#;-#;0} KiB", calls,
            managedGrowth / 1024, residentGrowth / 1024);
        // Leaking one report or one returned string per round (several KiB each) would add > 40 MiB.
        Assert(managedGrowth < 8L * 1024 * 1024, "managed heap grew by " + managedGrowth);
        Assert(residentGrowth < 32L * 1024 * 1024, "resident set grew by " + residentGrowth);
    }

    // ---- live collection (job API) ----

    private const string UnreachableRequest =
        "{\"instances\": [\"127.0.0.1,1\"], \"authentication\": {\"method\": \"sql\", \"user\": \"agdiag\", \"password\": \"x\"},"
        + " \"encrypt\": \"off\", \"probes\": false, \"timeouts\": {\"connect_ms\": 1000, \"login_ms\": 1000}}";

    private static void JobWithoutServer()
    {
        if (!Native.HasExport("agdiag_job_start"))
        {
            AgDiagException e = Throws<AgDiagException>(delegate { Native.StartJob(UnreachableRequest); });
            Contains(e.Message, "does not export agdiag_job_start");
            Contains(e.Message, Path.GetFullPath(library));
            return;
        }
        // The library has the job API but no test server was given: an unreachable instance still
        // finishes with a report (connected: false), or fails with a message.
        using (Job job = Native.StartJob(UnreachableRequest))
        {
            Stopwatch watch = Stopwatch.StartNew();
            while (!job.Wait(100)) Assert(watch.ElapsedMilliseconds < 20000, "job finishes");
        }
    }

    private static int Count(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    private static void JobAgainstServer()
    {
        using (Job job = Native.StartJob(request))
        {
            Stopwatch watch = Stopwatch.StartNew();
            List<string> progress = new List<string>();
            bool done = false;
            while (!done)
            {
                progress.Add(job.ProgressJson());
                done = job.Wait(20);
                Assert(watch.ElapsedMilliseconds < 30000, "job finished within 30 s");
            }
            string last = job.ProgressJson();
            Console.WriteLine("     {0} progress reads; last: {1}", progress.Count + 1, last.Replace("\n", " "));
            Contains(progress[0], "\"instances_done\"");
            Assert(progress.Exists(delegate(string p) { return p.Contains("\"finished\":false"); }), "progress was read while running");
            Assert(progress.Exists(delegate(string p) { return p.Contains("\"instances_done\":1,") || p.Contains("\"instances_done\":2,"); }),
                "progress advanced through intermediate counts: " + string.Join(" | ", progress.ToArray()));
            Contains(last, "\"finished\":true");
            Contains(last, "\"cancelled\":false");
            // Discovery from SQL1 finds SQL2 and SQL3: three instances, all done.
            Contains(last, "\"instances_total\":3");
            Contains(last, "\"instances_done\":3");
            using (Report report = job.TakeReport())
            {
                string snapshot = report.SnapshotJson();
                Assert(Count(snapshot, "\"connected\": true") == 3, "three instances connected");
                Assert(snapshot.IndexOf(password, StringComparison.Ordinal) < 0, "password not in the snapshot");
                string findings = report.FindingsJson();
                Contains(findings, "\"format\": \"agdiag.findings/1\"");
                Contains(findings, "\"errors\": 0");
                Assert(findings.IndexOf(password, StringComparison.Ordinal) < 0, "password not in the findings");
            }
            // Each call returns a new report handle.
            using (Report again = job.TakeReport())
            {
                Contains(again.FindingsJson(), "agdiag.findings/1");
            }
        }
    }

    private static void JobCancel()
    {
        Job job = Native.StartJob(blackholeRequest);
        Assert(!job.Wait(300), "a silent server keeps the job running");
        Contains(job.ProgressJson(), "\"finished\":false");
        AgDiagException early = Throws<AgDiagException>(delegate { job.TakeReport(); });
        Assert(early.Function == "agdiag_job_report", "no report while running");
        Stopwatch watch = Stopwatch.StartNew();
        job.Cancel();
        job.Cancel();
        bool done = false;
        while (!done && watch.ElapsedMilliseconds < 5000) done = job.Wait(50);
        Console.WriteLine("     cancel took {0} ms", watch.ElapsedMilliseconds);
        Assert(done, "cancelled job ends");
        Assert(watch.ElapsedMilliseconds < 3000, "cancel was prompt: " + watch.ElapsedMilliseconds + " ms");
        Contains(job.ProgressJson(), "\"cancelled\":true");
        AgDiagException cancelled = Throws<AgDiagException>(delegate { job.TakeReport(); });
        Contains(cancelled.Message.ToLowerInvariant(), "cancel");
        job.Dispose();
        job.Dispose();
        Throws<ObjectDisposedException>(delegate { job.ProgressJson(); });
        job.Cancel();
        // Freeing a running job is safe: the work is cancelled in the background.
        Job running = Native.StartJob(blackholeRequest);
        Assert(!running.Wait(50), "running");
        running.Dispose();
    }

    private static void RunBlocking()
    {
        using (Report report = Native.Run(request))
        {
            Contains(report.SnapshotJson(), "\"connected\": true");
        }
    }
}
