using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Scenarios;

/// <summary>
/// Multi-byte memory operations as a user-mode loop performs them: stores (and, for a copy, the load before each
/// store) in rising address order, in pieces of up to 8 bytes that never cross a page, so each page faults when the
/// loop first reaches it and in the order a byte loop reaches it (for a copy: the source page, then the destination
/// page). A signal's handler that returns re-executes the faulting piece; one that ends with <c>skip</c> leaves the
/// whole operation (a handler that <c>siglongjmp</c>s out of the loop), as does one the scenario does not define.
/// </summary>
internal static class MemoryLoop
{
    private const ulong PageMask = VirtualAddress.PageSize - 1;

    /// <summary>The next piece at <paramref name="a"/> (and <paramref name="b"/>): at most 8 bytes, within both pages and the remaining count.</summary>
    public static int Piece(ulong a, ulong b, ulong remaining) =>
        (int)Math.Min(Math.Min(8UL, remaining), Math.Min(VirtualAddress.PageSize - (a & PageMask), VirtualAddress.PageSize - (b & PageMask)));
}

/// <summary>memset RANGE BYTE: the byte stored over the range in rising address order.</summary>
public sealed record MemsetStep(int Line, string Process, RangeExpr Range, byte Value) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (start, length) = run.Resolve(Range, Line);
        ulong pattern = Value * 0x0101_0101_0101_0101UL;
        for (ulong done = 0; done < length;)
        {
            ulong a = start + done;
            int piece = MemoryLoop.Piece(a, a, length - done);
            ulong v = piece == 8 ? pattern : pattern & ((1UL << (8 * piece)) - 1);
            if (run.Perform(p, AccessKind.Write, a, piece, v, Line, out _) != AccessOutcome.Done) return;
            done += (ulong)piece;
        }
    }
}

/// <summary>memcpy DST SRC N: N bytes loaded from SRC and stored at DST, piece by piece in rising address order.</summary>
public sealed record MemcpyStep(int Line, string Process, AddressExpr Destination, AddressExpr Source, ulong Count) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        ulong dst = run.Resolve(Destination, Line), src = run.Resolve(Source, Line);
        if (dst < src + Count && src < dst + Count)
            throw new VmLabInputException($"{run.File}:{Line}", $"memcpy's source [0x{src:x}, +{Count}) and destination [0x{dst:x}, +{Count}) overlap, which C leaves undefined; copy through a third region");
        for (ulong done = 0; done < Count;)
        {
            int piece = MemoryLoop.Piece(src + done, dst + done, Count - done);
            if (run.Perform(p, AccessKind.Read, src + done, piece, 0, Line, out ulong v) != AccessOutcome.Done) return;
            if (run.Perform(p, AccessKind.Write, dst + done, piece, v, Line, out _) != AccessOutcome.Done) return;
            done += (ulong)piece;
        }
    }
}

/// <summary>A page state a scenario can expect, as a bit of /proc/PID/pagemap.</summary>
public enum PageState { Present, Swapped, Exclusive, File }

internal static class PageStates
{
    public static bool Has(this PagemapEntry e, PageState s) => s switch
    {
        PageState.Present => e.Present,
        PageState.Swapped => e.Swapped,
        PageState.Exclusive => e.Exclusive,
        _ => e.File,
    };
}

/// <summary>"expect P page ADDR [not] STATE": one bit of the page's pagemap entry.</summary>
public sealed record ExpectPage(int Line, string Text, string Process, AddressExpr Address, PageState State, bool Negated) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run)
    {
        var e = run.Api.Pagemap(run.Task(Process).Pid, run.Resolve(Address, Line));
        return (e.Has(State) != Negated, e.ToString());
    }
}

/// <summary>"expect P page ADDR frame ==|!= Q page ADDR frame": whether two pages are the same frame (a reuse) or not (a copy); both must be present.</summary>
public sealed record ExpectFrames(int Line, string Text, string Process, AddressExpr Address, bool Same, string Other, AddressExpr OtherAddress) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run)
    {
        var a = run.Api.Pagemap(run.Task(Process).Pid, run.Resolve(Address, Line));
        var b = run.Api.Pagemap(run.Task(Other).Pid, run.Resolve(OtherAddress, Line));
        string actual = $"{Describe(a)}; {Describe(b)}";
        if (!a.Present || !b.Present) return (false, actual);
        return ((a.Frame == b.Frame) == Same, actual);
    }

    private static string Describe(PagemapEntry e) => e.Present ? $"frame 0x{e.Frame:x}" : e.ToString();
}

/// <summary>"expect P pages RANGE STATE OP N": how many pages of the range have the state.</summary>
public sealed record ExpectPageCount(int Line, string Text, string Process, RangeExpr Range, PageState State, Comparison Op, long Expected) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run)
    {
        int pid = run.Task(Process).Pid;
        var (start, length) = run.Resolve(Range, Line);
        long n = 0;
        for (ulong a = start & ~(VirtualAddress.PageSize - 1); a < start + length; a += VirtualAddress.PageSize)
            if (run.Api.Pagemap(pid, a).Has(State)) n++;
        return (Op.Holds(n, Expected), N(n));
    }
}

/// <summary>mincore RANGE: <c>ret</c>, and the residency vector kept for <c>expect P mincore ...</c>.</summary>
public sealed record MincoreStep(int Line, string Process, RangeExpr Range) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (start, length) = run.Resolve(Range, Line);
        ulong pages = (length + VirtualAddress.PageSize - 1) / VirtualAddress.PageSize;
        if (pages > 1 << 20) throw new VmLabInputException($"{run.File}:{Line}", $"mincore of {pages} pages: a scenario's mincore takes at most {1 << 20} pages");
        var vector = new byte[pages];
        p.LastReturn = run.Api.Mincore(p.Pid, start, length, vector);
        p.LastVector = string.Concat(vector.Select(b => (b & 1) == 1 ? '1' : '0'));
    }
}

/// <summary>brk ADDR: sets the program break; <c>ret</c> is the new break, or the old one when it could not move.</summary>
public sealed record BrkStep(int Line, string Process, AddressExpr Address) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        p.LastReturn = run.Api.Brk(p.Pid, p.Cpu, run.Resolve(Address, Line));
    }
}

/// <summary>"expect P mincore vector BITS": the last mincore's vector, one 0 or 1 per page.</summary>
public sealed record ExpectMincoreVector(int Line, string Text, string Process, string Bits) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run)
    {
        string v = run.Task(Process).LastVector ?? "";
        return (v == Bits, v.Length == 0 ? "no mincore yet" : v);
    }
}

/// <summary>"expect P mincore resident OP N": how many pages the last mincore reported resident.</summary>
public sealed record ExpectMincoreCount(int Line, string Text, string Process, Comparison Op, long Expected) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run)
    {
        long n = (run.Task(Process).LastVector ?? "").Count(ch => ch == '1');
        return (Op.Holds(n, Expected), N(n));
    }
}

/// <summary>mremap: <c>ret</c> is the new address or Linux's errno; on success the new region is named and holds the new length.</summary>
public sealed record MremapStep(int Line, string Process, string Region, AddressExpr Address, ulong OldLength, ulong NewLength, int Flags, AddressExpr? Target) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        ulong target = Target is null ? 0 : run.Resolve(Target, Line);
        long r = run.Api.Mremap(p.Pid, p.Cpu, run.Resolve(Address, Line), OldLength, NewLength, Flags, target);
        p.LastReturn = r;
        if (r >= 0) run.Regions[Region] = ((ulong)r, NewLength);
        else run.Event(Line, $"mremap to region {Region} failed: {Errno.Name(r)}");
    }
}
