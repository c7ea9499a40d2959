using System.Globalization;
using BenchmarkDotNet.Running;
using VmLab.Abstractions;

namespace VmLab.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project bench/VmLab.Benchmarks -- --filter '*'</c> runs the BenchmarkDotNet suites;
/// <c>-- memory [pages]</c> measures host memory per resident simulated page;
/// <c>-- pipeline composed|hand|vmt [repeats]</c> runs one pipeline benchmark's body <c>repeats</c> times after its
/// setup, for instruction counts under <c>valgrind --tool=callgrind</c> (the difference between two repeat counts,
/// divided by the accesses, is the instructions per access whatever the machine's load);
/// <c>-- faults [rounds] [events]</c> likewise for the fault path: each round writes 16,384 pages never touched
/// (with <c>events</c>, the event stream on and every event discarded).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "memory")
            return MemoryPerPage(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1 << 20);
        if (args.Length > 1 && args[0] == "pipeline")
            return Pipeline(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1);
        if (args.Length > 0 && args[0] == "faults")
            return Faults(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1, args.Length > 2 && args[2] == "events");
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }

    /// <summary>
    /// Touches <paramref name="pages"/> pages (one write each: a demand-zero fault, a frame, a PTE) and reports the
    /// managed heap's growth per resident page after a full collection, the machine's fixed part (sized by the
    /// configured frames, before any access) and the process's resident set.
    /// </summary>
    private static int MemoryPerPage(int pages)
    {
        long baseline = GC.GetTotalMemory(true);
        long rssBaseline = Rss();
        var machine = Fixtures.Machine(_ => Fixtures.FullyAssociative(), frames: pages + 65536L);
        machine.Execute([MemoryAccess.Write(Fixtures.Base - 4096, 8)]); // the process, its root and VMA exist
        long empty = GC.GetTotalMemory(true);
        long rssEmpty = Rss();
        var batch = new MemoryAccess[4096];
        for (int done = 0; done < pages;)
        {
            int n = Math.Min(batch.Length, pages - done);
            for (int i = 0; i < n; i++) batch[i] = MemoryAccess.Write(Fixtures.Base + (ulong)(done + i) * 4096, 8);
            machine.Execute(batch.AsSpan(0, n));
            done += n;
        }
        long full = GC.GetTotalMemory(true);
        long rssFull = Rss();
        long resident = machine.Frames.ResidentUserFrames;
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"configured frames        {machine.Memory.FrameCount:N0}"));
        Console.WriteLine(string.Create(inv, $"resident user pages      {resident:N0}   page-table pages {machine.Frames.PageTableFrames:N0}"));
        Console.WriteLine(string.Create(inv, $"fixed part (managed)     {empty - baseline:N0} bytes = {(double)(empty - baseline) / machine.Memory.FrameCount:F1} bytes per configured frame"));
        Console.WriteLine(string.Create(inv, $"per resident page        {(double)(full - empty) / resident:F1} bytes (managed heap, after a full GC)"));
        Console.WriteLine(string.Create(inv, $"process RSS              {rssBaseline / 1024:N0} KiB at start, {rssEmpty / 1024:N0} KiB empty machine, {rssFull / 1024:N0} KiB after; {(double)(rssFull - rssEmpty) / resident:F1} bytes per resident page"));
        GC.KeepAlive(machine);
        return 0;
    }

    private static int Pipeline(string which, int repeats)
    {
        var bench = new PipelineBenchmarks();
        bench.Setup();
        Action body = which switch
        {
            "composed" => bench.PluginComposed,
            "hand" => bench.HandSpecialised,
            "vmt" => bench.VmtDecodeAndPluginComposed,
            _ => throw new ArgumentException($"unknown pipeline '{which}'; allowed: composed, hand, vmt"),
        };
        for (int i = 0; i < repeats; i++) body();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{which}: {repeats} x {PipelineBenchmarks.Accesses:N0} accesses"));
        return 0;
    }

    /// <summary>
    /// <paramref name="rounds"/> rounds of first-touch writes to 16,384 fresh pages each (a TLB miss, a faulting walk,
    /// the kernel's checks, demand-zero, the retried walk), on one machine: the difference between two round counts
    /// under callgrind is the fault path's instructions.
    /// </summary>
    private static int Faults(int rounds, bool events)
    {
        const int Pages = FaultPathBenchmarks.Pages;
        var machine = Fixtures.Machine(_ => Fixtures.FullyAssociative(), frames: (long)Pages * (rounds + 1) + 65536);
        if (events) machine.RecordEvents(new DiscardEvents()); // every event built and handed over, then dropped
        var writes = new MemoryAccess[Pages];
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < Pages; i++) writes[i] = MemoryAccess.Write(Fixtures.Base + ((ulong)r * Pages + (ulong)i) * 4096, 8);
            machine.Execute(writes);
        }
        long faults = machine.Metrics[MetricNames.FaultsTotal];
        if (faults != (long)Pages * rounds) throw new InvalidOperationException($"{faults} faults for {Pages * rounds} first touches");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"faults: {rounds} x {Pages:N0} first touches"));
        return 0;
    }

    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}

/// <summary>An event sink that keeps nothing: what recording costs before any output.</summary>
internal sealed class DiscardEvents : VmLab.Core.Events.IEventSink
{
    public void Write(VmLab.Core.Events.MachineEvent e)
    {
    }
}
