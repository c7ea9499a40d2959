using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace FooPlugin;

public sealed record FooPluginOptions
{
    [Description("First address of the region swept (page-aligned).")]
    public ulong Base { get; init; } = 0x1000_0000;

    [Description("Pages in the region.")]
    [Range(1, 1 << 24)]
    public int Pages { get; init; } = 256;

    [Description("Pages skipped between two accesses: 1 touches every page, 2 every other one (wrapping around the region).")]
    [Range(1, 1 << 24)]
    public int Stride { get; init; } = 1;

    [Description("Times the region is swept.")]
    [Range(1, 1_000_000)]
    public int Passes { get; init; } = 4;

    [Description("Share of accesses that are writes, in percent, drawn from the run's seed.")]
    [Range(0, 100)]
    public int WritePercent { get; init; } = 25;
}

/// <summary>
/// A strided sweep: <c>Passes</c> times, <c>Pages</c> accesses that start at <c>Base</c> and step <c>Stride</c> pages,
/// wrapping around the region; each access is a write with probability <c>WritePercent</c>%, drawn from a generator
/// seeded with the run's seed, so the same config and seed give the same accesses. Accesses go to the machine in
/// batches of its preferred size through one reused buffer: nothing is allocated per access.
/// </summary>
public sealed class FooPlugin(FooPluginOptions options, ulong seed) : IWorkload
{
    private double _progress;

    public long Total => (long)options.Pages * options.Passes;

    public double? Progress => Volatile.Read(ref _progress);

    public void Run(ISimulation simulation, CancellationToken cancellationToken)
    {
        var random = new Xoshiro256(seed);
        var batch = new MemoryAccess[Math.Max(1, simulation.PreferredBatchSize)];
        int n = 0;
        long done = 0;
        for (int pass = 0; pass < options.Passes; pass++)
        {
            long page = 0;
            for (int i = 0; i < options.Pages; i++)
            {
                ulong address = options.Base + (ulong)page * VirtualAddress.PageSize;
                bool write = random.Below(100) < options.WritePercent;
                batch[n++] = write ? MemoryAccess.Write(address) : MemoryAccess.Read(address);
                page = (page + options.Stride) % options.Pages;
                if (n == batch.Length) Flush();
            }
        }
        Flush();

        void Flush()
        {
            if (n == 0) return;
            cancellationToken.ThrowIfCancellationRequested();
            simulation.Execute(batch.AsSpan(0, n));
            done += n;
            n = 0;
            Volatile.Write(ref _progress, (double)done / Total);
        }
    }
}
