using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Numerics;

namespace VmLab.Plugins.Tlb;

/// <summary>Which entry of a full set (or of a full fully-associative TLB) is given up.</summary>
public enum TlbPolicy
{
    /// <summary>Least recently used.</summary>
    Lru,
    /// <summary>First in, first out: hits do not change the order.</summary>
    Fifo,
    /// <summary>A uniformly random entry, from the component's seed.</summary>
    Random,
    /// <summary>Tree pseudo-LRU (power-of-two ways).</summary>
    Plru,
    /// <summary>Static re-reference interval prediction, 2-bit (SRRIP-HP).</summary>
    Srrip,
}

/// <summary>Page sizes as written in configs: <c>4k</c>, <c>16k</c>, <c>64k</c>, <c>2m</c>, <c>32m</c>, <c>512m</c>, <c>1g</c>.</summary>
public static class PageSizes
{
    public const string Allowed = "a power of two from 4k to 512g written with k, m or g (4k, 16k, 64k, 2m, 32m, 512m, 1g)";

    public static bool TryParse(string text, out int shift)
    {
        shift = 0;
        var t = text.Trim().ToLowerInvariant();
        if (t.EndsWith('b')) t = t[..^1];
        if (t.Length < 2) return false;
        int unit = t[^1] switch { 'k' => 10, 'm' => 20, 'g' => 30, _ => -1 };
        if (unit < 0 || !long.TryParse(t[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0 || !BitOperations.IsPow2(n))
            return false;
        shift = BitOperations.Log2((ulong)n) + unit;
        return shift is >= 12 and <= 39;
    }

    /// <summary>The set of page shifts as a bit mask; errors name each bad element.</summary>
    public static ulong Mask(IReadOnlyList<string> sizes, string member, List<ValidationResult>? errors)
    {
        ulong mask = 0;
        for (int i = 0; i < sizes.Count; i++)
        {
            if (TryParse(sizes[i], out int shift)) mask |= 1UL << shift;
            else errors?.Add(new ValidationResult($"'{sizes[i]}' is not a page size; allowed: {Allowed}", [$"{member}:{i}"]));
        }
        if (sizes.Count == 0) errors?.Add(new ValidationResult("needs at least one page size, e.g. [\"4k\"]", [member]));
        return mask;
    }

    public static string Name(int shift) => shift >= 30 ? $"{1L << (shift - 30)}g" : shift >= 20 ? $"{1L << (shift - 20)}m" : $"{1L << (shift - 10)}k";
}

/// <summary>The shape of one set-associative array, validated the same way wherever it appears.</summary>
internal static class ArrayShape
{
    public static IEnumerable<ValidationResult> Validate(int entries, int ways, TlbPolicy policy, IReadOnlyList<string> pageSizes)
    {
        var errors = new List<ValidationResult>();
        int w = ways == 0 ? entries : ways;
        if (w > entries)
            errors.Add(new ValidationResult($"{ways} ways is more than the {entries} entries; use at most {entries} (or 0 for fully associative)", [nameof(TlbArrayOptions.Ways)]));
        else if (entries % w != 0 || !BitOperations.IsPow2(entries / w))
            errors.Add(new ValidationResult(
                $"{entries} entries in {w} ways gives {(entries % w == 0 ? (entries / w).ToString(CultureInfo.InvariantCulture) : "a fractional number of")} sets; entries / ways must be a power of two (e.g. {w * (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, entries / w))} entries)",
                [nameof(TlbArrayOptions.Ways)]));
        else if (policy == TlbPolicy.Plru && (w > 64 || !BitOperations.IsPow2(w)))
            errors.Add(new ValidationResult($"plru needs a power-of-two number of ways up to 64, got {w}; use lru, fifo, random or srrip, or change ways", [nameof(TlbArrayOptions.Ways)]));
        PageSizes.Mask(pageSizes, nameof(TlbArrayOptions.PageSizes), errors);
        return errors;
    }
}

/// <summary>One array of a TLB level.</summary>
public sealed record TlbArrayOptions : IValidatableObject
{
    [Description("Number of entries.")]
    [Range(1, 1 << 20)]
    public int Entries { get; init; } = 64;

    [Description("Ways per set: 1 = direct-mapped, 0 = fully associative (one set). entries / ways must be a power of two.")]
    [Range(0, 1 << 20)]
    public int Ways { get; init; } = 4;

    [Description("Page sizes this array holds (4k, 2m, 1g, 16k, 64k, 32m, 512m); several = one array shared by those sizes.")]
    public string[] PageSizes { get; init; } = ["4k"];

    public override string ToString() =>
        $"{Entries} entries {(Ways == 0 ? "fully associative" : Ways == 1 ? "direct-mapped" : $"{Ways}-way")} [{string.Join(", ", PageSizes)}]";

    /// <summary>The policy-independent checks; the TLB's own options check the policy against the ways.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        ArrayShape.Validate(Entries, Ways, TlbPolicy.Lru, PageSizes);
}

/// <summary>One level of a hierarchy: one array per group of page sizes.</summary>
public sealed record TlbLevelOptions : IValidatableObject
{
    [Description("The arrays of the level; each page size may appear in at most one of them.")]
    public TlbArrayOptions[] Arrays { get; init; } = [new()];

    public override string ToString() => string.Join("; ", Arrays.Select(a => a.ToString()));

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        ulong seen = 0;
        if (Arrays.Length == 0) yield return new ValidationResult("a level needs at least one array", [nameof(Arrays)]);
        for (int i = 0; i < Arrays.Length; i++)
        {
            ulong mask = PageSizes.Mask(Arrays[i].PageSizes, "", null);
            if ((mask & seen) != 0)
                yield return new ValidationResult($"holds a page size an earlier array of the level already holds; give each size to one array", [$"{nameof(Arrays)}:{i}:pageSizes"]);
            seen |= mask;
        }
    }
}
