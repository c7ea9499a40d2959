using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Results;
using VmLab.Host.Running;
using VmLab.Host.Sweeps;

namespace VmLab.Cli;

/// <summary>
/// <c>vmlab sweep &lt;sweep.json&gt; [--set key=value]... [--db results.db] [--jobs N] [--shard K/N] [--trace-cache-mb MB] [--retry-failed]</c>:
/// runs the unfinished cases of a sweep (or of one shard) into a SQLite results database, with a progress bar on
/// stderr when it is a terminal and progress lines (<see cref="SweepProgressLines"/>) when it is not.
/// </summary>
internal sealed class SweepCommand(TextWriter stdout, TextWriter stderr, PluginHosting plugins)
{
    /// <summary>Stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int ExitInterrupted = 130;

    public Command Definition() => Opt.Command("sweep", "Run the unfinished cases of a sweep (or of one shard) into a SQLite results database.",
        Opt.Positional("sweep.json", "the sweep: a base experiment and a matrix of config keys"),
        [
            VmLabCommand.SetOption(),
            Opt.Value("--db", "results.db", "the results database (default: <sweep name>.db); a second run resumes it"),
            Opt.Value("--jobs", "N", "cases run at once (default: the number of processors)"),
            Opt.Value("--shard", "K/N", "run only the K-th of N shards of the cases (merge the shards' databases with vmlab merge)"),
            Opt.Value("--trace-cache-mb", "MB", "memory for traces decoded once and shared by cases (default 1024; 0 turns it off)"),
            Opt.Flag("--retry-failed", "run again the cases that failed before"),
            Opt.Value("--case-timeout", "seconds", "stop a case that runs longer and record it as failed (needs --isolation process)"),
            Opt.Choice("--isolation", "process: each case in a worker process (default); none: every case in this process", "process", "none"),
            Opt.Value("--progress-interval", "seconds", "when stderr is not a terminal: a progress line at most this often (default 10; 0: after every case)"),
            VmLabCommand.MaxCasesOption(),
        ], Run);

    /// <summary>The hidden <c>sweep-worker</c> command a sweep starts its worker processes with.</summary>
    public Command WorkerDefinition()
    {
        var command = Opt.Command("sweep-worker", "The process a sweep runs its cases in (started by vmlab sweep, not for direct use).",
            Opt.Positional("sweep.json", "the sweep file"),
            [VmLabCommand.SetOption(), VmLabCommand.MaxCasesOption(), Opt.Value("--trace-cache-mb", "MB", "memory for shared traces"),
             Opt.Value("--decode-cores", "N", "cores this worker may give trace decoder threads")], Worker);
        command.Hidden = true;
        return command;
    }

