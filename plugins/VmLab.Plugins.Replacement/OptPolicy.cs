using System.Runtime.InteropServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Replacement;

/// <summary>
/// Belady's OPT (MIN): evicts the page whose next use lies furthest in the future (never used again first). It reads
/// the whole workload once in advance (an <see cref="ITraceWorkload"/> run against a recorder), numbering every page an access touches as the
/// MMU does (one per page, a modify as a read then a write), and records for each position the position of the next
/// access to the same page (<see cref="NextUseTable"/>: 4 bytes per access). It then counts the accesses the MMU reports
/// (every access, TLB hits included), so it knows at each fault where in the stream the machine is, and gives back the
/// table's memory as the run passes it. This assumes every access completes (no access ends in a signal).
/// </summary>
public sealed class OptPolicy : IReplacementPolicy
{
    private readonly ITraceWorkload _workload;
    private readonly uint[] _nextUse;
    private readonly ResidentSet _resident;
    private NextUseTable? _next;
    private long _position;

    public OptPolicy(long frames, ITraceWorkload workload)
    {
        _workload = workload;
        _nextUse = new uint[frames];
        _resident = new ResidentSet(frames);
    }

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    /// <summary>Position → position of the next access to the same (pid, page), or <see cref="NextUseTable.Never"/>.</summary>
    private NextUseTable Future => _next ??= NextUseTable.Build(_workload);

    public void OnResident(ulong pfn, ulong key)
    {
        _ = Future;
        _nextUse[pfn] = NextUseTable.Never;
        _resident.Add(pfn);
    }

    public void OnReleased(ulong pfn) => _resident.Remove(pfn);

    public void OnEvicted(ulong pfn, ulong key) => OnReleased(pfn);

    public void OnAccess(ulong pfn)
    {
        var future = Future;
        long position = _position++;
        if (_resident.Contains(pfn))
            _nextUse[pfn] = future.NextUse(position);
        future.Passed(position);
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        pfn = 0;
        if (_resident.Count == 0) return false;
        int best = -1;
        for (int i = 0; i < _resident.Count; i++)
        {
            uint n = _nextUse[_resident[i]];
            if (best < 0 || n > _nextUse[_resident[best]]) best = i;
        }
        pfn = _resident[best];
        return true;
    }
}

/// <summary>
/// For every position of a page stream, the position of the next access to the same (pid, page), 4 bytes per access
/// in chunks of 2^20. Built in one forward pass: each access writes its own position into the entry of the previous
/// access to its page, so the only other memory is one dictionary entry per distinct page (the footprint, not the
/// length). Chunks are given back once the run has passed them (<see cref="Passed"/>).
/// </summary>
public sealed class NextUseTable
{
    /// <summary>No later access to the page.</summary>
    public const uint Never = uint.MaxValue;

    /// <summary>The longest stream a table holds: positions must stay below <see cref="Never"/>.</summary>
    public const long MaxAccesses = Never - 1L;

    private const int ChunkShift = 20;
    private const int ChunkMask = (1 << ChunkShift) - 1;

    private uint[]?[] _chunks = new uint[]?[16];
    private long _count;

    /// <summary>Accesses (pages touched) in the stream.</summary>
    public long Count => _count;

    /// <summary>Bytes the table holds now (chunks not yet given back).</summary>
    public long HeldBytes
    {
        get
        {
            long bytes = 0;
            foreach (var c in _chunks) if (c is not null) bytes += (long)c.Length * sizeof(uint);
            return bytes;
        }
    }

    /// <summary>Reads the workload's stream once and numbers every page it touches.</summary>
    public static NextUseTable Build(ITraceWorkload workload)
    {
        var table = new NextUseTable();
        var recorder = new Recorder(table);
        workload.Stream(recorder, CancellationToken.None);
        return table;
    }

    /// <summary>The position of the next access to the page accessed at <paramref name="position"/>, or <see cref="Never"/>.</summary>
    public uint NextUse(long position) =>
        position < _count && _chunks[position >> ChunkShift] is { } chunk ? chunk[position & ChunkMask] : Never;

    /// <summary>The run has passed <paramref name="position"/>: the chunk that ends there is no longer needed.</summary>
    public void Passed(long position)
    {
        if ((position & ChunkMask) == ChunkMask && position < _count) _chunks[position >> ChunkShift] = null;
    }

    private void Append(Dictionary<(int, ulong), uint> last, int pid, ulong page)
    {
        long position = _count;
        if (position > MaxAccesses - 1) throw new InvalidOperationException($"opt supports up to {MaxAccesses:N0} page accesses");
        int c = (int)(position >> ChunkShift);
        if ((position & ChunkMask) == 0)
        {
            if (c == _chunks.Length) Array.Resize(ref _chunks, _chunks.Length * 2);
            var chunk = GC.AllocateUninitializedArray<uint>(1 << ChunkShift);
            Array.Fill(chunk, Never);
            _chunks[c] = chunk;
        }
        ref uint previous = ref CollectionsMarshal.GetValueRefOrAddDefault(last, (pid, page), out bool seen);
        if (seen) _chunks[previous >> ChunkShift]![previous & ChunkMask] = (uint)position;
        previous = (uint)position;
        _count = position + 1;
    }

    /// <summary>Receives the workload's batches when it is read in advance; it has no kernel to offer and checks nothing.</summary>
    private sealed class Recorder(NextUseTable table) : ISimulation
    {
        private readonly Dictionary<(int, ulong), uint> _last = [];

        public int PreferredBatchSize => 4096;
        public IKernelApi Kernel => throw new InvalidOperationException("a workload read in advance by opt cannot make system calls");
        public void Report(in Expectation expectation) => throw new InvalidOperationException("a workload read in advance by opt cannot check expectations");

        public void Execute(ReadOnlySpan<MemoryAccess> batch)
        {
            foreach (var a in batch)
            {
                ulong page = a.FirstPage, lastPage = a.LastPage;
                for (ulong p = page; ; p++)
                {
                    table.Append(_last, a.Pid, p);
                    if (p == lastPage) break;
                }
            }
        }
    }
}
