using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Replacement;

/// <summary>
/// Belady's OPT (MIN): evicts the page whose next use lies furthest in the future (never used again first). It reads
/// the whole workload once in advance (an <see cref="ITraceWorkload"/> run against a recorder), numbering every page an access touches as the
/// MMU does (one per page, a modify as a read then a write), and computes for each position the position of the next
/// access to the same page. It then counts the accesses the MMU reports (every access, TLB hits included), so it knows
/// at each fault where in the stream the machine is. This assumes every access completes (no access ends in a signal).
/// </summary>
public sealed class OptPolicy : IReplacementPolicy
{
    private const int Never = int.MaxValue;
    private readonly ITraceWorkload _workload;
    private readonly int[] _nextUse;
    private readonly ResidentSet _resident;
    private int[]? _next;
    private long _position;

    public OptPolicy(long frames, ITraceWorkload workload)
    {
        _workload = workload;
        _nextUse = new int[frames];
        _resident = new ResidentSet(frames);
    }

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    /// <summary>Position → position of the next access to the same (pid, page), or <see cref="Never"/>.</summary>
    private int[] Future => _next ??= BuildFuture(_workload);

    /// <summary>Receives the workload's batches when it is read in advance; it has no kernel to offer and checks nothing.</summary>
    private sealed class Recorder(List<(int Pid, ulong Page)> pages) : ISimulation
    {
        public int PreferredBatchSize => 4096;
        public IKernelApi Kernel => throw new InvalidOperationException("a workload read in advance by opt cannot make system calls");
        public void Report(in Expectation expectation) => throw new InvalidOperationException("a workload read in advance by opt cannot check expectations");

        public void Execute(ReadOnlySpan<MemoryAccess> batch)
        {
            foreach (var a in batch)
            {
                ulong page = a.Address >> VirtualAddress.PageShift;
                ulong last = a.Address + (a.Size == 0 ? 0UL : a.Size - 1UL);
                if (last < a.Address) last = ulong.MaxValue;
                ulong lastPage = last >> VirtualAddress.PageShift;
                for (ulong p = page; ; p++)
                {
                    pages.Add((a.Pid, p));
                    if (p == lastPage) break;
                }
            }
        }
    }

    private static int[] BuildFuture(ITraceWorkload workload)
    {
        var pages = new List<(int Pid, ulong Page)>();
        workload.Stream(new Recorder(pages), CancellationToken.None);
        if (pages.Count >= Never) throw new InvalidOperationException($"opt supports up to {Never - 1} page accesses");
        var next = new int[pages.Count];
        var seen = new Dictionary<(int, ulong), int>();
        for (int i = pages.Count - 1; i >= 0; i--)
        {
            next[i] = seen.TryGetValue(pages[i], out int n) ? n : Never;
            seen[pages[i]] = i;
        }
        return next;
    }

    public void OnResident(ulong pfn, ulong key)
    {
        _ = Future;
        _nextUse[pfn] = Never;
        _resident.Add(pfn);
    }

    public void OnReleased(ulong pfn) => _resident.Remove(pfn);

    public void OnEvicted(ulong pfn, ulong key) => OnReleased(pfn);

    public void OnAccess(ulong pfn)
    {
        var future = Future;
        long position = _position++;
        if (_resident.Contains(pfn))
            _nextUse[pfn] = position < future.Length ? future[position] : Never;
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        pfn = 0;
        if (_resident.Count == 0) return false;
        int best = -1;
        for (int i = 0; i < _resident.Count; i++)
        {
            int n = _nextUse[_resident[i]];
            if (best < 0 || n > _nextUse[_resident[best]]) best = i;
        }
        pfn = _resident[best];
        return true;
    }
}
