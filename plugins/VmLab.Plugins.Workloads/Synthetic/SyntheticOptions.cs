using VmLab.Traces;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace VmLab.Plugins.Workloads.Synthetic;

/// <summary>Where a synthetic stream's next access goes.</summary>
public enum SyntheticPattern
{
    /// <summary>Byte after byte through the footprint, <c>accessSize</c> at a time, wrapping around.</summary>
    Sequential,

    /// <summary>Every <c>stride</c> bytes through the footprint, wrapping around (modulo the footprint).</summary>
    Stride,

    /// <summary>Uniformly random pages of the footprint (random aligned offset within the page).</summary>
    Uniform,

    /// <summary>Page ranks drawn from Zipf(<c>alpha</c>); ranks are scattered over the footprint by a seeded permutation.</summary>
    Zipf,

    /// <summary>A hot set of <c>hotFraction</c> of the pages gets <c>hotProbability</c> of the accesses, uniformly; the cold rest the remainder.</summary>
    HotCold,

    /// <summary>Follows a random cyclic permutation of <c>nodeSize</c>-byte nodes (Sattolo's algorithm): every node once per lap, no locality.</summary>
    PointerChase,
}

/// <summary>The options of one access stream (one process).</summary>
public record SyntheticStreamOptions : IValidatableObject
{
    public const int PageSize = 4096;
    public const long MaxTableEntries = 1 << 24;

    [Description("Access pattern: sequential, stride, uniform, zipf, hot-cold or pointer-chase.")]
    public SyntheticPattern Pattern { get; init; } = SyntheticPattern.Sequential;

    [Description("Virtual address of the first working set (page-aligned).")]
    [Range(typeof(long), "0", "140737488289792")]
    public long Base { get; init; } = 0x10000000;

    [Description("Pages in a working set.")]
    [Range(typeof(long), "1", "268435456")]
    public long FootprintPages { get; init; } = 1024;

    [Description("Bytes per access.")]
    [Range(1, 4096)]
    public int AccessSize { get; init; } = 8;

    [Description("Stride pattern: bytes between consecutive accesses.")]
    [Range(typeof(long), "1", "1073741824")]
    public long Stride { get; init; } = 4096;

    [Description("Fraction of accesses that are writes (the rest are reads), drawn per access.")]
    [Range(0.0, 1.0)]
    public double WriteRatio { get; init; }

    [Description("Zipf pattern: skew exponent alpha (0 = uniform; 0.99 is YCSB's default).")]
    [Range(0.0, 10.0)]
    public double Alpha { get; init; } = 0.99;

    [Description("Hot-cold pattern: fraction of the footprint's pages that are hot.")]
    [Range(0.0, 1.0)]
    public double HotFraction { get; init; } = 0.1;

    [Description("Hot-cold pattern: probability that an access goes to the hot set.")]
    [Range(0.0, 1.0)]
    public double HotProbability { get; init; } = 0.9;

    [Description("Pointer-chase pattern: bytes per node (a power of two dividing the 4096-byte page).")]
    [Range(8, 4096)]
    public int NodeSize { get; init; } = 64;

    [Description("Accesses per phase (0 = no phase changes). At each phase change the stream moves to its next working set.")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long PhaseLength { get; init; }

    [Description("Working sets the phases cycle through; set k starts at base + k * footprintPages * 4096.")]
    [Range(1, 1024)]
    public int Phases { get; init; } = 2;

    public virtual IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Base % PageSize != 0)
            yield return new ValidationResult($"0x{Base:x} is not page-aligned; use a multiple of {PageSize}", [nameof(Base)]);
        long workingSets = PhaseLength > 0 ? Phases : 1;
        if (FootprintPages * workingSets > (0x7FFFFFFFF000L - Base) / PageSize)
            yield return new ValidationResult($"{workingSets} working set(s) of {FootprintPages} pages from 0x{Base:x} do not fit below the user address-space limit 0x7ffffffff000", [nameof(FootprintPages)]);
        if (Pattern == SyntheticPattern.Zipf && FootprintPages > MaxTableEntries)
            yield return new ValidationResult($"the zipf pattern keeps a table per page: at most {MaxTableEntries} pages, got {FootprintPages}", [nameof(FootprintPages)]);
        if (Pattern == SyntheticPattern.PointerChase)
        {
            if ((NodeSize & (NodeSize - 1)) != 0)
                yield return new ValidationResult($"{NodeSize} is not a power of two; allowed: 8, 16, ..., 4096", [nameof(NodeSize)]);
            else if (FootprintPages * (PageSize / NodeSize) > MaxTableEntries)
                yield return new ValidationResult($"the pointer chase keeps one entry per node: at most {MaxTableEntries} nodes, got {FootprintPages * (PageSize / NodeSize)} ({FootprintPages} pages of {PageSize / NodeSize} nodes); use fewer pages or larger nodes", [nameof(FootprintPages)]);
        }
        if ((Pattern is SyntheticPattern.Sequential or SyntheticPattern.Uniform or SyntheticPattern.Zipf or SyntheticPattern.HotCold) && PageSize % AccessSize != 0)
            yield return new ValidationResult($"{AccessSize} does not divide the {PageSize}-byte page; accesses are aligned to their size", [nameof(AccessSize)]);
    }
}

/// <summary>One process of a multi-process mix.</summary>
public sealed record SyntheticProcessOptions : SyntheticStreamOptions
{
    [Description("Process id of this stream's accesses.")]
    [Range(0, 65535)]
    public int Pid { get; init; }
}

/// <summary>
/// The <c>synthetic</c> workload. Without <see cref="Processes"/> it is one stream with the pattern options given here;
/// with them, each process has its own pattern options (those at this level are then not used) and the processes
/// take turns of <see cref="Quantum"/> accesses, round-robin, as a scheduler would.
/// </summary>
public sealed record SyntheticOptions : SyntheticStreamOptions
{
    [Description("Accesses to generate in all (all processes together).")]
    [Range(typeof(long), "1", "9223372036854775807")]
    public long Accesses { get; init; } = 1_000_000;

    [Description("Process id of the single stream (when no processes are listed).")]
    [Range(0, 65535)]
    public int Pid { get; init; }

    [Description("Processes of a multi-process mix, each { pid, pattern, ... } with its own stream options; empty = one stream.")]
    public List<SyntheticProcessOptions> Processes { get; init; } = [];

    [Description("Scheduler quantum: accesses a process makes before the next one runs.")]
    [Range(typeof(long), "1", "9223372036854775807")]
    public long Quantum { get; init; } = 10_000;

    public override IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Processes.Count == 0)
        {
            foreach (var r in base.Validate(validationContext)) yield return r;
            yield break;
        }
        var seen = new HashSet<int>();
        foreach (var p in Processes)
            if (!seen.Add(p.Pid))
                yield return new ValidationResult($"pid {p.Pid} is listed twice; each process needs its own pid", [nameof(Processes)]);
    }
}
