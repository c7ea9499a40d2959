using System.Runtime.ExceptionServices;
using Microsoft.Extensions.DependencyInjection;
using VmLab.Abstractions;
using VmLab.Abstractions.Traces;

namespace VmLab.Traces;

/// <summary>
/// How a <see cref="TraceWorkload"/> decodes: inline, between the simulation's batches, or on a thread of its own a
/// few batches ahead of the simulation (<see cref="DecodeAhead"/>). The simulation sees the same batches either way.
/// </summary>
public sealed class TraceDecoding
{
    /// <summary>
    /// The key under which a host may register a <see cref="SemaphoreSlim"/> (a keyed service): one permit per core its
    /// runs leave free. A workload starts a decoder thread only with a permit, so a sweep running as many cases as there
    /// are cores decodes inline instead of putting two threads on each core.
    /// </summary>
    public const string CoresServiceKey = "vmlab:trace-decode-cores";

    private readonly SemaphoreSlim? _cores;

    /// <param name="threads">0 decodes inline; 1 decodes on a thread of its own (when <paramref name="cores"/>, if any, grants a permit).</param>
    /// <param name="cores">The host's pool of free cores, or null to start the thread unconditionally.</param>
    public TraceDecoding(int threads, SemaphoreSlim? cores = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threads, 1);
        Threads = threads;
        _cores = cores;
    }

    /// <summary>Decoding between the simulation's batches, on its thread.</summary>
    public static TraceDecoding Inline { get; } = new(0);

    /// <summary>The description of the trace workloads' <c>decodeThreads</c> option, the same for every format.</summary>
    public const string OptionDescription = "Threads decoding the trace ahead of the simulation: 0 (default) decodes between batches on the simulating thread; 1 decodes on a thread of its own while the machine simulates (when the process has 2 or more processors and, in a sweep, a core no case is using), which pays only where handing batches between cores is cheap (docs/performance.md). The results are the same either way.";

    /// <summary>Decoder threads asked for: 0 or 1.</summary>
    public int Threads { get; }

    /// <summary>
    /// What a workload's <c>decodeThreads</c> option means on this machine: a decoder thread when it asks for one and the
    /// process has at least two processors, drawn from the host's pool of free cores when the host keeps one.
    /// </summary>
    public static TraceDecoding For(int threads, IServiceProvider? services)
    {
        if (threads <= 0 || Environment.ProcessorCount < 2) return Inline;
        var cores = (services as IKeyedServiceProvider)?.GetKeyedService(typeof(SemaphoreSlim), CoresServiceKey) as SemaphoreSlim;
        return new TraceDecoding(threads, cores);
    }

    /// <summary>True when this pass decodes on a thread of its own; then <see cref="Return"/> must follow.</summary>
    internal bool TryTake() => Threads > 0 && (_cores is null || _cores.Wait(0));

    internal void Return() => _cores?.Release();
}

/// <summary>
/// Decodes a trace on a thread of its own while the caller simulates: a ring of a few preallocated slots, each holding
/// several batches exactly as <see cref="ITraceReader.Read"/> returned them into a buffer of the batch size (so the
/// batches are the ones inline decoding gives), handed between the two threads under one lock, one hand-over per slot.
/// Nothing is allocated per batch. An exception of the reader takes its place in the stream: the caller gets every
/// batch decoded before it, then the exception. <see cref="Dispose"/> stops the decoder (waking it if it waits for a
/// free slot), waits for the read it may be in to return, and joins the thread; the reader is the caller's to dispose
/// after that. The reader is used by the decoder thread only, from construction to <see cref="Dispose"/>.
/// </summary>
public sealed class DecodeAhead : IDisposable
{
    /// <summary>Slots in the ring.</summary>
    public const int DefaultSlots = 4;

    /// <summary>Accesses per slot (the batches of one hand-over).</summary>
    public const int DefaultSlotAccesses = 1 << 16;

    private sealed class Slot(int batchSize, int batches)
    {
        public readonly MemoryAccess[] Data = new MemoryAccess[batchSize * batches];
        public readonly int[] Lengths = new int[batches];
        public readonly double[] Fractions = new double[batches];
        public int Count;
    }

    private readonly ITraceReader _reader;
    private readonly OpenTrace? _trace;
    private readonly int _batchSize;
    private readonly Slot[] _slots;
    private readonly object _gate = new();
    private readonly Thread _thread;

