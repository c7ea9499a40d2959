using System.Diagnostics;
using BenchmarkDotNet.Attributes;

namespace VmLab.Benchmarks;

/// <summary>
/// Start-up of the command as a user meets it: one whole <c>vmlab run</c> process on the 2,000-record
/// <c>configs/traces/tiny.vmt</c> with the quickstart machine (x86-64 4-level, 64-entry fully-associative LRU TLB,
/// cow + demand-zero), so the time is almost all runtime start, plugin discovery, config binding, composition and JIT.
/// It runs the command <c>./vmlab</c> publishes (<c>artifacts/vmlab/vmlab.dll</c>, ReadyToRun; run <c>./vmlab --version</c>
/// once first), or the one <c>VMLAB_BENCH_DLL</c> names, and the native command beside it (<c>vmlab-native</c>, which
/// <c>./vmlab</c> builds when gcc or clang is there; docs/performance.md, "The native command"). BenchmarkDotNet reports
/// wall time, which a loaded machine inflates; <c>bench/run-trace-benchmark.sh</c> reports the same runs' CPU time.
/// </summary>
[MinColumn]
public class StartupBenchmarks
{
    private string _dll = "";
    private string _config = "";

    [GlobalSetup]
    public void Setup()
    {
        string root = Fixtures.RepositoryRoot();
        _dll = Environment.GetEnvironmentVariable("VMLAB_BENCH_DLL") is { Length: > 0 } dll ? dll : Path.Combine(root, "artifacts", "vmlab", "vmlab.dll");
        if (!File.Exists(_dll)) throw new InvalidOperationException($"{_dll} not found: run ./vmlab --version once to publish it, or set VMLAB_BENCH_DLL");
        _config = Path.Combine(Path.GetTempPath(), $"vmlab-startup-bench-{Environment.ProcessId}.json");
        File.WriteAllText(_config, $$"""
            {
              "name": "startup",
              "seed": 1,
              "machine": {
                "cpus": 1,
                "memory": { "frames": 262144, "swapSlots": 1048576 },
                "pageTable": { "plugin": "x86-64", "options": { "levels": 4 } },
                "tlb": { "plugin": "fully-associative", "options": { "entries": 64, "policy": "lru" } },
                "faultHandlers": [ { "plugin": "cow" }, { "plugin": "demand-zero", "options": { "zeroPage": true } } ],
                "signals": { "plugin": "posix" }
              },
              "workload": { "plugin": "vmt", "options": { "path": "{{Path.Combine(root, "configs", "traces", "tiny.vmt")}}" } }
            }
            """);
    }

    [GlobalCleanup]
    public void Cleanup() => File.Delete(_config);

    [Benchmark(Baseline = true)]
    public int VmlabRunTinyTrace() => Run("dotnet", [_dll, "run", _config]);

    [Benchmark]
    public int NativeVmlabRunTinyTrace()
    {
        string native = Path.Combine(Path.GetDirectoryName(_dll)!, "vmlab-native");
        if (!File.Exists(native)) throw new InvalidOperationException($"{native} not found: ./vmlab builds it when gcc or clang is on PATH");
        return Run(native, ["run", _config]);
    }

    private static int Run(string program, string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} run exited {p.ExitCode}");
        return p.ExitCode;
    }
}
