using System.Collections.Concurrent;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;
using VmLab.Host.Config;
using VmLab.Host.Running;

namespace VmLab.Host.Sweeps;

/// <summary>
/// Decodes a trace once and feeds it to every run that reads it. A run whose workload is an
/// <see cref="ITraceWorkload"/> shared by two or more runs gets a decorator: the first run to start records the
/// batches the workload produces into chunks of memory, packed (<see cref="AccessPacking"/>: about 2–3 bytes per
/// access of a real trace instead of 16), and replays them to its machine; the others wait for the recording and replay it too, with the same batch
/// boundaries. Two workloads are the same when their plugin, resolved options, base folder and seed are equal.
/// A recording that would exceed the memory budget is abandoned and every run streams the trace itself. A trace that
/// streams as fast as a recording replays (<see cref="ITraceWorkload.StreamsAsFastAsReplay"/>: an uncompressed
/// <c>.vmt</c> file) is not recorded: every run streams it.
/// A recording is freed when the last run that needs it has finished.
/// </summary>
public sealed class TraceCache(long budgetBytes)
{
    /// <summary>Bytes per chunk of a recording (a batch that could need more gets a chunk of its own size).</summary>
    internal const int ChunkBytes = 1 << 20;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _reservedBytes;
    private long _peakBytes;
    private int _decodes;
    private int _replays;
    private int _streamed;
    private int _direct;

    public long BudgetBytes { get; } = budgetBytes;

    /// <summary>Traces decoded into memory.</summary>
    public int Decodes => _decodes;

    /// <summary>Runs fed from a recording.</summary>
    public int Replays => _replays;

    /// <summary>Runs of a shared trace that streamed it themselves (the recording did not fit the budget).</summary>
    public int Streamed => _streamed;

    /// <summary>Runs of a shared trace that streamed it themselves because it streams as fast as a recording replays.</summary>
    public int Direct => _direct;

    /// <summary>Memory held by recordings now.</summary>
    public long HeldBytes => Interlocked.Read(ref _reservedBytes);

    /// <summary>The most memory held by recordings at once.</summary>
    public long PeakBytes => Interlocked.Read(ref _peakBytes);

