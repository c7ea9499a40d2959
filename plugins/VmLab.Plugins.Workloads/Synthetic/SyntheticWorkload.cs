using VmLab.Traces;
using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Workloads.Synthetic;

/// <summary>One process's access stream: a pattern over a working set, moving between working sets at phase changes.</summary>
public sealed class AccessStream
{
    private const int PageSize = SyntheticStreamOptions.PageSize;

    private readonly SyntheticStreamOptions _o;
    private readonly int _pid;
    private readonly ulong _footprintBytes;
    private readonly ushort _size;
    private readonly ulong _writeThreshold;
    private Xoshiro256 _rng;
    private ulong _position;
    private long _inPhase;
    private int _phase;
    private ulong _workingSet;

    // zipf: cumulative probabilities by rank, and rank -> page
    private readonly double[]? _zipfCdf;
    private readonly int[]? _rankToPage;
    // pointer chase: successor of each node
    private readonly int[]? _next;
    private readonly ulong _hotPages;
    private readonly ulong _hotThreshold;

    public AccessStream(SyntheticStreamOptions options, int pid, ulong seed)
    {
        _o = options;
        _pid = pid;
        _rng = new Xoshiro256(seed);
        _footprintBytes = (ulong)options.FootprintPages * PageSize;
        _size = (ushort)options.AccessSize;
        _writeThreshold = options.WriteRatio >= 1.0 ? ulong.MaxValue : (ulong)(options.WriteRatio * 18446744073709551616.0);
        _workingSet = (ulong)options.Base;
        int pages = (int)Math.Min(options.FootprintPages, int.MaxValue);
        switch (options.Pattern)
        {
            case SyntheticPattern.Zipf:
                _zipfCdf = new double[pages];
                double sum = 0;
                for (int i = 0; i < pages; i++)
                {
                    sum += 1.0 / Math.Pow(i + 1, options.Alpha);
                    _zipfCdf[i] = sum;
                }
                for (int i = 0; i < pages; i++) _zipfCdf[i] /= sum;
                _zipfCdf[pages - 1] = 1.0;
                _rankToPage = new int[pages];
                for (int i = 0; i < pages; i++) _rankToPage[i] = i;
                for (int i = pages - 1; i > 0; i--)
                {
                    int j = (int)_rng.Below((ulong)i + 1);
                    (_rankToPage[i], _rankToPage[j]) = (_rankToPage[j], _rankToPage[i]);
                }
                break;
            case SyntheticPattern.PointerChase:
                int nodes = (int)(options.FootprintPages * (PageSize / options.NodeSize));
                _next = new int[nodes];
                var order = new int[nodes];
                for (int i = 0; i < nodes; i++) order[i] = i;
                // Sattolo's algorithm: a uniformly random single cycle through all nodes.
                for (int i = nodes - 1; i > 0; i--)
                {
                    int j = (int)_rng.Below((ulong)i);
                    (order[i], order[j]) = (order[j], order[i]);
                }
                for (int i = 0; i < nodes; i++) _next[order[i]] = order[(i + 1) % nodes];
                _position = (ulong)order[0];
                break;
            case SyntheticPattern.HotCold:
                _hotPages = Math.Max(1UL, (ulong)Math.Round(options.HotFraction * options.FootprintPages));
                if (_hotPages > (ulong)options.FootprintPages) _hotPages = (ulong)options.FootprintPages;
                _hotThreshold = options.HotProbability >= 1.0 ? ulong.MaxValue : (ulong)(options.HotProbability * 18446744073709551616.0);
                break;
        }
    }

    public int Pid => _pid;

    /// <summary>Writes the next <paramref name="destination"/>.Length accesses of this stream.</summary>
    public void Fill(Span<MemoryAccess> destination)
    {
        while (!destination.IsEmpty)
        {
            int count = destination.Length;
            if (_o.PhaseLength > 0)
            {
                if (_inPhase == _o.PhaseLength)
                {
                    _inPhase = 0;
                    _phase = (_phase + 1) % _o.Phases;
                    _workingSet = (ulong)_o.Base + (ulong)_phase * _footprintBytes;
                    if (_o.Pattern is SyntheticPattern.Sequential or SyntheticPattern.Stride) _position = 0;
                }
                count = (int)Math.Min(count, _o.PhaseLength - _inPhase);
                _inPhase += count;
            }
            FillPattern(destination[..count]);
            destination = destination[count..];
        }
    }

