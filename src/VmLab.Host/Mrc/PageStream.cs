using System.Runtime.InteropServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Host.Mrc;

/// <summary>
/// The stream of page references a trace workload makes, as the MMU sees it: one reference per 4 KiB page an access
/// touches (an access that straddles a page boundary counts once per page, a Lackey modify arrives as a read then a
/// write), keyed by (pid, virtual page number). Each page gets a dense number in order of first reference and goes
/// to a <see cref="StackDistances"/>; with a sample rate below 1, only the pages SHARDS's hash selects do, and the
/// sampled accesses are kept (cut to the sampled page) for miniature simulations.
/// </summary>
public sealed class PageStream : ISimulation
{
    /// <summary>SHARDS's modulus P: a page is sampled when hash mod P &lt; T, the rate being T / P.</summary>
    public const ulong Modulus = 1UL << 24;

    private readonly Dictionary<(int, ulong), int> _ids = [];
    private readonly ulong _threshold;
    private readonly List<MemoryAccess>? _kept;

    /// <param name="threshold">SHARDS's T: pages whose hash mod <see cref="Modulus"/> is below it are counted; <see cref="Modulus"/> counts every page.</param>
    /// <param name="keep">Keep the sampled accesses (for miniature simulations).</param>
    public PageStream(ulong threshold, bool keep)
    {
        _threshold = threshold;
        _kept = keep ? [] : null;
    }

    public StackDistances Distances { get; } = new();

    /// <summary>Page references in the whole stream, sampled or not.</summary>
    public long References { get; private set; }

    /// <summary>The sampled accesses, each within one page, in stream order (empty unless kept).</summary>
    public IReadOnlyList<MemoryAccess> Kept => _kept ?? [];

    public int PreferredBatchSize => 4096;
    public IKernelApi Kernel => throw new InvalidOperationException("a trace read for a miss-ratio curve makes no system calls");
    public void Report(in Expectation expectation) => throw new InvalidOperationException("a trace read for a miss-ratio curve checks no expectations");

    /// <summary>SHARDS's spatial hash of a page: MurmurHash3's 64-bit finalizer over the page number mixed with the pid.</summary>
    public static ulong Hash(int pid, ulong page)
    {
        ulong h = page ^ ((ulong)(uint)pid * 0x9E3779B97F4A7C15UL);
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDUL;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53UL;
        h ^= h >> 33;
        return h;
    }

    public void Execute(ReadOnlySpan<MemoryAccess> batch)
    {
        foreach (var a in batch)
        {
            ulong page = a.FirstPage, lastPage = a.LastPage;
            for (ulong p = page; ; p++)
            {
                References++;
                if (_threshold >= Modulus || (Hash(a.Pid, p) & (Modulus - 1)) < _threshold)
                {
                    ref int id = ref CollectionsMarshal.GetValueRefOrAddDefault(_ids, (a.Pid, p), out bool seen);
                    if (!seen) id = _ids.Count - 1;
                    Distances.Reference(id);
                    if (_kept is not null) _kept.Add(page == lastPage ? a : Within(a, p));
                }
                if (p == lastPage) break;
            }
        }
    }

    /// <summary>The part of a straddling access that falls in page <paramref name="p"/>.</summary>
    private static MemoryAccess Within(MemoryAccess a, ulong p)
    {
        ulong start = Math.Max(a.Address, p << VirtualAddress.PageShift);
        ulong end = Math.Min(a.Address + a.Size - 1UL, (p << VirtualAddress.PageShift) + VirtualAddress.PageSize - 1UL);
        if (end < start) end = (p << VirtualAddress.PageShift) + VirtualAddress.PageSize - 1UL; // the access wrapped the address space
        return a with { Address = start, Size = (ushort)(end - start + 1) };
    }
}