    /// <summary>
    /// Declares the runs to come and returns each experiment to run: unchanged, or with its workload decorated to
    /// read through the cache when another run reads the same trace.
    /// </summary>
    public IReadOnlyList<Experiment> Prepare(IReadOnlyList<Experiment> experiments)
    {
        var keys = experiments.Select(KeyOf).ToList();
        var uses = keys.Where(k => k is not null).GroupBy(k => k!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var result = new List<Experiment>(experiments.Count);
        for (int i = 0; i < experiments.Count; i++)
        {
            string? key = keys[i];
            if (BudgetBytes <= 0 || key is null || uses[key] < 2)
            {
                result.Add(experiments[i]);
                continue;
            }
            var entry = _entries.GetOrAdd(key, _ => new Entry(this));
            Interlocked.Increment(ref entry.PendingUses);
            result.Add(Decorate(experiments[i], entry));
        }
        return result;
    }

    /// <summary>The identity of a trace workload's output, or null for a workload that is not a plain trace.</summary>
    public static string? KeyOf(Experiment experiment)
    {
        var w = experiment.Workload;
        if (!typeof(ITraceWorkload).IsAssignableFrom(w.Plugin.Registration.ImplementationType)) return null;
        string options = OptionsWriter.ToNode(w.Options, w.Options.GetType())?.ToJsonString() ?? "{}";
        ulong seed = Seeds.For(experiment.Seed, w.KeyPath);
        return $"{w.Plugin.Folder}|{w.Plugin.Name}|{experiment.BaseDirectory}|{seed}|{options}";
    }

    private static Experiment Decorate(Experiment experiment, Entry entry)
    {
        var component = experiment.Workload;
        var registration = component.Plugin.Registration;
        var factory = registration.Factory;
        var decorated = registration with { Factory = context => new SharedTraceWorkload((ITraceWorkload)factory(context), entry) };
        return experiment with { Workload = component with { Plugin = component.Plugin with { Registration = decorated } } };
    }

    private bool TryReserve(long bytes)
    {
        long now = Interlocked.Add(ref _reservedBytes, bytes);
        if (now > BudgetBytes)
        {
            Interlocked.Add(ref _reservedBytes, -bytes);
            return false;
        }
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakBytes)) && Interlocked.CompareExchange(ref _peakBytes, now, peak) != peak) { }
        return true;
    }

    private void Unreserve(long bytes) => Interlocked.Add(ref _reservedBytes, -bytes);

    /// <summary>One shared trace: recorded once (or found too large), released after its last use.</summary>
    private sealed class Entry(TraceCache cache)
    {
        public int PendingUses;
        public TraceCache Cache => cache;
        private readonly Lock _gate = new();
        private bool _attempted;
        private Recording? _recording;
        private Exception? _failure;

        /// <summary>
        /// The recording, made by the first caller with its own workload; null when it did not fit or when the trace
        /// streams as fast as a recording replays.
        /// </summary>
        public Recording? Get(ITraceWorkload workload, int batchSize, CancellationToken cancellationToken)
        {
            if (workload.StreamsAsFastAsReplay) return null;
            lock (_gate)
            {
                if (!_attempted)
                {
                    try
                    {
                        _recording = Record(workload, batchSize, cancellationToken);
                        if (_recording is not null) Interlocked.Increment(ref cache._decodes);
                    }
                    catch (OperationCanceledException)
                    {
                        throw;
                    }
                    catch (Exception e)
                    {
                        _failure = e;
                    }
                    _attempted = true;
                }
                if (_failure is not null) throw Rethrow(_failure);
                return _recording is not null && _recording.BatchSize == batchSize ? _recording : null;
            }
        }

        private static Exception Rethrow(Exception e) => e switch
        {
            VmLabInputException input => new VmLabInputException(input.Where, input.Message),
            _ => new InvalidOperationException($"decoding the shared trace failed: {e.Message}", e),
        };

        private Recording? Record(ITraceWorkload workload, int batchSize, CancellationToken cancellationToken)
        {
            var recorder = new Recorder(cache, batchSize);
            try
            {
                workload.Stream(recorder, cancellationToken);
                return recorder.Finish();
            }
            catch (BudgetExceeded)
            {
                recorder.Abandon();
                return null;
            }
            catch
            {
                recorder.Abandon();
                throw;
            }
        }

        public void Release()
        {
            if (Interlocked.Decrement(ref PendingUses) > 0) return;
            lock (_gate)
            {
                if (_recording is null) return;
                cache.Unreserve(_recording.Bytes);
                _recording = null;
            }
        }
    }

    private sealed class BudgetExceeded : Exception;

    /// <summary>Batches as the workload produced them, packed into chunks; a batch never spans two chunks.</summary>
    private sealed class Recording(List<(byte[] Data, List<int> Batches)> chunks, int batchSize, int longestBatch, long bytes)
    {
        public int BatchSize { get; } = batchSize;
        public long Bytes { get; } = bytes;

        public void Replay(ISimulation simulation, CancellationToken cancellationToken)
        {
            // One buffer per replay, unpacked into batch by batch: the machine sees the recorded batches, whole.
            var buffer = new MemoryAccess[Math.Max(1, longestBatch)];
            var state = default(AccessPacking.State);
            foreach (var (data, batches) in chunks)
            {
                int offset = 0;
                foreach (int length in batches)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    offset += AccessPacking.Unpack(data.AsSpan(offset), buffer.AsSpan(0, length), ref state);
                    simulation.Execute(new ReadOnlySpan<MemoryAccess>(buffer, 0, length));
                }
            }
        }
    }

    /// <summary>The simulation a shared trace is decoded into.</summary>
    private sealed class Recorder(TraceCache cache, int batchSize) : ISimulation
    {
        private readonly List<(byte[] Data, List<int> Batches)> _chunks = [];
        private AccessPacking.State _state;
        private int _used;
        private int _longest;
        private long _bytes;

        public int PreferredBatchSize => batchSize;
        public IKernelApi Kernel => throw new NotSupportedException("a trace workload makes no system calls");
        public void Report(in Expectation expectation) => throw new NotSupportedException("a trace workload checks no expectations");

        public void Execute(ReadOnlySpan<MemoryAccess> batch)
        {
            if (batch.IsEmpty) return;
            long worst = (long)batch.Length * AccessPacking.MaxBytesPerAccess;
            if (_chunks.Count == 0 || _chunks[^1].Data.Length - _used < worst)
            {
                long bytes = Math.Max(ChunkBytes, worst);
                if (bytes > Array.MaxLength || !cache.TryReserve(bytes)) throw new BudgetExceeded();
                _bytes += bytes;
                _chunks.Add((GC.AllocateUninitializedArray<byte>((int)bytes), []));
                _used = 0;
            }
            var (data, batches) = _chunks[^1];
            _used += AccessPacking.Pack(batch, data.AsSpan(_used), ref _state);
            batches.Add(batch.Length);
            _longest = Math.Max(_longest, batch.Length);
        }

        public Recording Finish() => new(_chunks, batchSize, _longest, _bytes);

        public void Abandon()
        {
            cache.Unreserve(_bytes);
            _bytes = 0;
            _chunks.Clear();
        }
    }

    /// <summary>
    /// The workload a run sees: it replays the shared recording, or streams its own workload when there is none. It is
    /// still a trace workload, so a policy that reads the stream in advance (OPT) reads the shared copy too. Each run
    /// prepares its own machine.
    /// </summary>
    private sealed class SharedTraceWorkload(ITraceWorkload inner, Entry entry) : ITraceWorkload
    {
        public bool StreamsAsFastAsReplay => inner.StreamsAsFastAsReplay;

        public void Prepare(IKernelApi kernel) => inner.Prepare(kernel);

        public void Stream(ISimulation simulation, CancellationToken cancellationToken) =>
            StreamCounting(simulation, cancellationToken, count: false);

        public void Run(ISimulation simulation, CancellationToken cancellationToken)
        {
            try
            {
                inner.Prepare(simulation.Kernel);
                StreamCounting(simulation, cancellationToken, count: true);
            }
            finally
            {
                entry.Release();
            }
        }

        private void StreamCounting(ISimulation simulation, CancellationToken cancellationToken, bool count)
        {
            var recording = entry.Get(inner, simulation.PreferredBatchSize, cancellationToken);
            if (recording is null)
            {
                if (count) Interlocked.Increment(ref inner.StreamsAsFastAsReplay ? ref entry.Cache._direct : ref entry.Cache._streamed);
                inner.Stream(simulation, cancellationToken);
            }
            else
            {
                if (count) Interlocked.Increment(ref entry.Cache._replays);
                recording.Replay(simulation, cancellationToken);
            }
        }
    }
}
