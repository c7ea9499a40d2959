using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using VmLab.Host.Config;
using VmLab.Host.Running;

namespace VmLab.Host.Sweeps;

/// <summary>
/// How to start a worker process for a sweep: a program and its arguments (for <c>vmlab</c>:
/// <c>vmlab sweep-worker &lt;sweep.json&gt; ...</c>). The worker loads the same sweep, then reads case ids from its
/// stdin, one per line, runs each in its own process and answers with one <see cref="CaseOutcome"/> line on stdout.
/// </summary>
public sealed record WorkerCommand(string FileName, IReadOnlyList<string> Arguments);

/// <summary>What running one case produced: the part of a <see cref="Results.CaseResult"/> the run decides.</summary>
public sealed record CaseOutcome(string Id, string Status, string? Error, IReadOnlyDictionary<string, long> Metrics, IReadOnlyList<string> Events, double ElapsedSeconds)
{
    /// <summary>Starts an answer line on a worker's stdout; other lines (a plugin writing to the console) are ignored.</summary>
    public const string Marker = "@@vmlab-case ";

    /// <summary>The line a worker writes once it has loaded the sweep and is ready for cases.</summary>
    public const string Ready = "@@vmlab-ready";

    public string ToLine()
    {
        var metrics = new JsonObject();
        foreach (var (k, v) in Metrics) metrics[k] = v;
        var json = new JsonObject
        {
            ["id"] = Id,
            ["status"] = Status,
            ["error"] = Error,
            ["metrics"] = metrics,
            ["events"] = new JsonArray([.. Events.Select(e => (JsonNode)JsonValue.Create(e)!)]),
            ["elapsedSeconds"] = ElapsedSeconds,
        };
        return Marker + json.ToJsonString();
    }

    /// <summary>Reads an answer line; null when the line is not one.</summary>
    public static CaseOutcome? Parse(string line)
    {
        if (!line.StartsWith(Marker, StringComparison.Ordinal)) return null;
        var json = JsonNode.Parse(line.AsSpan(Marker.Length).ToString())!.AsObject();
        var metrics = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (k, v) in json["metrics"]!.AsObject()) metrics[k] = v!.GetValue<long>();
        return new CaseOutcome(
            json["id"]!.GetValue<string>(),
            json["status"]!.GetValue<string>(),
            json["error"]?.GetValue<string>(),
            metrics,
            [.. json["events"]!.AsArray().Select(e => e!.GetValue<string>())],
            json["elapsedSeconds"]!.GetValue<double>());
    }
}

/// <summary>
/// One worker process of a sweep, running one case at a time. A case whose process dies (a stack overflow, an abort,
/// the OOM killer) or that outlives its timeout is reported as a failure naming the case, how it ended and, when the
/// runtime printed a stack, the plugin whose code was on it; the process is then gone and the next case gets a new one.
/// </summary>
public sealed class CaseWorker : IDisposable
{
    private const int StderrTailChars = 16_384;

    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly Lock _stderrGate = new();
    private bool _ready;

