using System.Diagnostics;

namespace VmLab.Cli.Tests;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs the vmlab command in-process (fast) or as a real process (the shipped entry point).</summary>
public static class Cli
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Repo(params string[] parts) => Path.Combine([RepoRoot, .. parts]);

    /// <summary>
    /// Builds samples/<paramref name="sample"/> in the tests' configuration, alone (--no-dependencies: its reference,
    /// Abstractions, is built with the tests, and no second build of it runs beside the other test projects'), and
    /// returns its output folder.
    /// </summary>
    public static string BuildSample(string sample)
    {
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Configuration>/net10.0
        string project = Repo("samples", sample);
        using var build = Process.Start(new ProcessStartInfo("dotnet", ["build", project, "-c", configuration, "--no-dependencies", "-v", "q", "-nologo"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var err = build.StandardError.ReadToEndAsync();
        string log = build.StandardOutput.ReadToEnd();
        build.WaitForExit();
        if (build.ExitCode != 0) throw new InvalidOperationException($"dotnet build {project} failed:\n{log}{err.Result}");
        return Path.Combine(project, "bin", configuration, "net10.0");
    }

    public static CliResult Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = new VmLabCommand(stdout, stderr).Run(args);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    public static CliResult RunProcess(params string[] args) => RunProcessWithEnvironment([], args);

    public static CliResult RunProcessWithEnvironment(Dictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "vmlab.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return new CliResult(p.ExitCode, output, err.Result);
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("VmLab.sln not found");
    }
}

public sealed class Scratch : IDisposable
{
    public Scratch() => Directory.CreateDirectory(Dir);

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "vmlab-cli-" + Guid.NewGuid().ToString("N")[..10]);

    public string File(string name, string text)
    {
        string p = Path.Combine(Dir, name);
        System.IO.File.WriteAllText(p, text);
        return p;
    }

    public string Bytes(string name, byte[] bytes)
    {
        string p = Path.Combine(Dir, name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }

    public string PathOf(string name) => Path.Combine(Dir, name);

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
