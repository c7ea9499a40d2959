using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

namespace VmLab.Core.Events;

/// <summary>The kinds of event the machine records (the <c>kind</c> field of every event; docs/events.md lists their fields).</summary>
public static class EventKinds
{
    /// <summary>A TLB miss and the hardware walk that followed it.</summary>
    public const string Walk = "walk";
    /// <summary>A page-fault exception begins (its details and outcome are in the matching <see cref="FaultEnd"/>).</summary>
    public const string Fault = "fault";
    /// <summary>A page fault's handling ends: VMA, access check, handlers asked, resolution, PTE after, outcome.</summary>
    public const string FaultEnd = "fault-end";
    /// <summary>A general-protection fault (a non-canonical address).</summary>
    public const string GeneralProtection = "gp-fault";
    /// <summary>A frame handed out or freed by the frame allocator.</summary>
    public const string Frame = "frame";
    /// <summary>A leaf PTE written by the kernel, before and after.</summary>
    public const string Pte = "pte";
    /// <summary>A TLB invalidation, with the CPUs it reached and the shootdown IPIs it cost.</summary>
    public const string TlbFlush = "tlb-flush";
    /// <summary>A signal forced on or sent to a task, and what became of it.</summary>
    public const string Signal = "signal";
    /// <summary>A system call or kernel path a workload drove, with its arguments and return value.</summary>
    public const string Syscall = "syscall";
    /// <summary>A page evicted by reclaim: the victim, the policy and where it went.</summary>
    public const string Reclaim = "reclaim";

    /// <summary>Every kind, for validating filters.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        Walk, Fault, FaultEnd, GeneralProtection, Frame, Pte, TlbFlush, Signal, Syscall, Reclaim,
        "oom-kill", "oops", "fixup", "panic", "warning", "fork-failed", "scenario",
    ];
}

/// <summary>One field of an event: a name and a value (a number, a string, a boolean, or a list of those).</summary>
public readonly record struct EventField(string Name, object? Value);

/// <summary>
/// One recorded event. <see cref="Seq"/> orders all events of a run; <see cref="Access"/> is the index (from 0) of the
/// workload access that caused it, or of the last access before it for events a system call caused.
/// </summary>
public sealed record MachineEvent(long Seq, string Kind, int Cpu, int Pid, long Access, ulong Address, IReadOnlyList<EventField> Fields)
{
    /// <summary>
    /// The address of the last instruction fetched before the access (0 when unknown): known only while the stream
    /// <see cref="EventStream.SeesEveryAccess"/>, for traces that record instruction fetches.
    /// </summary>
    public ulong Ip { get; init; }

    /// <summary>The value of field <paramref name="name"/>, or null.</summary>
    public object? this[string name]
    {
        get
        {
            foreach (var f in Fields)
                if (f.Name == name) return f.Value;
            return null;
        }
    }
}

/// <summary>Where recorded events go (a file writer, a narrator, an aggregator). Called only while events are on.</summary>
public interface IEventSink
{
    void Write(MachineEvent e);
}

/// <summary>Which events are kept. Every bound is optional; events left out are counted (<see cref="EventStream.LeftOut"/>).</summary>
public sealed record EventFilter
{
    /// <summary>Only these pids (empty: all).</summary>
    public IReadOnlyList<int> Pids { get; init; } = [];
    /// <summary>Only these kinds (empty: all).</summary>
    public IReadOnlyList<string> Kinds { get; init; } = [];
    /// <summary>Only events whose address is in [<see cref="AddressFrom"/>, <see cref="AddressTo"/>) (events with no address pass).</summary>
    public ulong AddressFrom { get; init; }
    public ulong AddressTo { get; init; } = ulong.MaxValue;
    /// <summary>Only events of accesses in [<see cref="AccessFrom"/>, <see cref="AccessTo"/>).</summary>
    public long AccessFrom { get; init; }
    public long AccessTo { get; init; } = long.MaxValue;
    /// <summary>Keep at most this many events (0: no limit).</summary>
    public long First { get; init; }
    /// <summary>Keep one event in this many of those the other bounds pass (1: all).</summary>
    public long SampleEvery { get; init; } = 1;

    public bool IsDefault => this == new EventFilter();
}

/// <summary>
/// The machine's event stream, on only when a run asks for events: every site that records one checks for the stream
/// first, so with events off nothing is built and the fast path is untouched. Events are numbered, filtered and handed
/// to the sink as they happen; nothing is kept.
/// </summary>
public sealed class EventStream(IEventSink sink, EventFilter? filter = null)
{
    private readonly EventFilter _filter = filter ?? new EventFilter();
    private long _seq, _passed;

    /// <summary>The index of the workload access under way (set by the MMU; system calls see the last one).</summary>
    public long Access { get; set; }

