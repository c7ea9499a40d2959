using System.IO.Compression;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Core.Memory;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;
using VmLab.Plugins.Faults;
using VmLab.Plugins.PageTables;
using VmLab.Plugins.Signals;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>Paths of the repository (configs, traces), found from the test binary's folder.</summary>
public static class Repo
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("VmLab.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Config(string name) => Path.Combine(Root, "configs", name);

    /// <summary>Loads a config through the host, as <c>vmlab run</c> does, with <c>--set</c> overrides, and runs it.</summary>
    public static RunResult Run(string config, params string[] overrides)
    {
        var experiment = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(Config(config), overrides);
        return new ExperimentRunner().Run(experiment);
    }

    /// <summary>Loads a config and returns the errors it is rejected with (empty when it loads).</summary>
    public static IReadOnlyList<ConfigError> Errors(string config, params string[] overrides)
    {
        try
        {
            new ExperimentLoader(PluginCatalog.CreateDefault()).Load(Config(config), overrides);
            return [];
        }
        catch (ConfigException e)
        {
            return e.Errors;
        }
    }
}

/// <summary>
/// The page stream a Lackey trace gives a TLB, read here independently of the workload plugin: one access per 4 KiB
/// page a record touches, a modify (<c>M</c>) is a read then a write.
/// </summary>
public sealed class LsTracePages
{
    public LsTracePages()
    {
        var pages = new List<ulong>(1 << 20);
        using var file = File.OpenRead(Path.Combine(Repo.Root, "configs", "traces", "ls.lackey.gz"));
        using var gz = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            var t = line.Trim();
            if (t.Length == 0 || t.StartsWith("==", StringComparison.Ordinal)) continue;
            char kind = t[0];
            var rest = t[1..].Trim().Split(',');
            ulong address = Convert.ToUInt64(rest[0], 16);
            ulong size = ulong.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture);
            ulong first = address >> 12, last = (address + Math.Max(size, 1) - 1) >> 12;
            int times = kind == 'M' ? 2 : 1;
            for (int n = 0; n < times; n++)
                for (ulong p = first; p <= last; p++) pages.Add(p);
        }
        Pages = [.. pages];
    }

    public ulong[] Pages { get; }
}

/// <summary>
/// A textbook cache of page numbers: <c>sets</c> sets (index = page number mod sets) of <c>ways</c> entries each, LRU
/// (a hit moves the page to the front) or FIFO (a hit changes nothing). One set is fully associative.
/// </summary>
public sealed class ReferenceCache(int sets, int ways, bool lru)
{
    private readonly LinkedList<ulong>[] _sets = Enumerable.Range(0, sets).Select(_ => new LinkedList<ulong>()).ToArray();

    public long Misses { get; private set; }
    public long Hits { get; private set; }

    public bool Access(ulong page)
    {
        var set = _sets[(int)(page % (ulong)sets)];
        var node = set.Find(page);
        if (node is not null)
        {
            Hits++;
            if (lru)
            {
                set.Remove(node);
                set.AddFirst(node);
            }
            return true;
        }
        Misses++;
        if (set.Count == ways) set.RemoveLast();
        set.AddFirst(page);
        return false;
    }

    public static long MissesOf(IEnumerable<ulong> pages, int sets, int ways, bool lru)
    {
        var cache = new ReferenceCache(sets, ways, lru);
        foreach (var p in pages) cache.Access(p);
        return cache.Misses;
    }
}

/// <summary>A machine composed directly (no host) for kernel-level TLB scenarios.</summary>
public static class TestMachine
{
    public static Machine Create(int cpus, Func<int, ITlb> tlb, bool pcid = true, int pcids = 6, bool checkTlb = false, bool zeroPage = false) =>
        CreateWithPageTable(cpus, tlb, pcid, pcids, checkTlb, zeroPage).Machine;

    /// <summary>The machine and its page table, for tests that read PTEs as the kernel sees them.</summary>
    public static (Machine Machine, IPageTable PageTable) CreateWithPageTable(int cpus, Func<int, ITlb> tlb, bool pcid = true, int pcids = 6, bool checkTlb = false, bool zeroPage = false) =>
        CreateWithPageTable(cpus, (cpu, _) => tlb(cpu), pcid, pcids, checkTlb, zeroPage);

    /// <summary>As above, the TLB factory given the machine's metrics (for a TLB that counts per level).</summary>
    public static (Machine Machine, IPageTable PageTable) CreateWithPageTable(int cpus, Func<int, IMetrics, ITlb> tlb, bool pcid = true, int pcids = 6, bool checkTlb = false, bool zeroPage = false)
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(4096);
        var frames = new FrameTable(memory, metrics);
        var pageTable = new RadixPageTable<X86_64Format>(new X86_64Format(4), memory, frames, metrics);
        var options = new MachineOptions { Cpus = cpus, Pcid = pcid, Pcids = pcids, Checks = new() { Tlb = checkTlb } };
        IFaultHandler[] handlers = [new CowHandler(metrics), new DemandZeroHandler(new DemandZeroOptions { ZeroPage = zeroPage }, metrics)];
        return (Machine.Create(options, memory, frames, metrics, pageTable, cpu => tlb(cpu, metrics), handlers, new PosixSignals()), pageTable);
    }
}
