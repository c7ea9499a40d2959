using VmLab.Traces;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Plugins.Workloads.Synthetic;

namespace VmLab.Plugins.Tests.Workloads;

[Collection(AllocationMeasurement.Name)]
public sealed class SyntheticWorkloadTests
{
    private static List<MemoryAccess> Run(SyntheticOptions o, ulong seed = 42, int batch = 1000)
    {
        var sim = new RecordingSimulation(batch);
        SyntheticWorkload.Create(o, seed).Run(sim, CancellationToken.None);
        return sim.Accesses;
    }

    [Fact]
    public void SequentialWalksTheFootprintByAccessSizeAndWraps()
    {
        var a = Run(new SyntheticOptions { Pattern = SyntheticPattern.Sequential, Base = 0x10000, FootprintPages = 2, AccessSize = 1024, Accesses = 10 });
        Assert.Equal(new ulong[] { 0x10000, 0x10400, 0x10800, 0x10c00, 0x11000, 0x11400, 0x11800, 0x11c00, 0x10000, 0x10400 }, a.Select(x => x.Address));
        Assert.All(a, x => Assert.Equal(AccessKind.Read, x.Kind));
    }

    [Fact]
    public void StrideStepsModuloTheFootprint()
    {
        var a = Run(new SyntheticOptions { Pattern = SyntheticPattern.Stride, Base = 0, FootprintPages = 3, Stride = 8192, Accesses = 5 });
        Assert.Equal(new ulong[] { 0, 0x2000, 0x1000, 0, 0x2000 }, a.Select(x => x.Address)); // 0, 8K, 16K mod 12K = 4K, ...
    }

    [Fact]
    public void UniformCoversTheFootprintEvenlyWithAlignedAccesses()
    {
        var a = Run(new SyntheticOptions { Pattern = SyntheticPattern.Uniform, Base = 0x100000, FootprintPages = 64, AccessSize = 8, Accesses = 64_000 });
        var perPage = a.GroupBy(x => (x.Address - 0x100000) / 4096).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(64, perPage.Count);
        Assert.All(perPage.Keys, p => Assert.InRange(p, 0UL, 63UL));
        Assert.All(perPage.Values, c => Assert.InRange(c, 800, 1200)); // mean 1000, sd about 31
        Assert.All(a, x => Assert.Equal(0UL, x.Address % 8));
    }

    [Fact]
    public void ZipfPageFrequenciesFollowTheZipfLaw()
    {
        const int pages = 100;
        const double alpha = 1.2;
        var a = Run(new SyntheticOptions { Pattern = SyntheticPattern.Zipf, Base = 0, FootprintPages = pages, Alpha = alpha, Accesses = 200_000 });
        var counts = a.GroupBy(x => x.Address / 4096).Select(g => g.Count()).OrderDescending().ToList();
        double h = Enumerable.Range(1, pages).Sum(k => 1 / Math.Pow(k, alpha));
        for (int rank = 1; rank <= 5; rank++)
        {
            double expected = 200_000 / Math.Pow(rank, alpha) / h;
            Assert.InRange(counts[rank - 1], expected * 0.95, expected * 1.05);
        }
        // the hottest pages are scattered, not pages 0, 1, 2...
        var hottest = a.GroupBy(x => x.Address / 4096).OrderByDescending(g => g.Count()).Take(3).Select(g => g.Key).ToList();
        Assert.NotEqual(new ulong[] { 0, 1, 2 }, hottest);
    }

    [Fact]
    public void HotColdSendsTheHotProbabilityToTheHotPages()
    {
        var a = Run(new SyntheticOptions { Pattern = SyntheticPattern.HotCold, Base = 0, FootprintPages = 200, HotFraction = 0.05, HotProbability = 0.8, Accesses = 100_000 });
        long hot = a.Count(x => x.Address / 4096 < 10);
        Assert.InRange(hot, 79_000, 81_000);
        Assert.Equal(200, a.Select(x => x.Address / 4096).Distinct().Count());
    }

    [Fact]
    public void PointerChaseVisitsEveryNodeOncePerLapInTheSameOrder()
    {
        var o = new SyntheticOptions { Pattern = SyntheticPattern.PointerChase, Base = 0x200000, FootprintPages = 4, NodeSize = 256, Accesses = 128 };
        var a = Run(o);
        var lap1 = a.Take(64).Select(x => x.Address).ToList();
        Assert.Equal(64, lap1.Distinct().Count());
        Assert.All(lap1, addr => Assert.Equal(0UL, (addr - 0x200000) % 256));
        Assert.Equal(lap1, a.Skip(64).Select(x => x.Address));
        Assert.NotEqual(lap1.Order(), lap1); // not a sequential walk
    }

