using System.Collections.Concurrent;
using System.Diagnostics;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Results;
using VmLab.Host.Running;

namespace VmLab.Host.Sweeps;

/// <summary>How to run a sweep: parallelism, which slice (1-based shard of a count), the trace-cache budget.</summary>
public sealed record SweepRunOptions
{
    public int Jobs { get; init; } = Environment.ProcessorCount;
    public int ShardIndex { get; init; } = 1;
    public int ShardCount { get; init; } = 1;
    /// <summary>Memory for decoded shared traces, in bytes; 0 turns the cache off (every case streams its trace).</summary>
    public long TraceCacheBytes { get; init; } = 1L << 30;
    /// <summary>Run again the cases recorded as failed.</summary>
    public bool RetryFailed { get; init; }
}

/// <summary>Where a sweep stands, reported after each finished case.</summary>
public sealed record SweepProgress(int Total, int Done, int Failed, string? LastCase);

/// <summary>What a sweep run did.</summary>
public sealed record SweepSummary(
    int CasesInSweep,
    int CasesInShard,
    int AlreadyFinished,
    int Ran,
    int Completed,
    int Failed,
    double ElapsedSeconds,
    int TraceDecodes,
    int TraceReplays,
    int TraceStreamed,
    long TraceCachePeakBytes);

/// <summary>
/// Runs the unfinished cases of a sweep (or of one shard of it) in parallel and stores each one as it finishes.
/// A case is finished when the database holds its result for the same resolved config; a case that throws is stored
/// as failed with its error and the others go on.
/// </summary>
public sealed class SweepRunner
{
    /// <summary>The cases of shard <paramref name="index"/> of <paramref name="count"/> (1-based): every count-th case in expansion order.</summary>
    public static IReadOnlyList<SweepCase> Shard(IReadOnlyList<SweepCase> cases, int index, int count)
    {
        if (count < 1 || index < 1 || index > count)
            throw new ArgumentOutOfRangeException(nameof(index), $"shard {index}/{count}: expected 1 <= K <= N");
        return [.. cases.Where(c => c.Ordinal % count == index - 1)];
    }

    public SweepSummary Run(Sweep sweep, ResultStore store, SweepRunOptions options, IProgress<SweepProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        store.BeginSweep(sweep);
        var shard = Shard(sweep.Cases, options.ShardIndex, options.ShardCount);
        var finished = store.Finished();
        var pending = shard.Where(c => !(finished.TryGetValue(c.Id, out var f)
                                         && f.ConfigHash == SweepLoader.ConfigHash(c.Experiment)
                                         && (f.Status == RunResult.Completed || !options.RetryFailed)))
                           .ToList();
        int already = shard.Count - pending.Count;

        var cache = new TraceCache(options.TraceCacheBytes);
        var experiments = cache.Prepare([.. pending.Select(c => c.Experiment)]);
        var runner = new ExperimentRunner();
        int done = already, failed = 0, completed = 0;
        progress?.Report(new SweepProgress(shard.Count, done, failed, null));

        string host = Environment.MachineName;
        var work = pending.Select((c, i) => (Case: c, Experiment: experiments[i])).ToList();
        Parallel.ForEach(
            System.Collections.Concurrent.Partitioner.Create(work, EnumerablePartitionerOptions.NoBuffering),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Jobs), CancellationToken = cancellationToken },
            item =>
            {
                CaseResult result;
                try
                {
                    result = RunCase(runner, item.Case, item.Experiment, host, cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return; // interrupted: the case stays unfinished and runs on resume
                }
                store.Save(result);
                if (result.Status == RunResult.Completed) Interlocked.Increment(ref completed);
                else Interlocked.Increment(ref failed);
                int d = Interlocked.Increment(ref done);
                progress?.Report(new SweepProgress(shard.Count, d, Volatile.Read(ref failed), item.Case.Id));
            });

        return new SweepSummary(sweep.Cases.Count, shard.Count, already, pending.Count, completed, failed, clock.Elapsed.TotalSeconds,
            cache.Decodes, cache.Replays, cache.Streamed, cache.PeakBytes);
    }

    private static CaseResult RunCase(ExperimentRunner runner, SweepCase c, Config.Experiment experiment, string host, CancellationToken cancellationToken)
    {
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        RunResult? result = null;
        string? error = null;
        try
        {
            result = runner.Run(experiment, cancellationToken);
            error = result.Error;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (VmLabInputException e)
        {
            error = $"{e.Where}: {e.Message}";
        }
        catch (Exception e)
        {
            error = e.ToString();
        }
        var metrics = result?.Metrics ?? new Dictionary<string, long>();
        string status = result is { Status: RunResult.Completed } ? RunResult.Completed : RunResult.Failed;
        return new CaseResult(
            c.Id,
            c.Ordinal,
            c.Parameters(),
            SweepLoader.PortableConfig(c.Experiment),
            SweepLoader.ConfigHash(c.Experiment),
            c.Experiment.Seed,
            ExperimentRunner.PluginVersions(c.Experiment),
            metrics,
            status,
            status == RunResult.Completed ? null : error ?? "failed",
            result?.Events ?? [],
            result?.ElapsedSeconds ?? clock.Elapsed.TotalSeconds,
            started,
            DateTime.UtcNow,
            host);
    }
}
