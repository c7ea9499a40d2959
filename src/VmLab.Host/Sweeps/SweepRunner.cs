using System.Collections.Concurrent;
using System.Diagnostics;
using VmLab.Abstractions.Plugins;
using VmLab.Core.Mmu;
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

    /// <summary>
    /// Run each case in a worker process started with this command (one process per job, replaced when a case kills
    /// it) instead of in this process: a plugin that overflows the stack, aborts or hangs fails its own case only.
    /// Null runs cases in this process, sharing decoded traces among them.
    /// </summary>
    public WorkerCommand? Worker { get; init; }

    /// <summary>With <see cref="Worker"/>: workers started ahead of the sweep (<see cref="WorkerPool.Prestart"/>), taken first.</summary>
    public WorkerPool? Workers { get; init; }

    /// <summary>With <see cref="Worker"/>: a case still running after this long is killed and recorded as failed.</summary>
    public TimeSpan? CaseTimeout { get; init; }

    /// <summary>How cases run in this process close their MMU (<see cref="ExperimentRunner.Engines"/>).</summary>
    public IMmuEngineFactory Engines { get; init; } = ReflectionMmuEngineFactory.Instance;
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
    int TraceStreamedDirect,
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

        string host = Environment.MachineName;
        int done = already, failed = 0, completed = 0;
        progress?.Report(new SweepProgress(shard.Count, done, failed, null));
        void Record(CaseResult result, SweepCase c)
        {
            store.Save(result);
            if (result.Status == RunResult.Completed) Interlocked.Increment(ref completed);
            else Interlocked.Increment(ref failed);
            int d = Interlocked.Increment(ref done);
            progress?.Report(new SweepProgress(shard.Count, d, Volatile.Read(ref failed), c.Id));
        }

        if (options.Worker is { } worker)
        {
            RunInWorkers(pending, worker, options, host, Record, cancellationToken);
            return new SweepSummary(sweep.Cases.Count, shard.Count, already, pending.Count, completed, failed, clock.Elapsed.TotalSeconds, 0, 0, 0, 0, 0);
        }

        var cache = new TraceCache(options.TraceCacheBytes);
        var experiments = cache.Prepare([.. pending.Select(c => c.Experiment)]);
        // Decoder threads only on the cores the parallel cases leave free (none when the cases fill every core).
        int lanes = Math.Max(1, Math.Min(options.Jobs, pending.Count));
        using var decodeCores = new SemaphoreSlim(Math.Max(0, Environment.ProcessorCount - lanes));
        var runner = new ExperimentRunner { DecodeCores = decodeCores, Engines = options.Engines };
        var work = pending.Select((c, i) => (Case: c, Experiment: experiments[i])).ToList();
        Parallel.ForEach(
            System.Collections.Concurrent.Partitioner.Create(work, EnumerablePartitionerOptions.NoBuffering),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Jobs), CancellationToken = cancellationToken },
            item =>
            {
                var started = DateTime.UtcNow;
                CaseOutcome outcome;
                try
                {
                    outcome = RunInProcess(runner, item.Case, item.Experiment, cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return; // interrupted: the case stays unfinished and runs on resume
                }
                Record(ToResult(item.Case, outcome, started, host), item.Case);
            });

        return new SweepSummary(sweep.Cases.Count, shard.Count, already, pending.Count, completed, failed, clock.Elapsed.TotalSeconds,
            cache.Decodes, cache.Replays, cache.Streamed, cache.Direct, cache.PeakBytes);
    }

    /// <summary>
    /// The cores each of <paramref name="jobs"/> worker processes may give trace decoder threads: the processors the
    /// workers leave free, shared out evenly (0 when the workers fill every processor).
    /// </summary>
    public static int DecodeCoresPerWorker(int jobs, int processors) => Math.Max(0, processors - Math.Max(1, jobs)) / Math.Max(1, jobs);

    /// <summary>
    /// Runs the cases in <see cref="SweepRunOptions.Jobs"/> worker processes, each taking the next case when it is
    /// free; a worker that dies or is killed for a timeout is replaced for the next case.
    /// </summary>
    private static void RunInWorkers(IReadOnlyList<SweepCase> pending, WorkerCommand command, SweepRunOptions options, string host,
        Action<CaseResult, SweepCase> record, CancellationToken cancellationToken)
    {
        var queue = new ConcurrentQueue<SweepCase>(pending);
        int lanes = Math.Max(1, Math.Min(options.Jobs, pending.Count));
        Exception? fault = null;
        var threads = Enumerable.Range(0, lanes).Select(_ => new Thread(() =>
        {
            CaseWorker? worker = null;
            try
            {
                while (!cancellationToken.IsCancellationRequested && Volatile.Read(ref fault) is null && queue.TryDequeue(out var c))
                {
                    var started = DateTime.UtcNow;
                    worker ??= options.Workers is { } pool ? pool.Take(command) : CaseWorker.Start(command);
                    CaseOutcome outcome;
                    try
                    {
                        outcome = worker.Run(c, options.CaseTimeout, cancellationToken);
                    }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                    {
                        return; // interrupted: the case stays unfinished and runs on resume
                    }
                    if (!worker.Alive)
                    {
                        worker.Dispose();
                        worker = null;
                    }
                    record(ToResult(c, outcome, started, host), c);
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref fault, e, null);
            }
            finally
            {
                worker?.Dispose();
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        cancellationToken.ThrowIfCancellationRequested();
        if (fault is Microsoft.Data.Sqlite.SqliteException) throw new AggregateException(fault);
        if (fault is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            throw new VmLabInputException(command.FileName, $"cannot run the sweep's cases in worker processes: {fault.Message}; run them in this process with --isolation none");
        if (fault is not null) throw new AggregateException(fault);
    }

    /// <summary>
    /// Serves a worker process: reads <c>id TAB config-hash</c> lines from <paramref name="input"/>, runs each case of
    /// <paramref name="sweep"/> here and writes its <see cref="CaseOutcome"/> line to <paramref name="output"/>, until
    /// the input ends.
    /// </summary>
    /// <param name="decodeCores">Cores this worker's runs may give trace decoder threads (<see cref="DecodeCoresPerWorker"/>); null: no limit.</param>
    /// <param name="engines">How the worker closes each case's MMU (<see cref="ExperimentRunner.Engines"/>); null for the reflection factory.</param>
    public static void Serve(Sweep sweep, TextReader input, TextWriter output, long traceCacheBytes, int? decodeCores = null, IMmuEngineFactory? engines = null)
    {
        var cache = new TraceCache(traceCacheBytes);
        var experiments = cache.Prepare([.. sweep.Cases.Select(c => c.Experiment)]);
        var byId = new Dictionary<string, (SweepCase Case, Config.Experiment Experiment)>(StringComparer.Ordinal);
        for (int i = 0; i < sweep.Cases.Count; i++) byId[sweep.Cases[i].Id] = (sweep.Cases[i], experiments[i]);
        using var cores = decodeCores is { } n ? new SemaphoreSlim(Math.Max(0, n)) : null;
        var runner = new ExperimentRunner { DecodeCores = cores, Engines = engines ?? ReflectionMmuEngineFactory.Instance };
        output.WriteLine(CaseOutcome.Ready);
        output.Flush();
        while (input.ReadLine() is { } line)
        {
            var parts = line.Split('\t');
            string id = parts[0];
            CaseOutcome outcome;
            if (!byId.TryGetValue(id, out var item))
                outcome = new CaseOutcome(id, RunResult.Failed, $"case {id} is not in {sweep.File} any more (the sweep file changed while the sweep ran)", new Dictionary<string, long>(), [], 0);
            else if (parts.Length > 1 && parts[1] != SweepLoader.ConfigHash(item.Case.Experiment))
                outcome = new CaseOutcome(id, RunResult.Failed, $"case {id} has another config in {sweep.File} now (the sweep file or its base changed while the sweep ran)", new Dictionary<string, long>(), [], 0);
            else
                outcome = RunInProcess(runner, item.Case, item.Experiment, CancellationToken.None);
            output.WriteLine(outcome.ToLine());
            output.Flush();
        }
    }

    /// <summary>Runs one case in this process; any failure of the run is the outcome's error.</summary>
    public static CaseOutcome RunInProcess(ExperimentRunner runner, SweepCase c, Config.Experiment experiment, CancellationToken cancellationToken)
    {
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
        string status = result is { Status: RunResult.Completed } ? RunResult.Completed : RunResult.Failed;
        return new CaseOutcome(c.Id, status, status == RunResult.Completed ? null : error ?? "failed",
            result?.Metrics ?? new Dictionary<string, long>(), result?.Events ?? [], result?.ElapsedSeconds ?? clock.Elapsed.TotalSeconds);
    }

    private static CaseResult ToResult(SweepCase c, CaseOutcome outcome, DateTime started, string host) => new(
        c.Id,
        c.Ordinal,
        c.Parameters(),
        SweepLoader.PortableConfig(c.Experiment),
        SweepLoader.ConfigHash(c.Experiment),
        c.Experiment.Seed,
        ExperimentRunner.PluginVersions(c.Experiment),
        outcome.Metrics,
        outcome.Status,
        outcome.Error,
        outcome.Events,
        outcome.ElapsedSeconds,
        started,
        DateTime.UtcNow,
        host);
}
