using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using VmLab.Host.Config;
using VmLab.Host.Mrc;
using VmLab.Host.Plugins;
using VmLab.Host.Results;

namespace VmLab.Cli;

/// <summary>
/// <c>vmlab mrc &lt;config.json&gt; --sizes A..B|a,b,c [--step N|--geometric F] [--of tlb|frames] [--policy NAME]
/// [--sample-rate R] [--set key=value]... [--json file|-] [--csv file] [--html file]</c>: the miss-ratio curve of the
/// config's trace for every size, in one pass over the trace (docs/mrc.md).
/// </summary>
internal sealed class MrcCommand(TextWriter stdout, TextWriter stderr)
{
    /// <summary>The most sizes one curve may have.</summary>
    public const int MaxSizes = 1_000_000;

    public Command Definition() => Opt.Command("mrc",
        "The miss-ratio curve of a config's trace for TLB entries or page frames, every size in one pass: exact for LRU (Mattson stack distances), SHARDS sampling for other policies.",
        Opt.Positional("config", "the experiment config (.json) whose trace workload is read"),
        [
            Opt.Value("--sizes", "A..B|a,b,c", "the sizes: every size from A to B, or a list (e.g. 8..4096, or 8,64,512)"),
            Opt.Value("--step", "N", "with A..B: every N-th size from A (A, A+N, ... up to B)"),
            Opt.Value("--geometric", "F", "with A..B: sizes growing by the factor F > 1 (A, A·F, ... up to B, rounded, and B)"),
            Opt.Choice("--of", "what the sizes count: tlb (TLB entries, tlb.misses; the default) or frames (page frames, faults.total)", "tlb", "frames"),
            Opt.Value("--policy", "NAME", "the replacement policy (default: the config's); exact needs lru, others need --sample-rate"),
            Opt.Value("--sample-rate", "R", "SHARDS spatial sampling at rate R in (0, 1], e.g. 0.01 (default: exact, lru only)"),
            VmLabCommand.SetOption(),
            Opt.Value("--json", "file|-", "write the curve as JSON to a file, or to stdout with - (instead of the table)"),
            Opt.Value("--csv", "file", "write the curve as CSV (size,misses,miss_ratio)"),
            Opt.Value("--html", "file", "write the curve as an HTML page with a chart"),
        ], Run);

