using System.IO.Compression;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.PageTables;

/// <summary>The shipped page-table configs, run from JSON through the loader and the runner.</summary>
public sealed class PageTableConfigTests
{
    private static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("VmLab.sln not found above the test folder");
    }

    private static string Config(string name) => Path.Combine(Root(), "configs", name + ".json");

    private static IReadOnlyDictionary<string, long> Run(string config, params string[] overrides)
    {
        var experiment = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(Config(config), overrides);
        var result = new ExperimentRunner().Run(experiment);
        Assert.Equal(RunResult.Completed, result.Status);
        return result.Metrics;
    }

    /// <summary>
    /// Misses of a fully-associative LRU TLB of 4 KiB pages over a Lackey trace, counted independently of VmLab:
    /// one lookup per page an access touches, M = a read then a write.
    /// </summary>
    private static (long Accesses, long Misses) ReferenceLru(string trace, int entries)
    {
        var pages = new ulong[entries];
        var lastUse = new long[entries];
        int used = 0;
        long accesses = 0, misses = 0;
        using var reader = new StreamReader(new GZipStream(File.OpenRead(trace), CompressionMode.Decompress));
        while (reader.ReadLine() is { } line)
        {
            var text = line.AsSpan().Trim();
            if (text.Length == 0) continue;
            char kind = text[0];
            var fields = text[1..].Trim();
            int comma = fields.IndexOf(',');
            ulong address = ulong.Parse(fields[..comma], System.Globalization.NumberStyles.HexNumber);
            ulong size = Math.Max(1UL, ulong.Parse(fields[(comma + 1)..]));
            int times = kind == 'M' ? 2 : 1;
            for (int t = 0; t < times; t++)
            {
                for (ulong page = address >> 12; page <= (address + size - 1) >> 12; page++)
                {
                    accesses++;
                    int slot = Array.IndexOf(pages, page, 0, used);
                    if (slot < 0)
                    {
                        misses++;
                        if (used < entries) slot = used++;
                        else
                        {
                            slot = 0;
                            for (int i = 1; i < entries; i++) if (lastUse[i] < lastUse[slot]) slot = i;
                        }
                        pages[slot] = page;
                    }
                    lastUse[slot] = accesses;
                }
            }
        }
        return (accesses, misses);
    }

    public static TheoryData<string, int> SixtyFourBitConfigs => new()
    {
        { "pt-x86-64", 4 },
        { "pt-x86-64-5level", 5 },
        { "pt-x86-64-pwc", 4 },
        { "pt-arm64", 4 },
        { "pt-arm64-software-af", 4 },
        { "pt-riscv-sv39", 3 },
        { "pt-riscv-sv48", 4 },
        { "pt-riscv-sv57", 5 },
        { "pt-hashed", 1 },
    };

    [Fact]
    public void RawTraceGivesTheSameTlbMissesOnEvery64BitFormatAndWalksReadOneEntryPerLevel()
    {
        var (accesses, misses) = ReferenceLru(Path.Combine(Root(), "configs", "traces", "ls.lackey.gz"), 64);
        Assert.Equal(1703, misses); // also checked with an independent script while writing this test
        foreach (var (config, levels) in SixtyFourBitConfigs.Select(r => ((string)r[0], (int)r[1])))
        {
            var m = Run(config);
            Assert.Equal(accesses, m["accesses"]);
            Assert.Equal(misses, m["tlb.misses"]);
            Assert.Equal(332, m["faults.total"]);
            Assert.Equal(0, m["signals.sigsegv"]);
            CheckWalkCounts(config, levels, m);
        }
    }

    /// <summary>Without page-walk caches every walk reads the root entry and no level is read more often than the one above.</summary>
    private static void CheckWalkCounts(string config, int levels, IReadOnlyDictionary<string, long> m)
    {
        if (config == "pt-hashed")
        {
            Assert.True(m["walk.memrefs"] >= m["walk.count"]); // at least one slot probed per walk
            return;
        }
        if (config.EndsWith("-pwc", StringComparison.Ordinal))
        {
            Assert.Equal(m["walk.count"], m["pwc.hits"] + m["pwc.misses"]);
            Assert.True(m["walk.memrefs"] < m["walk.count"] * levels / 2);
            return;
        }
        Assert.Equal(m["walk.count"], m[$"walk.memrefs.l{levels}"]);
        long sum = 0;
        for (int l = levels; l >= 1; l--)
        {
            sum += m[$"walk.memrefs.l{l}"];
            if (l < levels) Assert.True(m[$"walk.memrefs.l{l}"] <= m[$"walk.memrefs.l{l + 1}"], config);
        }
        Assert.Equal(m["walk.memrefs"], sum);
    }

    [Theory]
    [InlineData("pt-x86-32", 2)]
    [InlineData("pt-x86-32-pae", 3)]
    public void ThirtyTwoBitFormatsRunTheRecorded32BitTrace(string config, int levels)
    {
        var (accesses, misses) = ReferenceLru(Path.Combine(Root(), "configs", "traces", "sieve32.lackey.gz"), 64);
        var m = Run(config);
        Assert.Equal(accesses, m["accesses"]);
        Assert.Equal(misses, m["tlb.misses"]);
        Assert.Equal(1043, m["faults.minor"]); // one first touch per distinct page
        Assert.Equal(m["walk.count"], m[$"walk.memrefs.l{levels}"]);
    }

    [Fact]
    public void UnknownRiscVModeIsAConfigErrorNamingTheKeyPath()
    {
        var e = Assert.Throws<ConfigException>(() => Run("pt-riscv-sv39", "machine:pageTable:options:mode=sv40"));
        var message = string.Join("\n", e.Errors);
        Assert.Contains("machine:pageTable:options:mode", message);
        Assert.Contains("sv39", message);
    }

    [Fact]
    public void PageWalkCacheSizeOutOfRangeIsAConfigError()
    {
        var e = Assert.Throws<ConfigException>(() => Run("pt-arm64", "machine:pageTable:options:pwcEntries=5000"));
        Assert.Contains("machine:pageTable:options:pwcEntries", string.Join("\n", e.Errors));
    }
}
