using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Core.Events;
using VmLab.Core.Kernel;

namespace VmLab.Core.Mmu;

/// <summary>
/// The kernel's side of TLB coherence across CPUs, as Linux x86 does it:
/// <list type="bullet">
/// <item>PCIDs: with <see cref="MachineOptions.Pcid"/>, each CPU tags entries with one of
/// <see cref="MachineOptions.Pcids"/> per-CPU PCIDs (Linux: <c>TLB_NR_DYN_ASIDS</c> = 6), assigned to address spaces on
/// switch and recycled least-recently-used; reusing a PCID for another address space flushes its entries on that CPU.
/// Without PCID every entry carries tag 0 and a switch flushes non-global entries (the MMU does that).</item>
/// <item>A CPU mask per address space (Linux <c>mm_cpumask</c>): the CPUs that ran it since their last flush of it.
/// A flush invalidates on each of them; every CPU but the initiating one costs one IPI (<c>tlb.shootdowns</c>). The
/// initiator is named by every call: the CPU of the kernel entry (fault or system call) that flushes.</item>
/// <item>Invalidations go through each CPU's own MMU (<see cref="ICpu"/>), which owns its TLB, so a TLB plugin that keeps
/// its state inline in a struct receives every one of them.</item>
/// <item>Range flushes: one <c>invlpg</c> per page up to <see cref="SinglePageFlushCeiling"/> pages, a flush of the
/// whole address space above (Linux <c>tlb_single_page_flush_ceiling</c>).</item>
/// <item>A ring of recent PTE changes and flushes, kept when the TLB coherence check is on, to explain a stale hit.</item>
/// </list>
/// </summary>
public sealed class TlbMaintenance
{
    /// <summary>Linux's <c>tlb_single_page_flush_ceiling</c>: ranges of more pages are flushed whole.</summary>
    public const int SinglePageFlushCeiling = 33;
    private const int RingSize = 64;

    private readonly ICpu[] _cpus;
    private readonly bool _pcid;
    private readonly AddressSpace?[][] _pcidOwner;
    private readonly long[][] _pcidLastUse;
    private readonly AddressSpace?[] _running;
    private readonly Dictionary<AddressSpace, ulong[]> _cpuMasks = new(ReferenceEqualityComparer.Instance);
    private readonly int _maskWords;
    private readonly Counter _flushes, _shootdowns, _flushedPages;
    private long _clock;
    private readonly TlbEvent[] _ring;
    private long _eventSeq;

    public TlbMaintenance(ICpu[] cpus, MachineOptions options, IMetrics metrics)
    {
        _cpus = cpus;
        var tlbs = cpus;
        _pcid = options.Pcid;
        Pcids = options.Pcids;
        _pcidOwner = new AddressSpace?[tlbs.Length][];
        _pcidLastUse = new long[tlbs.Length][];
        for (int c = 0; c < tlbs.Length; c++)
        {
            _pcidOwner[c] = new AddressSpace?[Pcids];
            _pcidLastUse[c] = new long[Pcids];
        }
        _running = new AddressSpace?[tlbs.Length];
        _maskWords = (tlbs.Length + 63) / 64;
        _flushes = metrics.Counter(MetricNames.TlbFlushes);
        _flushedPages = metrics.Counter(MetricNames.TlbFlushedPages);
        _shootdowns = metrics.Counter(MetricNames.TlbShootdowns);
        Recording = options.CheckTlb;
        _ring = Recording ? new TlbEvent[RingSize] : [];
    }

    /// <summary>PCIDs per CPU.</summary>
    public int Pcids { get; }

    /// <summary>Whether PTE changes and flushes are kept in the ring (the coherence check is on).</summary>
    public bool Recording { get; }

    // ---- context switches -----------------------------------------------------------------------------------

