using System.Globalization;
using System.IO.Compression;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Plugins;

[Collection(DotnetBuildCollection.Name)]
public sealed class DirectMappedTlbSampleTests
{
    /// <summary>
    /// Reference model: a direct-mapped cache of 4 KiB page numbers (slot = page mod entries) over the trace's pages,
    /// a Lackey M being a load then a store and an access straddling pages touching each.
    /// </summary>
    private static long DirectMappedMisses(string trace, int entries)
    {
        var slots = new ulong?[entries];
        long misses = 0;
        using var reader = new StreamReader(new GZipStream(File.OpenRead(trace), CompressionMode.Decompress));
        while (reader.ReadLine() is { } line)
        {
            var t = line.Trim();
            if (t.Length < 3 || "ILSM".IndexOf(t[0]) < 0 || t[1] != ' ') continue;
            var parts = t[1..].Trim().Split(',');
            ulong address = ulong.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong size = Math.Max(1, ulong.Parse(parts[1], CultureInfo.InvariantCulture));
            for (int repeat = t[0] == 'M' ? 2 : 1; repeat > 0; repeat--)
                for (ulong page = address >> 12; page <= (address + size - 1) >> 12; page++)
                {
                    int slot = (int)(page % (ulong)entries);
                    if (slots[slot] == page) continue;
                    misses++;
                    slots[slot] = page;
                }
        }
        return misses;
    }

    [Fact]
    public void TheOutOfTreeSampleBuildsOnItsOwnAndMissesLikeADirectMappedCacheOfPages()
    {
        string project = Repo.Path("samples", "DirectMappedTlb");
        DotnetCli.Run(Repo.Root, "build", project, "-c", "Debug", "-v", "q", "-nologo");

        // The sample's own experiment, which loads the build output through "pluginPaths".
        var experiment = new ExperimentLoader(PluginCatalog.CreateDefault())
            .Load(Path.Combine(project, "experiment.json"), ["machine:tlb:options:entries=64"]);
        var result = new ExperimentRunner().Run(experiment);

        Assert.Equal(RunResult.Completed, result.Status);
        Assert.StartsWith("DirectMappedTlb ", result.Plugins["direct-mapped"]);
        Assert.Equal(DirectMappedMisses(Repo.Path("configs", "traces", "ls.lackey.gz"), 64), result.Metrics["tlb.misses"]);
        Assert.Equal(17_956, result.Metrics["tlb.misses"]); // the figure docs/writing-a-plugin.md quotes
    }
}