    private int Run(Arguments a)
    {
        if (a.Positionals.Count != 1)
            throw new UsageException("sweep takes one sweep file, e.g. vmlab sweep configs/sweeps/tlb-size-policy.json --db results.db");
        int jobs = a.Value("--jobs") is { } j ? PositiveInt("--jobs", j) : Environment.ProcessorCount;
        var (shardIndex, shardCount) = a.Value("--shard") is { } s ? ParseShard(s) : (1, 1);
        long cacheBytes = a.Value("--trace-cache-mb") is { } mb
            ? (long.TryParse(mb, NumberStyles.None, CultureInfo.InvariantCulture, out long m) && m <= 1L << 30
                ? m << 20
                : throw new UsageException($"--trace-cache-mb expects a whole number of MiB (0 turns the cache off), got '{mb}'"))
            : 1L << 30;

        bool isolated = a.Value("--isolation") switch
        {
            null or "process" => true,
            "none" => false,
            { } other => throw new UsageException($"--isolation expects process (each case in a worker process, the default) or none (every case in this process), got '{other}'"),
        };
        TimeSpan? caseTimeout = a.Value("--case-timeout") is { } ct ? VmLabCommand.Seconds("--case-timeout", ct) : null;
        if (caseTimeout is not null && !isolated)
            throw new UsageException("--case-timeout needs --isolation process: a case running in this process cannot be stopped");

        TimeSpan progressInterval = a.Value("--progress-interval") is { } pi ? ProgressInterval(pi) : DefaultProgressInterval;
        long maxCases = VmLabCommand.MaxCases(a);
        var sets = a.Values("--set");
        // Each worker decodes shared traces for the cases it runs, within its share of the budget.
        var workerCommand = isolated ? WorkerCommandFor(a.Positionals[0], sets, maxCases, cacheBytes / Math.Max(1, jobs),
            SweepRunner.DecodeCoresPerWorker(jobs, Environment.ProcessorCount)) : null;
        using var workers = new WorkerPool();
        // A new sweep (its --db does not exist yet) will run every case: its workers start now and load while it does.
        if (workerCommand is not null && a.Value("--db") is { } newDb && !Path.Exists(newDb))
            workers.Prestart(workerCommand, Math.Min(jobs, Environment.ProcessorCount));
        var sweep = new SweepLoader(new ExperimentLoader(PluginCatalog.CreateDefault(loader: plugins.Loader))) { MaxCases = maxCases, BaseOverrides = sets }.Load(a.Positionals[0]);
        foreach (var w in sweep.Cases[0].Experiment.Warnings) stderr.WriteLine($"warning: {w}");
        string db = a.Value("--db") ?? sweep.Name + ".db";

        using var store = ResultStore.Open(db, create: true);
        var options = new SweepRunOptions
        {
            Jobs = jobs,
            ShardIndex = shardIndex,
            ShardCount = shardCount,
            TraceCacheBytes = cacheBytes,
            RetryFailed = a.Flag("--retry-failed"),
            Worker = workerCommand,
            Workers = workers,
            CaseTimeout = caseTimeout,
            Engines = plugins.Engines,
        };

        using var cancel = new CancellationTokenSource();
        bool interactive = Terminal.IsInteractive(stderr);
        // Ctrl+C or SIGTERM (a batch system's cancel): stop starting cases, keep the finished ones, exit 130.
        var signals = new List<System.Runtime.InteropServices.PosixSignalRegistration>();
        if (ReferenceEquals(stdout, Console.Out))
        {
            foreach (var signal in new[] { System.Runtime.InteropServices.PosixSignal.SIGINT, System.Runtime.InteropServices.PosixSignal.SIGTERM })
            {
                signals.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    cancel.Cancel();
                }));
            }
        }
        SweepSummary summary;
        try
        {
            summary = interactive
                ? RunWithProgressBar(sweep, store, options, cancel.Token)
                : new SweepRunner().Run(sweep, store, options, new SweepProgressLines(stderr, sweep.Name, progressInterval, TimeProvider.System), cancel.Token);
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine($"vmlab: sweep interrupted; finished cases are saved in {db}; run the same command again to resume");
            return ExitInterrupted;
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.FirstOrDefault(x => x is Microsoft.Data.Sqlite.SqliteException) is { } sqlite)
        {
            stderr.WriteLine($"error: {db}: cannot store a result: {sqlite.Message}; the cases stored before are kept, run again to resume");
            return VmLabCommand.ExitFailed;
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            stderr.WriteLine($"error: {db}: {e.Message}; the cases stored before are kept, run again to resume");
            return VmLabCommand.ExitFailed;
        }
        finally
        {
            foreach (var registration in signals) registration.Dispose();
        }

        string shard = shardCount > 1 ? $", shard {shardIndex}/{shardCount}: {summary.CasesInShard}" : "";
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sweep {sweep.Name}: {summary.CasesInSweep} case(s){shard}; {summary.AlreadyFinished} already finished, ran {summary.Ran}: {summary.Completed} completed, {summary.Failed} failed in {summary.ElapsedSeconds:0.00} s"));
        if (summary.TraceDecodes + summary.TraceStreamed + summary.TraceStreamedDirect > 0)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"shared traces: {summary.TraceDecodes} decoded once and replayed to {summary.TraceReplays} case(s) (peak {summary.TraceCachePeakBytes / (1 << 20)} MiB); {summary.TraceStreamed} case(s) streamed a trace over the --trace-cache-mb budget; {summary.TraceStreamedDirect} case(s) streamed a trace that reads as fast as a replay (an uncompressed .vmt)"));
        stdout.WriteLine($"results: {db} (vmlab report {db})");

        var inShard = SweepRunner.Shard(sweep.Cases, shardIndex, shardCount).Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        var failed = store.Read().Cases.Where(c => c.Status != RunResult.Completed && inShard.Contains(c.Id)).ToList();
        foreach (var c in failed) stderr.WriteLine($"error: case {c.Id} failed: {ComparisonReport.FirstLine(c.Error)}");
        return failed.Count > 0 ? VmLabCommand.ExitFailed : VmLabCommand.ExitOk;
    }

    private SweepSummary RunWithProgressBar(Sweep sweep, ResultStore store, SweepRunOptions options, CancellationToken cancellationToken)
    {
        return Terminal.StderrConsole().Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"sweep {Markup.Escape(sweep.Name)}", autoStart: true, maxValue: Math.Max(1, sweep.Cases.Count));
                var progress = new Reporter(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                    task.Description = Markup.Escape($"sweep {sweep.Name}: {p.Done}/{p.Total}{(p.Failed > 0 ? $", {p.Failed} failed" : "")}");
                });
                return new SweepRunner().Run(sweep, store, options, progress, cancellationToken);
            });
    }

    private sealed class Reporter(Action<SweepProgress> report) : IProgress<SweepProgress>
    {
        private readonly Lock _gate = new();

        public void Report(SweepProgress value)
        {
            lock (_gate) report(value);
        }
    }

    /// <summary>
    /// This vmlab, run again as <c>vmlab sweep-worker</c> on the same sweep file: the native command beside it when there
    /// is one (<see cref="NativeWorker"/>), else this process's own command.
    /// </summary>
    private static WorkerCommand WorkerCommandFor(string sweepFile, IReadOnlyList<string> sets, long maxCases, long cacheBytes, int decodeCores)
    {
        List<string> arguments = ["sweep-worker", Path.GetFullPath(sweepFile), "--max-cases", maxCases.ToString(CultureInfo.InvariantCulture),
            "--trace-cache-mb", (cacheBytes >> 20).ToString(CultureInfo.InvariantCulture),
            "--decode-cores", decodeCores.ToString(CultureInfo.InvariantCulture), .. sets.SelectMany(s => new[] { "--set", s })];
        if (NativeWorker(AppContext.BaseDirectory, Environment.GetEnvironmentVariable("VMLAB_NATIVE")) is { } native) return new WorkerCommand(native, arguments);
        string? process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process) == "vmlab") return new WorkerCommand(process, arguments);
        // Run as `dotnet vmlab.dll` (or inside a test host): the same host runs the same assembly.
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH")
                        ?? (process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet" ? process : "dotnet");
        // A natively compiled command has no assembly file: it is the process itself, whatever it is named.
        string assembly = typeof(SweepCommand).Assembly.Location;
        if (assembly.Length == 0 && process is not null) return new WorkerCommand(process, arguments);
        return new WorkerCommand(dotnet, [assembly, .. arguments]);
    }

    /// <summary>
    /// The native command beside the managed one (<c>vmlab-native</c>, which <c>./vmlab</c> builds when it can), unless
    /// <paramref name="setting"/> (<c>VMLAB_NATIVE</c>) is 0: it runs the cases with the built-in plugins compiled in, and
    /// hands a sweep that loads a plugin folder of its own back to the managed worker, on the same pipes.
    /// </summary>
    internal static string? NativeWorker(string directory, string? setting)
    {
        if (setting == "0" || OperatingSystem.IsWindows()) return null;
        string path = Path.Combine(directory, "vmlab-native");
        return File.Exists(path) && (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0 ? path : null;
    }

    /// <summary>
    /// <c>vmlab sweep-worker &lt;sweep.json&gt; --max-cases N --trace-cache-mb MB --decode-cores N</c>: the process a sweep runs its
    /// cases in (not for direct use). Reads case ids on stdin, answers one line per case on stdout.
    /// </summary>
    private int Worker(Arguments a)
    {
        if (a.Positionals.Count != 1) throw new UsageException("sweep-worker takes the sweep file; vmlab sweep starts it");
        // Ctrl+C on the terminal reaches the whole process group, and a batch system's SIGTERM (Slurm's scancel,
        // requeue, preemption or time limit) every process of the job: the sweep decides, and stops its workers itself.
        // A worker ended by the signal first would record its case as failed instead of leaving it unfinished.
        using var ignoreInterrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGINT, context => context.Cancel = true);
        using var ignoreTerminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, context => context.Cancel = true);
        WatchParent();
        var sweep = new SweepLoader(new ExperimentLoader(PluginCatalog.CreateDefault(loader: plugins.Loader))) { MaxCases = VmLabCommand.MaxCases(a), BaseOverrides = a.Values("--set") }.Load(a.Positionals[0]);
        long cacheBytes = a.Value("--trace-cache-mb") is { } mb && long.TryParse(mb, NumberStyles.None, CultureInfo.InvariantCulture, out long m) ? m << 20 : 0;
        int? decodeCores = a.Value("--decode-cores") is { } dc && int.TryParse(dc, NumberStyles.None, CultureInfo.InvariantCulture, out int d) ? d : null;
        SweepRunner.Serve(sweep, Console.In, stdout, cacheBytes, decodeCores, plugins.Engines);
        return VmLabCommand.ExitOk;
    }

    /// <summary>
    /// A worker ends when the sweep that started it is gone (killed with SIGKILL, say), even in the middle of a case
    /// that never returns: a watchdog thread compares the parent process id with the one at start.
    /// </summary>
    private static void WatchParent()
    {
        if (!OperatingSystem.IsLinux()) return;
        int parent = NativeMethods.GetParentProcessId();
        var watchdog = new Thread(() =>
        {
            while (NativeMethods.GetParentProcessId() == parent) Thread.Sleep(200);
            Environment.Exit(ExitInterrupted);
        }) { IsBackground = true, Name = "sweep-worker watchdog" };
        watchdog.Start();
    }

    /// <summary>How often a sweep whose stderr is not a terminal writes a progress line, at most.</summary>
    public static readonly TimeSpan DefaultProgressInterval = TimeSpan.FromSeconds(10);

    private static TimeSpan ProgressInterval(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s >= 0 && s <= 365 * 86400.0
            ? TimeSpan.FromSeconds(s)
            : throw new UsageException($"--progress-interval expects a number of seconds >= 0 (0: a line after every case), got '{text}'");

    private static int PositiveInt(string option, string text) => (int)VmLabCommand.Positive(option, text, int.MaxValue);

    /// <summary>Parses <c>K/N</c> with 1 &lt;= K &lt;= N.</summary>
    public static (int Index, int Count) ParseShard(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int k)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            && n >= 1 && k >= 1 && k <= n)
            return (k, n);
        throw new UsageException($"--shard expects K/N with 1 <= K <= N (e.g. --shard 2/8), got '{text}'");
    }
}

internal static partial class NativeMethods
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "getppid")]
    internal static partial int GetParentProcessId();
}