    [Fact]
    public void PhasesMoveBetweenDisjointWorkingSets()
    {
        var a = Run(new SyntheticOptions { Pattern = SyntheticPattern.Uniform, Base = 0, FootprintPages = 10, PhaseLength = 100, Phases = 3, Accesses = 700 });
        for (int i = 0; i < a.Count; i++)
        {
            ulong set = (ulong)(i / 100 % 3);
            Assert.InRange(a[i].Address, set * 40960, set * 40960 + 40959);
        }
    }

    [Fact]
    public void ProcessesTakeTurnsOfOneQuantum()
    {
        var o = new SyntheticOptions
        {
            Accesses = 1000,
            Quantum = 30,
            Processes =
            [
                new SyntheticProcessOptions { Pid = 7, Pattern = SyntheticPattern.Sequential, Base = 0x1000000 },
                new SyntheticProcessOptions { Pid = 9, Pattern = SyntheticPattern.Uniform, Base = 0x2000000, WriteRatio = 1.0 },
            ],
        };
        var a = Run(o, batch: 64); // batches and quanta do not line up
        Assert.Equal(1000, a.Count);
        for (int i = 0; i < a.Count; i++) Assert.Equal(i / 30 % 2 == 0 ? 7 : 9, a[i].Pid);
        Assert.All(a.Where(x => x.Pid == 9), x => Assert.Equal(AccessKind.Write, x.Kind));
        // process 7's stream continues where its last turn stopped
        var seven = a.Where(x => x.Pid == 7).Select(x => x.Address).ToList();
        Assert.Equal(Enumerable.Range(0, seven.Count).Select(i => 0x1000000 + (ulong)i * 8), seven);
    }

    [Fact]
    public void SameSeedSameAccessesOtherSeedOthers()
    {
        var o = new SyntheticOptions { Pattern = SyntheticPattern.Zipf, FootprintPages = 500, WriteRatio = 0.3, Accesses = 5000 };
        Assert.Equal(Run(o, seed: 1), Run(o, seed: 1));
        Assert.NotEqual(Run(o, seed: 1), Run(o, seed: 2));
    }

    [Fact]
    public void WriteRatioIsHonoured()
    {
        var a = Run(new SyntheticOptions { Pattern = SyntheticPattern.Uniform, WriteRatio = 0.25, Accesses = 100_000 });
        Assert.InRange(a.Count(x => x.Kind == AccessKind.Write), 24_000, 26_000);
    }

    [Theory]
    [InlineData(SyntheticPattern.PointerChase, "NodeSize", 48, "not a power of two")]
    [InlineData(SyntheticPattern.Sequential, "AccessSize", 24, "does not divide")]
    [InlineData(SyntheticPattern.Sequential, "Base", 0x1001, "not page-aligned")]
    public void InconsistentOptionsAreRejectedNamingTheOption(SyntheticPattern pattern, string member, long value, string message)
    {
        var o = member switch
        {
            "NodeSize" => new SyntheticOptions { Pattern = pattern, NodeSize = (int)value },
            "AccessSize" => new SyntheticOptions { Pattern = pattern, AccessSize = (int)value },
            _ => new SyntheticOptions { Pattern = pattern, Base = value },
        };
        var results = new List<ValidationResult>();
        Assert.False(Validator.TryValidateObject(o, new ValidationContext(o), results, validateAllProperties: true));
        var r = Assert.Single(results);
        Assert.Equal(member, Assert.Single(r.MemberNames));
        Assert.Contains(message, r.ErrorMessage);
    }

    [Theory]
    [InlineData(SyntheticPattern.Zipf)]
    [InlineData(SyntheticPattern.HotCold)]
    [InlineData(SyntheticPattern.PointerChase)]
    public void GeneratingNeverAllocatesPerAccess(SyntheticPattern pattern)
    {
        var stream = new AccessStream(new SyntheticStreamOptions { Pattern = pattern, PhaseLength = 1000, WriteRatio = 0.5 }, 1, 5);
        var buffer = new MemoryAccess[4096];
        Assert.Equal(0, AllocationMeasurement.FewestBytes(() =>
        {
            for (int i = 0; i < 100; i++) stream.Fill(buffer);
        }));
    }
}