    /// <summary>
    /// <paramref name="cpu"/> switches to <paramref name="next"/>; returns the tag its entries get. Without PCID the caller
    /// flushes non-global entries when the address space changes (<paramref name="flushedByCaller"/>).
    /// </summary>
    public ushort SwitchTo(int cpu, Process next, bool flushedByCaller)
    {
        var prev = _running[cpu];
        var mm = next.Mm;
        _running[cpu] = mm;
        if (flushedByCaller && prev is not null)
        {
            ClearCpu(prev, cpu);
            Record(TlbEventKind.SwitchFlush, cpu, next.Pid, 0, 0, default, default);
            if (Stream is not null) EmitFlush(TlbEventKind.SwitchFlush, cpu, next, 0, 0, [cpu]);
        }
        SetCpu(mm, cpu);
        if (!_pcid) return 0;

        var owners = _pcidOwner[cpu];
        var lastUse = _pcidLastUse[cpu];
        int slot = -1;
        for (int i = 0; i < owners.Length; i++)
            if (ReferenceEquals(owners[i], mm)) { slot = i; break; }
        if (slot < 0)
        {
            slot = 0;
            for (int i = 0; i < owners.Length; i++)
            {
                if (owners[i] is null) { slot = i; break; }
                if (lastUse[i] < lastUse[slot]) slot = i;
            }
            var old = owners[slot];
            owners[slot] = mm;
            if (old is not null)
            {
                // The PCID now names another address space: what it cached for the old one must go.
                _cpus[cpu].InvalidateAsid(Tag(slot));
                _flushes.Increment();
                ClearCpu(old, cpu);
                Record(TlbEventKind.PcidRecycle, cpu, next.Pid, 0, 0, default, default);
                if (Stream is not null) EmitFlush(TlbEventKind.PcidRecycle, cpu, next, 0, 0, [cpu]);
            }
        }
        lastUse[slot] = ++_clock;
        return Tag(slot);
    }

    private static ushort Tag(int slot) => (ushort)(slot + 1);

    /// <summary>The tag <paramref name="process"/>'s entries carry on <paramref name="cpu"/>, or -1 when that CPU holds none of them.</summary>
    public int TagOn(int cpu, Process process)
    {
        if (!_pcid) return ReferenceEquals(_running[cpu], process.Mm) ? 0 : -1;
        var owners = _pcidOwner[cpu];
        for (int i = 0; i < owners.Length; i++)
            if (ReferenceEquals(owners[i], process.Mm)) return Tag(i);
        return -1;
    }

    /// <summary>Whether <paramref name="cpu"/> is in the address space's CPU mask.</summary>
    public bool MayHold(int cpu, Process process) =>
        _cpuMasks.TryGetValue(process.Mm, out var mask) && (mask[cpu >> 6] & (1UL << cpu)) != 0;

    private void SetCpu(AddressSpace p, int cpu)
    {
        if (!_cpuMasks.TryGetValue(p, out var mask)) _cpuMasks[p] = mask = new ulong[_maskWords];
        mask[cpu >> 6] |= 1UL << cpu;
    }

    private void ClearCpu(AddressSpace p, int cpu)
    {
        if (_cpuMasks.TryGetValue(p, out var mask)) mask[cpu >> 6] &= ~(1UL << cpu);
    }

    // ---- flushes --------------------------------------------------------------------------------------------

    /// <summary>
    /// Invalidates one page of <paramref name="process"/> on every CPU that may hold it (x86 <c>invlpg</c> + shootdown),
    /// initiated on <paramref name="initiator"/>: every other CPU in the address space's mask costs one IPI (-1: every CPU does).
    /// </summary>
    public void FlushPage(Process process, ulong vaddr, int initiator) =>
        Flush(process, TlbEventKind.FlushPage, vaddr, vaddr + VirtualAddress.PageSize, 1, initiator);

    /// <summary>
    /// Invalidates [<paramref name="start"/>, <paramref name="end"/>) of <paramref name="process"/> on every CPU that may
    /// hold it: per page up to <see cref="SinglePageFlushCeiling"/> pages, else the whole address space. One flush,
    /// one IPI per other CPU in the mask.
    /// </summary>
    public void FlushRange(Process process, ulong start, ulong end, int initiator)
    {
        start &= ~(VirtualAddress.PageSize - 1);
        if (end <= start) return;
        ulong pages = (end - start + VirtualAddress.PageSize - 1) >> VirtualAddress.PageShift;
        if (pages > SinglePageFlushCeiling) Flush(process, TlbEventKind.FlushRangeFull, start, end, 0, initiator);
        else Flush(process, TlbEventKind.FlushRange, start, end, pages, initiator);
    }

    /// <summary>Invalidates every non-global entry of <paramref name="process"/> on every CPU that may hold it.</summary>
    public void FlushAddressSpace(Process process, int initiator) => Flush(process, TlbEventKind.FlushMm, 0, 0, 0, initiator);