    private int Run(Arguments a)
    {
        if (a.Positionals.Count != 1)
            throw new UsageException("mrc takes one config file, e.g. vmlab mrc configs/quickstart.json --sizes 8..4096");
        var sizes = ParseSizes(a.Value("--sizes"), a.Value("--step"), a.Value("--geometric"));
        double? rate = a.Value("--sample-rate") is { } r ? SampleRate(r) : null;
        var target = a.Value("--of") switch
        {
            null or "tlb" => MrcTarget.Tlb,
            "frames" => MrcTarget.Frames,
            { } other => throw new UsageException($"--of expects tlb (TLB entries) or frames (page frames), got '{other}'"),
        };
        string? json = a.Value("--json");
        foreach (var option in new[] { "--json", "--csv", "--html" })
            if (a.Value(option) is { } output && !(option == "--json" && output == "-")) OutputTarget.Check(output);

        string config = a.Positionals[0];
        var sets = a.Values("--set");
        var loader = new ExperimentLoader(PluginCatalog.CreateDefault());
        var experiment = loader.Load(config, sets);
        foreach (var w in experiment.Warnings) stderr.WriteLine($"warning: {w}");
        if (rate is { } sampled && sizes[0] * sampled < 1)
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"warning: --sample-rate {sampled}: sizes below {Math.Ceiling(1 / sampled):N0} (1/R) scale to less than one sampled entry; their estimates mean little (docs/mrc.md)"));
        string policy = a.Value("--policy") ?? MrcRunner.DefaultPolicy(experiment, target);
        var options = new MrcOptions(target, policy, sizes, rate);
        MrcResult result;
        try
        {
            result = new MrcRunner().Run(experiment, options, more => loader.Load(config, [.. sets, .. more]));
        }
        catch (MrcRunFailedException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return VmLabCommand.ExitFailed;
        }

        if (json is not null)
        {
            string text = result.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
            if (json == "-") stdout.Write(text);
            else OutputTarget.WriteText(json, text);
        }
        if (a.Value("--csv") is { } csv) OutputTarget.WriteText(csv, result.ToCsv());
        if (a.Value("--html") is { } html) OutputTarget.WriteText(html, MrcHtml.Render(result));
        if (json != "-") RenderTable(result);
        return VmLabCommand.ExitOk;
    }

    private void RenderTable(MrcResult r)
    {
        stdout.WriteLine($"{r.Name}: {MrcHtml.Describe(r)}");
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{r.Accesses:N0} page references, {r.SampledAccesses:N0} counted, {r.Pages:N0} distinct pages counted, {r.Runs} miniature run(s), {r.ElapsedSeconds:0.###} s"));
        stdout.WriteLine($"{"size",12} {"misses",16} {"miss ratio",12}");
        foreach (var p in r.Points)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{p.Size,12:N0} {p.Misses,16:N0} {p.MissRatio,12:0.000000}"));
    }

    private static double SampleRate(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) && r > 0 && r <= 1
            ? r
            : throw new UsageException($"--sample-rate expects a rate in (0, 1], e.g. 0.01, got '{text}'");

    /// <summary>
    /// <c>A..B</c> (every size, or every <paramref name="step"/>-th, or growing by <paramref name="geometric"/>), or a
    /// list <c>a,b,c</c>; sizes are whole numbers &gt;= 1, returned ascending without repeats.
    /// </summary>
    internal static IReadOnlyList<long> ParseSizes(string? text, string? step, string? geometric)
    {
        const string Allowed = "A..B (every size from A to B, e.g. 8..4096) or a list (e.g. 8,64,512) of whole numbers >= 1";
        if (text is null) throw new UsageException($"mrc needs --sizes: {Allowed}");
        if (step is not null && geometric is not null) throw new UsageException("--step and --geometric exclude each other: give one");
        static long Size(string s, string whole) =>
            long.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n >= 1
                ? n
                : throw new UsageException($"--sizes '{whole}': '{s.Trim()}' is not a whole number >= 1; expected {Allowed}");
        var sizes = new SortedSet<long>();
        int range = text.IndexOf("..", StringComparison.Ordinal);
        if (range >= 0)
        {
            long from = Size(text[..range], text), to = Size(text[(range + 2)..], text);
            if (to < from) throw new UsageException($"--sizes '{text}': the range ends below its start; write A..B with A <= B");
            if (geometric is not null)
            {
                if (!double.TryParse(geometric, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) || !(f > 1) || double.IsInfinity(f))
                    throw new UsageException($"--geometric expects a factor > 1, e.g. 2, got '{geometric}'");
                int steps = 0;
                for (double x = from; x <= to; x *= f)
                {
                    if (++steps > MaxSizes) throw new UsageException($"--sizes '{text}' with --geometric {geometric} gives more than {MaxSizes:N0} sizes; use a larger factor");
                    sizes.Add((long)Math.Round(x));
                }
                sizes.Add(to);
            }
            else
            {
                long by = step is null ? 1 : VmLabCommand.Positive("--step", step);
                if ((to - from) / by + 1 > MaxSizes)
                    throw new UsageException($"--sizes '{text}' gives more than {MaxSizes:N0} sizes; use --step N or --geometric F");
                for (long s = from; s <= to; s += by) sizes.Add(s);
            }
        }
        else
        {
            if (step is not null || geometric is not null) throw new UsageException("--step and --geometric go with a range --sizes A..B, not a list");
            foreach (var part in text.Split(',')) sizes.Add(Size(part, text));
        }
        if (sizes.Count > MaxSizes) throw new UsageException($"--sizes '{text}' gives more than {MaxSizes:N0} sizes; use --step N or --geometric F");
        return [.. sizes];
    }
}
