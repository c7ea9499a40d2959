using System.CommandLine;
using System.Globalization;
using VmLab.Core.Events;
using VmLab.Host.Config;
using VmLab.Host.Events;

namespace VmLab.Cli;

/// <summary>The event-stream options of <c>vmlab run</c> (docs/events.md): declared here, read into <see cref="EventOptions"/>.</summary>
internal static class EventArguments
{
    public static IEnumerable<Option> Options() =>
    [
        Opt.Value("--events", "file", "record every fault, walk, TLB flush, signal and system call to this file (docs/events.md)"),
        Opt.Choice("--events-format", "the --events file's format: jsonl (one object per line, default) or chrome (Perfetto / chrome://tracing)", "jsonl", "chrome"),
        Opt.Flag("--explain", "narrate every recorded event, one line each, on stdout"),
        Opt.Value("--events-pid", "pid[,pid...]", "record only these processes' events"),
        Opt.Value("--events-kind", "kind[,kind...]", $"record only these kinds: {string.Join(", ", EventKinds.All)}"),
        Opt.Value("--events-address", "lo:hi", "record only events whose address is in [lo, hi) (hex 0x... or decimal)"),
        Opt.Value("--events-window", "from:to", "record only events of accesses from..to-1 (the access index)"),
        Opt.Value("--events-first", "N", "keep the first N events that pass the other filters"),
        Opt.Value("--events-sample", "K", "keep one in K of the events that pass the other filters"),
        Opt.Choice("--attribute", "count TLB misses, walks and faults per VMA, per 2 MiB region or per instruction pointer", "vma", "region", "ip"),
        Opt.Value("--top", "N", "rows of the --attribute table (default 10)"),
        Opt.Flag("--verbose", "list every expectation of a scenario that passed and what it checked"),
    ];

    /// <summary>The options as given, checked; null when none asks for events.</summary>
    public static EventOptions? Read(Arguments a, TextWriter stdout, bool jsonToStdout)
    {
        var filter = new EventFilter
        {
            Pids = [.. List(a, "--events-pid", "a pid", s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)).Select(s => int.Parse(s, CultureInfo.InvariantCulture))],
            Kinds = Kinds(a),
            AccessFrom = Range(a, "--events-window").From,
            AccessTo = Range(a, "--events-window").To,
            First = Count(a, "--events-first") ?? 0,
            SampleEvery = Count(a, "--events-sample") ?? 1,
        };
        if (a.Value("--events-address") is { } addressText)
        {
            var (lo, hi) = AddressRange(addressText);
            filter = filter with { AddressFrom = lo, AddressTo = hi };
        }
        var format = a.Value("--events-format") switch
        {
            null or "jsonl" => EventFormat.Jsonl,
            "chrome" => EventFormat.Chrome,
            { } other => throw new UsageException($"--events-format expects jsonl or chrome, got '{other}'"),
        };
        var attribute = a.Value("--attribute") switch
        {
            null => AttributionMode.None,
            "vma" => AttributionMode.Vma,
            "region" => AttributionMode.Region,
            "ip" => AttributionMode.Ip,
            { } other => throw new UsageException($"--attribute expects vma, region or ip, got '{other}'"),
        };
        int top = (int)Math.Min(Count(a, "--top") ?? 10, 10_000);
        bool explain = a.Flag("--explain");
        if (explain && jsonToStdout) throw new UsageException("--explain writes its lines to stdout, as does --json -; give --json a file");
        var options = new EventOptions
        {
            Path = a.Value("--events"),
            Format = format,
            Explain = explain ? stdout : null,
            Filter = filter,
            Attribute = attribute,
            Top = top,
        };
        if (!options.Any)
        {
            string? stray = new[] { "--events-format", "--events-pid", "--events-kind", "--events-address", "--events-window", "--events-first", "--events-sample", "--top" }
                .FirstOrDefault(o => a.Value(o) is not null);
            if (stray is not null) throw new UsageException($"{stray} shapes the event stream, which is off: add --events FILE, --explain or --attribute");
            return null;
        }
        return options;
    }

    private static IReadOnlyList<string> Kinds(Arguments a)
    {
        var kinds = List(a, "--events-kind", "an event kind", _ => true);
        foreach (var k in kinds)
            if (!EventKinds.All.Contains(k))
                throw new UsageException($"--events-kind: unknown kind '{k}'; {Suggest.Hint(k, EventKinds.All)}");
        return kinds;
    }

    private static IReadOnlyList<string> List(Arguments a, string option, string what, Func<string, bool> valid)
    {
        var result = new List<string>();
        foreach (var value in a.Values(option))
            foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                result.Add(valid(part) ? part : throw new UsageException($"{option} expects {what} or a comma-separated list, got '{part}'"));
        return result;
    }

    private static long? Count(Arguments a, string option) => a.Value(option) is { } text ? VmLabCommand.Positive(option, text) : null;

    private static (long From, long To) Range(Arguments a, string option)
    {
        if (a.Value(option) is not { } text) return (0, long.MaxValue);
        var parts = text.Split(':');
        if (parts.Length == 2
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long from)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long to)
            && to > from)
            return (from, to);
        throw new UsageException($"{option} expects FROM:TO, two access indexes with FROM < TO (e.g. 1000000:1010000), got '{text}'");
    }

    private static (ulong Lo, ulong Hi) AddressRange(string text)
    {
        var parts = text.Split(':');
        if (parts.Length == 2 && Address(parts[0]) is { } lo && Address(parts[1]) is { } hi && hi > lo) return (lo, hi);
        throw new UsageException($"--events-address expects LO:HI, two addresses (0x... or decimal) with LO < HI, got '{text}'");
    }

    private static ulong? Address(string s) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
        ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong h) ? h : null
        : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong d) ? d : null;
}