    private CaseWorker(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderrGate)
            {
                _stderr.Append(e.Data).Append('\n');
                if (_stderr.Length > StderrTailChars) _stderr.Remove(0, _stderr.Length - StderrTailChars);
            }
        };
        _process.BeginErrorReadLine();
    }

    public static CaseWorker Start(WorkerCommand command)
    {
        var psi = new ProcessStartInfo(command.FileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var a in command.Arguments) psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start the sweep worker {command.FileName}");
        return new CaseWorker(process);
    }

    /// <summary>The worker's process id.</summary>
    internal int ProcessId => _process.Id;

    /// <summary>Whether the process can take another case.</summary>
    public bool Alive => !_process.HasExited;

    /// <summary>
    /// Runs case <paramref name="c"/>; returns its outcome, or a failure that says why the process gave none (after
    /// which this worker is finished). Cancellation kills the process and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public CaseOutcome Run(SweepCase c, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        // The case's time starts when the worker is ready: loading plugins and the sweep is not the case's.
        while (!_ready)
        {
            string? line = _process.StandardOutput.ReadLineAsync(cancellationToken).AsTask().GetAwaiter().GetResult();
            if (line is null) return Died(c, clock);
            _ready = line == CaseOutcome.Ready;
        }
        clock.Restart();
        try
        {
            _process.StandardInput.WriteLine(c.Id + "\t" + SweepLoader.ConfigHash(c.Experiment));
            _process.StandardInput.Flush();
        }
        catch (IOException)
        {
            return Died(c, clock);
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } t) deadline.CancelAfter(t);
        while (true)
        {
            string? line;
            try
            {
                line = _process.StandardOutput.ReadLineAsync(deadline.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                Kill();
                cancellationToken.ThrowIfCancellationRequested();
                return new CaseOutcome(c.Id, RunResult.Failed,
                    string.Create(CultureInfo.InvariantCulture, $"case {c.Id} timed out after {timeout!.Value.TotalSeconds:0.###} s (--case-timeout); its worker process was killed{Suspects(c)}"),
                    new Dictionary<string, long>(), [], clock.Elapsed.TotalSeconds);
            }
            if (line is null)
            {
                // Stopped by the signal that stops the sweep (a worker that was sent it too): the case is unfinished, not failed.
                cancellationToken.ThrowIfCancellationRequested();
                return Died(c, clock);
            }
            if (CaseOutcome.Parse(line) is { } outcome) return outcome;
        }
    }

    private CaseOutcome Died(SweepCase c, Stopwatch clock)
    {
        _process.WaitForExit(5000);
        _process.WaitForExit(); // drains the stderr reader
        string tail;
        lock (_stderrGate) tail = _stderr.ToString();
        int code = _process.HasExited ? _process.ExitCode : -1;
        string how = code switch
        {
            134 => "exit code 134, SIGABRT",
            137 => "exit code 137, SIGKILL: killed, e.g. by the OOM killer",
            139 => "exit code 139, SIGSEGV",
            _ => string.Create(CultureInfo.InvariantCulture, $"exit code {code}"),
        };
        string what = tail.Contains("Stack overflow", StringComparison.Ordinal) ? "a stack overflow" : "the process died";
        string blame = Blame(c.Experiment, tail) is { } plugin ? $" in plugin {plugin}" : "";
        string firstLines = string.Join(" | ", tail.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(4).Select(l => l.Trim()));
        return new CaseOutcome(c.Id, RunResult.Failed,
            $"case {c.Id} ended its worker process with {what}{blame} ({how}){(firstLines.Length > 0 ? ": " + firstLines : "")}",
            new Dictionary<string, long>(), [], clock.Elapsed.TotalSeconds);
    }

    /// <summary>The plugins a hung case runs, to look at first.</summary>
    private static string Suspects(SweepCase c)
    {
        var plugins = Components(c.Experiment).Where(x => !x.Plugin.AssemblyName.StartsWith("VmLab.Plugins.", StringComparison.Ordinal))
            .Select(x => $"{x.Plugin.Name} ({x.KeyPath})").ToList();
        return plugins.Count == 0 ? "" : $"; plugins from outside VmLab in this case: {string.Join(", ", plugins)}";
    }

    /// <summary>
    /// The component whose code is on the stack the runtime printed: the first frame that is a method of a component's
    /// implementation type, else of its assembly. Null when no frame is.
    /// </summary>
    public static string? Blame(Experiment experiment, string stderr)
    {
        var components = Components(experiment).ToList();
        foreach (var raw in stderr.Split('\n'))
        {
            string frame = raw.Trim();
            if (!frame.StartsWith("at ", StringComparison.Ordinal)) continue;
            foreach (var x in components)
                if (x.Plugin.Registration.ImplementationType.FullName is { } type && frame.StartsWith("at " + type + ".", StringComparison.Ordinal))
                    return $"{x.Plugin.Name} ({x.KeyPath}, {x.Plugin.AssemblyName})";
            foreach (var x in components)
                if (frame.StartsWith("at " + x.Plugin.AssemblyName + ".", StringComparison.Ordinal))
                    return $"{x.Plugin.Name} ({x.KeyPath}, {x.Plugin.AssemblyName})";
        }
        return null;
    }

    private static IEnumerable<Component> Components(Experiment e)
    {
        yield return e.PageTable;
        yield return e.Tlb;
        if (e.Replacement is { } r) yield return r;
        foreach (var h in e.FaultHandlers) yield return h;
        yield return e.Signals;
        foreach (var d in e.Devices) yield return d;
        yield return e.Workload;
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Kills a worker that was never given a case, without waiting for it to finish loading.</summary>
    public void Discard()
    {
        Kill();
        _process.Dispose();
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close(); // the worker ends when its stdin does
                if (!_process.WaitForExit(2000)) Kill();
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            Kill();
        }
        _process.Dispose();
    }
}

/// <summary>
/// Worker processes started ahead of need, so that their start-up (the runtime, the plugins, the sweep file) overlaps
/// the sweep's own: a new sweep starts them before it has loaded the sweep and opened its results database.
/// <see cref="Take"/> hands out a started worker whose command is the one asked for, else starts one; the workers never
/// taken are killed on dispose.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    private readonly ConcurrentQueue<(WorkerCommand Command, CaseWorker Worker)> _started = new();

    /// <summary>Starts <paramref name="count"/> workers now; a worker that cannot start is left for <see cref="Take"/> to report.</summary>
    public void Prestart(WorkerCommand command, int count)
    {
        for (int i = 0; i < count; i++)
        {
            try
            {
                _started.Enqueue((command, CaseWorker.Start(command)));
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                return;
            }
        }
    }

    /// <summary>Workers started and not taken yet.</summary>
    public int Waiting => _started.Count;

    /// <summary>The process ids of the workers started and not taken yet.</summary>
    internal IReadOnlyList<int> WaitingProcessIds => [.. _started.Select(s => s.Worker.ProcessId)];

    public CaseWorker Take(WorkerCommand command)
    {
        while (_started.TryDequeue(out var started))
        {
            if (started.Command.FileName == command.FileName && started.Command.Arguments.SequenceEqual(command.Arguments) && started.Worker.Alive)
                return started.Worker;
            started.Worker.Discard();
        }
        return CaseWorker.Start(command);
    }

    public void Dispose()
    {
        while (_started.TryDequeue(out var started)) started.Worker.Discard();
    }
}

