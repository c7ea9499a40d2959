using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace VmLab.Native.Tests;

/// <summary>
/// Publishes the native command once (Native AOT, Release, linked with clang or gcc) and places it, with the native
/// libraries of its publish, beside the managed vmlab.dll in this test's output, as <c>./vmlab</c> places it in artifacts/vmlab.
/// </summary>
public sealed class NativeBuild
{
    public string Executable { get; } = Path.Combine(AppContext.BaseDirectory, "vmlab-native");

    public string Dll { get; } = Path.Combine(AppContext.BaseDirectory, "vmlab.dll");

    public string RepoRoot { get; }

    public NativeBuild()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
        RepoRoot = dir!.FullName;
        string output = Path.Combine(Path.GetTempPath(), "vmlab-native-publish-" + Guid.NewGuid().ToString("N")[..12]);
        string linker = OnPath("clang") ? "clang" : OnPath("gcc") ? "gcc" : throw new InvalidOperationException("the native command needs gcc or clang to link; ./test installs gcc");
        // Built under an artifacts path of its own: a restore for a runtime identifier in the tree's obj/ folders would
        // make the other test projects' builds, which may still be running, rebuild the assemblies their tests run.
        string artifacts = Path.Combine(Path.GetTempPath(), "vmlab-native-test-build-" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(RepoRoot)))[..12]);
        var psi = new ProcessStartInfo("dotnet", ["publish", Path.Combine(RepoRoot, "src", "VmLab.Native"), "-c", "Release", "-r", RuntimeInformation.RuntimeIdentifier,
            $"-p:CppCompilerAndLinker={linker}", "--artifacts-path", artifacts, "-o", output, "--nologo", "-v", "quiet"])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string log = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"publishing src/VmLab.Native failed ({p.ExitCode}):\n{log}\n{err.Result}");
        File.Copy(Path.Combine(output, "vmlab-native"), Executable, overwrite: true);
        // The native libraries it loads (SQLite's for sweeps), which a portable build keeps under runtimes/ instead.
        foreach (var library in Directory.GetFiles(output, "*.so"))
            File.Copy(library, Path.Combine(AppContext.BaseDirectory, Path.GetFileName(library)), overwrite: true);
        Directory.Delete(output, recursive: true);
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, program)));
}

/// <summary>
/// The natively compiled command against the managed one, as processes: the same output for the shipped experiments and
/// scenarios, the same errors, and every command it does not run itself handed to the managed command.
/// </summary>
public sealed class NativeCommandTests(NativeBuild build) : IClassFixture<NativeBuild>
{
    private sealed record Result(int Exit, string Out, string Err);

    private Result Run(string program, string[] args, Dictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = build.RepoRoot };
        foreach (var (k, v) in environment ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return new Result(p.ExitCode, output, err.Result);
    }

    private Result Native(params string[] args) => Run(build.Executable, args);

    private Result Managed(params string[] args) => Run("dotnet", [build.Dll, .. args]);

    private static JsonObject WithoutElapsed(string json)
    {
        var o = (JsonObject)JsonNode.Parse(json)!;
        o.Remove("elapsedSeconds");
        return o;
    }

    public static TheoryData<string> Experiments() =>
    [
        "configs/quickstart.json", "configs/paging-limited.json", "configs/pt-arm64.json", "configs/pt-hashed.json", "configs/pt-riscv-sv39.json",
        "configs/pt-x86-32-pae.json", "configs/tlb-golden-cove.json", "configs/tlb-set-associative.json", "configs/timing-x86-64.json",
        "configs/scenarios/cow-reuse-after-child-exit.vms", "configs/scenarios/brk-heap.vms",
    ];

    [Theory]
    [MemberData(nameof(Experiments))]
    public void ARunPrintsTheSameResultAsTheManagedCommand(string experiment)
    {
        var native = Native("run", experiment, "--json", "-");
        var managed = Managed("run", experiment, "--json", "-");
        Assert.True(native.Exit == managed.Exit, $"{experiment}: exit {native.Exit} against {managed.Exit}\n{native.Err}");
        Assert.Equal(WithoutElapsed(managed.Out).ToJsonString(), WithoutElapsed(native.Out).ToJsonString());
    }

    [Fact]
    public void TheTableAndCheckAreTheManagedCommands()
    {
        var native = Native("run", "configs/quickstart.json");
        var managed = Managed("run", "configs/quickstart.json");
        Assert.Equal(0, native.Exit);
        // Everything but the time it took.
        static string Table(string text) => System.Text.RegularExpressions.Regex.Replace(text, @"completed in [0-9.]+ s", "completed in T s");
        Assert.Equal(Table(managed.Out), Table(native.Out));
        Assert.Contains("tlb.misses", native.Out);
        Assert.Equal(Managed("check", "configs/pt-arm64.json"), Native("check", "configs/pt-arm64.json"));
    }

    [Fact]
    public void BadInputExitsTwoWithTheManagedCommandsMessage()
    {
        foreach (string[] args in new[] { new[] { "run", "configs/no-such.json" }, ["run"], ["run", "configs/quickstart.json", "--set", "machine:tlb:options:entries=-4"] })
        {
            var native = Native(args);
            Assert.Equal(2, native.Exit);
            Assert.Equal(Managed(args), native);
            Assert.DoesNotContain("   at ", native.Err);
        }
    }

