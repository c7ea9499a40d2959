using System.IO.Compression;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Core;
using VmLab.Core.Memory;
using VmLab.Plugins.Faults;
using VmLab.Plugins.PageTables;
using VmLab.Plugins.Signals;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;
using VmLab.Traces;

namespace VmLab.Benchmarks;

/// <summary>Machines, TLBs, page tables and access streams the benchmarks share, built from the built-in plugins.</summary>
public static class Fixtures
{
    /// <summary>Where the hit streams live: 1 GiB, below 3 GiB so the 32-bit formats map it too.</summary>
    public const ulong Base = 0x4000_0000;

    /// <summary>The quickstart machine (x86-64 4-level, cow + demand-zero, posix) over <paramref name="tlb"/>, composed by <see cref="Machine.Create"/>.</summary>
    public static Machine Machine(Func<MetricRegistry, VmLab.Abstractions.Tlb.ITlb> tlb, long frames = 1 << 16)
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(frames);
        var frameTable = new FrameTable(memory, metrics);
        var pageTable = new RadixPageTable<X86_64Format>(new X86_64Format(4), memory, frameTable, metrics);
        IFaultHandler[] handlers = [new CowHandler(metrics), new DemandZeroHandler(new DemandZeroOptions { ZeroPage = true }, metrics)];
        return VmLab.Core.Machine.Create(new MachineOptions(), memory, frameTable, metrics, pageTable, _ => tlb(metrics), handlers, new PosixSignals());
    }

    public static FullyAssociativeTlb FullyAssociative(int entries = 64) =>
        new(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = entries }));

    /// <summary>A 1536-entry, 12-way LRU array (Golden Cove's STLB geometry).</summary>
    public static SetAssociativeTlb<LruPolicy> SetAssociative() =>
        TlbModule.SetAssociative<LruPolicy>(new SetAssociativeTlbOptions { Entries = 1536, Ways = 12 }, 1);

    /// <summary>64-entry L1I and L1D over a 1536-entry, 12-way L2, LRU.</summary>
    public static HierarchicalTlb<LruPolicy> Hierarchy(IMetrics metrics) =>
        new(new TlbHierarchy<LruPolicy>(
            new HierarchicalTlbOptions { L2 = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 1536, Ways = 12 }] } },
            1, metrics));

    /// <summary>
    /// <paramref name="count"/> accesses of pid 0 at random 8-byte-aligned offsets of <paramref name="pages"/> pages from
    /// <see cref="Base"/>: a fetch, then reads and writes (one in four a write). Deterministic.
    /// </summary>
    public static MemoryAccess[] HitStream(int count, int pages, int seed = 1)
    {
        var rng = new Random(seed);
        var stream = new MemoryAccess[count];
        for (int i = 0; i < count; i++)
        {
            ulong va = Base + (ulong)rng.Next(pages) * 4096 + (ulong)rng.Next(512) * 8;
            var kind = (i % 4) switch { 0 => AccessKind.Fetch, 3 => AccessKind.Write, _ => AccessKind.Read };
            stream[i] = new MemoryAccess(va, 0, kind == AccessKind.Fetch ? (ushort)4 : (ushort)8, kind, AccessMode.User);
        }
        return stream;
    }

    /// <summary>The accesses of <paramref name="stream"/> as a <c>.vmt</c> file in memory.</summary>
    public static byte[] ToVmt(ReadOnlySpan<MemoryAccess> stream)
    {
        var output = new MemoryStream();
        using (var writer = new VmtWriter(output))
        {
            writer.Write(stream);
            writer.Finish();
        }
        return output.ToArray();
    }

    /// <summary>The repository's root (the folder holding VmLab.sln), found upwards from the running assembly.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) return dir.FullName;
        throw new InvalidOperationException($"VmLab.sln not found above {AppContext.BaseDirectory}");
    }

    /// <summary><c>configs/traces/ls.lackey.gz</c> (the trace of <c>ls -l /usr</c>) decompressed.</summary>
    public static byte[] LsLackey()
    {
        using var gz = new GZipStream(File.OpenRead(Path.Combine(RepositoryRoot(), "configs/traces/ls.lackey.gz")), CompressionMode.Decompress);
        var text = new MemoryStream();
        gz.CopyTo(text);
        return text.ToArray();
    }

    /// <summary>Every access of a trace reader, in order.</summary>
    public static MemoryAccess[] ReadAll(TraceReader reader)
    {
        var all = new List<MemoryAccess>();
        var batch = new MemoryAccess[4096];
        int n;
        while ((n = reader.Read(batch)) > 0) all.AddRange(batch.AsSpan(0, n));
        return [.. all];
    }
}
