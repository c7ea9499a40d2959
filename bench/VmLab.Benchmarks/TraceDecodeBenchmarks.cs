using BenchmarkDotNet.Attributes;
using VmLab.Abstractions;
using VmLab.Traces;

namespace VmLab.Benchmarks;

/// <summary>
/// Decoding a real trace into batches of accesses, per format: <c>configs/traces/ls.lackey.gz</c> decompressed into
/// memory (Lackey text), and the same accesses as <c>.vmt</c>. Per access: the reader's buffers are allocated once
/// per trace (a fixed 64 KiB, not per access).
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class TraceDecodeBenchmarks
{
    /// <summary>Accesses in the ls trace (records + one extra per Lackey M); checked at setup.</summary>
    public const int Accesses = 1_019_737;
    private byte[] _lackey = [];
    private byte[] _vmt = [];
    private readonly MemoryAccess[] _batch = new MemoryAccess[4096];

    [GlobalSetup]
    public void Setup()
    {
        _lackey = Fixtures.LsLackey();
        var all = Fixtures.ReadAll(new LackeyReader(new MemoryStream(_lackey), "ls.lackey", 0));
        if (all.Length != Accesses) throw new InvalidOperationException($"the ls trace has {all.Length} accesses, expected {Accesses}");
        _vmt = Fixtures.ToVmt(all);
        if (Vmt() != Accesses) throw new InvalidOperationException("the vmt copy differs");
    }

    private long Drain(TraceReader reader)
    {
        using (reader)
        {
            long n = 0;
            int k;
            while ((k = reader.Read(_batch)) > 0) n += k;
            return n;
        }
    }

    [Benchmark(OperationsPerInvoke = Accesses)]
    public long LackeyText() => Drain(new LackeyReader(new MemoryStream(_lackey), "ls.lackey", 0));

    [Benchmark(OperationsPerInvoke = Accesses)]
    public long Vmt() => Drain(new VmtReader(new MemoryStream(_vmt), "ls.vmt"));
}