    // Under _gate: slots decoded and not yet given back by the consumer; whether the decoder has published its last slot.
    private int _filled;
    private bool _finished;
    private bool _stopping;
    private ExceptionDispatchInfo? _failure;

    // The consumer's own: the slot it reads, the next batch in it and that batch's offset.
    private int _head = -1;
    private int _batch;
    private int _offset;

    /// <param name="reader">The reader; from now until <see cref="Dispose"/> returns, only the decoder thread uses it.</param>
    /// <param name="trace">The opened trace, for the progress after each batch (its <see cref="OpenTrace.Fraction"/>), or null to ask the reader.</param>
    /// <param name="batchSize">Accesses per batch: each read is given a buffer of this size, as inline decoding does.</param>
    public DecodeAhead(ITraceReader reader, OpenTrace? trace, int batchSize, int slots = DefaultSlots, int slotAccesses = DefaultSlotAccesses)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, Math.Max(1, reader.MaxAccessesPerRecord));
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 2);
        _reader = reader;
        _trace = trace;
        _batchSize = batchSize;
        int batchesPerSlot = Math.Max(1, slotAccesses / batchSize);
        _slots = new Slot[slots];
        for (int i = 0; i < slots; i++) _slots[i] = new Slot(batchSize, batchesPerSlot);
        _thread = new Thread(Decode) { IsBackground = true, Name = "vmlab trace decoder" };
        _thread.Start();
    }

    /// <summary>The decoder thread (for tests: it has ended once <see cref="Dispose"/> has returned).</summary>
    public Thread Thread => _thread;

    /// <summary>
    /// The next batch, in the reader's order, with the trace's progress after it (NaN when unknown); false at the end
    /// of the trace. Rethrows the reader's exception where it occurred. The batch stays valid until the next call.
    /// </summary>
    public bool TryNext(out ReadOnlySpan<MemoryAccess> batch, out double fraction)
    {
        while (true)
        {
            if (_head >= 0)
            {
                var slot = _slots[_head];
                if (_batch < slot.Count)
                {
                    int length = slot.Lengths[_batch];
                    batch = new ReadOnlySpan<MemoryAccess>(slot.Data, _offset, length);
                    fraction = slot.Fractions[_batch];
                    _batch++;
                    _offset += length;
                    return true;
                }
                // The slot is read: give it back to the decoder.
                lock (_gate)
                {
                    _filled--;
                    Monitor.PulseAll(_gate);
                }
            }
            lock (_gate)
            {
                while (_filled == 0 && !_finished) Monitor.Wait(_gate);
                if (_filled == 0)
                {
                    _head = -1;
                    _failure?.Throw();
                    batch = default;
                    fraction = double.NaN;
                    return false;
                }
            }
            _head = (_head + 1) % _slots.Length;
            _batch = 0;
            _offset = 0;
        }
    }

    private void Decode()
    {
        int tail = 0;
        while (true)
        {
            lock (_gate)
            {
                while (_filled == _slots.Length && !_stopping) Monitor.Wait(_gate);
                if (_stopping) return;
            }
            var slot = _slots[tail];
            bool last = Fill(slot);
            lock (_gate)
            {
                _filled++;
                _finished = last;
                Monitor.PulseAll(_gate);
            }
            if (last) return;
            tail = (tail + 1) % _slots.Length;
        }
    }

    /// <summary>Reads batches into <paramref name="slot"/> until it is full; true when the trace ended (or failed, or the consumer stopped).</summary>
    private bool Fill(Slot slot)
    {
        slot.Count = 0;
        int used = 0;
        try
        {
            while (slot.Count < slot.Lengths.Length)
            {
                if (Volatile.Read(ref _stopping)) return true;
                int n = _reader.Read(slot.Data.AsSpan(used, _batchSize));
                if (n == 0) return true;
                slot.Lengths[slot.Count] = n;
                slot.Fractions[slot.Count] = (_trace is null ? _reader.Fraction : _trace.Fraction) ?? double.NaN;
                slot.Count++;
                used += n;
            }
            return false;
        }
        catch (Exception e)
        {
            // Handed over after the batches decoded before it, as an inline read would have thrown it there.
            _failure = ExceptionDispatchInfo.Capture(e);
            return true;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            Volatile.Write(ref _stopping, true);
            Monitor.PulseAll(_gate);
        }
        _thread.Join();
    }
}
