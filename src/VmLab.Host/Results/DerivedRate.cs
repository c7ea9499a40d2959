using VmLab.Abstractions.Timing;

namespace VmLab.Host.Results;

/// <summary>
/// A rate a report computes from two stored metrics of the same case (<c>scale × numerator / denominator</c>); it is
/// never stored. A report chooses rates like metrics, by name (<c>--metrics tlb.miss_ratio</c>).
/// </summary>
public sealed record DerivedRate(string Name, string Meaning, string Numerator, string Denominator, double Scale)
{
    /// <summary>The metric MPKI divides by. No built-in workload counts instructions; a plugin that does reports it under this name.</summary>
    public const string Instructions = "instructions";

    /// <summary>Every derived rate, in the order <c>--metrics all</c> lists them (docs/metrics.md, "Derived rates").</summary>
    public static IReadOnlyList<DerivedRate> All { get; } =
    [
        new("tlb.miss_ratio", "TLB misses per access: tlb.misses / accesses", "tlb.misses", "accesses", 1),
        new("faults.per_kilo_access", "page faults per 1,000 accesses: 1000 × faults.total / accesses", "faults.total", "accesses", 1000),
        new("walk.memrefs_per_walk", "page-table entries read per walk: walk.memrefs / walk.count", "walk.memrefs", "walk.count", 1),
        new("mpki", "TLB misses per 1,000 instructions: 1000 × tlb.misses / instructions (needs an instructions metric)", "tlb.misses", Instructions, 1000),
        new(TimeMetrics.Seconds, "estimated seconds at the timing profile's clock: time.cycles / (1000 × time.clock_khz) (needs machine:timing)", TimeMetrics.Cycles, TimeMetrics.ClockKhz, 0.001),
    ];

    public static DerivedRate? Find(string name) => All.FirstOrDefault(r => r.Name == name);

    /// <summary>The rate for one case's metrics; null when either metric is missing or the denominator is 0.</summary>
    public double? Of(IReadOnlyDictionary<string, long> metrics) =>
        metrics.TryGetValue(Numerator, out long n) && metrics.TryGetValue(Denominator, out long d) && d != 0 ? Scale * n / d : null;
}