    /// <summary>
    /// One flush initiated on <paramref name="initiator"/>: on every CPU in the address space's mask, <paramref name="pages"/>
    /// pages from <paramref name="start"/> are invalidated (0: every non-global entry of the address space, by its PCID or
    /// all of them without PCIDs, and a CPU not running it leaves the mask). Every CPU but the initiator costs one IPI.
    /// </summary>
    private void Flush(Process process, TlbEventKind kind, ulong start, ulong end, ulong pages, int initiator)
    {
        _flushes.Increment();
        // The initiator's invlpg loop: one invalidation per page (remote CPUs are counted as shootdowns).
        if (pages > 0) _flushedPages.Add((long)pages);
        Record(kind, initiator, process.Pid, start, end, default, default);
        var reached = Stream is null ? null : new List<int>();
        if (_cpuMasks.TryGetValue(process.Mm, out var mask))
        {
            for (int cpu = 0; cpu < _cpus.Length; cpu++)
            {
                if ((mask[cpu >> 6] & (1UL << cpu)) == 0) continue;
                int tag = TagOn(cpu, process);
                if (tag >= 0)
                {
                    for (ulong page = 0; page < pages; page++)
                        _cpus[cpu].Invalidate(start + (page << VirtualAddress.PageShift), (ushort)tag);
                    if (pages == 0)
                    {
                        if (_pcid) _cpus[cpu].InvalidateAsid((ushort)tag);
                        else _cpus[cpu].InvalidateAll(keepGlobal: true);
                    }
                }
                if (cpu != initiator) _shootdowns.Increment();
                reached?.Add(cpu);
                // A CPU not running the address space now holds nothing of it until it runs it again.
                if (pages == 0 && !ReferenceEquals(_running[cpu], process.Mm)) mask[cpu >> 6] &= ~(1UL << cpu);
            }
        }
        if (reached is not null) EmitFlush(kind, initiator, process, start, end, reached);
    }

    /// <summary>The address space is gone: flush it everywhere and free its PCIDs.</summary>
    public void Release(Process process, int initiator)
    {
        Flush(process, TlbEventKind.Release, 0, 0, 0, initiator);
        for (int cpu = 0; cpu < _cpus.Length; cpu++)
        {
            var owners = _pcidOwner[cpu];
            for (int i = 0; i < owners.Length; i++)
                if (ReferenceEquals(owners[i], process.Mm)) owners[i] = null;
            if (ReferenceEquals(_running[cpu], process.Mm)) _running[cpu] = null;
        }
        _cpuMasks.Remove(process.Mm);
    }

    // ---- the event stream and the event ring ------------------------------------------------------------

    /// <summary>The run's event stream when events are on, else null.</summary>
    public EventStream? Stream { get; set; }

    /// <summary>A <c>tlb-flush</c> event: what was invalidated, on which CPUs, and the IPIs the others cost.</summary>
    private void EmitFlush(TlbEventKind kind, int initiator, Process process, ulong start, ulong end, List<int> reached)
    {
        string scope = kind switch
        {
            TlbEventKind.FlushPage => "page",
            TlbEventKind.FlushRange => "range",
            TlbEventKind.FlushRangeFull => "range-as-full",
            TlbEventKind.Release => "exit",
            TlbEventKind.SwitchFlush => "context-switch",
            TlbEventKind.PcidRecycle => "pcid-recycle",
            _ => "address-space",
        };
        Stream!.Emit(EventKinds.TlbFlush, initiator, process.Pid, start,
            new EventField("scope", scope),
            new EventField("end", end == 0 ? null : $"0x{end:x}"),
            new EventField("cpus", reached.ToArray()),
            new EventField("ipis", (long)reached.Count(c => c != initiator)));
    }

    /// <summary>Records a change of a leaf PTE made by the kernel (kept only while <see cref="Recording"/>).</summary>
    public void NotePteChange(Process process, ulong vaddr, in PageMapping before, in PageMapping after, int cpu)
    {
        Stream?.Pte(cpu, process.Pid, vaddr & ~(VirtualAddress.PageSize - 1), before, after);
        if (!Recording) return;
        Record(TlbEventKind.PteChange, cpu, process.Pid, vaddr & ~(VirtualAddress.PageSize - 1), 0, before, after);
    }

