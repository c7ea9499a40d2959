using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;
using VmLab.Host.Config;
using VmLab.Host.Running;

namespace VmLab.Host.Mrc;

/// <summary>What a miss-ratio curve counts the misses of.</summary>
public enum MrcTarget
{
    /// <summary>TLB entries: the misses of a fully-associative TLB of that many 4 KiB entries (<c>tlb.misses</c>).</summary>
    Tlb,
    /// <summary>Page frames: the faults of the replacement policy with the resident set limited to that many pages (<c>faults.total</c> with <c>machine:memory:userFrames</c>).</summary>
    Frames,
}

/// <summary>
/// What <c>vmlab mrc</c> computes: the target, the policy, the sizes and, for spatial sampling, SHARDS's rate (null:
/// exact, which only LRU has). Validated at construction.
/// </summary>
public sealed record MrcOptions
{
    public MrcOptions(MrcTarget target, string policy, IReadOnlyList<long> sizes, double? sampleRate)
    {
        if (sizes.Count == 0 || sizes.Any(s => s < 1)) throw new ArgumentException("sizes must be >= 1 and at least one", nameof(sizes));
        if (sampleRate is { } r && !(r > 0 && r <= 1)) throw new ArgumentOutOfRangeException(nameof(sampleRate), "a sample rate is in (0, 1]");
        (Target, Policy, Sizes, SampleRate) = (target, policy.ToLowerInvariant(), sizes, sampleRate);
    }

    public MrcTarget Target { get; }
    public string Policy { get; }
    public IReadOnlyList<long> Sizes { get; }
    public double? SampleRate { get; }

    /// <summary>The one policy with an exact one-pass curve: LRU is a stack algorithm.</summary>
    public bool IsLru => Policy == "lru";
}

/// <summary>One point of a curve: misses (estimated when sampled) and misses per page reference at a size.</summary>
public sealed record MrcPoint(long Size, double Misses, double MissRatio);

/// <summary>A miss-ratio curve and how it was made.</summary>
/// <param name="Method"><c>exact</c> (Mattson stack distances), <c>shards</c> (SHARDS-scaled stack distances, LRU) or <c>shards-mini</c> (miniature simulations of the sampled stream).</param>
/// <param name="SampleRate">SHARDS's effective rate T/P, 1 when exact.</param>
/// <param name="Accesses">Page references of the whole stream (the <c>accesses</c> metric of a run).</param>
/// <param name="SampledAccesses">Page references counted (all of them when exact).</param>
/// <param name="Pages">Distinct (pid, page) counted.</param>
/// <param name="Runs">Machines run (miniature simulations); 0 for stack distances.</param>
public sealed record MrcResult(
    string Name, MrcTarget Target, string Policy, string Method, double SampleRate, long Accesses, long SampledAccesses, long Pages,
    IReadOnlyList<MrcPoint> Points, int Runs, double ElapsedSeconds)
{
    public static string TargetName(MrcTarget target) => target == MrcTarget.Tlb ? "tlb" : "frames";

    public JsonObject ToJson()
    {
        var points = new JsonArray();
        foreach (var p in Points)
            points.Add(new JsonObject { ["size"] = p.Size, ["misses"] = p.Misses, ["missRatio"] = p.MissRatio });
        return new JsonObject
        {
            ["name"] = Name,
            ["target"] = TargetName(Target),
            ["policy"] = Policy,
            ["method"] = Method,
            ["sampleRate"] = SampleRate,
            ["accesses"] = Accesses,
            ["sampledAccesses"] = SampledAccesses,
            ["pages"] = Pages,
            ["runs"] = Runs,
            ["elapsedSeconds"] = ElapsedSeconds,
            ["points"] = points,
        };
    }

    /// <summary><c>size,misses,miss_ratio</c>, one row per size.</summary>
    public string ToCsv()
    {
        var s = new System.Text.StringBuilder("size,misses,miss_ratio\n");
        foreach (var p in Points)
            s.Append(CultureInfo.InvariantCulture, $"{p.Size},{p.Misses.ToString("R", CultureInfo.InvariantCulture)},{p.MissRatio.ToString("R", CultureInfo.InvariantCulture)}\n");
        return s.ToString();
    }
}

/// <summary>The run of a miniature simulation ended without completing.</summary>
public sealed class MrcRunFailedException(string message) : Exception(message);