    private void FillPattern(Span<MemoryAccess> d)
    {
        ulong ws = _workingSet;
        switch (_o.Pattern)
        {
            case SyntheticPattern.Sequential:
            {
                ulong step = _size, pos = _position, limit = _footprintBytes - _footprintBytes % step;
                for (int i = 0; i < d.Length; i++)
                {
                    d[i] = Access(ws + pos);
                    pos += step;
                    if (pos >= limit) pos = 0;
                }
                _position = pos;
                break;
            }
            case SyntheticPattern.Stride:
            {
                ulong stride = (ulong)_o.Stride % _footprintBytes, pos = _position, fp = _footprintBytes;
                for (int i = 0; i < d.Length; i++)
                {
                    d[i] = Access(ws + pos);
                    pos += stride;
                    if (pos >= fp) pos -= fp;
                }
                _position = pos;
                break;
            }
            case SyntheticPattern.Uniform:
            {
                ulong pages = (ulong)_o.FootprintPages, slots = (ulong)(PageSize / _size);
                for (int i = 0; i < d.Length; i++)
                    d[i] = Access(ws + _rng.Below(pages) * PageSize + _rng.Below(slots) * _size);
                break;
            }
            case SyntheticPattern.Zipf:
            {
                var cdf = _zipfCdf!;
                var map = _rankToPage!;
                ulong slots = (ulong)(PageSize / _size);
                for (int i = 0; i < d.Length; i++)
                {
                    double u = _rng.NextDouble();
                    int rank = Array.BinarySearch(cdf, u);
                    if (rank < 0) rank = ~rank;
                    if (rank >= cdf.Length) rank = cdf.Length - 1;
                    d[i] = Access(ws + (ulong)map[rank] * PageSize + _rng.Below(slots) * _size);
                }
                break;
            }
            case SyntheticPattern.HotCold:
            {
                ulong hot = _hotPages, cold = (ulong)_o.FootprintPages - hot, slots = (ulong)(PageSize / _size);
                for (int i = 0; i < d.Length; i++)
                {
                    ulong page = cold == 0 || _rng.Next() < _hotThreshold ? _rng.Below(hot) : hot + _rng.Below(cold);
                    d[i] = Access(ws + page * PageSize + _rng.Below(slots) * _size);
                }
                break;
            }
            default:
            {
                var next = _next!;
                ulong node = _position, nodeSize = (ulong)_o.NodeSize;
                for (int i = 0; i < d.Length; i++)
                {
                    d[i] = Access(ws + node * nodeSize);
                    node = (ulong)next[node];
                }
                _position = node;
                break;
            }
        }
    }

    private MemoryAccess Access(ulong address)
    {
        var kind = _writeThreshold != 0 && _rng.Next() < _writeThreshold ? AccessKind.Write : AccessKind.Read;
        return new MemoryAccess(address, _pid, _size, kind, AccessMode.User);
    }
}

/// <summary>
/// The <c>synthetic</c> workload: one or more seeded access streams; several processes take turns of a scheduler
/// quantum, so the engine switches address spaces at each turn. Randomness comes only from the component seed.
/// </summary>
public sealed class SyntheticWorkload : ITraceWorkload
{
    private readonly long _accesses;
    private readonly long _quantum;
    private readonly Func<AccessStream[]> _streams;
    private double _progress;

    private SyntheticWorkload(long accesses, long quantum, Func<AccessStream[]> streams)
    {
        _accesses = accesses;
        _quantum = quantum;
        _streams = streams;
    }

    public static SyntheticWorkload Create(SyntheticOptions o, ulong seed)
    {
        return new SyntheticWorkload(o.Accesses, o.Quantum, () =>
        {
            ulong s = seed;
            if (o.Processes.Count == 0) return [new AccessStream(o, o.Pid, Xoshiro256.SplitMix(ref s))];
            var streams = new AccessStream[o.Processes.Count];
            for (int i = 0; i < streams.Length; i++) streams[i] = new AccessStream(o.Processes[i], o.Processes[i].Pid, Xoshiro256.SplitMix(ref s));
            return streams;
        });
    }

    /// <summary>The share of the configured accesses handed over so far.</summary>
    public double? Progress => Volatile.Read(ref _progress);

    public void Run(ISimulation simulation, CancellationToken cancellationToken) => Stream(simulation, cancellationToken);

    public void Stream(ISimulation simulation, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _progress, 0.0);
        var streams = _streams();
        var batch = new MemoryAccess[Math.Max(1, simulation.PreferredBatchSize)];
        long left = _accesses;
        int current = 0;
        long turnLeft = _quantum;
        while (left > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = (int)Math.Min(batch.Length, left);
            int filled = 0;
            while (filled < n)
            {
                int take = (int)Math.Min(n - filled, turnLeft);
                streams[current].Fill(batch.AsSpan(filled, take));
                filled += take;
                turnLeft -= take;
                if (turnLeft == 0)
                {
                    current = (current + 1) % streams.Length;
                    turnLeft = _quantum;
                }
            }
            simulation.Execute(batch.AsSpan(0, n));
            left -= n;
            Volatile.Write(ref _progress, _accesses == 0 ? 1.0 : (double)(_accesses - left) / _accesses);
        }
    }
}
