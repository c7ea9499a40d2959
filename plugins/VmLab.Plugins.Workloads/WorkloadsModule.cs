using VmLab.Traces;
using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Workloads.Synthetic;

namespace VmLab.Plugins.Workloads;

/// <summary>Registers the trace readers and the synthetic generator.</summary>
public sealed class WorkloadsModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddWorkload<LackeyWorkload, LackeyOptions>(
            "lackey",
            "Valgrind Lackey memory trace (plain, .gz, .xz, .zst): I fetch, L load, S store, M load+store.",
            c => new LackeyWorkload(c.Options, TracePath(c, c.Options.Path, "traces/ls.lackey.gz"), c.KeyPath + ":options"));
        registry.AddWorkload<TraceWorkload, ChampSimOptions>(
            "champsim",
            "ChampSim binary trace (input_instr 64 B or cloudsuite_instr 96 B; .xz, .gz): ip fetch, source loads, destination stores.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/app.champsim.xz");
                var o = c.Options;
                return new TraceWorkload(() => TraceWorkload.Range(
                    new ChampSimReader(TraceFile.Open(path, c.KeyPath + ":options:path"), path, o.Layout, o.Pid, o.UseAsid, o.Fetches, o.AccessSize),
                    o.Start, o.Limit));
            });
        registry.AddWorkload<TraceWorkload, DinOptions>(
            "din",
            "Dinero IV din (label address) or xdin (type address size) text trace.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/app.din");
                var o = c.Options;
                return new TraceWorkload(() => TraceWorkload.Range(new DinReader(TraceFile.Open(path, c.KeyPath + ":options:path"), path, o.Pid, o.AccessSize), o.Start, o.Limit));
            });
        registry.AddWorkload<TraceWorkload, VmtOptions>(
            "vmt",
            "VmLab's native binary trace (.vmt): delta-encoded records with kind, size, pid and mode, in indexed blocks.",
            c =>
            {
                string path = TracePath(c, c.Options.Path, "traces/ls.vmt");
                var o = c.Options;
                return new TraceWorkload(() => TraceWorkload.Range(VmtReader.Open(path, c.KeyPath + ":options:path", o.PidOffset), o.Start, o.Limit));
            });
        registry.AddWorkload<SyntheticWorkload, SyntheticOptions>(
            "synthetic",
            "Seeded generator: sequential, stride, uniform, zipf, hot-cold, pointer-chase; phases; multi-process mixes by a scheduler quantum.",
            c => SyntheticWorkload.Create(c.Options, c.Seed));
    }

    private static string TracePath<T>(ComponentContext<T> c, string value, string example) where T : class
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new VmLabInputException(c.KeyPath + ":options:path", $"a trace file is required, e.g. \"path\": \"{example}\"");
        string path = c.ResolvePath(value);
        if (!File.Exists(path))
            throw new VmLabInputException(c.KeyPath + ":options:path", $"trace file not found: {path}");
        return path;
    }
}
