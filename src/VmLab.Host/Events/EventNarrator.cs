using System.Globalization;
using VmLab.Abstractions.Faults;
using VmLab.Core.Events;

namespace VmLab.Host.Events;

/// <summary>
/// <c>--explain</c>: one line of plain English per event, prefixed with its sequence number, access index and CPU. A
/// fault's line, written when its handling ends, tells the whole path: the PTE and VMA found, the access check, the
/// handlers asked, the resolution and whether a signal followed.
/// </summary>
public static class EventNarrator
{
    public static string Narrate(MachineEvent e)
    {
        string head = $"#{e.Seq} access {e.Access} cpu {e.Cpu}: ";
        string at = $"0x{e.Address:x}";
        return head + e.Kind switch
        {
            EventKinds.Walk => Walk(e, at),
            EventKinds.Fault => $"pid {e.Pid} {e["accessType"]} {at}: page fault, error code {e["error"]}, PTE {Pte(e["pte"])}{Sharers(e["sharers"])}",
            EventKinds.FaultEnd => FaultEnd(e, at),
            EventKinds.GeneralProtection => $"pid {e.Pid} {at}: general-protection fault (non-canonical address)",
            EventKinds.Frame => $"frame {e["frame"]} {(e["op"] as string == "alloc" ? "allocated" : "freed")} ({e["use"]}{(e["order"] is long o && o > 0 ? $", order {o}" : "")})",
            EventKinds.Pte => $"pid {e.Pid} PTE for {at}: {Pte(e["before"])} -> {Pte(e["after"])}",
            EventKinds.TlbFlush => Flush(e, at),
            EventKinds.Signal => Signal(e, at),
            EventKinds.Syscall => $"pid {e.Pid} {e["name"]}{(e.Address != 0 ? $" {at}" : "")}{(e["end"] is string end ? $"-{end}" : "")}{(e["detail"] is string { Length: > 0 } d ? $" {d}" : "")}",
            EventKinds.Reclaim => Reclaim(e, at),
            _ => $"{e.Kind} pid {e.Pid}: {e["message"]}",
        };
    }

    private static string Walk(MachineEvent e, string at)
    {
        string what = (e["cause"] as string) switch
        {
            "retry" => "walk again after the fault",
            "refetch" => "TLB hit on an entry that forbids the access: dropped, walk",
            _ => "TLB miss, walk",
        };
        string refs = e["memrefs"] is long n ? $"{n} {(n == 1 ? "entry" : "entries")} read" : "";
        if (e["result"] as string == "ok")
        {
            var set = new List<string>();
            if (e["setAccessed"] is true) set.Add("Accessed");
            if (e["setDirty"] is true) set.Add("Dirty");
            return $"pid {e.Pid} {e["accessType"]} {at}: {what}, {refs} -> {Pte(e["pte"])}{(set.Count > 0 ? $", set {string.Join(" and ", set)}" : "")}";
        }
        return $"pid {e.Pid} {e["accessType"]} {at}: {what}, {refs}, stopped at level {e["level"]}: {e["result"]} (error code {e["error"]}) -> page fault";
    }

    private static string FaultEnd(MachineEvent e, string at)
    {
        var parts = new List<string>();
        parts.Add(e["vma"] is string vma ? $"VMA {vma}" : "no VMA");
        if (e["check"] is string check && check != "not reached") parts.Add($"access {check}");
        if (e["handlers"] is string[] { Length: > 0 } asked) parts.Add($"asked {string.Join(", ", asked)}");
        string story = string.Join("; ", parts);
        string outcome = e["outcome"] as string ?? "";
        string result = outcome switch
        {
            "minor" or "major" or "oom-retry" => $"{Resolution(e)} ({outcome} fault); access retried; no signal",
            "emulated" => $"{Resolution(e)}: the access was emulated; no signal",
            "signal" => $"{e["signal"]} forced{(e["alive"] is false ? ", the process died" : "")}",
            "fixup" => "exception-table fixup: the kernel copy returns -EFAULT; no signal",
            "oops" => "kernel oops: the task is killed",
            _ => "not resolved",
        };
        return $"pid {e.Pid} {e["accessType"]} {at}: PTE {Pte(e["pteBefore"])}{Sharers(e["sharers"])}; {story} -> {result}";
    }