    private void Record(TlbEventKind kind, int cpu, int pid, ulong start, ulong end, PageMapping before, PageMapping after)
    {
        if (!Recording) return;
        _ring[_eventSeq % RingSize] = new TlbEvent(++_eventSeq, kind, cpu, pid, start, end, before, after);
    }

    /// <summary>The recorded events, oldest first.</summary>
    public IReadOnlyList<TlbEvent> RecentEvents()
    {
        var list = new List<TlbEvent>();
        long first = Math.Max(0, _eventSeq - _ring.Length);
        for (long s = first; s < _eventSeq; s++) list.Add(_ring[s % _ring.Length]);
        return list;
    }

    /// <summary>Explains a stale hit: the last recorded change of that PTE and the flushes of that address space after it.</summary>
    public string Explain(int pid, ulong vaddr, int cpu)
    {
        if (!Recording) return "no TLB events recorded";
        ulong page = vaddr & ~(VirtualAddress.PageSize - 1);
        var events = RecentEvents();
        var sb = new StringBuilder();
        int change = -1;
        for (int i = events.Count - 1; i >= 0; i--)
        {
            if (events[i].Kind == TlbEventKind.PteChange && events[i].Pid == pid && events[i].Start == page)
            {
                change = i;
                break;
            }
        }
        if (change < 0)
        {
            sb.Append($"no change of this PTE among the last {events.Count} recorded TLB events (a PTE written outside the kernel's MapPage/UpdatePageFlags/UnmapPage, or too long ago)");
        }
        else
        {
            sb.Append($"the PTE was changed by {events[change]} and no flush covering 0x{page:x} on cpu {cpu} followed");
            var later = new List<string>();
            for (int i = change + 1; i < events.Count; i++)
                if (events[i].Pid == pid && events[i].Kind != TlbEventKind.PteChange) later.Add(events[i].ToString());
            sb.Append(later.Count == 0 ? "; no flush of this address space was recorded after it" : $"; flushes of pid {pid} after it: {string.Join("; ", later)}");
        }
        return sb.ToString();
    }
}

public enum TlbEventKind : byte
{
    PteChange,
    FlushPage,
    FlushRange,
    FlushRangeFull,
    FlushMm,
    Release,
    SwitchFlush,
    PcidRecycle,
}

/// <summary>One recorded PTE change or TLB flush.</summary>
public readonly record struct TlbEvent(long Seq, TlbEventKind Kind, int Cpu, int Pid, ulong Start, ulong End, PageMapping Before, PageMapping After)
{
    public override string ToString() => Kind switch
    {
        TlbEventKind.PteChange => $"event #{Seq} pte-change pid {Pid} page 0x{Start:x}: {TlbCoherenceException.Format(Before)} -> {TlbCoherenceException.Format(After)}",
        TlbEventKind.FlushPage => $"event #{Seq} flush-page pid {Pid} 0x{Start:x} from cpu {Cpu}",
        TlbEventKind.FlushRange => $"event #{Seq} flush-range pid {Pid} [0x{Start:x}, 0x{End:x}) per page from cpu {Cpu}",
        TlbEventKind.FlushRangeFull => $"event #{Seq} flush-range pid {Pid} [0x{Start:x}, 0x{End:x}) as a full flush from cpu {Cpu}",
        TlbEventKind.FlushMm => $"event #{Seq} flush-mm pid {Pid} from cpu {Cpu}",
        TlbEventKind.Release => $"event #{Seq} release-mm pid {Pid}",
        TlbEventKind.SwitchFlush => $"event #{Seq} switch-flush pid {Pid} on cpu {Cpu}",
        TlbEventKind.PcidRecycle => $"event #{Seq} pcid-recycle pid {Pid} on cpu {Cpu}",
        _ => $"event #{Seq} {Kind}",
    };
}

/// <summary>The TLB served a translation the page tables no longer hold: a missing flush. Fails the run.</summary>
public sealed class TlbCoherenceException(string message) : Exception(message)
{
    public static string Format(in PageMapping m) =>
        m.IsEmpty ? "empty" : m.IsPresent ? $"frame 0x{m.Frame:x} [{m.Flags}]" + (m.PageShift != 12 ? $" {1UL << m.PageShift} B page" : "") : $"not present [{m.Flags}]";
}
