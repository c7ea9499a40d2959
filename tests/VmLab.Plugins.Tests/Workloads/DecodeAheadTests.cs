using System.Text;
using Microsoft.Extensions.DependencyInjection;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using VmLab.Abstractions.Workloads;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;
using VmLab.Traces;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

/// <summary>
/// Decoding a trace on a thread of its own (<see cref="DecodeAhead"/>, a trace workload's <c>decodeThreads: 1</c>)
/// gives the simulation exactly what decoding inline gives: the same batches, the same error at the same point, and
/// leaves no thread behind however the consumer stops.
/// </summary>
public sealed class DecodeAheadTests : IDisposable
{
    private static readonly TraceDecoding OnItsOwnThread = new(1);
    private readonly string _dir = Directory.CreateTempSubdirectory("vmlab-decode-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Every batch the simulation was given, as its list of accesses.</summary>
    private sealed class BatchRecorder(int batchSize) : ISimulation
    {
        public List<MemoryAccess[]> Batches { get; } = [];
        public int PreferredBatchSize => batchSize;
        public IKernelApi Kernel => throw new NotSupportedException();
        public void Execute(ReadOnlySpan<MemoryAccess> batch) => Batches.Add(batch.ToArray());
        public void Report(in Expectation expectation) => throw new NotSupportedException();
        public long Accesses => Batches.Sum(b => (long)b.Length);
    }

    private static (BatchRecorder Simulation, Exception? Error, bool Ahead) Stream(Func<ITraceReader> open, TraceDecoding decoding, int batchSize)
    {
        var workload = new TraceWorkload(open, decoding);
        var sim = new BatchRecorder(batchSize);
        Exception? error = null;
        try
        {
            workload.Stream(sim, CancellationToken.None);
        }
        catch (Exception e)
        {
            error = e;
        }
        return (sim, error, workload.DecodedAhead);
    }

    private static void AssertSameBatches(BatchRecorder inline, BatchRecorder ahead)
    {
        Assert.Equal(inline.Batches.Count, ahead.Batches.Count);
        for (int i = 0; i < inline.Batches.Count; i++) Assert.Equal(inline.Batches[i], ahead.Batches[i]);
    }

    public static TheoryData<string, int> ShippedTraces => new()
    {
        { "ls.lackey.gz", 4096 },
        { "ls.lackey.gz", 37 },
        { "cat.lackey.gz", 4096 },
        { "sieve32.lackey.gz", 1000 },
        { "tiny.lackey", 64 },
        { "tiny.lackey.xz", 64 },
        { "tiny.lackey.zst", 64 },
        { "tiny.din", 64 },
        { "tiny.vmt", 64 },
        { "tiny.champsim.xz", 64 },
    };

    [Theory]
    [MemberData(nameof(ShippedTraces))]
    public void ShippedTracesGiveTheSameBatchesDecodedAheadAsInline(string name, int batchSize)
    {
        string path = Trace(name);
        var catalog = new TraceFormatCatalog(TraceFormats.BuiltIn);
        ITraceReader Open() => TraceInput.Open(path, "path", catalog, "auto", new TraceReaderOptions { Path = path }).Reader;

        var inline = Stream(Open, TraceDecoding.Inline, batchSize);
        var ahead = Stream(Open, OnItsOwnThread, batchSize);

        Assert.Null(inline.Error);
        Assert.Null(ahead.Error);
        Assert.False(inline.Ahead);
        Assert.True(ahead.Ahead);
        Assert.True(inline.Simulation.Accesses > 0);
        AssertSameBatches(inline.Simulation, ahead.Simulation);
    }

    public static TheoryData<string, string> ShippedTraceConfigs => new()
    {
        { "lackey", "traces/ls.lackey.gz" },
        { "lackey", "traces/cat.lackey.gz" },
        { "lackey", "traces/sieve32.lackey.gz" },
        { "trace", "traces/tiny.lackey.zst" },
        { "din", "traces/tiny.din" },
        { "vmt", "traces/tiny.vmt" },
        { "champsim", "traces/tiny.champsim.xz" },
        { "trace", "traces/tiny.champsim.xz" },
    };

    [Theory]
    [MemberData(nameof(ShippedTraceConfigs))]
    public void ARunHasTheSameMetricsWithDecodeThreadsOneAndZero(string plugin, string trace)
    {
        RunResult Run(int threads)
        {
            var experiment = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(Path.Combine(RepoRoot, "configs", "quickstart.json"),
                [$"workload:plugin={plugin}", $"workload:options:path={trace}", $"workload:options:decodeThreads={threads}"]);
            return new ExperimentRunner().Run(experiment);
        }

        var inline = Run(0);
        var ahead = Run(1);
        Assert.Equal(RunResult.Completed, inline.Status);
        Assert.Equal(RunResult.Completed, ahead.Status);
        Assert.True(inline.Metrics[MetricNames.Accesses] > 0);
        Assert.Equal(inline.Metrics, ahead.Metrics);
    }

    [Fact]
    public void DecodeThreadsIsRefusedOutsideZeroToOne()
    {
        var e = Assert.Throws<ConfigException>(() => new ExperimentLoader(PluginCatalog.CreateDefault()).Load(
            Path.Combine(RepoRoot, "configs", "quickstart.json"), ["workload:options:decodeThreads=2"]));
        var error = Assert.Single(e.Errors);
        Assert.EndsWith("workload:options:decodeThreads", error.Where);
        Assert.Contains("allowed: 0 to 1", error.Message);
    }

    /// <summary>A Lackey text of <paramref name="lines"/> records, with <paramref name="bad"/> in place of line <paramref name="badLine"/> (1-based; 0: none).</summary>
    private string LackeyWith(int lines, int badLine, string bad)
    {
        var sb = new StringBuilder();
        var rng = new Random(lines * 31 + badLine);
        for (int i = 1; i <= lines; i++)
        {
            if (i == badLine)
            {
                sb.Append(bad).Append('\n');
                continue;
            }
            ulong address = (ulong)rng.NextInt64(1L << 40);
            sb.Append((i % 5) switch { 0 => "I  ", 1 => " L ", 2 => " S ", 3 => " M ", _ => " L " })
              .Append(address.ToString(i % 7 == 0 ? "X10" : "x8")).Append(',').Append(1 + i % 8).Append('\n');
        }
        string path = Path.Combine(_dir, $"t{lines}-{badLine}.lackey");
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    [Theory]
    [InlineData(1, " L 10,")]
    [InlineData(2, " X 10,4")]
    [InlineData(47, " L zz,4")]
    [InlineData(3_413, "L10,4")]           // about where the first batch of 4,096 accesses ends (1.2 accesses a line)
    [InlineData(30_000, " L 10,4 junk")]   // in the middle of the first ring slot of 65,536 accesses
    [InlineData(54_612, " L 10,99999")]    // about where the first slot ends
    [InlineData(240_000, " M 10")]         // past the ring's four slots: the decoder waited for the consumer
    [InlineData(250_000, "I  10,4x")]      // the last line
    public void ABadLineGivesTheSameErrorAfterTheSameAccesses(int badLine, string bad)
    {
        string path = LackeyWith(250_000, badLine, bad);
        ITraceReader Open() => LackeyReader.Open(path, "path", 0);

        var inline = Stream(Open, TraceDecoding.Inline, 4096);
        var ahead = Stream(Open, OnItsOwnThread, 4096);

        var expected = Assert.IsType<VmLabInputException>(inline.Error);
        var actual = Assert.IsType<VmLabInputException>(ahead.Error);
        Assert.Equal($"{path}:{badLine}", expected.Where);
        Assert.Equal(expected.Where, actual.Where);
        Assert.Equal(expected.Message, actual.Message);
        Assert.Contains($"\"{bad}\"", actual.Message);
        AssertSameBatches(inline.Simulation, ahead.Simulation);
        Assert.True(ahead.Ahead);
    }

    [Fact]
    public void ABadLineThroughTheHostFailsTheRunWithTheSameErrorEitherWay()
    {
        string path = LackeyWith(100_000, 70_000, " L 12345,notasize");
        VmLabInputException Run(int threads)
        {
            var experiment = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(Path.Combine(RepoRoot, "configs", "quickstart.json"),
                [$"workload:options:path={path}", $"workload:options:decodeThreads={threads}"]);
            return Assert.Throws<VmLabInputException>(() => new ExperimentRunner().Run(experiment));
        }

        var inline = Run(0);
        var ahead = Run(1);
        Assert.Equal($"{path}:70000", inline.Where);
        Assert.Equal(inline.Where, ahead.Where);
        Assert.Equal(inline.Message, ahead.Message);
    }

    /// <summary>
    /// An endless trace of one-access records that notes each read: on which thread, how many, and whether the reader
    /// was disposed before a read (which would be a bug). <see cref="ReadsDone"/> is set once <c>signalAfter</c> reads are done.
    /// </summary>
    private sealed class EndlessReader(int signalAfter = int.MaxValue) : ITraceReader
    {
        private int _reads;
        public Thread? ReadThread { get; private set; }
        public bool ReadAfterDispose { get; private set; }
        public bool Disposed { get; private set; }
        public ManualResetEventSlim ReadsDone { get; } = new();
        public int Reads => Volatile.Read(ref _reads);
        public int MaxAccessesPerRecord => 1;
        public long Records { get; private set; }
        public long Accesses => Records;
        public long RecordLimit { get; set; } = long.MaxValue;
        public double? Fraction => null;

        public int Read(Span<MemoryAccess> destination)
        {
            ReadThread = Thread.CurrentThread;
            if (Disposed) ReadAfterDispose = true;
            for (int i = 0; i < destination.Length; i++) destination[i] = MemoryAccess.Read((ulong)(Records + i) * 8);
            Records += destination.Length;
            if (Interlocked.Increment(ref _reads) == signalAfter) ReadsDone.Set();
            return destination.Length;
        }

        public void Skip(long records) => Records += records;
        public void Dispose() => Disposed = true;
    }

    /// <summary>A simulation that runs <paramref name="onBatch"/> before each batch (with the batch's number, from 0).</summary>
    private sealed class StoppingSimulation(int batchSize, Action<int> onBatch) : ISimulation
    {
        private int _batches;
        public int PreferredBatchSize => batchSize;
        public IKernelApi Kernel => throw new NotSupportedException();
        public void Execute(ReadOnlySpan<MemoryAccess> batch) => onBatch(_batches++);
        public void Report(in Expectation expectation) => throw new NotSupportedException();
    }

    [Fact]
    public void AConsumerThatFailsWhileTheRingIsFullStopsAndJoinsTheDecoder()
    {
        const int batchSize = 4096;
        int ringBatches = DecodeAhead.DefaultSlots * (DecodeAhead.DefaultSlotAccesses / batchSize);
        var reader = new EndlessReader(signalAfter: ringBatches);
        var sim = new StoppingSimulation(batchSize, batch =>
        {
            // Handshake: every slot of the ring is decoded (the decoder can only wait for this batch's slot now).
            Assert.True(reader.ReadsDone.Wait(TimeSpan.FromMinutes(2)), "the decoder never filled the ring");
            throw new InvalidOperationException("the machine failed");
        });

        var e = Assert.Throws<InvalidOperationException>(() => new TraceWorkload(() => reader, OnItsOwnThread).Stream(sim, CancellationToken.None));

        Assert.Equal("the machine failed", e.Message);
        Assert.NotNull(reader.ReadThread);
        Assert.NotSame(Thread.CurrentThread, reader.ReadThread);
        Assert.False(reader.ReadThread!.IsAlive); // joined before Stream returned
        Assert.Equal(ringBatches, reader.Reads); // the decoder waited for a free slot and was woken to stop, not to read
        Assert.True(reader.Disposed);
        Assert.False(reader.ReadAfterDispose);
    }

    [Fact]
    public void CancellingInTheMiddleOfATraceStopsTheDecoderAndLeavesNoThread()
    {
        var reader = new EndlessReader();
        using var cancel = new CancellationTokenSource();
        var sim = new StoppingSimulation(256, batch =>
        {
            if (batch == 1000) cancel.Cancel();
        });

        Assert.ThrowsAny<OperationCanceledException>(() => new TraceWorkload(() => reader, OnItsOwnThread).Stream(sim, cancel.Token));

        Assert.False(reader.ReadThread!.IsAlive);
        Assert.True(reader.Reads >= 1001);
        Assert.True(reader.Disposed);
        Assert.False(reader.ReadAfterDispose);
    }

    [Fact]
    public void DisposingBeforeReadingEverythingJoinsTheDecoder()
    {
        var reader = new EndlessReader(signalAfter: 2);
        var ahead = new DecodeAhead(reader, null, batchSize: 16, slots: 2, slotAccesses: 16);
        Assert.True(ahead.TryNext(out var first, out _));
        Assert.Equal(16, first.Length);
        Assert.Equal(0UL, first[0].Address);
        Assert.True(reader.ReadsDone.Wait(TimeSpan.FromMinutes(2))); // slot 0 held by the consumer, slot 1 filled: the decoder waits for a free slot
        ahead.Dispose();
        Assert.False(ahead.Thread.IsAlive);
        Assert.Same(ahead.Thread, reader.ReadThread);
    }

    [Fact]
    public void InlineDecodingReadsOnTheSimulatingThread()
    {
        var reader = new EndlessReader();
        var sim = new StoppingSimulation(64, batch =>
        {
            if (batch == 3) throw new OperationCanceledException();
        });
        var workload = new TraceWorkload(() => reader, TraceDecoding.Inline);
        Assert.Throws<OperationCanceledException>(() => workload.Stream(sim, CancellationToken.None));
        Assert.Same(Thread.CurrentThread, reader.ReadThread);
        Assert.False(workload.DecodedAhead);
        Assert.Equal(4, reader.Reads);
    }

    [Fact]
    public void ADecoderThreadNeedsAPermitFromTheHostsPoolOfCoresAndGivesItBack()
    {
        string path = Trace("tiny.lackey");
        using var none = new SemaphoreSlim(0);
        using var one = new SemaphoreSlim(1);

        var refused = new TraceWorkload(() => LackeyReader.Open(path, "p", 0), new TraceDecoding(1, none));
        refused.Stream(new RecordingSimulation(), CancellationToken.None);
        Assert.False(refused.DecodedAhead);

        var granted = new TraceWorkload(() => LackeyReader.Open(path, "p", 0), new TraceDecoding(1, one));
        granted.Stream(new RecordingSimulation(), CancellationToken.None);
        Assert.True(granted.DecodedAhead);
        Assert.Equal(1, one.CurrentCount);
    }

    [Fact]
    public void TheOptionFindsTheHostsPoolAsAKeyedService()
    {
        using var pool = new SemaphoreSlim(0);
        var services = new ServiceCollection().AddKeyedSingleton(TraceDecoding.CoresServiceKey, pool).BuildServiceProvider();
        var path = Trace("tiny.lackey");

        Assert.Equal(0, TraceDecoding.For(0, services).Threads);
        var decoding = TraceDecoding.For(1, services);
        Assert.Equal(Environment.ProcessorCount >= 2 ? 1 : 0, decoding.Threads);
        var workload = new TraceWorkload(() => LackeyReader.Open(path, "p", 0), decoding);
        workload.Stream(new RecordingSimulation(), CancellationToken.None);
        Assert.False(workload.DecodedAhead); // the pool had no core to give
    }

    [Fact]
    public void ASweepLeavesDecoderThreadsOnlyTheCoresItsCasesDoNotUse()
    {
        Assert.Equal(1, VmLab.Host.Sweeps.SweepRunner.DecodeCoresPerWorker(jobs: 1, processors: 2));
        Assert.Equal(0, VmLab.Host.Sweeps.SweepRunner.DecodeCoresPerWorker(jobs: 2, processors: 2));
        Assert.Equal(0, VmLab.Host.Sweeps.SweepRunner.DecodeCoresPerWorker(jobs: 3, processors: 2));
        Assert.Equal(1, VmLab.Host.Sweeps.SweepRunner.DecodeCoresPerWorker(jobs: 4, processors: 8));
        Assert.Equal(0, VmLab.Host.Sweeps.SweepRunner.DecodeCoresPerWorker(jobs: 5, processors: 8));
    }
}
