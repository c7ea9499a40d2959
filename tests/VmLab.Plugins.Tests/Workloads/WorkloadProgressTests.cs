using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Plugins.Workloads.Synthetic;
using VmLab.Traces;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

/// <summary>The progress a workload reports while it runs (what `vmlab run` draws as a bar with the time remaining).</summary>
public sealed class WorkloadProgressTests
{
    [Fact]
    public void TraceReaderFractionFollowsThePositionInAPlainFile()
    {
        string path = Trace("tiny.lackey");
        using var reader = LackeyReader.Open(path, "workload:options:path", 0);
        Assert.Equal(0.0, reader.Fraction);
        var buffer = new MemoryAccess[64];
        reader.Read(buffer);
        // The reader reads the file through a 256 KiB buffer and tiny.lackey is smaller: one read takes it all.
        Assert.True(new FileInfo(path).Length < LineSource.BufferSize);
        Assert.Equal(1.0, reader.Fraction);
    }

    [Fact]
    public void TraceReaderFractionReachesOneAtTheEndOfACompressedFile()
    {
        using var reader = LackeyReader.Open(Trace("ls.lackey.gz"), "workload:options:path", 0);
        var buffer = new MemoryAccess[4096];
        double last = 0;
        bool sawMiddle = false;
        while (reader.Read(buffer) > 0)
        {
            double f = reader.Fraction!.Value;
            Assert.True(f >= last, $"fraction went back from {last} to {f}");
            sawMiddle |= f is > 0.2 and < 0.8;
            last = f;
        }
        Assert.True(sawMiddle, "the fraction of a 1 M-access trace should pass through the middle");
        Assert.Equal(1.0, reader.Fraction);
    }

    [Fact]
    public void TraceReaderFractionWithALimitIsTheShareOfTheLimitDecoded()
    {
        using var reader = TraceWorkload.Range(LackeyReader.Open(Trace("tiny.lackey"), "workload:options:path", 0), start: 300, limit: 1000);
        Assert.Equal(0.0, reader.Fraction);
        var buffer = new MemoryAccess[64];
        reader.Read(buffer);
        Assert.Equal((reader.Records - 300) / 1000.0, reader.Fraction);
        while (reader.Read(buffer) > 0) { }
        Assert.Equal(1300, reader.Records);
        Assert.Equal(1.0, reader.Fraction);
    }

    [Fact]
    public void TraceWorkloadProgressIsUnknownBeforeTheFirstBatchRisesAndEndsAtOne()
    {
        var workload = new TraceWorkload(() => LackeyReader.Open(Trace("ls.lackey.gz"), "workload:options:path", 0));
        IWorkload asWorkload = workload;
        var seen = new List<double?>();
        var sim = new RecordingSimulation(8192) { OnBatch = () => seen.Add(asWorkload.Progress) };
        Assert.Null(asWorkload.Progress);

        workload.Run(sim, CancellationToken.None);

        Assert.Null(seen[0]);
        Assert.True(seen.Count > 100);
        var known = seen.Skip(1).Select(p => p!.Value).ToList();
        Assert.Equal(known.Order(), known);
        Assert.InRange(known[known.Count / 2], 0.3, 0.7);
        Assert.Equal(1.0, asWorkload.Progress);
    }

    [Fact]
    public void ASecondPassOverATraceCountsFromTheStartAgain()
    {
        // opt streams the trace once to learn the future before the run streams it: each pass has its own progress.
        var workload = new TraceWorkload(() => LackeyReader.Open(Trace("tiny.lackey"), "workload:options:path", 0));
        workload.Stream(new RecordingSimulation(), CancellationToken.None);
        Assert.Equal(1.0, workload.Progress);
        var seen = new List<double?>();

        workload.Stream(new RecordingSimulation(500) { OnBatch = () => seen.Add(workload.Progress) }, CancellationToken.None);

        Assert.Null(seen[0]);
        Assert.Equal(1.0, workload.Progress);
    }

    [Fact]
    public void SyntheticProgressIsTheShareOfAccessesHandedOver()
    {
        IWorkload workload = SyntheticWorkload.Create(new SyntheticOptions { Accesses = 1000 }, seed: 1);
        var seen = new List<double?>();
        var sim = new RecordingSimulation(100) { OnBatch = () => seen.Add(workload.Progress) };

        workload.Run(sim, CancellationToken.None);

        Assert.Equal(Enumerable.Range(0, 10).Select(i => (double?)(i * 100 / 1000.0)), seen);
        Assert.Equal(1.0, workload.Progress);
    }
}