    /// <summary>Accesses of earlier batches and scenario statements: the base the MMU adds a batch position to.</summary>
    public long AccessBase { get; set; }

    /// <summary>
    /// When true the MMU takes every access out of its fast path so the stream knows each access's index and the last
    /// instruction fetched (<see cref="Ip"/>): needed for attribution by instruction pointer, and slower.
    /// </summary>
    public bool SeesEveryAccess { get; init; }

    /// <summary>The address of the last instruction fetch (while <see cref="SeesEveryAccess"/>).</summary>
    public ulong Ip { get; set; }

    /// <summary>Events recorded (kept or not).</summary>
    public long Recorded => _seq;

    /// <summary>Events written to the sink.</summary>
    public long Written { get; private set; }

    /// <summary>Events the filter left out.</summary>
    public long LeftOut => _seq - Written;

    /// <summary>The sequence number the next event will get (a fault's slice runs from its begin to its end).</summary>
    public long NextSeq => _seq + 1;

    /// <summary>Records one event; returns its sequence number.</summary>
    public long Emit(string kind, int cpu, int pid, ulong address, params EventField[] fields)
    {
        long seq = ++_seq;
        if (!Passes(kind, pid, address)) return seq;
        _passed++;
        if (_filter.SampleEvery > 1 && (_passed - 1) % _filter.SampleEvery != 0) return seq;
        if (_filter.First > 0 && Written >= _filter.First) return seq;
        Written++;
        sink.Write(new MachineEvent(seq, kind, cpu, pid, Access, address, fields) { Ip = Ip });
        return seq;
    }

    /// <summary>The CPU of the kernel entry under way (the MMU's fault, or a system call's CPU): frame events carry it.</summary>
    public int EntryCpu { get; set; }

    /// <summary>The task of the kernel entry under way: frame events carry it.</summary>
    public int EntryPid { get; set; }

    /// <summary>A <c>frame</c> event: a block of 2^order frames allocated or freed, and what it is used for.</summary>
    public void Frame(string op, ulong pfn, int order, FrameUse use) =>
        Emit(EventKinds.Frame, EntryCpu, EntryPid, 0, new EventField("op", op), new EventField("frame", $"0x{pfn:x}"),
            new EventField("order", (long)order), new EventField("use", use.ToString().ToLowerInvariant()));

    /// <summary>A <c>pte</c> event: a leaf the kernel changed, before and after.</summary>
    public void Pte(int cpu, int pid, ulong page, in PageMapping before, in PageMapping after) =>
        Emit(EventKinds.Pte, cpu, pid, page, new EventField("before", EventText.Pte(before)), new EventField("after", EventText.Pte(after)));

    private bool Passes(string kind, int pid, ulong address)
    {
        var f = _filter;
        if (Access < f.AccessFrom || Access >= f.AccessTo) return false;
        if (f.Pids.Count > 0 && !f.Pids.Contains(pid)) return false;
        if (f.Kinds.Count > 0 && !f.Kinds.Contains(kind)) return false;
        return address == 0 || (address >= f.AddressFrom && address < f.AddressTo);
    }
}

/// <summary>How events spell accesses, error codes, PTEs and VMAs.</summary>
public static class EventText
{
    public static string Name(AccessKind kind) => kind switch { AccessKind.Write => "write", AccessKind.Fetch => "fetch", _ => "read" };

    /// <summary>A leaf as the events show it: <c>none</c>, <c>swap</c>, or the frame and its permission bits.</summary>
    public static string Pte(in PageMapping m)
    {
        if (m.IsEmpty) return "none";
        if (m.IsSwapped) return "swapped";
        if (!m.IsPresent) return "not-present";
        var f = m.Flags;
        return $"0x{m.Frame:x} {((f & PageFlags.Writable) != 0 ? "rw" : "ro")}{((f & PageFlags.User) != 0 ? " user" : " kernel")}{((f & PageFlags.NoExecute) != 0 ? " nx" : "")}{((f & PageFlags.Accessed) != 0 ? " A" : "")}{((f & PageFlags.Dirty) != 0 ? " D" : "")}{((f & PageFlags.Global) != 0 ? " G" : "")}";
    }

    public static string Vma(in VmaInfo v)
    {
        var p = v.Protection;
        string perms = $"{((p & Protection.Read) != 0 ? 'r' : '-')}{((p & Protection.Write) != 0 ? 'w' : '-')}{((p & Protection.Exec) != 0 ? 'x' : '-')}";
        string what = (v.Flags & VmaFlags.Device) != 0 ? "device" : v.IsAnonymous ? "anon" : $"file {v.FileName}";
        return $"0x{v.Start:x}-0x{v.End:x} {perms} {(v.IsShared ? "shared" : "private")} {what}";
    }
}