    /// <summary>A stand-in VMLAB_DOTNET that notes each hand-off, then runs the real dotnet.</summary>
    private Dictionary<string, string> Recording(string log)
    {
        string wrapper = Path.Combine(Path.GetDirectoryName(log)!, "dotnet-wrapper");
        File.WriteAllText(wrapper, $"#!/bin/bash\necho \"$*\" >> '{log}'\nexec dotnet \"$@\"\n");
        Process.Start("chmod", ["+x", wrapper])!.WaitForExit();
        return new() { ["VMLAB_DOTNET"] = wrapper };
    }

    [Fact]
    public void OtherCommandsAndRunsWithPluginFoldersOfTheirOwnAreHandedToTheManagedCommand()
    {
        string dir = Path.Combine(Path.GetTempPath(), "vmlab-native-handoff-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        try
        {
            string log = Path.Combine(dir, "handoffs.log");
            var env = Recording(log);
            string plugins = Directory.CreateDirectory(Path.Combine(dir, "my-plugins")).FullName;
            string config = Path.Combine(dir, "exp.json");
            string quickstart = File.ReadAllText(Path.Combine(build.RepoRoot, "configs", "quickstart.json"))
                .Replace("\"seed\"", $"\"pluginPaths\": [\"{plugins}\"], \"seed\"", StringComparison.Ordinal)
                .Replace("\"path\": \"", $"\"path\": \"{build.RepoRoot}/configs/", StringComparison.Ordinal);
            File.WriteAllText(config, quickstart);

            var listing = Run(build.Executable, ["plugins", "--kind", "tlb"], env);
            Assert.Equal(Managed("plugins", "--kind", "tlb"), listing);
            Assert.Equal(0, listing.Exit);

            var run = Run(build.Executable, ["run", config, "--json", "-"], env);
            Assert.True(run.Exit == 0, run.Err);
            Assert.Equal(WithoutElapsed(Managed("run", config, "--json", "-").Out).ToJsonString(), WithoutElapsed(run.Out).ToJsonString());

            var quick = Run(build.Executable, ["run", "configs/quickstart.json"], env);
            Assert.Equal(0, quick.Exit);
            var withEnv = Run(build.Executable, ["run", "configs/quickstart.json"], new(env) { ["VMLAB_PLUGIN_PATH"] = plugins });
            Assert.Equal(0, withEnv.Exit);

            // Handed over: the listing, the run with pluginPaths and the run with VMLAB_PLUGIN_PATH; the plain run is native.
            var handoffs = File.ReadAllLines(log);
            Assert.Equal([$"{build.Dll} plugins --kind tlb", $"{build.Dll} run {config} --json -", $"{build.Dll} run configs/quickstart.json"], handoffs);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Every case's metrics in a sweep database, by case id.</summary>
    private static SortedDictionary<string, string> SweepMetrics(string db)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT case_id, name, value FROM metrics ORDER BY case_id, name";
        using var reader = command.ExecuteReader();
        var byCase = new SortedDictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read())
            byCase[reader.GetString(0)] = (byCase.GetValueOrDefault(reader.GetString(0)) ?? "") + $"{reader.GetString(1)}={reader.GetValue(2)};";
        return byCase;
    }

    [Fact]
    public void ANativeSweepRecordsWhatTheManagedSweepRecords()
    {
        string dir = Path.Combine(Path.GetTempPath(), "vmlab-native-sweep-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        try
        {
            // A sweep naming a plugin folder of its own goes to the managed command, whose workers are native again
            // and hand themselves to the managed worker, on the same pipes.
            string plugins = Directory.CreateDirectory(Path.Combine(dir, "my-plugins")).FullName;
            string sweep = Path.Combine(build.RepoRoot, "configs", "sweeps", "tlb-size-policy.json");
            var variants = new[]
            {
                ("workers", new[] { "--jobs", "2" }),
                ("in-process", ["--jobs", "2", "--isolation", "none"]),
                ("with-plugin-path", ["--jobs", "2", "--set", $"pluginPaths:0={plugins}"]),
            };
            foreach (var (name, options) in variants)
            {
                string nativeDb = Path.Combine(dir, name + "-native.db"), managedDb = Path.Combine(dir, name + "-managed.db");
                var native = Native(["sweep", sweep, "--db", nativeDb, .. options]);
                Assert.True(native.Exit == 0, native.Err);
                var managed = Run("dotnet", [build.Dll, "sweep", sweep, "--db", managedDb, .. options], new() { ["VMLAB_NATIVE"] = "0" });
                Assert.True(managed.Exit == 0, managed.Err);
                var expected = SweepMetrics(managedDb);
                Assert.Equal(12, expected.Count);
                Assert.Equal(expected, SweepMetrics(nativeDb));
                static string Summary(string text, string db) =>
                    System.Text.RegularExpressions.Regex.Replace(text.Replace(db, "DB", StringComparison.Ordinal), @"in [0-9.]+ s", "in T s");
                Assert.Equal(Summary(managed.Out, managedDb), Summary(native.Out, nativeDb));
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
