using SharpFuzz;
using VmLab.Fuzz;
using VmLab.Host.Plugins;

// vmlab-fuzz <target>                 run under afl-fuzz (SharpFuzz out-of-process)
// vmlab-fuzz <target> --replay <dir>  run every file of a corpus folder once and report non-clean results
if (args.Length < 1 || !FuzzTargets.Names.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: vmlab-fuzz <{string.Join("|", FuzzTargets.Names)}> [--replay <dir>]");
    return 2;
}
string target = args[0];
string cliPlugins = Environment.GetEnvironmentVariable("VMLAB_FUZZ_PLUGINS") ?? Path.Combine(AppContext.BaseDirectory, "plugins");
string baseDirectory = Environment.GetEnvironmentVariable("VMLAB_FUZZ_BASE") ?? Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../configs/sweeps"));
// Instrumented code may only run inside the fuzzer's callback (SharpFuzz sets up its trace memory there).
FuzzTargets NewTargets() => new(PluginCatalog.CreateDefault([cliPlugins]), baseDirectory);

if (args.Length == 3 && args[1] == "--replay")
{
    var targets = NewTargets();
    int n = 0, crashes = 0;
    foreach (var file in Directory.EnumerateFiles(args[2]).Order())
    {
        string outcome;
        try
        {
            var error = targets.Run(target, File.ReadAllBytes(file));
            outcome = error is null ? "ok" : "error: " + error.Split('\n')[0];
        }
        catch (Exception e)
        {
            outcome = "CRASH " + e;
            crashes++;
        }
        Console.WriteLine($"{Path.GetFileName(file)}: {outcome}");
        n++;
    }
    Console.WriteLine($"{n} inputs replayed, {crashes} crashed");
    return crashes == 0 ? 0 : 1;
}

FuzzTargets? fuzzed = null;
Fuzzer.OutOfProcess.Run(stream =>
{
    fuzzed ??= NewTargets();
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    fuzzed.Run(target, ms.ToArray());
});
return 0;
