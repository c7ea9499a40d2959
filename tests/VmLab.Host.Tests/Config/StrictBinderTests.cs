using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using VmLab.Host.Config;

namespace VmLab.Host.Tests.Config;

/// <summary>
/// The binder checks <c>[Required]</c> and <c>[Range]</c> itself (the data-annotation validator is left to types with
/// other rules): what it reports must be what the validator reports, word for word and in the same order.
/// </summary>
public sealed class StrictBinderTests
{
    public sealed record RequiredAndRanges
    {
        [Required]
        public string Path { get; set; } = "";

        [Required]
        public string? Label { get; set; } = "x";

        [Range(typeof(long), "1", "100")]
        public long Count { get; set; } = 1;

        [Range(typeof(long), "0", "10", MinimumIsExclusive = true, MaximumIsExclusive = true)]
        public long Open { get; set; } = 5;

        [Range(0, 64)]
        public int Small { get; set; }
    }

    /// <summary>The same rules on a type the validator must run for: an <see cref="IValidatableObject"/> with nothing to add.</summary>
    public sealed record ThroughTheValidator : IValidatableObject
    {
        [Required]
        public string Path { get; set; } = "";

        [Required]
        public string? Label { get; set; } = "x";

        [Range(typeof(long), "1", "100")]
        public long Count { get; set; } = 1;

        [Range(typeof(long), "0", "10", MinimumIsExclusive = true, MaximumIsExclusive = true)]
        public long Open { get; set; } = 5;

        [Range(0, 64)]
        public int Small { get; set; }

        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) => [];
    }

    private static List<string> Errors(Type type, Dictionary<string, string?> values)
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection("o");
        var binder = new StrictBinder(key => "test.json");
        binder.Bind(section, type, "o");
        return [.. binder.Errors.Select(e => e.ToString())];
    }

    public static TheoryData<Dictionary<string, string?>> Cases() =>
    [
        new() { ["o:path"] = "", ["o:label"] = " ", ["o:count"] = "0", ["o:open"] = "0", ["o:small"] = "65" },
        new() { ["o:path"] = "a", ["o:count"] = "101", ["o:open"] = "10" },
        new() { ["o:path"] = "a", ["o:count"] = "100", ["o:open"] = "9", ["o:small"] = "64" },
        new() { ["o:path"] = "a", ["o:count"] = "1", ["o:open"] = "1", ["o:small"] = "0" },
        new() { ["o:path"] = "a", ["o:count"] = "-5", ["o:open"] = "11" },
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void RequiredAndRangeAreReportedAsTheValidatorReportsThem(Dictionary<string, string?> values)
    {
        Assert.False(new BindingMetadata().NeedsValidator(typeof(RequiredAndRanges)));
        Assert.True(new BindingMetadata().NeedsValidator(typeof(ThroughTheValidator)));
        Assert.Equal(Errors(typeof(ThroughTheValidator), values), Errors(typeof(RequiredAndRanges), values));
    }

    [Fact]
    public void RequiredAndRangeErrorsNameTheKeyAndWhatIsAllowed()
    {
        var errors = Errors(typeof(RequiredAndRanges), new() { ["o:path"] = "", ["o:label"] = " ", ["o:count"] = "0", ["o:open"] = "10", ["o:small"] = "65" });
        Assert.Equal(
        [
            "test.json: o:path: is required",
            "test.json: o:label: is required",
            "test.json: o:count: 0 is out of range; allowed: 1 to 100",
            "test.json: o:open: 10 is out of range; allowed: 0 to 10",
            "test.json: o:small: 65 is out of range; allowed: 0 to 64",
        ], errors);
        Assert.Empty(Errors(typeof(RequiredAndRanges), new() { ["o:path"] = "a", ["o:count"] = "100", ["o:open"] = "9", ["o:small"] = "64" }));
    }
}