    private static string Resolution(MachineEvent e)
    {
        string before = e["frameBefore"] as string ?? "-", after = e["frameAfter"] as string ?? "-";
        string pte = Pte(e["pteAfter"]);
        return (e["resolution"] as string) switch
        {
            FaultResolutions.CowCopy => $"copy-on-write: frame {before} copied to {after}, PTE {pte}",
            FaultResolutions.CowReuse => $"copy-on-write reuse: frame {after} is the process's alone, made writable in place, PTE {pte}",
            FaultResolutions.WriteShared => $"shared page made writable in place, PTE {pte}",
            FaultResolutions.DemandZero => $"demand-zero: zeroed frame {after} mapped, PTE {pte}",
            FaultResolutions.ZeroPage => $"zero page mapped read-only, PTE {pte}",
            FaultResolutions.SwapIn => $"swap-in into frame {after}, PTE {pte}",
            FaultResolutions.StackGrowth => $"stack grown down to the page, frame {after} mapped, PTE {pte}",
            FaultResolutions.FilePage => $"file page {after} mapped from the page cache, PTE {pte}",
            FaultResolutions.FileCopy => $"private file page copied to frame {after} on its first write, PTE {pte}",
            FaultResolutions.VmallocSync => "vmalloc area synced from the reference kernel table",
            FaultResolutions.AccessedDirty => $"Accessed/Dirty set by software, PTE {pte}",
            FaultResolutions.DeviceTrap => "trapped device page",
            FaultResolutions.DirtyLog => $"first write logged by dirty tracking, PTE {pte}",
            string other => $"{other}: PTE {pte}",
            null => $"resolved, PTE {pte}",
        };
    }

    private static string Flush(MachineEvent e, string at)
    {
        string scope = e["scope"] as string ?? "";
        string what = scope switch
        {
            "page" => $"page {at}",
            "range" => $"range {at}-{e["end"]}",
            "range-as-full" => $"range {at}-{e["end"]} (over the single-page ceiling: the whole address space)",
            "context-switch" => "the address space (context switch without PCID)",
            "pcid-recycle" => "a recycled PCID",
            "exit" => "the address space (released)",
            _ => "the address space",
        };
        string cpus = e["cpus"] is int[] c && c.Length > 0 ? string.Join(",", c.Select(x => x.ToString(CultureInfo.InvariantCulture))) : "none";
        long ipis = e["ipis"] as long? ?? 0;
        return $"pid {e.Pid} TLB flush of {what} on cpus {cpus}: {ipis} shootdown IPI{(ipis == 1 ? "" : "s")}";
    }

    private static string Signal(MachineEvent e, string at)
    {
        string outcome = (e["outcome"] as string) switch
        {
            "handler" => "its handler runs",
            "killed" => "default action: the process is killed",
            "killed-core" => "default action: the process is killed and dumps core",
            "pending" => "blocked: left pending",
            _ => "ignored",
        };
        string origin = e["forced"] is true ? "forced by the kernel" : $"sent by pid {e["sender"]}";
        return $"pid {e.Pid} {e["signal"]} ({e["code"]}) si_addr {e["siAddr"]}, {origin}: {outcome}";
    }

    private static string Reclaim(MachineEvent e, string at)
    {
        string where = e["swapSlot"] is long slot ? $"to swap slot {slot}" : "dropped (the file keeps it)";
        return $"reclaim by {e["policy"]}: frame {e["frame"]} ({e["page"]}{(e["dirty"] is true ? ", dirty" : "")}, {e["mapped"]} mapping(s), first pid {e.Pid} at {at}) evicted {where}";
    }

    private static string Pte(object? pte) => (pte as string) switch
    {
        "none" => "empty",
        string s => s,
        _ => "?",
    };

    private static string Sharers(object? sharers) => sharers is long n && n > 1 ? $", page shared by {n}" : "";
}
