using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace VmLab.Cli.Tests;

/// <summary>The result of a Slurm command (sbatch, squeue, scontrol...).</summary>
public sealed record ToolResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// A Slurm cluster of one node on this machine, private to the test: Debian's munge and slurm-wlm, a munge key and a
/// slurm.conf written to a temporary folder (free ports, no cgroups, no accounting, state and logs in the folder), and
/// munged, slurmctld and slurmd started in the foreground as children of the test. Dispose cancels the jobs submitted
/// through <see cref="Submit"/> and stops the three daemons, also when a test failed.
/// Needs: apt-get install -y slurm-wlm munge (the repository's ./test installs them); run as root (slurmd runs the
/// jobs as their submitter and must be root to do so).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SingleNodeSlurm : IDisposable
{
    private readonly List<Process> _daemons = [];
    private readonly List<string> _jobs = [];
    private readonly Dictionary<string, string> _env;
    private readonly Dictionary<string, StringBuilder> _output = new(StringComparer.Ordinal);

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "vmlab-slurm-" + Guid.NewGuid().ToString("N")[..10]);

    public string Node { get; } = Environment.MachineName.Split('.')[0];

    public string Conf => Path.Combine(Dir, "slurm.conf");

    public SingleNodeSlurm()
    {
        var missing = new[] { ("munged", "munge"), ("slurmctld", "slurm-wlm"), ("slurmd", "slurm-wlm"), ("sbatch", "slurm-wlm"), ("sinfo", "slurm-wlm"), ("squeue", "slurm-wlm"), ("scontrol", "slurm-wlm"), ("scancel", "slurm-wlm") }
            .Where(t => Which(t.Item1) is null).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException(
                $"a single-node Slurm cannot start: {string.Join(", ", missing.Select(m => $"{m.Item1} (Debian package {m.Item2})"))} not found on PATH or in /usr/sbin; install them with apt-get install -y slurm-wlm munge (the repository's ./test does)");
        if (!Environment.UserName.Equals("root", StringComparison.Ordinal))
            throw new InvalidOperationException($"a single-node Slurm needs root (slurmd runs jobs as their submitter); this test runs as {Environment.UserName}");

        Directory.CreateDirectory(Dir);
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101);
        _env = new Dictionary<string, string> { ["SLURM_CONF"] = Conf };
        try
        {
            StartMunge();
            StartSlurm();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private string Munge(string name) => Path.Combine(Dir, "munge", name);

    private void StartMunge()
    {
        Directory.CreateDirectory(Path.Combine(Dir, "munge"));
        File.SetUnixFileMode(Path.Combine(Dir, "munge"), (UnixFileMode)0b111_101_101);
        File.WriteAllBytes(Munge("munge.key"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        File.SetUnixFileMode(Munge("munge.key"), UnixFileMode.UserRead);
        Start("munged", "-F", "--force", $"--key-file={Munge("munge.key")}", $"--socket={Munge("munge.socket")}",
            $"--pid-file={Munge("munged.pid")}", $"--log-file={Munge("munged.log")}", $"--seed-file={Munge("munged.seed")}");
        WaitFor(() => File.Exists(Munge("munge.socket")), TimeSpan.FromSeconds(20), "munged did not create its socket within 20 s", Munge("munged.log"));
    }

    private void StartSlurm()
    {
        foreach (var d in new[] { "state", "spool", "log" }) Directory.CreateDirectory(Path.Combine(Dir, d));
        int cpus = Environment.ProcessorCount;
        File.WriteAllText(Conf, string.Create(CultureInfo.InvariantCulture, $"""
            # A private one-node cluster for VmLab's tests; nothing here is shared with the machine's own Slurm, if any.
            ClusterName=vmlabtest
            SlurmctldHost={Node}(127.0.0.1)
            SlurmctldPort={FreePort()}
            SlurmdPort={FreePort()}
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={Munge("munge.socket")}
            StateSaveLocation={Dir}/state
            SlurmdSpoolDir={Dir}/spool
            SlurmctldPidFile={Dir}/slurmctld.pid
            SlurmdPidFile={Dir}/slurmd.pid
            SlurmctldLogFile={Dir}/log/slurmctld.log
            SlurmdLogFile={Dir}/log/slurmd.log
            MailProg=/bin/true
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            JobCompType=jobcomp/none
            MpiDefault=none
            SchedulerType=sched/backfill
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            ReturnToService=2
            KillWait=10
            MinJobAge=3600
            NodeName={Node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
            PartitionName=vmlabtest Nodes={Node} Default=YES MaxTime=INFINITE State=UP

            """));
        Start("slurmctld", "-D", "-f", Conf);
        Start("slurmd", "-D", "-f", Conf, "-N", Node);
        string state = "";
        WaitFor(() =>
        {
            var r = Tool("sinfo", "-h", "-N", "-o", "%T");
            state = r.Stdout.Trim();
            return r.ExitCode == 0 && state == "idle";
        }, TimeSpan.FromSeconds(60), $"the node {Node} did not become idle within 60 s (last state: '{state}')",
            Path.Combine(Dir, "log", "slurmctld.log"), Path.Combine(Dir, "log", "slurmd.log"));
    }

    private void Start(string daemon, params string[] args)
    {
        var psi = new ProcessStartInfo(Which(daemon)!, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in _env) psi.Environment[k] = v;
        var output = new StringBuilder();
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {daemon}");
        p.OutputDataReceived += (_, e) => { lock (output) output.Append(e.Data).Append('\n'); };
        p.ErrorDataReceived += (_, e) => { lock (output) output.Append(e.Data).Append('\n'); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _daemons.Add(p);
        _output[daemon] = output;
    }

    private void WaitFor(Func<bool> condition, TimeSpan timeout, string what, params string[] logs)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            var dead = _daemons.FirstOrDefault(p => p.HasExited);
            if (dead is not null || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"{(dead is not null ? $"{Path.GetFileName(dead.StartInfo.FileName)} exited with code {dead.ExitCode}" : what)}\n{Diagnostics(logs)}");
            Thread.Sleep(100);
        }
    }

    /// <summary>The daemons' output and the tails of <paramref name="logs"/>, for a failure message.</summary>
    public string Diagnostics(params string[] logs)
    {
        var text = new StringBuilder();
        foreach (var (daemon, output) in _output)
            lock (output) text.Append("--- ").Append(daemon).Append(" output:\n").Append(Tail(output.ToString()));
        foreach (var log in logs)
            text.Append("--- ").Append(log).Append(":\n").Append(File.Exists(log) ? Tail(File.ReadAllText(log)) : "(none)\n");
        return text.ToString();
    }

    private static string Tail(string text) => string.Join('\n', text.Split('\n').TakeLast(25)) + "\n";

    /// <summary>Runs a Slurm command (or any program) against this cluster, with <paramref name="environment"/> added.</summary>
    public ToolResult Tool(string program, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(Which(program) ?? program, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in _env) psi.Environment[k] = v;
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not end within 60 s");
        }
        return new ToolResult(p.ExitCode, output, err.Result);
    }

    public ToolResult Tool(string program, params string[] args) => Tool(program, args, null);

    /// <summary>Runs a submitting command (sbatch, or a script that calls it) and remembers the job ids it printed, to cancel them at the end.</summary>
    public ToolResult Submit(string program, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var r = Tool(program, args, environment);
        // Job ids: "4711" or "4711;cluster" (--parsable), "array job 4711 (shards 1-3), merge job 4712"; not the shard range.
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(r.Stdout, @"(?<![\w-])\d+(?=[;\s,]|$)")) _jobs.Add(m.Value);
        return r;
    }

    /// <summary>The state of a job or array task (PENDING, RUNNING, COMPLETED, FAILED...), one line per task for an array.</summary>
    public IReadOnlyList<string> States(string job)
    {
        var r = Tool("squeue", "-h", "-t", "all", "-j", job, "-o", "%T");
        return r.ExitCode == 0 ? [.. r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim())] : [];
    }

    /// <summary>Waits until every task of <paramref name="job"/> is in a final state; fails with the logs after <paramref name="timeout"/>.</summary>
    public IReadOnlyList<string> WaitForEnd(string job, TimeSpan timeout, params string[] logs)
    {
        string[] final = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"];
        IReadOnlyList<string> states = [];
        WaitFor(() => (states = States(job)).Count > 0 && states.All(s => final.Contains(s)), timeout,
            $"job {job} did not end within {timeout.TotalSeconds:0} s (states: {string.Join(", ", States(job))})\n{Tool("squeue", "-t", "all").Stdout}",
            [.. logs, Path.Combine(Dir, "log", "slurmctld.log"), Path.Combine(Dir, "log", "slurmd.log")]);
        return states;
    }

    /// <summary>Waits for <paramref name="condition"/>, failing with the job logs and the daemons' logs after <paramref name="timeout"/>.</summary>
    public void Until(Func<bool> condition, TimeSpan timeout, string what, params string[] logs) =>
        WaitFor(condition, timeout, $"{what}: not within {timeout.TotalSeconds:0} s\n{Tool("squeue", "-t", "all").Stdout}",
            [.. logs, Path.Combine(Dir, "log", "slurmctld.log"), Path.Combine(Dir, "log", "slurmd.log")]);

    public void Dispose()
    {
        try
        {
            if (_jobs.Count > 0 && _daemons.Count == 3 && _daemons.All(p => !p.HasExited))
            {
                Tool("scancel", [.. _jobs]);
                var deadline = DateTime.UtcNow.AddSeconds(20);
                while (DateTime.UtcNow < deadline && Tool("squeue", "-h", "-t", "RUNNING,COMPLETING").Stdout.Trim().Length > 0) Thread.Sleep(200);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or TimeoutException)
        {
            // The daemons are stopped below either way.
        }
        // slurmd first (it runs the jobs), then the controller, then munge; SIGTERM, then SIGKILL after 10 s.
        foreach (var p in Enumerable.Reverse(_daemons))
        {
            try
            {
                if (!p.HasExited) Signal(p.Id, "TERM");
                if (!p.WaitForExit(10_000)) p.Kill(entireProcessTree: true);
                p.WaitForExit();
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        _daemons.Clear();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Sends a signal through bash's kill builtin (a minimal system may have no /bin/kill).</summary>
    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("bash", ["-c", $"kill -{signal} {pid.ToString(CultureInfo.InvariantCulture)}"])!;
        kill.WaitForExit();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A program on PATH, or in /usr/sbin or /sbin (daemons, off a non-root PATH); null when none.</summary>
    public static string? Which(string program)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/sbin", "/usr/bin"]);
        return dirs.Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
    }
}