/// <summary>
/// Computes a miss-ratio curve from an experiment's trace workload in one pass over the trace. LRU: exact from Mattson
/// stack distances (<see cref="StackDistances"/>), or with a sample rate from SHARDS (Waldspurger, Park, Garthwaite and
/// Ahmad, FAST '15: fixed-rate spatial sampling, distances scaled by 1/R, counts by 1/R as in SHARDS_adj). Another policy: the sampled accesses are kept
/// and replayed to miniature machines, one per distinct scaled size round(C·R), each running the configured policy
/// plugin (Waldspurger et al., ATC '17); their misses, scaled by 1/R, stand for the full-size caches'.
/// </summary>
public sealed class MrcRunner
{
    /// <param name="reload">Loads the same config with more <c>--set</c> overrides (for miniature simulations).</param>
    public MrcResult Run(Experiment experiment, MrcOptions options, Func<IReadOnlyList<string>, Experiment> reload, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        if (!options.IsLru && options.SampleRate is null)
            throw new VmLabInputException("--policy",
                $"an exact curve in one pass exists for lru only (a stack algorithm: Mattson's stack distances); {options.Policy} is not one. " +
                "Give --sample-rate R (e.g. 0.01) for SHARDS miniature simulations of it, or --policy lru");
        ulong threshold = options.SampleRate is { } rate ? Math.Clamp((ulong)Math.Round(rate * PageStream.Modulus), 1UL, PageStream.Modulus) : PageStream.Modulus;
        double effective = (double)threshold / PageStream.Modulus;
        bool miniature = !options.IsLru;
        if (miniature) CheckMiniatureTarget(experiment, options);
        var stream = new PageStream(threshold, keep: miniature);
        StreamTrace(experiment, stream, cancellationToken);
        var d = stream.Distances;

        var points = new List<MrcPoint>(options.Sizes.Count);
        int runs = 0;
        string method;
        if (!miniature)
        {
            method = options.SampleRate is null ? "exact" : "shards";
            // SHARDS: a sampled reference at distance d (distinct other sampled pages since) has scaled stack distance (d+1)/R,
            // a hit in a cache of C entries when that is at most C, i.e. when d < floor(C·R).
            var scaled = options.Sizes.Select(c => method == "exact" ? c : (long)Math.Floor(c * effective + 1e-9)).ToList();
            var misses = d.Misses(scaled);
            for (int i = 0; i < options.Sizes.Count; i++)
                points.Add(method == "exact"
                    ? new MrcPoint(options.Sizes[i], misses[i], stream.References == 0 ? 0 : (double)misses[i] / stream.References)
                    : Estimate(options.Sizes[i], misses[i], effective, stream.References));
        }
        else
        {
            method = "shards-mini";
            var byScaled = new Dictionary<long, double>();
            foreach (long c in options.Sizes)
            {
                long s = Math.Max(1, (long)Math.Round(c * effective));
                if (!byScaled.TryGetValue(s, out double sampledMisses))
                {
                    sampledMisses = Miniature(experiment, options, s, stream, reload, cancellationToken);
                    byScaled[s] = sampledMisses;
                    runs++;
                }
                points.Add(Estimate(c, sampledMisses, effective, stream.References));
            }
        }
        return new MrcResult(experiment.Name, options.Target, options.Policy, method, effective, stream.References, d.References, d.Keys, points, runs,
            clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// A sampled count scaled to the whole stream: misses / R, and its ratio to the stream's references (at most 1). This
    /// is SHARDS_adj's normalisation (FAST '15): by the expected number of sampled references, R·N, rather than the
    /// number actually sampled, which a few hot pages falling in or out of the sample move far from R·N.
    /// </summary>
    private static MrcPoint Estimate(long size, double sampledMisses, double rate, long references)
    {
        double misses = sampledMisses / rate;
        double ratio = references == 0 ? 0 : Math.Min(1.0, misses / references);
        return new MrcPoint(size, ratio * references, ratio);
    }

    /// <summary>The policy a curve uses when none is named: the config's replacement plugin for frames, the fully-associative TLB's policy for entries, else lru.</summary>
    public static string DefaultPolicy(Experiment experiment, MrcTarget target)
    {
        if (target == MrcTarget.Frames) return experiment.Replacement?.Plugin.Name ?? "lru";
        return experiment.Tlb.Plugin.Name == "fully-associative" && experiment.ResolvedConfig["machine"]?["tlb"]?["options"]?["policy"] is JsonValue v
            && v.TryGetValue(out string? policy) ? policy.ToLowerInvariant() : "lru";
    }

    /// <summary>Reads the experiment's trace workload once into <paramref name="stream"/>; no machine runs.</summary>
    private static void StreamTrace(Experiment experiment, PageStream stream, CancellationToken cancellationToken)
    {
        using var services = ExperimentRunner.Compose(experiment);
        var workload = services.GetRequiredService<IWorkload>() as ITraceWorkload ?? throw new VmLabInputException($"{experiment.Workload.KeyPath}:plugin",
            $"a miss-ratio curve needs a trace workload, a fixed stream of accesses (lackey, vmt, synthetic, ...); {experiment.Workload.Plugin.Name} drives the kernel as it runs");
        workload.Stream(stream, cancellationToken);
    }

    private static void CheckMiniatureTarget(Experiment experiment, MrcOptions options)
    {
        if (options.Target == MrcTarget.Tlb && experiment.Tlb.Plugin.Name != "fully-associative")
            throw new VmLabInputException("machine:tlb:plugin",
                $"miniature simulations of TLB entries resize a fully-associative TLB, but the config's TLB is {experiment.Tlb.Plugin.Name}; " +
                "use --set machine:tlb:plugin=fully-associative (with its options), or --policy lru for the exact curve");
    }

    /// <summary>The misses (tlb.misses or faults.total) of one miniature machine of <paramref name="scaled"/> entries or frames fed the sampled accesses.</summary>
    private static double Miniature(Experiment experiment, MrcOptions options, long scaled, PageStream stream, Func<IReadOnlyList<string>, Experiment> reload,
        CancellationToken cancellationToken)
    {
        string size = scaled.ToString(CultureInfo.InvariantCulture);
        List<string> overrides = options.Target == MrcTarget.Tlb
            ? [$"machine:tlb:options:entries={size}", $"machine:tlb:options:policy={options.Policy}"]
            : [$"machine:memory:userFrames={size}"];
        if (options.Target == MrcTarget.Frames && !string.Equals(experiment.Replacement?.Plugin.Name, options.Policy, StringComparison.OrdinalIgnoreCase))
            overrides.Insert(0, $"machine:replacement:plugin={options.Policy}");
        var mini = reload(overrides);
        var component = mini.Workload;
        var registration = component.Plugin.Registration;
        var factory = registration.Factory;
        var kept = stream.Kept;
        var decorated = registration with { Factory = context => new SampledWorkload((ITraceWorkload)factory(context), kept) };
        mini = mini with { Workload = component with { Plugin = component.Plugin with { Registration = decorated } } };
        var result = new ExperimentRunner().Run(mini, cancellationToken);
        if (result.Status != RunResult.Completed)
            throw new MrcRunFailedException($"the miniature simulation with {size} {(options.Target == MrcTarget.Tlb ? "TLB entries" : "frames")} ended {result.Status}: {result.Error}");
        return result.Metrics[options.Target == MrcTarget.Tlb ? MetricNames.TlbMisses : MetricNames.FaultsTotal];
    }

    /// <summary>The trace's own setup (<see cref="ITraceWorkload.Prepare"/>), then the sampled accesses in batches.</summary>
    private sealed class SampledWorkload(ITraceWorkload inner, IReadOnlyList<MemoryAccess> kept) : ITraceWorkload
    {
        public void Prepare(IKernelApi kernel) => inner.Prepare(kernel);

        public void Run(ISimulation simulation, CancellationToken cancellationToken)
        {
            inner.Prepare(simulation.Kernel);
            Stream(simulation, cancellationToken);
        }

        public void Stream(ISimulation simulation, CancellationToken cancellationToken)
        {
            ReadOnlySpan<MemoryAccess> all = kept is List<MemoryAccess> list ? CollectionsMarshal.AsSpan(list) : kept.ToArray().AsSpan();
            int batch = Math.Max(1, simulation.PreferredBatchSize);
            for (int i = 0; i < all.Length; i += batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                simulation.Execute(all.Slice(i, Math.Min(batch, all.Length - i)));
            }
        }
    }
}
